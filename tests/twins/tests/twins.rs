//! Function-level twins: every test is written once, generic over
//! [`Chapter`], and [`twin_test!`] instantiates it as `NAME::c` (the C of `c_reference/`) and
//! `NAME::rust` (the port in `src/`). `make compare-twins` prints one row per test.
//!
//! Ground rules (every test is a thread of one process):
//! * network: 127.0.0.1 and kernel-chosen ports only (plus the `INADDR_ANY` bind that
//!   `create_tcp_server(NULL, 0)` makes by design, only ever connected to through 127.0.0.1);
//! * the test process's signal dispositions, fds 0/1/2 and rlimits are left alone, except a
//!   `SIGUSR1` counter installed once without `SA_RESTART`, sent with `pthread_kill` to
//!   interrupt one thread's blocking call;
//! * whatever changes process-wide state or needs fd 1 (`setup_signal_handlers`,
//!   `tcp_server_loop`, `simple_http_client`'s success path, the `FD_SETSIZE` guard) runs in a
//!   *child role*: this test binary re-executed with [`ROLE_ENV`] set, which [`child_role`]
//!   picks up before `main` (so before libtest starts a thread or prints a byte) and ends with
//!   `_exit`. No bare `fork` from the multi-threaded test process;
//! * every fd is owned by an [`Fd`] guard; waits that only end if the code under test works are
//!   bounded by [`FAILSAFE`] and then fail.

use std::ffi::{CString, OsStr};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::process::ExitStatusExt;
use std::os::unix::thread::JoinHandleExt;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, MutexGuard, Once, PoisonError, mpsc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};
use std::{mem, ptr};

use errno::{Errno, errno, set_errno};
use libc::{c_int, c_long, sockaddr, sockaddr_in, socklen_t};
use tcp_chapter_twins::{C, Chapter, Rust};

/// Upper bound on any wait that only ends if the code under test works.
const FAILSAFE: Duration = Duration::from_secs(30);

const SOCKADDR_IN_LEN: socklen_t = mem::size_of::<sockaddr_in>() as socklen_t;

/// The chapter's `LISTEN_BACKLOG` (server.h, server.rs).
const LISTEN_BACKLOG: u32 = 128;

/// `TCP_LISTEN` of the kernel's `enum tcp_state` (as `tcpi_state` reports it).
const TCP_LISTEN: u8 = 10;

/// Writes each test once, for both implementations: `twin_test!(name)` turns the generic
/// `fn name<I: Chapter>()` into the tests `name::c` and `name::rust`.
macro_rules! twin_test {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn c() {
                super::$name::<tcp_chapter_twins::C>()
            }
            #[test]
            fn rust() {
                super::$name::<tcp_chapter_twins::Rust>()
            }
        }
    )*};
}

// =============================================================================================
// Fds, errno, socket options
// =============================================================================================

/// An fd the test owns; closed on drop.
struct Fd(c_int);

impl Fd {
    fn new(fd: c_int, what: &str) -> Fd {
        assert!(fd >= 0, "{what}: {}", io::Error::last_os_error());
        Fd(fd)
    }

    fn raw(&self) -> c_int {
        self.0
    }

    /// Gives the fd away (to `handle_client`, which closes it).
    fn into_raw(self) -> c_int {
        let fd = self.0;
        mem::forget(self);
        fd
    }
}

impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: this guard owns the fd and nothing uses it after the drop.
        unsafe { libc::close(self.0) };
    }
}

fn describe(e: i32) -> String {
    format!("{} (errno {e})", io::Error::from_raw_os_error(e))
}

/// Asserts that a call returned -1 with `errno == want` (`e` read right after it).
fn assert_failed(rc: c_int, e: i32, want: i32, what: &str) {
    assert_eq!(
        rc,
        -1,
        "{what}: returned {rc}, expected -1 with {}",
        describe(want)
    );
    assert_eq!(
        e,
        want,
        "{what}: errno is {}, expected {}",
        describe(e),
        describe(want)
    );
}

/// [`assert_failed`] for a call that returns an fd: an fd it wrongly returned is closed first.
fn assert_fd_call_failed(rc: c_int, e: i32, want: i32, what: &str) {
    if rc > 2 {
        drop(Fd(rc));
    }
    assert_failed(rc, e, want, what);
}

fn sockopt_int(fd: c_int, level: c_int, name: c_int, what: &str) -> c_int {
    let mut v: c_int = -1;
    let mut len = mem::size_of::<c_int>() as socklen_t;
    // SAFETY: `v` is a live c_int and `len` holds its size.
    let rc = unsafe { libc::getsockopt(fd, level, name, (&raw mut v).cast(), &mut len) };
    assert_eq!(rc, 0, "getsockopt {what}: {}", io::Error::last_os_error());
    v
}

fn set_sockopt_int(fd: c_int, level: c_int, name: c_int, v: c_int, what: &str) {
    // SAFETY: `v` is a live c_int and its size is passed with it.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&raw const v).cast(),
            mem::size_of::<c_int>() as socklen_t,
        )
    };
    assert_eq!(rc, 0, "setsockopt {what}: {}", io::Error::last_os_error());
}

fn sockopt_timeval(fd: c_int, name: c_int, what: &str) -> (i64, i64) {
    let mut tv = libc::timeval {
        tv_sec: -1,
        tv_usec: -1,
    };
    let mut len = mem::size_of::<libc::timeval>() as socklen_t;
    // SAFETY: `tv` is a live timeval and `len` holds its size.
    let rc =
        unsafe { libc::getsockopt(fd, libc::SOL_SOCKET, name, (&raw mut tv).cast(), &mut len) };
    assert_eq!(rc, 0, "getsockopt {what}: {}", io::Error::last_os_error());
    (tv.tv_sec, tv.tv_usec)
}

fn tcp_info(fd: c_int) -> libc::tcp_info {
    // SAFETY: `tcp_info` is plain integers; all-zero is a valid value.
    let mut info: libc::tcp_info = unsafe { mem::zeroed() };
    let mut len = mem::size_of::<libc::tcp_info>() as socklen_t;
    // SAFETY: `info` is writable for `len` bytes (the kernel may fill fewer).
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&raw mut info).cast(),
            &mut len,
        )
    };
    assert_eq!(rc, 0, "getsockopt TCP_INFO: {}", io::Error::last_os_error());
    info
}

fn to_sockaddr(addr: SocketAddrV4) -> sockaddr_in {
    // SAFETY: `sockaddr_in` is plain data; all-zero is a valid value.
    let mut sa: sockaddr_in = unsafe { mem::zeroed() };
    sa.sin_family = libc::AF_INET as libc::sa_family_t;
    sa.sin_port = addr.port().to_be();
    sa.sin_addr.s_addr = u32::from(*addr.ip()).to_be();
    sa
}

fn from_sockaddr(sa: &sockaddr_in) -> SocketAddrV4 {
    assert_eq!(sa.sin_family, libc::AF_INET as libc::sa_family_t, "family");
    SocketAddrV4::new(
        Ipv4Addr::from(u32::from_be(sa.sin_addr.s_addr)),
        u16::from_be(sa.sin_port),
    )
}

fn local_addr(fd: c_int) -> SocketAddrV4 {
    // SAFETY: `sockaddr_in` is plain data; all-zero is a valid value.
    let mut sa: sockaddr_in = unsafe { mem::zeroed() };
    let mut len = SOCKADDR_IN_LEN;
    // SAFETY: `sa` is writable for `len` bytes.
    let rc = unsafe { libc::getsockname(fd, (&raw mut sa).cast::<sockaddr>(), &mut len) };
    assert_eq!(rc, 0, "getsockname: {}", io::Error::last_os_error());
    from_sockaddr(&sa)
}

fn peer_addr(fd: c_int) -> SocketAddrV4 {
    // SAFETY: `sockaddr_in` is plain data; all-zero is a valid value.
    let mut sa: sockaddr_in = unsafe { mem::zeroed() };
    let mut len = SOCKADDR_IN_LEN;
    // SAFETY: `sa` is writable for `len` bytes.
    let rc = unsafe { libc::getpeername(fd, (&raw mut sa).cast::<sockaddr>(), &mut len) };
    assert_eq!(rc, 0, "getpeername: {}", io::Error::last_os_error());
    from_sockaddr(&sa)
}

fn std_v4(addr: std::net::SocketAddr) -> SocketAddrV4 {
    match addr {
        std::net::SocketAddr::V4(a) => a,
        other => panic!("not IPv4: {other}"),
    }
}

/// A port on 127.0.0.1 that nothing listens on, held while this value lives: a socket bound
/// to it (no `SO_REUSEADDR`) that never listens. A SYN to it gets RST, and no concurrent test
/// can bind it or get it as a connect's local port (a port merely released could be taken).
struct ClosedPort {
    port: u16,
    _held: Fd,
}

fn closed_port() -> ClosedPort {
    let held = tcp_socket(0);
    let sa = to_sockaddr(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0));
    // SAFETY: `sa` is a live sockaddr_in and its size is passed.
    let rc = unsafe { libc::bind(held.raw(), (&raw const sa).cast(), SOCKADDR_IN_LEN) };
    assert_eq!(rc, 0, "bind 127.0.0.1:0: {}", io::Error::last_os_error());
    ClosedPort {
        port: local_addr(held.raw()).port(),
        _held: held,
    }
}

fn tcp_socket(flags: c_int) -> Fd {
    // SAFETY: plain syscall with constant arguments.
    let fd = unsafe {
        libc::socket(
            libc::AF_INET,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC | flags,
            0,
        )
    };
    Fd::new(fd, "socket")
}

/// Polls `fd` for `events` until ready; fails after [`FAILSAFE`].
fn wait_ready(fd: c_int, events: i16, what: &str) -> i16 {
    let mut p = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    let deadline = Instant::now() + FAILSAFE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        // SAFETY: `p` is one live pollfd.
        let n = unsafe { libc::poll(&mut p, 1, left.as_millis() as c_int) };
        if n > 0 {
            return p.revents;
        }
        assert!(
            n == 0 || errno().0 == libc::EINTR,
            "poll {what}: {}",
            io::Error::last_os_error()
        );
        assert!(
            Instant::now() < deadline,
            "{what}: not ready after {FAILSAFE:?}"
        );
    }
}

/// `accept` on a listener that has (or is about to have) a connection queued.
fn accept_one(listener: c_int) -> Fd {
    wait_ready(listener, libc::POLLIN, "accept");
    // SAFETY: null address pointers are allowed.
    Fd::new(
        unsafe { libc::accept(listener, ptr::null_mut(), ptr::null_mut()) },
        "accept",
    )
}

// =============================================================================================
// Data through sockets
// =============================================================================================

/// Deterministic pseudo-random bytes (xorshift64): any reordering or loss shows.
fn patterned(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn assert_same_bytes(got: &[u8], want: &[u8], what: &str) {
    if got != want {
        let first = got.iter().zip(want).position(|(a, b)| a != b);
        panic!(
            "{what}: got {} bytes, want {}; first difference at {first:?}",
            got.len(),
            want.len()
        );
    }
}

/// `send` until all of `data` is out (`MSG_NOSIGNAL`, `EINTR` retried); fails on an error.
fn send_all(fd: c_int, mut data: &[u8]) {
    while !data.is_empty() {
        // SAFETY: `data` is a live slice and its length is passed with it.
        let n = unsafe { libc::send(fd, data.as_ptr().cast(), data.len(), libc::MSG_NOSIGNAL) };
        if n < 0 {
            assert_eq!(
                errno().0,
                libc::EINTR,
                "send: {}",
                io::Error::last_os_error()
            );
            continue;
        }
        data = &data[n as usize..];
    }
}

fn shutdown_write(fd: c_int) {
    // SAFETY: plain syscall on an fd the caller holds.
    let rc = unsafe { libc::shutdown(fd, libc::SHUT_WR) };
    assert_eq!(rc, 0, "shutdown(SHUT_WR): {}", io::Error::last_os_error());
}

/// One `read` of at most `max` bytes once `fd` is readable; empty at EOF.
fn read_some(fd: c_int, max: usize) -> Vec<u8> {
    let mut buf = vec![0u8; max];
    loop {
        wait_ready(fd, libc::POLLIN, "read");
        // SAFETY: `buf` is writable for its full length.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n >= 0 {
            buf.truncate(n as usize);
            return buf;
        }
        assert_eq!(
            errno().0,
            libc::EINTR,
            "read: {}",
            io::Error::last_os_error()
        );
    }
}

fn read_exact(fd: c_int, len: usize) -> Vec<u8> {
    let mut got = Vec::with_capacity(len);
    while got.len() < len {
        let chunk = read_some(fd, len - got.len());
        assert!(!chunk.is_empty(), "EOF after {} of {len} bytes", got.len());
        got.extend_from_slice(&chunk);
    }
    got
}

fn read_to_eof(fd: c_int) -> Vec<u8> {
    let mut got = Vec::new();
    loop {
        let chunk = read_some(fd, 64 * 1024);
        if chunk.is_empty() {
            return got;
        }
        got.extend_from_slice(&chunk);
    }
}

/// Reads to EOF in small chunks of varying size (1..=1499 bytes), so the writer side keeps
/// finding its buffers full.
fn read_to_eof_slowly(fd: c_int) -> Vec<u8> {
    let mut got = Vec::new();
    for i in 0usize.. {
        let chunk = read_some(fd, 1 + (i * 7919) % 1499);
        if chunk.is_empty() {
            break;
        }
        got.extend_from_slice(&chunk);
    }
    got
}

fn socketpair() -> (Fd, Fd) {
    let mut fds = [-1 as c_int; 2];
    // SAFETY: `fds` has room for the two fds.
    let rc = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    assert_eq!(rc, 0, "socketpair: {}", io::Error::last_os_error());
    (Fd(fds[0]), Fd(fds[1]))
}

/// A thread that sends `data` on `fd`, then `shutdown(SHUT_WR)`.
fn spawn_writer(fd: Arc<Fd>, data: Vec<u8>) -> JoinHandle<()> {
    thread::spawn(move || {
        send_all(fd.raw(), &data);
        shutdown_write(fd.raw());
    })
}

// =============================================================================================
// Threads, signals
// =============================================================================================

/// How many `SIGUSR1` handlers have run, in any thread.
static SIGUSR1_HANDLED: AtomicUsize = AtomicUsize::new(0);

extern "C" fn on_sigusr1(_sig: c_int) {
    SIGUSR1_HANDLED.fetch_add(1, SeqCst);
}

/// Installs the counting `SIGUSR1` handler once, without `SA_RESTART`: a blocking call it
/// interrupts returns `EINTR` (or a partial count) to the code under test.
fn install_sigusr1() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: `struct sigaction` is plain data; all-zero is a valid value.
        let mut sa: libc::sigaction = unsafe { mem::zeroed() };
        sa.sa_sigaction = on_sigusr1 as extern "C" fn(c_int) as libc::sighandler_t;
        sa.sa_flags = 0; // no SA_RESTART
        // SAFETY: `sa.sa_mask` is a live sigset_t; `sa` is initialised; null old action.
        let rc = unsafe {
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(libc::SIGUSR1, &sa, ptr::null_mut())
        };
        assert_eq!(rc, 0, "sigaction SIGUSR1: {}", io::Error::last_os_error());
    });
}

/// Tests that send `SIGUSR1` run one at a time, so [`SIGUSR1_HANDLED`] counts only theirs.
static SIGNAL_TESTS: Mutex<()> = Mutex::new(());

fn signal_test() -> MutexGuard<'static, ()> {
    let guard = SIGNAL_TESTS.lock().unwrap_or_else(PoisonError::into_inner);
    install_sigusr1();
    guard
}

fn gettid() -> libc::pid_t {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() }
}

/// The system call thread `tid` of this process sleeps in, from `/proc`: `None` while it runs.
fn blocked_syscall(tid: libc::pid_t) -> Option<c_long> {
    let s = std::fs::read_to_string(format!("/proc/self/task/{tid}/syscall")).ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// Spins until thread `tid` sleeps in one of `syscalls` (true), or `done` is set (false).
fn wait_blocked_in(tid: libc::pid_t, syscalls: &[c_long], done: &AtomicBool) -> bool {
    let deadline = Instant::now() + FAILSAFE;
    loop {
        if done.load(SeqCst) {
            return false;
        }
        let now_in = blocked_syscall(tid);
        if now_in.is_some_and(|n| syscalls.contains(&n)) {
            return true;
        }
        assert!(
            Instant::now() < deadline,
            "thread {tid} not blocked in {syscalls:?} after {FAILSAFE:?} (now: {now_in:?})"
        );
        thread::yield_now();
    }
}

/// `pthread_kill(SIGUSR1)`, then spins until a handler ran (true) or `done` is set (false).
fn signal_and_wait(thread: libc::pthread_t, done: &AtomicBool) -> bool {
    let before = SIGUSR1_HANDLED.load(SeqCst);
    // SAFETY: `thread` belongs to a JoinHandle not joined yet, so it is still valid.
    let rc = unsafe { libc::pthread_kill(thread, libc::SIGUSR1) };
    assert!(
        rc == 0 || done.load(SeqCst),
        "pthread_kill: {}",
        describe(rc)
    );
    let deadline = Instant::now() + FAILSAFE;
    loop {
        if SIGUSR1_HANDLED.load(SeqCst) > before {
            return true;
        }
        if done.load(SeqCst) {
            return false;
        }
        assert!(Instant::now() < deadline, "SIGUSR1 never handled");
        thread::yield_now();
    }
}

/// A thread running `handle_client` on one end of a connection.
struct Session {
    thread: JoinHandle<()>,
    tid: libc::pid_t,
    /// Set once `handle_client` has returned.
    done: Arc<AtomicBool>,
}

impl Session {
    fn pthread(&self) -> libc::pthread_t {
        self.thread.as_pthread_t()
    }

    fn join(self) {
        self.thread.join().expect("handle_client thread panicked");
    }
}

/// Runs `I::handle_client(fd, 127.0.0.1:40000)` in a thread (the address is only printed).
fn spawn_handle_client<I: Chapter>(fd: Fd) -> Session {
    let fd = fd.into_raw();
    let done = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    let finished = Arc::clone(&done);
    let thread = thread::spawn(move || {
        tx.send(gettid()).expect("send tid");
        let mut addr = to_sockaddr(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 40000));
        // SAFETY: `fd` is a connected stream socket this thread owns (handle_client closes
        // it); `addr` is a live sockaddr_in.
        unsafe { I::handle_client(fd, &mut addr) };
        finished.store(true, SeqCst);
    });
    let tid = rx.recv().expect("handle_client thread started");
    Session { thread, tid, done }
}

// =============================================================================================
// A listener whose accept queue is full: a further connect gets no SYN-ACK
// =============================================================================================

struct FullListener {
    port: u16,
    fillers: Vec<Fd>,
    listener: Fd,
}

impl FullListener {
    /// Accepts the queued fillers: the queue has room, a waiting handshake can complete.
    fn make_room(&self) -> Vec<Fd> {
        self.fillers
            .iter()
            .map(|_| accept_one(self.listener.raw()))
            .collect()
    }
}

/// Whether the accept queue of listener `fd` is full, by the kernel's own test
/// (`sk_ack_backlog > sk_max_ack_backlog`), read back with `TCP_INFO` (for a listener
/// `tcpi_unacked` is the queue length, `tcpi_sacked` the backlog).
fn accept_queue_full(fd: c_int) -> bool {
    let info = tcp_info(fd);
    assert_eq!(info.tcpi_state, TCP_LISTEN, "not a listener");
    info.tcpi_unacked > info.tcpi_sacked
}

/// `listen(fd, 0)` on 127.0.0.1, then non-blocking connects it never accepts until its accept
/// queue is full.
fn full_listener() -> FullListener {
    let listener = tcp_socket(0);
    let sa = to_sockaddr(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0));
    // SAFETY: `sa` is a live sockaddr_in and its size is passed.
    let rc = unsafe { libc::bind(listener.raw(), (&raw const sa).cast(), SOCKADDR_IN_LEN) };
    assert_eq!(rc, 0, "bind: {}", io::Error::last_os_error());
    // SAFETY: plain syscall on our socket.
    let rc = unsafe { libc::listen(listener.raw(), 0) };
    assert_eq!(rc, 0, "listen: {}", io::Error::last_os_error());
    let port = local_addr(listener.raw()).port();
    let target = to_sockaddr(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port));

    let mut fillers = Vec::new();
    let deadline = Instant::now() + FAILSAFE;
    while !accept_queue_full(listener.raw()) {
        assert!(
            fillers.len() < 16,
            "16 connections and the queue is not full"
        );
        let f = tcp_socket(libc::SOCK_NONBLOCK);
        // SAFETY: `target` is a live sockaddr_in and its size is passed.
        let rc = unsafe { libc::connect(f.raw(), (&raw const target).cast(), SOCKADDR_IN_LEN) };
        assert!(
            rc == 0 || errno().0 == libc::EINPROGRESS,
            "filler connect: {}",
            io::Error::last_os_error()
        );
        // Until it is connected (writable), or the queue is full without it: then its SYN was
        // dropped, and it is closed so that it cannot take the room a test makes later.
        loop {
            let full = accept_queue_full(listener.raw());
            let mut p = libc::pollfd {
                fd: f.raw(),
                events: libc::POLLOUT,
                revents: 0,
            };
            // SAFETY: `p` is one live pollfd; timeout 0 only looks.
            if unsafe { libc::poll(&mut p, 1, 0) } > 0 {
                fillers.push(f);
                break;
            }
            if full {
                break;
            }
            assert!(Instant::now() < deadline, "filler connect never settled");
            thread::yield_now();
        }
    }
    FullListener {
        port,
        fillers,
        listener,
    }
}

// =============================================================================================
// Calls made to fail or to fall short on purpose (this binary's own `send` and `select`)
// =============================================================================================
//
// The functions under test call `send` and `select` through the dynamic symbol of that name;
// this executable defines both, so the C library (`chapter_c`) and the Rust port (libc crate)
// reach these, which forward to the C library's own (dlsym RTLD_NEXT) unless a test armed them:
// * SHORT_SENDS: the next send()s of more than one byte write only the first half and return
//   that count, as a blocking send() does when a caught signal interrupts it after part of the
//   data was queued (send(2), signal(7): "a partial success").
// * STRICT_SELECT (this thread only): select() refuses a timeout whose tv_usec is not in
//   0..1000000 with EINVAL, as POSIX allows (select(2), ERRORS; glibc and Linux normalise such
//   a value instead, which hides the mistake), and records the timeval it was given.

/// How many more send() calls are cut to half (a child role arms it; 0 = none).
static SHORT_SENDS: AtomicUsize = AtomicUsize::new(0);
/// What the last cut send() wrote.
static SHORT_SENT: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static STRICT_SELECT: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    static SELECT_TIMEOUTS: std::cell::RefCell<Vec<(libc::time_t, libc::suseconds_t)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// The C library's definition of `name` (the next one after this executable's).
fn next_symbol(name: &std::ffi::CStr) -> *mut libc::c_void {
    // SAFETY: RTLD_NEXT with a NUL-terminated name; the result is checked below.
    let f = unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr()) };
    assert!(!f.is_null(), "dlsym({name:?}) found nothing");
    f
}

type SendFn = unsafe extern "C" fn(c_int, *const libc::c_void, usize, c_int) -> isize;
type SelectFn = unsafe extern "C" fn(
    c_int,
    *mut libc::fd_set,
    *mut libc::fd_set,
    *mut libc::fd_set,
    *mut libc::timeval,
) -> c_int;

/// `send(2)`, cut to half while [`SHORT_SENDS`] is armed, else the C library's.
///
/// # Safety
/// As `send(2)`: `buf` is readable for `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn send(
    fd: c_int,
    buf: *const libc::c_void,
    len: usize,
    flags: c_int,
) -> isize {
    static REAL: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    let real = *REAL.get_or_init(|| next_symbol(c"send") as usize);
    // SAFETY: the C library's `send`, found by dlsym, has this signature.
    let real: SendFn = unsafe { mem::transmute::<usize, SendFn>(real) };
    let mut len = len;
    let cut = len > 1
        && SHORT_SENDS
            .fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1))
            .is_ok();
    if cut {
        len /= 2;
    }
    // SAFETY: the caller's arguments, with a length no longer than theirs.
    let sent = unsafe { real(fd, buf, len, flags) };
    if cut {
        SHORT_SENT.store(sent.max(0) as usize, SeqCst);
    }
    sent
}

/// `select(2)`, checking the timeout's range on a thread that armed [`STRICT_SELECT`].
///
/// # Safety
/// As `select(2)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn select(
    nfds: c_int,
    r: *mut libc::fd_set,
    w: *mut libc::fd_set,
    e: *mut libc::fd_set,
    timeout: *mut libc::timeval,
) -> c_int {
    static REAL: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    let real = *REAL.get_or_init(|| next_symbol(c"select") as usize);
    // SAFETY: the C library's `select`, found by dlsym, has this signature.
    let real: SelectFn = unsafe { mem::transmute::<usize, SelectFn>(real) };
    if STRICT_SELECT.with(|s| s.get()) && !timeout.is_null() {
        // SAFETY: a non-null timeout points to the caller's timeval.
        let tv = unsafe { *timeout };
        SELECT_TIMEOUTS.with(|t| t.borrow_mut().push((tv.tv_sec, tv.tv_usec)));
        if !(0..1_000_000).contains(&tv.tv_usec) || tv.tv_sec < 0 {
            set_errno(Errno(libc::EINVAL));
            return -1;
        }
    }
    // SAFETY: the caller's arguments.
    unsafe { real(nfds, r, w, e, timeout) }
}

// =============================================================================================
// Child roles: this test binary re-executed, the role picked up before main
// =============================================================================================

/// Names the role of a re-executed test binary (`signals`, `fd_setsize`, `http`,
/// `server_loop`); [`IMPL_ENV`] says which implementation (`c` or `rust`).
const ROLE_ENV: &str = "TCP_CHAPTER_TWIN_ROLE";
const IMPL_ENV: &str = "TCP_CHAPTER_TWIN_IMPL";
/// The role's argument (a port), when it has one.
const PORT_ENV: &str = "TCP_CHAPTER_TWIN_PORT";
/// The `http` role's path, when not the default `/twins?x=1`.
const PATH_ENV: &str = "TCP_CHAPTER_TWIN_PATH";

/// Runs from `.init_array`, before `main`: with [`ROLE_ENV`] set, the process is a child role
/// and ends here with the role's exit code, single-threaded, before libtest has printed
/// anything (fd 1 carries only what the code under test writes). Otherwise it returns and
/// libtest starts as usual.
extern "C" fn child_role() {
    let Some(role) = std::env::var_os(ROLE_ENV) else {
        // Most twin tests wait on a peer or a 5 s timeout: run 6 at once unless told otherwise
        // (libtest reads RUST_TEST_THREADS in main, after this).
        if std::env::var_os("RUST_TEST_THREADS").is_none() {
            // SAFETY: this runs from .init_array, before main: the process has one thread, so
            // nothing can read the environment concurrently.
            unsafe { std::env::set_var("RUST_TEST_THREADS", "6") };
        }
        return;
    };
    // Drop every fd inherited without FD_CLOEXEC (a chapter socket of a concurrent test), so
    // this child never keeps another test's connection open.
    // SAFETY: close_range(3, ~0, 0) closes fds this process does not use yet.
    unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) };
    let code = match std::env::var(IMPL_ENV).as_deref() {
        Ok("c") => run_role::<C>(&role),
        Ok("rust") => run_role::<Rust>(&role),
        other => {
            eprintln!("{IMPL_ENV}: {other:?}");
            90
        }
    };
    let _ = io::stdout().flush();
    // SAFETY: flushes C stdio (NULL: every stream), then ends the process at once: no
    // libtest, no atexit handlers of the parent's.
    unsafe {
        libc::fflush(ptr::null_mut());
        libc::_exit(code)
    }
}

#[used]
#[unsafe(link_section = ".init_array")]
static CHILD_ROLE: extern "C" fn() = child_role;

fn run_role<I: Chapter>(role: &OsStr) -> c_int {
    match role.to_str() {
        Some("signals") => role_signals::<I>(),
        Some("fd_setsize") => role_fd_setsize::<I>(),
        Some("http") => role_http::<I>(),
        Some("server_loop") => role_server_loop::<I>(),
        Some("first_perror") => role_first_perror::<I>(),
        Some("server_loop_eintr") => role_server_loop_eintr::<I>(),
        Some("server_loop_flush") => role_server_loop_flush::<I>(),
        Some("http_short_send") => role_http_short_send::<I>(),
        Some("signals_fail") => role_signals_fail::<I>(),
        Some("handle_client_log") => role_handle_client_log::<I>(),
        _ => {
            eprintln!("unknown role {role:?}");
            91
        }
    }
}

fn role_port() -> u16 {
    std::env::var(PORT_ENV)
        .expect("port")
        .parse()
        .expect("port number")
}

/// Reads the server role's stderr up to its `twins-port N` line and returns N (lines before it
/// are kept for the panic message).
fn read_role_port(stderr: &mut BufReader<std::process::ChildStderr>) -> u16 {
    let mut seen = String::new();
    let mut line = String::new();
    while stderr.read_line(&mut line).expect("read stderr") > 0 {
        if let Some(port) = line
            .trim()
            .strip_prefix("twins-port ")
            .and_then(|p| p.parse::<u16>().ok())
        {
            return port;
        }
        seen.push_str(&line);
        line.clear();
    }
    panic!("no port from the server role; stderr: {seen:?}")
}

/// Runs `role` for implementation `I` in a re-executed test binary; `port` goes in
/// [`PORT_ENV`]. stdin is /dev/null.
fn role_command<I: Chapter>(role: &str, port: Option<u16>) -> Command {
    let mut cmd = Command::new(std::env::current_exe().expect("current_exe"));
    cmd.env(ROLE_ENV, role)
        .env(IMPL_ENV, I::NAME)
        .env_remove("TRACE")
        .stdin(Stdio::null());
    if let Some(p) = port {
        cmd.env(PORT_ENV, p.to_string());
    }
    cmd
}

fn run_role_to_end<I: Chapter>(role: &str, port: Option<u16>) -> Output {
    role_command::<I>(role, port)
        .output()
        .expect("re-execute the test binary")
}

fn explain(out: &Output) -> String {
    format!(
        "{} child: {}\nstdout: {:?}\nstderr: {}",
        out.status,
        out.status
            .code()
            .map_or("no exit code".to_string(), |c| format!("exit {c}")),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

// =============================================================================================
// create_tcp_server
// =============================================================================================

fn create_tcp_server_null_addr_listens_on_any_with_reuse_options<I: Chapter>() {
    // SAFETY: a null address is allowed (INADDR_ANY).
    let fd = Fd::new(
        unsafe { I::create_tcp_server(ptr::null(), 0) },
        "create_tcp_server(NULL, 0)",
    );
    let raw = fd.raw();
    let sol = libc::SOL_SOCKET;
    assert_eq!(
        sockopt_int(raw, sol, libc::SO_REUSEADDR, "SO_REUSEADDR"),
        1,
        "SO_REUSEADDR"
    );
    assert_eq!(
        sockopt_int(raw, sol, libc::SO_REUSEPORT, "SO_REUSEPORT"),
        1,
        "SO_REUSEPORT"
    );
    assert_eq!(
        sockopt_int(raw, sol, libc::SO_ACCEPTCONN, "SO_ACCEPTCONN"),
        1,
        "listening"
    );
    assert_eq!(
        sockopt_int(raw, sol, libc::SO_DOMAIN, "SO_DOMAIN"),
        libc::AF_INET
    );
    assert_eq!(
        sockopt_int(raw, sol, libc::SO_TYPE, "SO_TYPE"),
        libc::SOCK_STREAM
    );
    let local = local_addr(raw);
    assert_eq!(
        *local.ip(),
        Ipv4Addr::UNSPECIFIED,
        "NULL must bind INADDR_ANY"
    );
    assert_ne!(local.port(), 0, "port 0 must become the kernel's choice");

    // listen(fd, LISTEN_BACKLOG): the kernel keeps min(backlog, somaxconn).
    let somaxconn: u32 = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .expect("read somaxconn")
        .trim()
        .parse()
        .expect("somaxconn");
    assert_eq!(
        tcp_info(raw).tcpi_sacked,
        somaxconn.min(LISTEN_BACKLOG),
        "listen backlog"
    );

    let client = TcpStream::connect((Ipv4Addr::LOCALHOST, local.port())).expect("connect");
    let conn = accept_one(raw);
    assert_eq!(
        peer_addr(conn.raw()),
        std_v4(client.local_addr().expect("local_addr"))
    );
}

fn create_tcp_server_binds_the_given_ipv4_literal_with_reuse_options<I: Chapter>() {
    // SAFETY: NUL-terminated literal.
    let fd = Fd::new(
        unsafe { I::create_tcp_server(c"127.0.0.1".as_ptr(), 0) },
        "create_tcp_server(127.0.0.1, 0)",
    );
    let raw = fd.raw();
    assert_eq!(
        sockopt_int(raw, libc::SOL_SOCKET, libc::SO_REUSEADDR, "SO_REUSEADDR"),
        1,
        "SO_REUSEADDR"
    );
    assert_eq!(
        sockopt_int(raw, libc::SOL_SOCKET, libc::SO_REUSEPORT, "SO_REUSEPORT"),
        1,
        "SO_REUSEPORT"
    );
    let local = local_addr(raw);
    assert_eq!(*local.ip(), Ipv4Addr::LOCALHOST);
    assert_ne!(local.port(), 0);
    let client = TcpStream::connect((Ipv4Addr::LOCALHOST, local.port())).expect("connect");
    let conn = accept_one(raw);
    assert_eq!(
        peer_addr(conn.raw()),
        std_v4(client.local_addr().expect("local_addr"))
    );
}

fn create_tcp_server_rejects_a_bad_address_with_einval<I: Chapter>() {
    for addr in [
        c"999.1.1.1",
        c"localhost",
        c"1.2.3",
        c"",
        c"::1",
        c"127.0.0.1 ",
    ] {
        set_errno(Errno(0)); // inet_pton leaves errno alone on a bad address
        // SAFETY: NUL-terminated literal.
        let rc = unsafe { I::create_tcp_server(addr.as_ptr(), 0) };
        let e = errno().0;
        assert_fd_call_failed(rc, e, libc::EINVAL, &format!("create_tcp_server({addr:?})"));
    }
}

fn create_tcp_server_port_held_without_so_reuseport_is_eaddrinuse<I: Chapter>() {
    // std's listener sets SO_REUSEADDR but not SO_REUSEPORT: a second bind must fail.
    let held = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    let port = held.local_addr().expect("local_addr").port();
    set_errno(Errno(0));
    // SAFETY: NUL-terminated literal.
    let rc = unsafe { I::create_tcp_server(c"127.0.0.1".as_ptr(), port) };
    let e = errno().0;
    assert_fd_call_failed(
        rc,
        e,
        libc::EADDRINUSE,
        "create_tcp_server(127.0.0.1, held port)",
    );
    set_errno(Errno(0));
    // SAFETY: a null address is allowed.
    let rc = unsafe { I::create_tcp_server(ptr::null(), port) };
    let e = errno().0;
    assert_fd_call_failed(
        rc,
        e,
        libc::EADDRINUSE,
        "create_tcp_server(NULL, held port)",
    );
}

fn create_tcp_server_binds_the_port_it_is_given<I: Chapter>() {
    // A port whose two bytes differ (so the same number in host byte order is another port),
    // held meanwhile by a socket with SO_REUSEPORT, bound and not listening: no other test can
    // take it, and create_tcp_server, which sets SO_REUSEPORT too, may bind it beside.
    let (holder, port) = loop {
        // SAFETY: plain syscall with constant arguments.
        let holder = Fd::new(
            unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) },
            "socket",
        );
        set_sockopt_int(
            holder.raw(),
            libc::SOL_SOCKET,
            libc::SO_REUSEPORT,
            1,
            "SO_REUSEPORT",
        );
        let addr = to_sockaddr(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0));
        // SAFETY: `addr` is a live sockaddr_in and its size is passed with it.
        let rc = unsafe {
            libc::bind(
                holder.raw(),
                (&raw const addr).cast::<sockaddr>(),
                SOCKADDR_IN_LEN,
            )
        };
        assert_eq!(rc, 0, "bind the holder: {}", io::Error::last_os_error());
        let port = local_addr(holder.raw()).port();
        if port.swap_bytes() != port {
            break (holder, port);
        }
    };
    // SAFETY: NUL-terminated literal.
    let fd = Fd::new(
        unsafe { I::create_tcp_server(c"127.0.0.1".as_ptr(), port) },
        "create_tcp_server(127.0.0.1, port)",
    );
    let got = local_addr(fd.raw()).port();
    assert!(
        got == port,
        "asked for port {port}, it listens on port {got}{}",
        if got == port.swap_bytes() {
            ": the port's two bytes swapped, the port was given in host byte order; \
             sin_port must be htons(port), network byte order"
        } else {
            ""
        }
    );
    drop(holder);
}

fn create_tcp_server_twice_on_one_port_shares_it_with_so_reuseport<I: Chapter>() {
    // SAFETY: NUL-terminated literal.
    let first = Fd::new(
        unsafe { I::create_tcp_server(c"127.0.0.1".as_ptr(), 0) },
        "first",
    );
    let port = local_addr(first.raw()).port();
    // SAFETY: NUL-terminated literal.
    let second = Fd::new(
        unsafe { I::create_tcp_server(c"127.0.0.1".as_ptr(), port) },
        "second",
    );
    let got = local_addr(second.raw()).port();
    assert!(
        got == port,
        "the second create_tcp_server(127.0.0.1, {port}) listens on port {got}, not on the first \
         one's port {port}{}",
        if got == port.swap_bytes() {
            ": the port's two bytes swapped, the port was given in host byte order; \
             sin_port must be htons(port), network byte order"
        } else {
            ""
        }
    );
}

/// `TCP_TIME_WAIT` as /proc/net/tcp shows it (the `st` column, hex).
const TCP_TIME_WAIT_HEX: &str = "06";

/// Whether a socket with local port `port` is in TIME_WAIT (/proc/net/tcp).
fn time_wait_on(port: u16) -> bool {
    let table = std::fs::read_to_string("/proc/net/tcp").expect("read /proc/net/tcp");
    table.lines().skip(1).any(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        f.len() > 3
            && f[3] == TCP_TIME_WAIT_HEX
            && f[1]
                .rsplit(':')
                .next()
                .and_then(|p| u16::from_str_radix(p, 16).ok())
                == Some(port)
    })
}

/// A server made by `create_tcp_server` whose side of a connection closes first, as when a
/// server is killed mid-session: its port is left in TIME_WAIT. Returns the port.
fn time_wait_of_a_chapter_server<I: Chapter>() -> u16 {
    // SAFETY: NUL-terminated literal.
    let listener = Fd::new(
        unsafe { I::create_tcp_server(c"127.0.0.1".as_ptr(), 0) },
        "create_tcp_server(127.0.0.1, 0)",
    );
    let port = local_addr(listener.raw()).port();
    let mut client = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).expect("connect");
    client.set_read_timeout(Some(FAILSAFE)).expect("timeout");
    drop(accept_one(listener.raw())); // the server's FIN goes first
    drop(listener);
    let mut rest = Vec::new();
    client.read_to_end(&mut rest).expect("the server's FIN");
    drop(client); // the client's FIN: the server's side enters TIME_WAIT
    let deadline = Instant::now() + FAILSAFE;
    while !time_wait_on(port) {
        assert!(Instant::now() < deadline, "no TIME_WAIT on port {port}");
        thread::sleep(Duration::from_millis(5));
    }
    port
}

/// `bind(127.0.0.1:port)` on a fresh socket with the two options as given: Ok or the errno.
fn bind_with_options(port: u16, reuseaddr: bool, reuseport: bool) -> Result<(), i32> {
    let s = tcp_socket(0);
    let sol = libc::SOL_SOCKET;
    set_sockopt_int(
        s.raw(),
        sol,
        libc::SO_REUSEADDR,
        reuseaddr.into(),
        "SO_REUSEADDR",
    );
    set_sockopt_int(
        s.raw(),
        sol,
        libc::SO_REUSEPORT,
        reuseport.into(),
        "SO_REUSEPORT",
    );
    let sa = to_sockaddr(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port));
    // SAFETY: `sa` is a live sockaddr_in and its size is passed.
    let rc = unsafe { libc::bind(s.raw(), (&raw const sa).cast(), SOCKADDR_IN_LEN) };
    if rc == 0 { Ok(()) } else { Err(errno().0) }
}

/// Restart over a server-side TIME_WAIT, each combination of the two options on the new
/// socket. Linux lets the bind through when the old socket (its TIME_WAIT keeps the options of
/// the listener it came from) and the new one share `SO_REUSEADDR`, or share `SO_REUSEPORT`:
/// either alone is enough, neither gives EADDRINUSE. So "SO_REUSEADDR alone" binding tells that
/// `create_tcp_server` set `SO_REUSEADDR`, and "SO_REUSEPORT alone" that it set `SO_REUSEPORT`.
fn create_tcp_server_time_wait_rebinds_with_either_reuse_option_not_with_neither<I: Chapter>() {
    for (reuseaddr, reuseport, want) in [
        (false, false, Err(libc::EADDRINUSE)),
        (true, false, Ok(())),
        (false, true, Ok(())),
        (true, true, Ok(())),
    ] {
        let port = time_wait_of_a_chapter_server::<I>();
        let got = bind_with_options(port, reuseaddr, reuseport);
        assert_eq!(
            got.map_err(describe),
            want.map_err(describe),
            "bind over the TIME_WAIT of a create_tcp_server port with SO_REUSEADDR={reuseaddr}, \
             SO_REUSEPORT={reuseport}: an option lets the bind through only if the old server \
             set it too"
        );
    }
}

twin_test!(
    create_tcp_server_null_addr_listens_on_any_with_reuse_options,
    create_tcp_server_binds_the_given_ipv4_literal_with_reuse_options,
    create_tcp_server_rejects_a_bad_address_with_einval,
    create_tcp_server_port_held_without_so_reuseport_is_eaddrinuse,
    create_tcp_server_twice_on_one_port_shares_it_with_so_reuseport,
    create_tcp_server_time_wait_rebinds_with_either_reuse_option_not_with_neither,
    create_tcp_server_binds_the_port_it_is_given,
);

// =============================================================================================
// tcp_client_connect
// =============================================================================================

fn tcp_client_connect_connects_with_5_s_timeouts<I: Chapter>() {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    let port = listener.local_addr().expect("local_addr").port();
    // SAFETY: NUL-terminated literal.
    let fd = Fd::new(
        unsafe { I::tcp_client_connect(c"127.0.0.1".as_ptr(), port) },
        "connect",
    );
    let raw = fd.raw();
    assert_eq!(
        sockopt_timeval(raw, libc::SO_SNDTIMEO, "SO_SNDTIMEO"),
        (5, 0)
    );
    assert_eq!(
        sockopt_timeval(raw, libc::SO_RCVTIMEO, "SO_RCVTIMEO"),
        (5, 0)
    );
    assert_eq!(peer_addr(raw), SocketAddrV4::new(Ipv4Addr::LOCALHOST, port));
    // SAFETY: F_GETFL takes no pointer argument.
    let flags = unsafe { libc::fcntl(raw, libc::F_GETFL) };
    assert_eq!(flags & libc::O_NONBLOCK, 0, "blocking socket");

    wait_ready(listener.as_raw_fd(), libc::POLLIN, "accept");
    let (mut server_side, peer) = listener.accept().expect("accept");
    assert_eq!(std_v4(peer), local_addr(raw));
    send_all(raw, b"ping");
    let mut buf = [0u8; 4];
    server_side.read_exact(&mut buf).expect("read");
    assert_eq!(&buf, b"ping");
}

fn tcp_client_connect_to_a_closed_port_is_econnrefused<I: Chapter>() {
    let closed = closed_port();
    let port = closed.port;
    set_errno(Errno(0));
    // SAFETY: NUL-terminated literal.
    let rc = unsafe { I::tcp_client_connect(c"127.0.0.1".as_ptr(), port) };
    let e = errno().0;
    assert_fd_call_failed(rc, e, libc::ECONNREFUSED, "tcp_client_connect(closed port)");
}

fn tcp_client_connect_rejects_a_bad_address_with_einval<I: Chapter>() {
    for addr in [c"localhost", c"999.1.1.1", c"127.0.0.1 ", c""] {
        set_errno(Errno(0));
        // SAFETY: NUL-terminated literal.
        let rc = unsafe { I::tcp_client_connect(addr.as_ptr(), 80) };
        let e = errno().0;
        assert_fd_call_failed(
            rc,
            e,
            libc::EINVAL,
            &format!("tcp_client_connect({addr:?})"),
        );
    }
}

fn tcp_client_connect_times_out_after_5_s_with_etimedout<I: Chapter>() {
    let full = full_listener();
    set_errno(Errno(0));
    let start = Instant::now();
    // SAFETY: NUL-terminated literal.
    let rc = unsafe { I::tcp_client_connect(c"127.0.0.1".as_ptr(), full.port) };
    let e = errno().0;
    let took = start.elapsed();
    assert_fd_call_failed(
        rc,
        e,
        libc::ETIMEDOUT,
        "tcp_client_connect(full accept queue)",
    );
    assert!(
        (4.5..7.0).contains(&took.as_secs_f64()),
        "gave up after {took:?}, expected ~5 s"
    );
}

/// Runs `I::tcp_client_connect(127.0.0.1, port)` in a thread and, once it blocks in
/// `connect()`, sends that thread one SIGUSR1: (thread, its tid, done flag); the thread returns
/// (rc, errno, time taken).
#[allow(clippy::type_complexity)]
fn spawn_client_connect_and_interrupt<I: Chapter>(
    port: u16,
) -> (
    JoinHandle<(c_int, i32, Duration)>,
    libc::pid_t,
    Arc<AtomicBool>,
) {
    let done = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    let finished = Arc::clone(&done);
    let thread = thread::spawn(move || {
        tx.send(gettid()).expect("send tid");
        let start = Instant::now();
        // SAFETY: NUL-terminated literal.
        let rc = unsafe { I::tcp_client_connect(c"127.0.0.1".as_ptr(), port) };
        let e = errno().0;
        let took = start.elapsed();
        finished.store(true, SeqCst);
        (rc, e, took)
    });
    let tid = rx.recv().expect("tid");
    // A signal in connect(): with SO_SNDTIMEO set it fails with EINTR (no SA_RESTART needed),
    // while the handshake goes on.
    assert!(
        wait_blocked_in(tid, &[libc::SYS_connect], &done),
        "tcp_client_connect returned before it blocked in connect()"
    );
    assert!(
        signal_and_wait(thread.as_pthread_t(), &done),
        "SIGUSR1 never handled"
    );
    (thread, tid, done)
}

fn tcp_client_connect_survives_eintr_and_keeps_its_5_s_deadline<I: Chapter>() {
    let _s = signal_test();
    let full = full_listener();
    let (thread, tid, done) = spawn_client_connect_and_interrupt::<I>(full.port);
    // One signal in connect(), then more while the code waits for the handshake in poll().
    let mut signals = 1;
    let stop = Instant::now() + Duration::from_secs(3);
    while Instant::now() < stop && wait_blocked_in(tid, POLL_SYSCALLS, &done) {
        if signal_and_wait(thread.as_pthread_t(), &done) {
            signals += 1;
        }
    }
    let (rc, e, took) = thread.join().expect("connect thread");
    assert_fd_call_failed(
        rc,
        e,
        libc::ETIMEDOUT,
        &format!("tcp_client_connect(full accept queue, {signals} signals)"),
    );
    assert!(
        took >= Duration::from_secs(4),
        "gave up after {took:?}: a signal must not shorten the 5 s timeout"
    );
}

fn tcp_client_connect_interrupted_then_accepted_connects<I: Chapter>() {
    let _s = signal_test();
    let full = full_listener();
    let (thread, _, _) = spawn_client_connect_and_interrupt::<I>(full.port);
    // Room in the queue: the SYN's retransmission completes the interrupted handshake.
    let _fillers = full.make_room();
    let (rc, e, _) = thread.join().expect("connect thread");
    assert!(rc >= 0, "tcp_client_connect failed: {}", describe(e));
    let fd = Fd(rc);
    let conn = accept_one(full.listener.raw());
    assert_eq!(peer_addr(conn.raw()), local_addr(fd.raw()));
    send_all(fd.raw(), b"ping");
    assert_eq!(read_exact(conn.raw(), 4), b"ping");
}

twin_test!(
    tcp_client_connect_connects_with_5_s_timeouts,
    tcp_client_connect_to_a_closed_port_is_econnrefused,
    tcp_client_connect_rejects_a_bad_address_with_einval,
    tcp_client_connect_times_out_after_5_s_with_etimedout,
    tcp_client_connect_survives_eintr_and_keeps_its_5_s_deadline,
    tcp_client_connect_interrupted_then_accepted_connects,
);

// =============================================================================================
// tcp_connect_nonblocking
// =============================================================================================

fn tcp_connect_nonblocking_connects_and_returns_a_blocking_fd<I: Chapter>() {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    let port = listener.local_addr().expect("local_addr").port();
    // SAFETY: NUL-terminated literal.
    let rc = unsafe { I::tcp_connect_nonblocking(c"127.0.0.1".as_ptr(), port, 2000) };
    let fd = Fd::new(rc, "tcp_connect_nonblocking");
    // SAFETY: F_GETFL takes no pointer argument.
    let flags = unsafe { libc::fcntl(fd.raw(), libc::F_GETFL) };
    assert!(flags >= 0, "fcntl: {}", io::Error::last_os_error());
    assert_eq!(flags & libc::O_NONBLOCK, 0, "O_NONBLOCK still set");
    assert_eq!(
        peer_addr(fd.raw()),
        SocketAddrV4::new(Ipv4Addr::LOCALHOST, port)
    );
    assert_eq!(
        sockopt_int(fd.raw(), libc::SOL_SOCKET, libc::SO_ERROR, "SO_ERROR"),
        0
    );

    wait_ready(listener.as_raw_fd(), libc::POLLIN, "accept");
    let (mut server_side, peer) = listener.accept().expect("accept");
    assert_eq!(std_v4(peer), local_addr(fd.raw()));
    send_all(fd.raw(), b"pong");
    let mut buf = [0u8; 4];
    server_side.read_exact(&mut buf).expect("read");
    assert_eq!(&buf, b"pong");
}

fn tcp_connect_nonblocking_to_a_closed_port_is_econnrefused<I: Chapter>() {
    let closed = closed_port();
    let port = closed.port;
    set_errno(Errno(0));
    // SAFETY: NUL-terminated literal.
    let rc = unsafe { I::tcp_connect_nonblocking(c"127.0.0.1".as_ptr(), port, 2000) };
    let e = errno().0;
    assert_fd_call_failed(
        rc,
        e,
        libc::ECONNREFUSED,
        "tcp_connect_nonblocking(closed port)",
    );
}

fn tcp_connect_nonblocking_rejects_a_bad_address_with_einval<I: Chapter>() {
    for addr in [c"localhost", c"999.1.1.1", c"1.2.3.4.5", c""] {
        set_errno(Errno(0));
        // SAFETY: NUL-terminated literal.
        let rc = unsafe { I::tcp_connect_nonblocking(addr.as_ptr(), 80, 200) };
        let e = errno().0;
        assert_fd_call_failed(
            rc,
            e,
            libc::EINVAL,
            &format!("tcp_connect_nonblocking({addr:?})"),
        );
    }
}

fn tcp_connect_nonblocking_times_out_with_etimedout<I: Chapter>() {
    let full = full_listener();
    set_errno(Errno(0));
    let start = Instant::now();
    // SAFETY: NUL-terminated literal.
    let rc = unsafe { I::tcp_connect_nonblocking(c"127.0.0.1".as_ptr(), full.port, 200) };
    let e = errno().0;
    let took = start.elapsed();
    assert_fd_call_failed(
        rc,
        e,
        libc::ETIMEDOUT,
        "tcp_connect_nonblocking(full, 200 ms)",
    );
    assert!(
        (0.15..1.5).contains(&took.as_secs_f64()),
        "gave up after {took:?}, expected ~200 ms"
    );
}

/// Where `tcp_client_connect` waits for an interrupted handshake (`poll`, or glibc's `ppoll`).
#[cfg(target_arch = "x86_64")]
const POLL_SYSCALLS: &[c_long] = &[libc::SYS_poll, libc::SYS_ppoll];
#[cfg(not(target_arch = "x86_64"))]
const POLL_SYSCALLS: &[c_long] = &[libc::SYS_ppoll];

#[cfg(target_arch = "x86_64")]
const SELECT_SYSCALLS: &[c_long] = &[libc::SYS_select, libc::SYS_pselect6];
#[cfg(not(target_arch = "x86_64"))]
const SELECT_SYSCALLS: &[c_long] = &[libc::SYS_pselect6];

fn tcp_connect_nonblocking_keeps_its_deadline_across_signals<I: Chapter>() {
    let _s = signal_test();
    let full = full_listener();
    let done = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    let finished = Arc::clone(&done);
    let port = full.port;
    let thread = thread::spawn(move || {
        tx.send(gettid()).expect("send tid");
        let start = Instant::now();
        // SAFETY: NUL-terminated literal.
        let rc = unsafe { I::tcp_connect_nonblocking(c"127.0.0.1".as_ptr(), port, 600) };
        let e = errno().0;
        let took = start.elapsed();
        finished.store(true, SeqCst);
        (rc, e, took)
    });
    let tid = rx.recv().expect("tid");
    // Each EINTR of select() must be retried with the time left: the call still ends at 600 ms.
    let mut signals = 0;
    let stop = Instant::now() + Duration::from_secs(5);
    while Instant::now() < stop && wait_blocked_in(tid, SELECT_SYSCALLS, &done) {
        if signal_and_wait(thread.as_pthread_t(), &done) {
            signals += 1;
        }
    }
    let (rc, e, took) = thread.join().expect("connect thread");
    assert!(signals > 0, "select was never interrupted");
    assert_fd_call_failed(rc, e, libc::ETIMEDOUT, "tcp_connect_nonblocking(signalled)");
    assert!(
        (0.55..3.0).contains(&took.as_secs_f64()),
        "gave up after {took:?} ({signals} signals), expected ~600 ms"
    );
}

/// Child role `fd_setsize`: every fd below `FD_SETSIZE` taken, so the connecting socket is fd
/// 1024, on which `FD_SET` would write past the `fd_set`. Exit 0 when the call refuses it
/// (-1, `EINVAL`, at once, the fd closed); otherwise a code [`FD_SETSIZE_CODES`] explains.
fn role_fd_setsize<I: Chapter>() -> c_int {
    let full = full_listener(); // connect() gives EINPROGRESS, so select() would be next
    let want = libc::FD_SETSIZE as c_int;
    let lim = libc::rlimit {
        rlim_cur: 4096,
        rlim_max: 4096,
    };
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `old` is a live rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut old) } != 0 {
        return 30;
    }
    if old.rlim_cur < lim.rlim_cur {
        let new = libc::rlimit {
            rlim_cur: lim.rlim_cur.min(old.rlim_max),
            rlim_max: old.rlim_max,
        };
        // SAFETY: `new` is a live rlimit; this child's own limit.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &new) } != 0 || new.rlim_cur <= 1100 {
            return 31;
        }
    }
    // SAFETY: NUL-terminated literal.
    let devnull = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY) };
    if devnull < 0 {
        return 32;
    }
    for fd in 3..want {
        // SAFETY: F_GETFD takes no pointer; dup2 only onto a free fd.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 && unsafe { libc::dup2(devnull, fd) } != fd
        {
            return 33;
        }
    }
    set_errno(Errno(0));
    let start = Instant::now();
    // SAFETY: NUL-terminated literal.
    let rc = unsafe { I::tcp_connect_nonblocking(c"127.0.0.1".as_ptr(), full.port, 2000) };
    let e = errno().0;
    let took = start.elapsed();
    if rc != -1 {
        return 34;
    }
    if e != libc::EINVAL {
        eprintln!("errno {}", describe(e));
        return 35;
    }
    if took > Duration::from_millis(1000) {
        return 36;
    }
    // SAFETY: F_GETFD takes no pointer argument.
    if unsafe { libc::fcntl(want, libc::F_GETFD) } >= 0 {
        return 37;
    }
    0
}

const FD_SETSIZE_CODES: &[(i32, &str)] = &[
    (30, "getrlimit failed"),
    (31, "cannot raise RLIMIT_NOFILE above 1100"),
    (32, "open /dev/null failed"),
    (33, "dup2 to fill the fds below FD_SETSIZE failed"),
    (34, "returned an fd instead of -1"),
    (35, "errno is not EINVAL"),
    (36, "waited (no guard before select)"),
    (37, "the fd >= FD_SETSIZE was left open"),
];

fn tcp_connect_nonblocking_refuses_an_fd_at_or_above_fd_setsize_in_a_child<I: Chapter>() {
    let out = run_role_to_end::<I>("fd_setsize", None);
    let code = out.status.code();
    let why = FD_SETSIZE_CODES
        .iter()
        .find(|(c, _)| Some(*c) == code)
        .map_or("", |(_, w)| *w);
    assert_eq!(code, Some(0), "{why}\n{}", explain(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("select: fd 1024 >= FD_SETSIZE (1024), cannot wait on it"),
        "stderr: {stderr}"
    );
}

twin_test!(
    tcp_connect_nonblocking_connects_and_returns_a_blocking_fd,
    tcp_connect_nonblocking_to_a_closed_port_is_econnrefused,
    tcp_connect_nonblocking_rejects_a_bad_address_with_einval,
    tcp_connect_nonblocking_times_out_with_etimedout,
    tcp_connect_nonblocking_keeps_its_deadline_across_signals,
    tcp_connect_nonblocking_refuses_an_fd_at_or_above_fd_setsize_in_a_child,
);

// =============================================================================================
// handle_client
// =============================================================================================

fn handle_client_echoes_1_mib_over_a_socketpair_then_closes<I: Chapter>() {
    let (mine, theirs) = socketpair();
    let session = spawn_handle_client::<I>(theirs);
    let mine = Arc::new(mine);
    let data = patterned(1 << 20, 1);
    let writer = spawn_writer(Arc::clone(&mine), data.clone());
    // handle_client never calls shutdown(), so EOF here means it closed its fd.
    let echoed = read_to_eof(mine.raw());
    writer.join().expect("writer");
    assert_same_bytes(&echoed, &data, "echo");
    session.join();
}

/// Flow control, not partial writes: with both buffers at their minimum, every `send` must
/// wait for the reader, yet a blocking `send` with no signal sleeps until all of it is queued
/// (send(2)), so it never returns short here (a mutant that ignores short counts passes this
/// test). Short counts, and the loop that finishes them, are the next test's.
fn handle_client_echoes_4_mib_through_minimal_socket_buffers<I: Chapter>() {
    let (mine, theirs) = socketpair();
    set_sockopt_int(
        theirs.raw(),
        libc::SOL_SOCKET,
        libc::SO_SNDBUF,
        1,
        "SO_SNDBUF",
    );
    set_sockopt_int(
        mine.raw(),
        libc::SOL_SOCKET,
        libc::SO_RCVBUF,
        1,
        "SO_RCVBUF",
    );
    let sndbuf = sockopt_int(theirs.raw(), libc::SOL_SOCKET, libc::SO_SNDBUF, "SO_SNDBUF");
    assert!(sndbuf < 16 * 1024, "SO_SNDBUF not shrunk: {sndbuf}");
    let session = spawn_handle_client::<I>(theirs);
    let mine = Arc::new(mine);
    let data = patterned(4 << 20, 2);
    let writer = spawn_writer(Arc::clone(&mine), data.clone());
    let echoed = read_to_eof_slowly(mine.raw());
    writer.join().expect("writer");
    session.join();
    assert_same_bytes(&echoed, &data, "echo through minimal buffers");
}

fn handle_client_survives_eintr_in_recv<I: Chapter>() {
    let _s = signal_test();
    let (mine, theirs) = socketpair();
    let session = spawn_handle_client::<I>(theirs);
    send_all(mine.raw(), b"before");
    assert_eq!(read_exact(mine.raw(), 6), b"before");
    // Each signal lands while the thread sleeps in recv(), which (no SA_RESTART) then fails
    // with EINTR: handle_client must call recv() again, not end the session.
    for round in 0..50 {
        assert!(
            wait_blocked_in(session.tid, &[libc::SYS_recvfrom], &session.done),
            "handle_client returned after {round} signals"
        );
        assert!(
            signal_and_wait(session.pthread(), &session.done),
            "handle_client returned on signal {round}"
        );
    }
    let after = patterned(100_000, 3);
    let mine = Arc::new(mine);
    let writer = spawn_writer(Arc::clone(&mine), after.clone());
    let echoed = read_to_eof(mine.raw());
    writer.join().expect("writer");
    session.join();
    assert_same_bytes(&echoed, &after, "echo after the signals");
}

fn handle_client_survives_eintr_in_send_and_resumes_partial_writes<I: Chapter>() {
    let _s = signal_test();
    let (mine, theirs) = socketpair();
    set_sockopt_int(
        theirs.raw(),
        libc::SOL_SOCKET,
        libc::SO_SNDBUF,
        1,
        "SO_SNDBUF",
    );
    set_sockopt_int(
        mine.raw(),
        libc::SOL_SOCKET,
        libc::SO_RCVBUF,
        1,
        "SO_RCVBUF",
    );
    let session = spawn_handle_client::<I>(theirs);
    let mine = Arc::new(mine);
    let data = patterned(4 << 20, 4);
    let writer = spawn_writer(Arc::clone(&mine), data.clone());
    let mut echoed = Vec::new();
    for round in 0..100 {
        assert!(
            wait_blocked_in(session.tid, &[libc::SYS_sendto], &session.done),
            "handle_client returned after {round} signals"
        );
        assert!(
            signal_and_wait(session.pthread(), &session.done),
            "handle_client returned on signal {round}"
        );
        echoed.extend_from_slice(&read_some(mine.raw(), 3000));
    }
    echoed.extend_from_slice(&read_to_eof(mine.raw()));
    writer.join().expect("writer");
    session.join();
    assert_same_bytes(&echoed, &data, "echo while signalled in send");
}

fn handle_client_stops_on_epipe_and_closes_its_fd<I: Chapter>() {
    let (mine, theirs) = socketpair();
    // SAFETY: plain syscall on our socket. Our end stops reading: handle_client's send fails.
    let rc = unsafe { libc::shutdown(mine.raw(), libc::SHUT_RD) };
    assert_eq!(rc, 0, "shutdown(SHUT_RD): {}", io::Error::last_os_error());
    let session = spawn_handle_client::<I>(theirs);
    send_all(mine.raw(), b"hello");
    session.join(); // returns: send() got EPIPE (MSG_NOSIGNAL, so no SIGPIPE)
    // Its close is the last reference unless a concurrent test is spawning a process at that
    // moment: the child holds a copy of every fd until its exec closes the CLOEXEC ones. So
    // send (never blocking: the buffer may fill) until EPIPE, for at most 2 s; a handle_client
    // that never closes fails here.
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        // SAFETY: a live 1-byte buffer.
        let n = unsafe {
            libc::send(
                mine.raw(),
                b"x".as_ptr().cast(),
                1,
                libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
            )
        };
        let e = errno().0;
        if (n == -1 && e == libc::EPIPE) || Instant::now() >= deadline {
            assert_failed(
                n as c_int,
                e,
                libc::EPIPE,
                "send after handle_client returned",
            );
            return;
        }
        thread::sleep(Duration::from_millis(1));
    }
}

twin_test!(
    handle_client_echoes_1_mib_over_a_socketpair_then_closes,
    handle_client_echoes_4_mib_through_minimal_socket_buffers,
    handle_client_survives_eintr_in_recv,
    handle_client_survives_eintr_in_send_and_resumes_partial_writes,
    handle_client_stops_on_epipe_and_closes_its_fd,
);

// =============================================================================================
// tcp_server_loop (in a child role, after setup_signal_handlers)
// =============================================================================================

/// Child role `server_loop`: `setup_signal_handlers()`, `create_tcp_server("127.0.0.1", 0)`,
/// a line `twins-port N` on stderr, then `tcp_server_loop` (which returns only on failure).
fn role_server_loop<I: Chapter>() -> c_int {
    // SAFETY: this process is single-threaded (before main) and is this role only.
    unsafe { I::setup_signal_handlers() };
    // SAFETY: NUL-terminated literal.
    let fd = unsafe { I::create_tcp_server(c"127.0.0.1".as_ptr(), 0) };
    if fd < 0 {
        return 40;
    }
    let line = format!("twins-port {}\n", local_addr(fd).port());
    // SAFETY: a live buffer and its length; one write, so the line arrives whole.
    unsafe { libc::write(2, line.as_ptr().cast(), line.len()) };
    // SAFETY: `fd` listens; single-threaded, so the per-client fork is sound.
    unsafe { I::tcp_server_loop(fd) };
    41
}

/// A child process this test started; killed (by its pid) and reaped on drop.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The pids of `parent`'s children and whether each is a zombie, from `/proc/*/stat`.
fn children_of(parent: u32) -> Vec<(u32, bool)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("read /proc").flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // "pid (comm) S ppid ...": the fields after the last ')'.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        let mut f = rest.split_whitespace();
        let state = f.next().unwrap_or("");
        if f.next().and_then(|p| p.parse::<u32>().ok()) == Some(parent) {
            out.push((pid, state == "Z"));
        }
    }
    out
}

fn echo_once(s: &mut TcpStream, msg: &[u8]) {
    s.write_all(msg).expect("write");
    let mut got = vec![0u8; msg.len()];
    s.read_exact(&mut got).expect("read echo");
    assert_eq!(got, msg);
}

fn tcp_server_loop_forks_per_client_and_leaves_no_zombies<I: Chapter>() {
    let child = role_command::<I>("server_loop", None)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the server role");
    let mut child = ChildGuard(child);
    let server_pid = child.0.id();
    let mut stderr = BufReader::new(child.0.stderr.take().expect("stderr"));
    let port = read_role_port(&mut stderr);

    // Two clients at once: each is served by its own child process while both are open.
    let mut a = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).expect("connect a");
    let mut b = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).expect("connect b");
    for s in [&a, &b] {
        s.set_read_timeout(Some(FAILSAFE)).expect("timeout");
    }
    echo_once(&mut b, b"b first"); // b is served while a is connected and idle
    echo_once(&mut a, b"a second");
    echo_once(&mut b, b"b third");
    let kids = children_of(server_pid);
    assert_eq!(
        kids.len(),
        2,
        "children of the server while 2 clients are open: {kids:?}"
    );
    assert!(kids.iter().all(|(_, z)| !z), "zombie among {kids:?}");

    // Both clients leave: their children exit and, SA_NOCLDWAIT, are reaped by the kernel.
    drop(a);
    drop(b);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let kids = children_of(server_pid);
        if kids.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "after both clients closed, the server still has children (zombie = true): {kids:?}"
        );
        thread::sleep(Duration::from_millis(20));
    }
    // The server itself still accepts.
    let mut c = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).expect("connect c");
    c.set_read_timeout(Some(FAILSAFE)).expect("timeout");
    echo_once(&mut c, b"still serving");
    assert!(
        child.0.try_wait().expect("try_wait").is_none(),
        "the server exited"
    );
}

twin_test!(tcp_server_loop_forks_per_client_and_leaves_no_zombies);

/// Child role `server_loop_flush`: the server of `echo_server` as the chapter's own `main` runs
/// it, stdout a pipe and left fully buffered (no setvbuf), with text still in the stdout buffer
/// when `tcp_server_loop` starts: a partial line written through the implementation's own
/// stdio (C `printf`, Rust `print!`; Rust's line-buffered stdout keeps a partial line too).
/// A child forked with that text in its buffer writes it again when it exits.
fn role_server_loop_flush<I: Chapter>() -> c_int {
    // SAFETY: NUL-terminated literal.
    let fd = unsafe { I::create_tcp_server(c"127.0.0.1".as_ptr(), 0) };
    if fd < 0 {
        return 40;
    }
    if I::NAME == "c" {
        // SAFETY: a NUL-terminated format without conversions.
        unsafe { libc::printf(c"twins-unflushed;".as_ptr()) };
    } else {
        print!("twins-unflushed;");
    }
    let line = format!("twins-port {}\n", local_addr(fd).port());
    // SAFETY: a live buffer and its length; one write, so the line arrives whole.
    unsafe { libc::write(2, line.as_ptr().cast(), line.len()) };
    // SAFETY: `fd` listens; single-threaded, so the per-client fork is sound.
    unsafe { I::tcp_server_loop(fd) };
    41
}

fn tcp_server_loop_flushes_stdout_before_fork_in_a_child<I: Chapter>() {
    let child = role_command::<I>("server_loop_flush", None)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the server role");
    let mut child = ChildGuard(child);
    let mut stderr = BufReader::new(child.0.stderr.take().expect("stderr"));
    let port = read_role_port(&mut stderr);
    let mut stdout = BufReader::new(child.0.stdout.take().expect("stdout"));
    let mut seen = String::new();
    // Two clients, one after the other; each child writes its log when it exits.
    for (i, msg) in [b"first".as_slice(), b"second".as_slice()]
        .iter()
        .enumerate()
    {
        let mut c = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).expect("connect");
        c.set_read_timeout(Some(FAILSAFE)).expect("timeout");
        echo_once(&mut c, msg);
        drop(c);
        while seen.matches("connection closed").count() <= i {
            let mut l = String::new();
            assert!(
                stdout.read_line(&mut l).expect("read stdout") > 0,
                "the server's stdout ended before client {} was logged; so far: {seen:?}",
                i + 1
            );
            seen.push_str(&l);
        }
    }
    drop(child); // the server process, killed; its two children have exited
    let mut rest = String::new();
    let _ = stdout.read_to_string(&mut rest);
    seen.push_str(&rest);
    let n = seen.matches("twins-unflushed;").count();
    assert!(
        n <= 1,
        "text that was in the server's stdout buffer before fork() came out {n} times, once \
         per child: stdout is not flushed before fork() (fflush(stdout)), so each child \
         inherits the buffer and writes it again when it exits. stdout: {seen:?}"
    );
}

twin_test!(tcp_server_loop_flushes_stdout_before_fork_in_a_child);

extern "C" fn ignore_usr1(_: c_int) {}

/// Child role `server_loop_eintr`: `server_loop` with a SIGUSR1 handler installed WITHOUT
/// `SA_RESTART` first, so a SIGUSR1 makes the blocked `accept()` fail with `EINTR`.
fn role_server_loop_eintr<I: Chapter>() -> c_int {
    // SAFETY: `struct sigaction` is plain data; all-zero is valid.
    let mut sa: libc::sigaction = unsafe { mem::zeroed() };
    sa.sa_sigaction = ignore_usr1 as extern "C" fn(c_int) as libc::sighandler_t;
    sa.sa_flags = 0; // no SA_RESTART: accept() returns -1 EINTR
    // SAFETY: `sa` is initialised; a null old-action pointer is allowed.
    unsafe {
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGUSR1, &sa, ptr::null_mut());
    }
    role_server_loop::<I>()
}

/// Is `pid`'s main thread asleep in accept()/accept4() (`/proc/PID/syscall`, x86_64 numbers)?
fn blocked_in_accept(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/syscall"))
        .map(|s| {
            let nr = s.split_whitespace().next().unwrap_or("");
            nr == libc::SYS_accept.to_string() || nr == libc::SYS_accept4.to_string()
        })
        .unwrap_or(false)
}

fn tcp_server_loop_survives_eintr_in_accept<I: Chapter>() {
    let child = role_command::<I>("server_loop_eintr", None)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the server role");
    let mut child = ChildGuard(child);
    let server_pid = child.0.id();
    let mut stderr = BufReader::new(child.0.stderr.take().expect("stderr"));
    let port = read_role_port(&mut stderr);

    // A storm of 50 signals, each sent while the server sleeps in accept(): each one makes
    // accept() return EINTR, which the chapter's loop must retry, not treat as fatal.
    for i in 0..50 {
        let deadline = Instant::now() + FAILSAFE;
        while !blocked_in_accept(server_pid) {
            assert!(
                child.0.try_wait().expect("try_wait").is_none(),
                "the server exited after {i} signals"
            );
            assert!(
                Instant::now() < deadline,
                "the server never blocked in accept()"
            );
            thread::sleep(Duration::from_millis(1));
        }
        // SAFETY: plain syscall; `server_pid` is our child, alive (checked above).
        unsafe { libc::kill(server_pid as libc::pid_t, libc::SIGUSR1) };
    }
    let mut c = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).expect("connect");
    c.set_read_timeout(Some(FAILSAFE)).expect("timeout");
    echo_once(&mut c, b"after the storm");
    assert!(
        child.0.try_wait().expect("try_wait").is_none(),
        "the server exited"
    );
}

twin_test!(tcp_server_loop_survives_eintr_in_accept);

// =============================================================================================
// simple_http_client
// =============================================================================================

/// Child role `http`: `simple_http_client("127.0.0.1", port, path)`, path from [`PATH_ENV`] or
/// `/twins?x=1`, the response on fd 1 (a pipe to the test). Exit 0 on success, 1 with
/// `twins-errno N` on stderr otherwise.
fn role_http<I: Chapter>() -> c_int {
    let port = role_port();
    let path = std::env::var(PATH_ENV).unwrap_or_else(|_| "/twins?x=1".to_owned());
    let path = CString::new(path).expect("no NUL in the path");
    // SAFETY: NUL-terminated strings.
    let rc = unsafe { I::simple_http_client(c"127.0.0.1".as_ptr(), port, path.as_ptr()) };
    if rc != 0 {
        eprintln!("twins-errno {}", errno().0);
        return 1;
    }
    0
}

/// A one-connection HTTP responder on 127.0.0.1: reads the request up to its blank line,
/// answers `response` and closes. The thread returns the request.
fn http_responder(response: Vec<u8>) -> (u16, JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    let port = listener.local_addr().expect("local_addr").port();
    let thread = thread::spawn(move || {
        wait_ready(listener.as_raw_fd(), libc::POLLIN, "responder accept");
        let (mut s, _) = listener.accept().expect("accept");
        s.set_read_timeout(Some(FAILSAFE)).expect("timeout");
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = s.read(&mut buf).expect("responder read");
            if n == 0 {
                return got;
            }
            got.extend_from_slice(&buf[..n]);
        }
        s.write_all(&response).expect("responder write");
        got
    });
    (port, thread)
}

fn simple_http_client_writes_the_whole_response_to_fd_1_in_a_child<I: Chapter>() {
    // More than one 4 KiB recv(), NUL and non-UTF-8 bytes included: nothing may be cut.
    let body = patterned(10_000, 7);
    let mut response = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    response.extend_from_slice(&body);
    let (port, responder) = http_responder(response.clone());
    let out = run_role_to_end::<I>("http", Some(port));
    let request = responder.join().expect("responder");
    assert_eq!(out.status.code(), Some(0), "{}", explain(&out));
    let want_req =
        format!("GET /twins?x=1 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    assert_eq!(
        String::from_utf8_lossy(&request),
        want_req,
        "request on the wire"
    );
    let mut want = b"HTTP Response:\n".to_vec();
    want.extend_from_slice(&response);
    want.push(b'\n');
    assert_same_bytes(&out.stdout, &want, "stdout of simple_http_client");
}

/// Child role `http_short_send`: as `http`, with the first send() of the process cut to half
/// (see [`SHORT_SENDS`]).
fn role_http_short_send<I: Chapter>() -> c_int {
    SHORT_SENDS.store(1, SeqCst);
    let code = role_http::<I>();
    eprintln!("twins-short-send {}", SHORT_SENT.load(SeqCst));
    code
}

fn simple_http_client_sends_the_rest_after_a_short_send_in_a_child<I: Chapter>() {
    let response = b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n".to_vec();
    let (port, responder) = http_responder(response);
    let out = run_role_to_end::<I>("http_short_send", Some(port));
    let request = responder.join().expect("responder");
    let want =
        format!("GET /twins?x=1 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    let cut: usize = String::from_utf8_lossy(&out.stderr)
        .lines()
        .find_map(|l| l.strip_prefix("twins-short-send "))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(
        cut == 0 || request.len() != cut,
        "the server received {} of the request's {} bytes: the first send() wrote only part of \
         it (as it does when a signal interrupts it after some bytes were queued), and send() \
         was not called again for the rest: send in a loop until every byte is out.\n\
         received: {:?}\n{}",
        request.len(),
        want.len(),
        String::from_utf8_lossy(&request),
        explain(&out)
    );
    assert_eq!(
        String::from_utf8_lossy(&request),
        want,
        "request on the wire"
    );
    assert_eq!(out.status.code(), Some(0), "{}", explain(&out));
}

twin_test!(simple_http_client_sends_the_rest_after_a_short_send_in_a_child);

fn simple_http_client_to_a_closed_port_is_econnrefused<I: Chapter>() {
    let closed = closed_port();
    let port = closed.port;
    set_errno(Errno(0));
    // SAFETY: NUL-terminated literals.
    let rc = unsafe { I::simple_http_client(c"127.0.0.1".as_ptr(), port, c"/".as_ptr()) };
    let e = errno().0;
    assert_failed(rc, e, libc::ECONNREFUSED, "simple_http_client(closed port)");
}

fn simple_http_client_empty_reply_is_econnreset<I: Chapter>() {
    let (port, responder) = http_responder(Vec::new());
    set_errno(Errno(0));
    // SAFETY: NUL-terminated literals.
    let rc = unsafe { I::simple_http_client(c"127.0.0.1".as_ptr(), port, c"/x".as_ptr()) };
    let e = errno().0;
    let request = responder.join().expect("responder");
    assert_failed(rc, e, libc::ECONNRESET, "simple_http_client(empty reply)");
    let want = format!("GET /x HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    assert_eq!(
        String::from_utf8_lossy(&request),
        want,
        "request on the wire"
    );
}

fn simple_http_client_unresolvable_name_is_enoent<I: Chapter>() {
    set_errno(Errno(0));
    // SAFETY: NUL-terminated literals. glibc refuses the empty label without any DNS query.
    let rc = unsafe { I::simple_http_client(c"bad..name".as_ptr(), 80, c"/".as_ptr()) };
    let e = errno().0;
    assert_failed(rc, e, libc::ENOENT, "simple_http_client(bad..name)");
}

/// A path that makes `GET path HTTP/1.1 ... \r\n\r\n` exactly `len` bytes long, for `port`.
fn path_for_request_of(len: usize, port: u16) -> String {
    let head = format!("GET  HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    format!("/{}", "a".repeat(len - head.len() - 1))
}

fn simple_http_client_sends_a_request_of_exactly_1023_bytes_in_a_child<I: Chapter>() {
    // The chapter's `char request[1024]` holds 1023 bytes and the NUL: the largest request.
    let response = b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n".to_vec();
    let (port, responder) = http_responder(response.clone());
    let path = path_for_request_of(1023, port);
    let out = role_command::<I>("http", Some(port))
        .env(PATH_ENV, &path)
        .output()
        .expect("re-execute the test binary");
    let request = responder.join().expect("responder");
    assert_eq!(out.status.code(), Some(0), "{}", explain(&out));
    let want =
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    assert_eq!(want.len(), 1023, "test set-up");
    assert_eq!(
        String::from_utf8_lossy(&request),
        want,
        "the 1023-byte request on the wire"
    );
    let mut want_out = b"HTTP Response:\n".to_vec();
    want_out.extend_from_slice(&response);
    want_out.push(b'\n');
    assert_same_bytes(&out.stdout, &want_out, "stdout of simple_http_client");
}

fn simple_http_client_refuses_a_request_over_1023_bytes_with_emsgsize<I: Chapter>() {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    let port = listener.local_addr().expect("local_addr").port();
    let path = CString::new(path_for_request_of(1024, port)).expect("no NUL");
    set_errno(Errno(0));
    // SAFETY: NUL-terminated strings.
    let rc = unsafe { I::simple_http_client(c"127.0.0.1".as_ptr(), port, path.as_ptr()) };
    let e = errno().0;
    assert_failed(
        rc,
        e,
        libc::EMSGSIZE,
        "simple_http_client(1024-byte request)",
    );
}

twin_test!(
    simple_http_client_writes_the_whole_response_to_fd_1_in_a_child,
    simple_http_client_to_a_closed_port_is_econnrefused,
    simple_http_client_empty_reply_is_econnreset,
    simple_http_client_unresolvable_name_is_enoent,
    simple_http_client_sends_a_request_of_exactly_1023_bytes_in_a_child,
    simple_http_client_refuses_a_request_over_1023_bytes_with_emsgsize,
);

// =============================================================================================
// setup_signal_handlers (in a child role: it changes process-wide state)
// =============================================================================================

/// Child role `signals`: from the opposite state (SIGPIPE default, SIGCHLD ignored), calls
/// `setup_signal_handlers()` and checks dispositions and behaviour; exit 0 or a code of
/// [`SIGNAL_CODES`].
fn role_signals<I: Chapter>() -> c_int {
    // SAFETY: `struct sigaction` is plain data; all-zero is a valid value.
    let mut sa: libc::sigaction = unsafe { mem::zeroed() };
    // SAFETY: `sa.sa_mask` is a live sigset_t.
    unsafe { libc::sigemptyset(&mut sa.sa_mask) };
    sa.sa_sigaction = libc::SIG_DFL;
    // SAFETY: `sa` is initialised; a null old action is allowed.
    if unsafe { libc::sigaction(libc::SIGPIPE, &sa, ptr::null_mut()) } != 0 {
        return 10;
    }
    sa.sa_sigaction = libc::SIG_IGN;
    // SAFETY: as above.
    if unsafe { libc::sigaction(libc::SIGCHLD, &sa, ptr::null_mut()) } != 0 {
        return 11;
    }

    // SAFETY: single-threaded child, this role only.
    unsafe { I::setup_signal_handlers() };

    // SAFETY: plain data; all-zero is valid.
    let mut old: libc::sigaction = unsafe { mem::zeroed() };
    // SAFETY: a null new action only reads the current one into `old`.
    if unsafe { libc::sigaction(libc::SIGPIPE, ptr::null(), &mut old) } != 0 {
        return 12;
    }
    if old.sa_sigaction != libc::SIG_IGN {
        return 13;
    }
    // SAFETY: as above.
    if unsafe { libc::sigaction(libc::SIGCHLD, ptr::null(), &mut old) } != 0 {
        return 12;
    }
    if old.sa_sigaction != libc::SIG_DFL {
        return 15;
    }
    if old.sa_flags & libc::SA_NOCLDWAIT == 0 {
        return 16;
    }
    // Behaviour, SIGPIPE: writing to a pipe nobody reads fails with EPIPE, no death.
    let mut fds = [-1 as c_int; 2];
    // SAFETY: `fds` has room for two fds.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return 17;
    }
    // SAFETY: our own fds; a live 1-byte buffer.
    let n = unsafe {
        libc::close(fds[0]);
        libc::write(fds[1], b"x".as_ptr().cast(), 1)
    };
    if n != -1 || errno().0 != libc::EPIPE {
        return 18;
    }
    // Behaviour, SA_NOCLDWAIT: an exited child is reaped by the kernel, so waitpid waits for it
    // and then fails with ECHILD instead of returning a zombie's status.
    // SAFETY: single-threaded; the grandchild only calls _exit.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return 19;
    }
    if pid == 0 {
        // SAFETY: ends the grandchild at once.
        unsafe { libc::_exit(0) };
    }
    let mut status = 0;
    loop {
        // SAFETY: `status` is a live c_int.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == -1 && errno().0 == libc::EINTR {
            continue;
        }
        if r != -1 || errno().0 != libc::ECHILD {
            return 20;
        }
        return 0;
    }
}

const SIGNAL_CODES: &[(i32, &str)] = &[
    (10, "could not set SIGPIPE to SIG_DFL first"),
    (11, "could not set SIGCHLD to SIG_IGN first"),
    (12, "sigaction read-back failed"),
    (13, "SIGPIPE is not SIG_IGN"),
    (15, "SIGCHLD is not SIG_DFL"),
    (16, "SIGCHLD lacks SA_NOCLDWAIT"),
    (17, "pipe failed"),
    (18, "write to a reader-less pipe did not fail with EPIPE"),
    (19, "fork of the grandchild failed"),
    (
        20,
        "waitpid did not fail with ECHILD (child not auto-reaped)",
    ),
];

fn setup_signal_handlers_ignores_sigpipe_and_sets_sa_nocldwait_in_a_child<I: Chapter>() {
    let out = run_role_to_end::<I>("signals", None);
    let code = out.status.code();
    let why = SIGNAL_CODES
        .iter()
        .find(|(c, _)| Some(*c) == code)
        .map_or("", |(_, w)| *w);
    assert!(
        out.status.signal().is_none(),
        "killed by a signal: {}",
        explain(&out)
    );
    assert_eq!(code, Some(0), "{why}\n{}", explain(&out));
}

twin_test!(setup_signal_handlers_ignores_sigpipe_and_sets_sa_nocldwait_in_a_child);

// =============================================================================================
// perror and errno: the first failing call of a process
// =============================================================================================

/// Child role `first_perror`, run with stderr a pipe: glibc's first `perror` of a process probes
/// stderr with `fdopen(dup(2), "w+")`, which fails with EINVAL on a write-only fd and used to
/// leave that EINVAL in errno. The first failing chapter call must still return its own errno.
fn role_first_perror<I: Chapter>() -> c_int {
    // SAFETY: F_GETFL takes no pointer argument.
    if unsafe { libc::fcntl(2, libc::F_GETFL) } & libc::O_ACCMODE != libc::O_WRONLY {
        return 50;
    }
    let Ok(held) = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)) else {
        return 51;
    };
    let port = held.local_addr().map_or(0, |a| a.port());
    set_errno(Errno(0));
    // SAFETY: NUL-terminated literal.
    let rc = unsafe { I::create_tcp_server(c"127.0.0.1".as_ptr(), port) };
    let e = errno().0;
    match (rc, e) {
        (-1, libc::EADDRINUSE) => 0,
        (-1, _) => 52, // the bug: errno from perror's probe (EINVAL), not bind's
        _ => 53,
    }
}

fn create_tcp_server_keeps_errno_across_the_first_perror_of_a_process<I: Chapter>() {
    let out = run_role_to_end::<I>("first_perror", None);
    assert!(
        out.status.code() == Some(0),
        "52: wrong errno after the first perror, 50/51: set-up, 53: bind succeeded\n{}",
        explain(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("bind: Address already in use"),
        "{}",
        explain(&out)
    );
}

twin_test!(create_tcp_server_keeps_errno_across_the_first_perror_of_a_process);

// =============================================================================================
// write_all (util): not a chapter function, the helper every program writes stdout with
// =============================================================================================

fn pipe() -> (Fd, Fd) {
    let mut fds = [-1 as c_int; 2];
    // SAFETY: `fds` has room for the two fds.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(rc, 0, "pipe2: {}", io::Error::last_os_error());
    (Fd(fds[0]), Fd(fds[1]))
}

fn write_all_writes_everything_through_a_pipe<I: Chapter>() {
    let (r, w) = pipe();
    let data = patterned(1 << 20, 5);
    let copy = data.clone();
    let writer = thread::spawn(move || {
        // SAFETY: `w` is our pipe's write end.
        let rc = unsafe { I::write_all(w.raw(), &copy) };
        let e = errno().0;
        drop(w); // EOF for the reader
        (rc, e)
    });
    let got = read_to_eof(r.raw());
    let (rc, e) = writer.join().expect("writer");
    assert_eq!(rc, 0, "write_all: {}", describe(e));
    assert_same_bytes(&got, &data, "pipe");
}

fn write_all_reports_ebadf_and_epipe<I: Chapter>() {
    set_errno(Errno(0));
    // SAFETY: fd -1 is never open; write fails with EBADF and touches nothing.
    let rc = unsafe { I::write_all(-1, b"x") };
    let e = errno().0;
    assert_failed(rc, e, libc::EBADF, "write_all(-1)");

    // EPIPE without dying needs SIGPIPE ignored, which Rust's runtime does before main: check
    // it rather than assume it (the test must not kill the whole test process).
    // SAFETY: `struct sigaction` is plain data; all-zero is a valid value.
    let mut old: libc::sigaction = unsafe { mem::zeroed() };
    // SAFETY: a null new action only reads the current one.
    let rc = unsafe { libc::sigaction(libc::SIGPIPE, ptr::null(), &mut old) };
    assert_eq!(rc, 0);
    assert_eq!(
        old.sa_sigaction,
        libc::SIG_IGN,
        "SIGPIPE not ignored in the test process"
    );
    let (r, w) = pipe();
    drop(r);
    set_errno(Errno(0));
    // SAFETY: `w` is our pipe's write end.
    let rc = unsafe { I::write_all(w.raw(), b"x") };
    let e = errno().0;
    assert_failed(rc, e, libc::EPIPE, "write_all(reader-less pipe)");
}

fn write_all_retries_eintr_and_partial_writes<I: Chapter>() {
    let _s = signal_test();
    let (r, w) = pipe();
    let data = patterned(1 << 20, 6);
    let copy = data.clone();
    let done = Arc::new(AtomicBool::new(false));
    let finished = Arc::clone(&done);
    let (tx, rx) = mpsc::channel();
    let writer = thread::spawn(move || {
        tx.send(gettid()).expect("send tid");
        // SAFETY: `w` is our pipe's write end.
        let rc = unsafe { I::write_all(w.raw(), &copy) };
        let e = errno().0;
        finished.store(true, SeqCst);
        drop(w);
        (rc, e)
    });
    let tid = rx.recv().expect("tid");

    // The pipe is full while we do not read: write() sleeps, and the signal ends it with
    // EINTR, or with a partial count if it had written some: write_all must go on.
    let mut got = Vec::new();
    for round in 0..64 {
        if !wait_blocked_in(tid, &[libc::SYS_write], &done)
            || !signal_and_wait(writer.as_pthread_t(), &done)
        {
            let (rc, e) = writer.join().expect("writer");
            panic!(
                "write_all returned {rc} ({}) on signal {round}",
                describe(e)
            );
        }
        got.extend_from_slice(&read_some(r.raw(), 1000));
    }
    got.extend_from_slice(&read_to_eof(r.raw()));
    let (rc, e) = writer.join().expect("writer");
    assert_eq!(rc, 0, "write_all: {}", describe(e));
    assert_same_bytes(&got, &data, "pipe while signalled");
}

twin_test!(
    write_all_writes_everything_through_a_pipe,
    write_all_reports_ebadf_and_epipe,
    write_all_retries_eintr_and_partial_writes,
);

fn tcp_connect_nonblocking_gives_select_a_timeval_in_range<I: Chapter>() {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    let port = listener.local_addr().expect("local_addr").port();
    STRICT_SELECT.with(|s| s.set(true));
    SELECT_TIMEOUTS.with(|t| t.borrow_mut().clear());
    set_errno(Errno(0));
    // SAFETY: NUL-terminated literal.
    let rc = unsafe { I::tcp_connect_nonblocking(c"127.0.0.1".as_ptr(), port, 1500) };
    let e = errno().0;
    STRICT_SELECT.with(|s| s.set(false));
    let seen = SELECT_TIMEOUTS.with(|t| t.borrow().clone());
    if rc > 2 {
        drop(Fd(rc));
    }
    let bad = seen.iter().find(|(_, us)| !(0..1_000_000).contains(us));
    assert!(
        bad.is_none(),
        "select() was given the timeout {{tv_sec = {}, tv_usec = {}}} for 1500 ms: tv_usec \
         must be below 1000000 (select(2): EINVAL), so 1500 ms is {{1, 500000}}: tv_sec = \
         ms / 1000, tv_usec = (ms % 1000) * 1000. (rc {rc}, errno {})",
        bad.map_or(0, |b| b.0),
        bad.map_or(0, |b| b.1),
        describe(e)
    );
    assert!(rc >= 0, "tcp_connect_nonblocking: rc {rc}, {}", describe(e));
    if let Some(&(sec, usec)) = seen.first() {
        assert_eq!(
            (sec, usec),
            (1, 500_000),
            "the timeout given to select() for 1500 ms"
        );
    }
}

twin_test!(tcp_connect_nonblocking_gives_select_a_timeval_in_range);

/// Child role `signals_fail`: `setup_signal_handlers()` with every `rt_sigaction` call for the
/// signal in [`PORT_ENV`] failing with EINVAL (a seccomp filter, seccomp(2)); the function's
/// report of it, on stderr, is what the parent checks.
fn role_signals_fail<I: Chapter>() -> c_int {
    let sig = u32::from(role_port());
    #[cfg(target_arch = "x86_64")]
    const AUDIT_ARCH: u32 = 0xc000_003e; // AUDIT_ARCH_X86_64
    #[cfg(target_arch = "aarch64")]
    const AUDIT_ARCH: u32 = 0xc000_00b7; // AUDIT_ARCH_AARCH64
    let stmt = |code: u16, k: u32| libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    };
    let jeq = |k: u32, jt: u8, jf: u8| libc::sock_filter {
        code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
        jt,
        jf,
        k,
    };
    let ld = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
    let ret = (libc::BPF_RET | libc::BPF_K) as u16;
    // struct seccomp_data: nr at 0, arch at 4, args[0] at 16 (its low half, little-endian).
    let mut filter = [
        stmt(ld, 4),
        jeq(AUDIT_ARCH, 1, 0),
        stmt(ret, libc::SECCOMP_RET_ALLOW),
        stmt(ld, 0),
        jeq(libc::SYS_rt_sigaction as u32, 0, 3),
        stmt(ld, 16),
        jeq(sig, 0, 1),
        stmt(ret, libc::SECCOMP_RET_ERRNO | libc::EINVAL as u32),
        stmt(ret, libc::SECCOMP_RET_ALLOW),
    ];
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_mut_ptr(),
    };
    // SAFETY: prctl with plain integer arguments, then a filter program that lives across the
    // call (the kernel copies it).
    unsafe {
        let (one, zero): (libc::c_ulong, libc::c_ulong) = (1, 0);
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, one, zero, zero, zero) != 0 {
            return 50;
        }
        if libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::c_ulong::from(libc::SECCOMP_MODE_FILTER),
            &raw const prog,
        ) != 0
        {
            return 51;
        }
    }
    // SAFETY: single-threaded child, this role only.
    unsafe { I::setup_signal_handlers() };
    0
}

/// `setup_signal_handlers()` with the kernel refusing to change `sig`: the function must say so
/// on stderr with `what` (its `perror` prefix), as the chapter's own code does not.
fn signal_failure_reported<I: Chapter>(sig: c_int, what: &str, call: &str) {
    let out = run_role_to_end::<I>("signals_fail", Some(sig as u16));
    assert_eq!(out.status.code(), Some(0), "{}", explain(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    let want = format!("{what}: Invalid argument");
    assert!(
        err.lines().any(|l| l == want),
        "{call} failed (EINVAL, made to fail on purpose) and nothing said so: check its \
         result and report a failure with perror_keep_errno(\"{what}\"), which prints \
         \"{want}\". stderr: {err:?}"
    );
}

fn setup_signal_handlers_reports_a_failed_signal_sigpipe_in_a_child<I: Chapter>() {
    signal_failure_reported::<I>(libc::SIGPIPE, "signal SIGPIPE", "signal(SIGPIPE, SIG_IGN)");
}

fn setup_signal_handlers_reports_a_failed_sigaction_sigchld_in_a_child<I: Chapter>() {
    signal_failure_reported::<I>(libc::SIGCHLD, "sigaction SIGCHLD", "sigaction(SIGCHLD)");
}

twin_test!(
    setup_signal_handlers_reports_a_failed_signal_sigpipe_in_a_child,
    setup_signal_handlers_reports_a_failed_sigaction_sigchld_in_a_child,
);

/// Two listeners on 127.0.0.1: one on a port whose two bytes differ, one on that port with its
/// bytes swapped, where a client that forgot htons connects instead.
fn port_and_its_swap() -> (TcpListener, TcpListener, u16) {
    loop {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        let port = listener.local_addr().expect("local_addr").port();
        if port.swap_bytes() == port {
            continue;
        }
        if let Ok(swapped) = TcpListener::bind((Ipv4Addr::LOCALHOST, port.swap_bytes())) {
            return (listener, swapped, port);
        }
    }
}

/// Calls `connect` (a chapter client function, to 127.0.0.1:port) with `port` and its swap
/// both listening, and fails naming htons when the connection reaches the swapped port.
fn connects_to_the_port_it_is_given(what: &str, connect: impl FnOnce(u16) -> c_int) {
    let (listener, swapped, port) = port_and_its_swap();
    set_errno(Errno(0));
    let rc = connect(port);
    let e = errno().0;
    let fd = (rc >= 0).then(|| Fd(rc));
    let wrong = fd
        .as_ref()
        .is_some_and(|f| peer_addr(f.raw()).port() == port.swap_bytes());
    assert!(
        !wrong,
        "{what} was asked for port {port} and connected to port {}, the port's two bytes \
         swapped: the port was given in host byte order; sin_port must be htons(port), \
         network byte order",
        port.swap_bytes()
    );
    let fd = fd.unwrap_or_else(|| panic!("{what}: returned {rc}, {}", describe(e)));
    assert_eq!(peer_addr(fd.raw()).port(), port, "{what}: the peer's port");
    drop((listener, swapped));
}

fn tcp_client_connect_connects_to_the_port_it_is_given<I: Chapter>() {
    connects_to_the_port_it_is_given("tcp_client_connect", |port| {
        // SAFETY: NUL-terminated literal.
        unsafe { I::tcp_client_connect(c"127.0.0.1".as_ptr(), port) }
    });
}

twin_test!(tcp_client_connect_connects_to_the_port_it_is_given);

fn tcp_connect_nonblocking_connects_to_the_port_it_is_given<I: Chapter>() {
    connects_to_the_port_it_is_given("tcp_connect_nonblocking", |port| {
        // SAFETY: NUL-terminated literal.
        unsafe { I::tcp_connect_nonblocking(c"127.0.0.1".as_ptr(), port, 2000) }
    });
}

twin_test!(tcp_connect_nonblocking_connects_to_the_port_it_is_given);

/// Child role `handle_client_log`: `handle_client` on an accepted loopback connection whose
/// client has already sent FIN, with the address accept() filled in; its log lines go to
/// stdout, the client's port to stderr (`twins-client-port N`).
fn role_handle_client_log<I: Chapter>() -> c_int {
    let Ok(listener) = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)) else {
        return 60;
    };
    let Ok(client) = TcpStream::connect(listener.local_addr().expect("local_addr")) else {
        return 61;
    };
    let port = client.local_addr().expect("local_addr").port();
    if client.shutdown(std::net::Shutdown::Write).is_err() {
        return 62;
    }
    // SAFETY: `sockaddr_in` is plain data; all-zero is valid.
    let mut addr: sockaddr_in = unsafe { mem::zeroed() };
    let mut len = SOCKADDR_IN_LEN;
    // SAFETY: `addr` is writable for `len` bytes.
    let fd = unsafe {
        libc::accept(
            listener.as_raw_fd(),
            (&raw mut addr).cast::<sockaddr>(),
            &mut len,
        )
    };
    if fd < 0 {
        return 63;
    }
    eprintln!("twins-client-port {port}");
    // SAFETY: `fd` is an accepted socket handed over; `addr` is the one accept() filled.
    unsafe { I::handle_client(fd, &mut addr) };
    drop(client);
    0
}

fn handle_client_logs_the_client_address_in_a_child<I: Chapter>() {
    let out = run_role_to_end::<I>("handle_client_log", None);
    assert_eq!(out.status.code(), Some(0), "{}", explain(&out));
    let port: u16 = String::from_utf8_lossy(&out.stderr)
        .lines()
        .find_map(|l| l.strip_prefix("twins-client-port "))
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no client port: {}", explain(&out)));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let first = stdout.lines().next().unwrap_or("");
    let want = format!("Client connected from 127.0.0.1:{port}");
    assert!(
        first == want,
        "for a client on 127.0.0.1:{port} the first line is '{first}', not '{want}'{}",
        if first == format!("Client connected from 127.0.0.1:{}", port.swap_bytes()) {
            ": the port's bytes swapped, printed in network byte order; print \
             ntohs(client_addr->sin_port)"
        } else {
            ""
        }
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            want,
            format!("Client 127.0.0.1:{port} disconnected gracefully"),
            format!("Client 127.0.0.1:{port} connection closed"),
        ],
        "the log of a session whose client sent nothing and closed"
    );
}

twin_test!(handle_client_logs_the_client_address_in_a_child);
