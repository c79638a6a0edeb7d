//! Unit tests that call each chapter `unsafe fn` directly.
//!
//! Ground rules, because every test runs as a thread of one process:
//! * network: 127.0.0.1 and kernel-chosen ports only (plus the `INADDR_ANY` bind that
//!   `create_tcp_server(NULL, 0)` makes by design; it is only ever connected to through
//!   127.0.0.1);
//! * the process's signal dispositions, fds 0/1/2 and rlimits are left alone; the one exception
//!   is a `SIGUSR1` handler (a counter, installed once, without `SA_RESTART`) used to interrupt
//!   blocking calls of one thread with `pthread_kill`; `setup_signal_handlers` runs in a forked
//!   child only;
//! * every fd is owned by an [`Fd`] guard, so a failed assertion still closes it;
//! * no sleeps: a thread "blocked in recv" is seen in `/proc/self/task/TID/syscall`; waits that
//!   could hang if the code under test broke are bounded by [`FAILSAFE`] and then fail.

use std::io::{self, Read};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::thread::JoinHandleExt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{
    Arc, Mutex, MutexGuard, Once, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard, mpsc,
};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};
use std::{mem, ptr};

use errno::{Errno, errno, set_errno};
use libc::{c_int, c_long, sockaddr, sockaddr_in, socklen_t};

use crate::client::{tcp_client_connect, tcp_connect_nonblocking};
use crate::http::simple_http_client;
use crate::server::{LISTEN_BACKLOG, create_tcp_server, handle_client, setup_signal_handlers};
use crate::util::write_all;

/// Upper bound on any wait that only ends if the code under test works; reaching it fails the
/// test instead of hanging it.
const FAILSAFE: Duration = Duration::from_secs(30);

const SOCKADDR_IN_LEN: socklen_t = mem::size_of::<sockaddr_in>() as socklen_t;

/// `TCP_LISTEN` of the kernel's `enum tcp_state` (as `tcpi_state` reports it).
const TCP_LISTEN: u8 = 10;

#[cfg(target_arch = "x86_64")]
const SELECT_SYSCALLS: &[c_long] = &[libc::SYS_select, libc::SYS_pselect6];
#[cfg(not(target_arch = "x86_64"))]
const SELECT_SYSCALLS: &[c_long] = &[libc::SYS_pselect6];

// ---------------------------------------------------------------------------------------------
// Fds, errno, socket options
// ---------------------------------------------------------------------------------------------

/// An fd the test owns; closed on drop.
struct Fd(c_int);

impl Fd {
    /// Takes `fd` (the result of a call named `what`), failing with the errno if it is < 0.
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

/// Serialises `fork` against the other tests: a forked child holds copies of every fd of the
/// process, so while it lives a socket another test closed is not closed (no EOF, no EPIPE, a
/// dropped listener still listening). Every test holds the read side; the fork test the write.
static FORK_LOCK: RwLock<()> = RwLock::new(());

/// Every test but the fork-based ones starts with this: the fork guard, and stderr oriented.
fn no_fork() -> RwLockReadGuard<'static, ()> {
    orient_stderr();
    FORK_LOCK.read().unwrap_or_else(PoisonError::into_inner)
}

unsafe extern "C" {
    /// glibc's `stderr` (`FILE *`); only read here.
    static mut stderr: *mut libc::FILE;
    /// `fwide(3)`: sets a stream's orientation if it has none yet.
    fn fwide(stream: *mut libc::FILE, mode: c_int) -> c_int;
}

/// Gives C `stderr` byte orientation now, as the process's first `perror` would.
///
/// Why: glibc's `perror` on a stream with no orientation yet tries `fdopen(dup(2), "w+")`,
/// which fails with `EINVAL` when fd 2 is write-only (a pipe, `2>file`, /dev/null), and does
/// not restore `errno`: the first chapter function of the process to fail returns -1 with
/// `errno == EINVAL` instead of its real error. Left alone, that would make whichever test
/// fails first fail at random; `create_tcp_server_errno_survives_the_first_perror_of_a_process`
/// reproduces the bug deterministically in a fresh process instead.
fn orient_stderr() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: `stderr` is glibc's live stream pointer, read by value; fwide only sets the
        // orientation of a stream that has none (what any stdio output to it would do).
        unsafe { fwide(stderr, -1) };
    });
}

fn forking() -> RwLockWriteGuard<'static, ()> {
    FORK_LOCK.write().unwrap_or_else(PoisonError::into_inner)
}

fn describe(e: i32) -> String {
    format!("{} (errno {e})", io::Error::from_raw_os_error(e))
}

/// Asserts that a call returned -1 with `errno == want` (`e` is the errno read right after it).
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
    assert_eq!(
        len as usize,
        mem::size_of::<c_int>(),
        "getsockopt {what}: length"
    );
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

/// A port on 127.0.0.1 that nothing listens on (a listener's, after it is dropped).
fn closed_port() -> u16 {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
    l.local_addr().expect("local_addr").port()
}

fn tcp_socket(flags: c_int) -> Fd {
    // SAFETY: plain syscall with constant arguments.
    Fd::new(
        unsafe {
            libc::socket(
                libc::AF_INET,
                libc::SOCK_STREAM | libc::SOCK_CLOEXEC | flags,
                0,
            )
        },
        "socket",
    )
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

// ---------------------------------------------------------------------------------------------
// Data through sockets and pipes
// ---------------------------------------------------------------------------------------------

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
            "{what}: got {} bytes, want {}; first difference at {:?}",
            got.len(),
            want.len(),
            first
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

fn pipe() -> (Fd, Fd) {
    let mut fds = [-1 as c_int; 2];
    // SAFETY: `fds` has room for the two fds.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(rc, 0, "pipe2: {}", io::Error::last_os_error());
    (Fd(fds[0]), Fd(fds[1]))
}

/// A thread that sends `data` on `fd`, then `shutdown(SHUT_WR)`.
fn spawn_writer(fd: Arc<Fd>, data: Vec<u8>) -> JoinHandle<()> {
    thread::spawn(move || {
        send_all(fd.raw(), &data);
        shutdown_write(fd.raw());
    })
}

// ---------------------------------------------------------------------------------------------
// Threads, signals
// ---------------------------------------------------------------------------------------------

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

/// Runs `handle_client(fd, 127.0.0.1:40000)` in a thread (the address is made up: it is only
/// printed).
fn spawn_handle_client(fd: Fd) -> Session {
    let fd = fd.into_raw();
    let done = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    let finished = Arc::clone(&done);
    let thread = thread::spawn(move || {
        tx.send(gettid()).expect("send tid");
        let addr = to_sockaddr(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 40000));
        // SAFETY: `fd` is a connected stream socket this thread owns (handle_client closes
        // it); `addr` is a live sockaddr_in.
        unsafe { handle_client(fd, &addr) };
        finished.store(true, SeqCst);
    });
    let tid = rx.recv().expect("handle_client thread started");
    Session { thread, tid, done }
}

// ---------------------------------------------------------------------------------------------
// A listener whose accept queue is full: a further connect gets no SYN-ACK
// ---------------------------------------------------------------------------------------------

struct FullListener {
    port: u16,
    _fillers: Vec<Fd>,
    _listener: Fd,
}

/// Whether the accept queue of listener `fd` is full, by the kernel's own test
/// (`sk_acceptq_is_full`: `sk_ack_backlog > sk_max_ack_backlog`), read back with `TCP_INFO`,
/// which for a listener reports the queue length in `tcpi_unacked` and the backlog in
/// `tcpi_sacked`. While it is full, every SYN to it is dropped.
fn accept_queue_full(fd: c_int) -> bool {
    let info = tcp_info(fd);
    assert_eq!(info.tcpi_state, TCP_LISTEN, "not a listener");
    info.tcpi_unacked > info.tcpi_sacked
}

/// `listen(fd, 0)` on 127.0.0.1, then non-blocking connects it never accepts until its accept
/// queue is full (on Linux one or two fit).
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
        // Until this handshake settles: the queue fills, or this connect finishes.
        loop {
            if accept_queue_full(listener.raw()) {
                break;
            }
            let mut p = libc::pollfd {
                fd: f.raw(),
                events: libc::POLLOUT,
                revents: 0,
            };
            // SAFETY: `p` is one live pollfd; timeout 0 only looks.
            if unsafe { libc::poll(&mut p, 1, 0) } > 0 {
                break;
            }
            assert!(Instant::now() < deadline, "filler connect never settled");
            thread::yield_now();
        }
        fillers.push(f);
    }
    FullListener {
        port,
        _fillers: fillers,
        _listener: listener,
    }
}

// =============================================================================================
// server.rs: create_tcp_server
// =============================================================================================

#[test]
fn create_tcp_server_null_addr_port_0_listens_on_any_with_both_reuse_options() {
    let _g = no_fork();
    // SAFETY: a null address is allowed (INADDR_ANY).
    let fd = Fd::new(
        unsafe { create_tcp_server(ptr::null(), 0) },
        "create_tcp_server(NULL, 0)",
    );
    let raw = fd.raw();
    let (sol, what) = (libc::SOL_SOCKET, "create_tcp_server(NULL, 0)");
    assert_eq!(
        sockopt_int(raw, sol, libc::SO_ACCEPTCONN, what),
        1,
        "SO_ACCEPTCONN"
    );
    assert_eq!(
        sockopt_int(raw, sol, libc::SO_REUSEADDR, what),
        1,
        "SO_REUSEADDR"
    );
    assert_eq!(
        sockopt_int(raw, sol, libc::SO_REUSEPORT, what),
        1,
        "SO_REUSEPORT"
    );
    assert_eq!(
        sockopt_int(raw, sol, libc::SO_DOMAIN, what),
        libc::AF_INET,
        "SO_DOMAIN"
    );
    assert_eq!(
        sockopt_int(raw, sol, libc::SO_TYPE, what),
        libc::SOCK_STREAM,
        "SO_TYPE"
    );

    let local = local_addr(raw);
    assert_eq!(*local.ip(), Ipv4Addr::UNSPECIFIED, "bound address");
    assert_ne!(
        local.port(),
        0,
        "port 0 must be replaced by the kernel's choice"
    );

    // listen(fd, LISTEN_BACKLOG): the kernel keeps min(backlog, somaxconn).
    let somaxconn: u32 = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .expect("read somaxconn")
        .trim()
        .parse()
        .expect("somaxconn");
    let backlog = tcp_info(raw).tcpi_sacked;
    assert_eq!(
        backlog,
        somaxconn.min(LISTEN_BACKLOG as u32),
        "listen backlog"
    );

    // It takes connections made through 127.0.0.1.
    let client = TcpStream::connect((Ipv4Addr::LOCALHOST, local.port())).expect("connect");
    let conn = accept_one(raw);
    assert_eq!(
        peer_addr(conn.raw()),
        std_v4(client.local_addr().expect("local_addr"))
    );
}

#[test]
fn create_tcp_server_binds_the_given_ipv4_literal() {
    let _g = no_fork();
    // SAFETY: NUL-terminated literal.
    let fd = Fd::new(
        unsafe { create_tcp_server(c"127.0.0.1".as_ptr(), 0) },
        "create_tcp_server(127.0.0.1, 0)",
    );
    let local = local_addr(fd.raw());
    assert_eq!(*local.ip(), Ipv4Addr::LOCALHOST);
    assert_ne!(local.port(), 0);
    assert_eq!(
        sockopt_int(
            fd.raw(),
            libc::SOL_SOCKET,
            libc::SO_ACCEPTCONN,
            "acceptconn"
        ),
        1
    );
    let client = TcpStream::connect((Ipv4Addr::LOCALHOST, local.port())).expect("connect");
    let conn = accept_one(fd.raw());
    assert_eq!(
        peer_addr(conn.raw()),
        std_v4(client.local_addr().expect("local_addr"))
    );
}

#[test]
fn create_tcp_server_port_held_by_a_plain_listener_is_eaddrinuse() {
    let _g = no_fork();
    // std's listener sets SO_REUSEADDR but not SO_REUSEPORT: a second bind must fail.
    let held = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    let port = held.local_addr().expect("local_addr").port();

    set_errno(Errno(0));
    // SAFETY: NUL-terminated literal.
    let rc = unsafe { create_tcp_server(c"127.0.0.1".as_ptr(), port) };
    let e = errno().0;
    assert_fd_call_failed(
        rc,
        e,
        libc::EADDRINUSE,
        "create_tcp_server(127.0.0.1, held)",
    );

    set_errno(Errno(0));
    // SAFETY: a null address is allowed.
    let rc = unsafe { create_tcp_server(ptr::null(), port) };
    let e = errno().0;
    assert_fd_call_failed(rc, e, libc::EADDRINUSE, "create_tcp_server(NULL, held)");
}

#[test]
fn create_tcp_server_rejects_non_ipv4_literals_with_einval() {
    let _g = no_fork();
    for addr in [c"999.1.1.1", c"localhost", c"1.2.3", c"", c"::1"] {
        set_errno(Errno(0)); // inet_pton leaves errno alone on a bad address
        // SAFETY: NUL-terminated literal.
        let rc = unsafe { create_tcp_server(addr.as_ptr(), 0) };
        let e = errno().0;
        assert_fd_call_failed(rc, e, libc::EINVAL, &format!("create_tcp_server({addr:?})"));
    }
}

#[test]
fn create_tcp_server_twice_on_one_port_succeeds_with_so_reuseport() {
    let _g = no_fork();
    // SAFETY: NUL-terminated literal.
    let first = Fd::new(
        unsafe { create_tcp_server(c"127.0.0.1".as_ptr(), 0) },
        "first create_tcp_server",
    );
    let port = local_addr(first.raw()).port();
    // SAFETY: NUL-terminated literal.
    let second = Fd::new(
        unsafe { create_tcp_server(c"127.0.0.1".as_ptr(), port) },
        "second create_tcp_server on the same port",
    );
    assert_eq!(local_addr(second.raw()), local_addr(first.raw()));
    for fd in [&first, &second] {
        let raw = fd.raw();
        assert_eq!(
            sockopt_int(raw, libc::SOL_SOCKET, libc::SO_ACCEPTCONN, "acceptconn"),
            1
        );
    }
}

/// Set in the environment of the fresh test process the next test starts.
const FRESH_PROCESS_ENV: &str = "TCP_CHAPTER_UNIT_FRESH_PROCESS";

#[test]
fn create_tcp_server_errno_survives_the_first_perror_of_a_process() {
    if std::env::var_os(FRESH_PROCESS_ENV).is_some() {
        // The fresh process: no perror has run yet, fd 2 is a pipe; stderr is NOT oriented.
        // SAFETY: F_GETFL takes no pointer argument.
        let mode = unsafe { libc::fcntl(2, libc::F_GETFL) } & libc::O_ACCMODE;
        assert_eq!(mode, libc::O_WRONLY, "fd 2 should be write-only here");
        let held = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        let port = held.local_addr().expect("local_addr").port();
        set_errno(Errno(0));
        // SAFETY: NUL-terminated literal.
        let rc = unsafe { create_tcp_server(c"127.0.0.1".as_ptr(), port) };
        let e = errno().0;
        assert_fd_call_failed(rc, e, libc::EADDRINUSE, "first failing call of the process");
        return;
    }

    // Runs this same test in a new process of this test binary, stderr a write-only pipe (as
    // under CI, `2>file` or `2>/dev/null`).
    let _g = forking(); // the child inherits the fds without FD_CLOEXEC until it execs
    let name = "unit_tests::create_tcp_server_errno_survives_the_first_perror_of_a_process";
    let out = std::process::Command::new(std::env::current_exe().expect("current_exe"))
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(FRESH_PROCESS_ENV, "1")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run the test binary again");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("1 passed"),
        "in a fresh process ({}):\n{text}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

// =============================================================================================
// server.rs: handle_client
// =============================================================================================

#[test]
fn handle_client_echoes_1_mib_byte_exact_then_closes_its_fd() {
    let _g = no_fork();
    let (mine, theirs) = socketpair();
    let session = spawn_handle_client(theirs);
    let mine = Arc::new(mine);

    let data = patterned(1 << 20, 1);
    let writer = spawn_writer(Arc::clone(&mine), data.clone());
    // handle_client never calls shutdown(), so EOF here means it closed its fd.
    let echoed = read_to_eof(mine.raw());
    writer.join().expect("writer");
    assert_same_bytes(&echoed, &data, "echo");
    session.join();
    assert!(
        read_some(mine.raw(), 16).is_empty(),
        "EOF once handle_client returned"
    );
}

#[test]
fn handle_client_stops_on_epipe_and_closes_its_fd() {
    let _g = no_fork();
    let (mine, theirs) = socketpair();
    // SAFETY: plain syscall on our socket. Our end stops reading: handle_client's send fails.
    let rc = unsafe { libc::shutdown(mine.raw(), libc::SHUT_RD) };
    assert_eq!(rc, 0, "shutdown(SHUT_RD): {}", io::Error::last_os_error());
    let session = spawn_handle_client(theirs);
    send_all(mine.raw(), b"hello"); // accepted: handle_client's end still reads
    session.join(); // returns: send() got EPIPE (MSG_NOSIGNAL, so no SIGPIPE)

    // Writing to a socket pair whose other end is closed gives EPIPE; had handle_client
    // kept its fd open, this send would succeed (our end only stopped reading).
    // SAFETY: a live 1-byte buffer.
    let n = unsafe { libc::send(mine.raw(), b"x".as_ptr().cast(), 1, libc::MSG_NOSIGNAL) };
    let e = errno().0;
    assert_failed(
        n as c_int,
        e,
        libc::EPIPE,
        "send after handle_client returned",
    );
}

#[test]
fn handle_client_completes_partial_writes_with_minimal_buffers() {
    let _g = no_fork();
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

    let session = spawn_handle_client(theirs);
    let mine = Arc::new(mine);
    let data = patterned(4 << 20, 2);
    let writer = spawn_writer(Arc::clone(&mine), data.clone());
    let echoed = read_to_eof_slowly(mine.raw());
    writer.join().expect("writer");
    session.join();
    assert_same_bytes(&echoed, &data, "echo through minimal buffers");
}

#[test]
fn handle_client_retries_recv_interrupted_by_signals() {
    let _g = no_fork();
    let _s = signal_test();
    let (mine, theirs) = socketpair();
    let session = spawn_handle_client(theirs);

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

#[test]
fn handle_client_retries_send_interrupted_by_signals_and_resumes_partial_writes() {
    let _g = no_fork();
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
    let session = spawn_handle_client(theirs);
    let mine = Arc::new(mine);
    let data = patterned(4 << 20, 4);
    let writer = spawn_writer(Arc::clone(&mine), data.clone());

    // We do not read until handle_client sleeps in send(); the signal then ends that send()
    // with EINTR, or with a partial count when part of it was queued: it must send the rest.
    let mut echoed = Vec::new();
    for round in 0..200 {
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

// =============================================================================================
// server.rs: setup_signal_handlers (in a forked child: it changes process-wide state)
// =============================================================================================

/// The forked child's checks; async-signal-safe calls only, no allocation, no panic. Returns
/// the exit code: 0, or one code per failure (see the parent's table).
fn signal_setup_child() -> c_int {
    // SAFETY: `struct sigaction` is plain data; all-zero is a valid value.
    let mut sa: libc::sigaction = unsafe { mem::zeroed() };
    // SAFETY: `sa.sa_mask` is a live sigset_t.
    unsafe { libc::sigemptyset(&mut sa.sa_mask) };

    // Start from the opposite state, so each disposition must really be set by the call:
    // SIGPIPE default (Rust's runtime had ignored it), SIGCHLD ignored, no flags.
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

    // SAFETY: this child is single-threaded and relies on no SIGPIPE/SIGCHLD handling.
    unsafe { setup_signal_handlers() };

    // SAFETY: as above (plain data).
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
        return 14;
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
    // SAFETY: our own fd.
    unsafe { libc::close(fds[1]) };

    // Behaviour, SA_NOCLDWAIT: an exited child is reaped by the kernel, so waitpid waits for
    // it and then fails with ECHILD instead of returning a zombie's status.
    // SAFETY: this child is single-threaded; the grandchild only calls _exit.
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
        break;
    }
    0
}

#[test]
fn setup_signal_handlers_ignores_sigpipe_and_sets_sa_nocldwait_in_a_forked_child() {
    // No other test holds an fd while the child lives (see FORK_LOCK).
    let _g = forking();
    // SAFETY: the child makes async-signal-safe calls only (signal_setup_child) and _exits.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", io::Error::last_os_error());
    if pid == 0 {
        let code = signal_setup_child();
        // SAFETY: ends the child without running anything of the parent's (no atexit, no
        // unwinding through the test harness).
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    loop {
        // SAFETY: `status` is a live c_int; `pid` is our child.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            break;
        }
        assert!(
            r == -1 && errno().0 == libc::EINTR,
            "waitpid: {}",
            io::Error::last_os_error()
        );
    }
    assert!(
        libc::WIFEXITED(status),
        "child did not exit normally: status {status:#x}"
    );
    let why = match libc::WEXITSTATUS(status) {
        0 => return,
        10 | 11 => "could not set the starting dispositions",
        12 | 14 => "sigaction read-back failed",
        13 => "SIGPIPE is not SIG_IGN",
        15 => "SIGCHLD is not SIG_DFL",
        16 => "SIGCHLD lacks SA_NOCLDWAIT",
        17 => "pipe failed",
        18 => "write to a reader-less pipe did not fail with EPIPE",
        19 => "fork of the grandchild failed",
        20 => "waitpid did not fail with ECHILD (child not auto-reaped)",
        _ => "unknown exit code",
    };
    panic!("child exit {}: {why}", libc::WEXITSTATUS(status));
}

// =============================================================================================
// client.rs: tcp_client_connect
// =============================================================================================

#[test]
fn tcp_client_connect_connects_with_5_s_timeouts() {
    let _g = no_fork();
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    let port = listener.local_addr().expect("local_addr").port();
    // SAFETY: NUL-terminated literal.
    let fd = Fd::new(
        unsafe { tcp_client_connect(c"127.0.0.1".as_ptr(), port) },
        "tcp_client_connect",
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
    assert_eq!(
        peer_addr(raw),
        SocketAddrV4::new(Ipv4Addr::LOCALHOST, port),
        "getpeername"
    );
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

#[test]
fn tcp_client_connect_to_a_closed_port_is_econnrefused() {
    let _g = no_fork();
    let port = closed_port();
    set_errno(Errno(0));
    // SAFETY: NUL-terminated literal.
    let rc = unsafe { tcp_client_connect(c"127.0.0.1".as_ptr(), port) };
    let e = errno().0;
    assert_fd_call_failed(rc, e, libc::ECONNREFUSED, "tcp_client_connect(closed port)");
}

#[test]
fn tcp_client_connect_rejects_a_host_name_with_einval() {
    let _g = no_fork();
    for addr in [c"localhost", c"999.1.1.1", c"127.0.0.1 "] {
        set_errno(Errno(0));
        // SAFETY: NUL-terminated literal.
        let rc = unsafe { tcp_client_connect(addr.as_ptr(), 80) };
        let e = errno().0;
        assert_fd_call_failed(
            rc,
            e,
            libc::EINVAL,
            &format!("tcp_client_connect({addr:?})"),
        );
    }
}

#[test]
fn tcp_client_connect_times_out_after_5_s_with_etimedout() {
    let _g = no_fork();
    let full = full_listener();
    set_errno(Errno(0));
    let start = Instant::now();
    // SAFETY: NUL-terminated literal.
    let rc = unsafe { tcp_client_connect(c"127.0.0.1".as_ptr(), full.port) };
    let e = errno().0;
    let took = start.elapsed();
    assert_fd_call_failed(rc, e, libc::ETIMEDOUT, "tcp_client_connect(full queue)");
    assert!(
        (4.5..7.0).contains(&took.as_secs_f64()),
        "gave up after {took:?}, expected about 5 s"
    );
}

// =============================================================================================
// client.rs: tcp_connect_nonblocking
// =============================================================================================

#[test]
fn tcp_connect_nonblocking_connects_and_returns_a_blocking_fd() {
    let _g = no_fork();
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    let port = listener.local_addr().expect("local_addr").port();
    // SAFETY: NUL-terminated literal.
    let fd = Fd::new(
        unsafe { tcp_connect_nonblocking(c"127.0.0.1".as_ptr(), port, 2000) },
        "tcp_connect_nonblocking",
    );
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

#[test]
fn tcp_connect_nonblocking_to_a_closed_port_is_econnrefused() {
    let _g = no_fork();
    let port = closed_port();
    set_errno(Errno(0));
    // SAFETY: NUL-terminated literal.
    let rc = unsafe { tcp_connect_nonblocking(c"127.0.0.1".as_ptr(), port, 2000) };
    let e = errno().0;
    assert_fd_call_failed(rc, e, libc::ECONNREFUSED, "tcp_connect_nonblocking(closed)");
}

#[test]
fn tcp_connect_nonblocking_rejects_an_invalid_address_with_einval() {
    let _g = no_fork();
    for addr in [c"localhost", c"999.1.1.1", c"1.2.3.4.5"] {
        set_errno(Errno(0));
        // SAFETY: NUL-terminated literal.
        let rc = unsafe { tcp_connect_nonblocking(addr.as_ptr(), 80, 200) };
        let e = errno().0;
        assert_fd_call_failed(
            rc,
            e,
            libc::EINVAL,
            &format!("tcp_connect_nonblocking({addr:?})"),
        );
    }
}

#[test]
fn tcp_connect_nonblocking_times_out_with_etimedout() {
    let _g = no_fork();
    let full = full_listener();
    set_errno(Errno(0));
    let start = Instant::now();
    // SAFETY: NUL-terminated literal.
    let rc = unsafe { tcp_connect_nonblocking(c"127.0.0.1".as_ptr(), full.port, 200) };
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
        "gave up after {took:?}, expected about 200 ms"
    );
}

#[test]
fn tcp_connect_nonblocking_keeps_its_deadline_across_signals() {
    let _g = no_fork();
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
        let rc = unsafe { tcp_connect_nonblocking(c"127.0.0.1".as_ptr(), port, 600) };
        let e = errno().0;
        let took = start.elapsed();
        finished.store(true, SeqCst);
        (rc, e, took)
    });
    let tid = rx.recv().expect("tid");

    // Interrupt select() over and over: each EINTR must be retried with the time left, so
    // the call still ends at its 600 ms deadline (a restarted full timeout never would).
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
        "gave up after {took:?} ({signals} signals), expected about 600 ms"
    );
}

// =============================================================================================
// http.rs: simple_http_client, error paths only (its success path writes to fd 1)
// =============================================================================================

/// A one-connection "server" on 127.0.0.1 that reads the request (up to its blank line, plus
/// anything sent with it) and closes without answering; the thread returns what it read.
fn silent_responder() -> (u16, JoinHandle<Vec<u8>>) {
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
        // One send() on loopback arrives whole: anything after the blank line is here now.
        s.set_nonblocking(true).expect("nonblocking");
        loop {
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("responder read: {e}"),
            }
        }
        got
    });
    (port, thread)
}

#[test]
fn simple_http_client_unresolvable_name_is_enoent() {
    let _g = no_fork();
    set_errno(Errno(0));
    // SAFETY: NUL-terminated literals. glibc refuses the empty label without any DNS query.
    let rc = unsafe { simple_http_client(c"bad..name".as_ptr(), 80, c"/".as_ptr()) };
    let e = errno().0;
    assert_failed(rc, e, libc::ENOENT, "simple_http_client(bad..name)");
}

#[test]
fn simple_http_client_closed_port_is_econnrefused() {
    let _g = no_fork();
    let port = closed_port();
    set_errno(Errno(0));
    // SAFETY: NUL-terminated literals.
    let rc = unsafe { simple_http_client(c"127.0.0.1".as_ptr(), port, c"/".as_ptr()) };
    let e = errno().0;
    assert_failed(rc, e, libc::ECONNREFUSED, "simple_http_client(closed port)");
}

#[test]
fn simple_http_client_sends_the_request_and_reports_an_empty_reply_as_econnreset() {
    let _g = no_fork();
    let (port, responder) = silent_responder();
    set_errno(Errno(0));
    // SAFETY: NUL-terminated literals.
    let rc = unsafe { simple_http_client(c"127.0.0.1".as_ptr(), port, c"/x".as_ptr()) };
    let e = errno().0;
    let got = responder.join().expect("responder");
    assert_failed(rc, e, libc::ECONNRESET, "simple_http_client(silent server)");
    let want = format!("GET /x HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    assert_eq!(String::from_utf8_lossy(&got), want, "request on the wire");
}

#[test]
fn simple_http_client_sends_a_1023_byte_request_and_refuses_1024_with_emsgsize() {
    let _g = no_fork();
    for (len, fits) in [(1023, true), (1024, false)] {
        let (port, responder) = silent_responder();
        let head = |path: &str| {
            format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n")
        };
        let path = format!("/{}", "a".repeat(len - head("/").len()));
        let want = head(&path);
        assert_eq!(want.len(), len);
        let c_path = std::ffi::CString::new(path).expect("no NUL");

        set_errno(Errno(0));
        // SAFETY: NUL-terminated strings.
        let rc = unsafe { simple_http_client(c"127.0.0.1".as_ptr(), port, c_path.as_ptr()) };
        let e = errno().0;
        let got = responder.join().expect("responder");
        if fits {
            assert_failed(
                rc,
                e,
                libc::ECONNRESET,
                "simple_http_client(1023-byte request)",
            );
            assert_eq!(
                String::from_utf8_lossy(&got),
                want,
                "1023-byte request on the wire"
            );
        } else {
            assert_failed(
                rc,
                e,
                libc::EMSGSIZE,
                "simple_http_client(1024-byte request)",
            );
            assert!(
                got.is_empty(),
                "{} bytes sent of a refused request",
                got.len()
            );
        }
    }
}

// =============================================================================================
// util.rs: write_all (parse_port / parse_timeout_ms are tested in util.rs)
// =============================================================================================

#[test]
fn write_all_writes_everything_through_a_pipe() {
    let _g = no_fork();
    let (r, w) = pipe();
    let data = patterned(1 << 20, 5);
    let copy = data.clone();
    let writer = thread::spawn(move || {
        // SAFETY: `w` is our pipe's write end.
        let rc = unsafe { write_all(w.raw(), &copy) };
        let e = errno().0;
        drop(w); // EOF for the reader
        (rc, e)
    });
    let got = read_to_eof(r.raw());
    let (rc, e) = writer.join().expect("writer");
    assert_eq!(rc, 0, "write_all: {}", describe(e));
    assert_same_bytes(&got, &data, "pipe");
    // SAFETY: an empty buffer makes no call at all, so even fd -1 succeeds.
    assert_eq!(unsafe { write_all(-1, b"") }, 0);
}

#[test]
fn write_all_reports_ebadf_and_epipe() {
    let _g = no_fork();
    set_errno(Errno(0));
    // SAFETY: fd -1 is never open; write fails with EBADF and touches nothing.
    let rc = unsafe { write_all(-1, b"x") };
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
    let rc = unsafe { write_all(w.raw(), b"x") };
    let e = errno().0;
    assert_failed(rc, e, libc::EPIPE, "write_all(reader-less pipe)");
}

#[test]
fn write_all_retries_eintr_and_partial_writes() {
    let _g = no_fork();
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
        let rc = unsafe { write_all(w.raw(), &copy) };
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
