//! Unit tests of what only the Rust crate has: `write_all`, and the errno that a chapter
//! function returns from the first failing call of a process (glibc's first `perror`).
//!
//! The chapter functions themselves are tested in `tests/twins/`, where each test is written
//! once and runs against both the C (`c_reference/`) and this crate: that is where to add one.
//!
//! Ground rules, because every test runs as a thread of one process: the process's signal
//! dispositions, fds 0/1/2 and rlimits are left alone, except for a `SIGUSR1` handler (a
//! counter, installed once, without `SA_RESTART`) used to interrupt one thread's blocking
//! `write`; every fd is owned by an [`Fd`] guard; no sleeps: a thread "blocked in write" is seen
//! in `/proc/self/task/TID/syscall`, and waits that could hang are bounded by [`FAILSAFE`].

use std::io;
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::thread::JoinHandleExt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{
    Arc, Mutex, MutexGuard, Once, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard, mpsc,
};
use std::thread;
use std::time::{Duration, Instant};
use std::{mem, ptr};

use errno::{Errno, errno, set_errno};
use libc::{c_int, c_long};

use crate::server::create_tcp_server;
use crate::util::write_all;

/// Upper bound on any wait that only ends if the code under test works; reaching it fails the
/// test instead of hanging it.
const FAILSAFE: Duration = Duration::from_secs(30);

#[cfg(not(target_arch = "x86_64"))]
const SELECT_SYSCALLS: &[c_long] = &[libc::SYS_pselect6];

// ---------------------------------------------------------------------------------------------
// Fds, errno, socket options
// ---------------------------------------------------------------------------------------------

/// An fd the test owns; closed on drop.
struct Fd(c_int);

impl Fd {
    fn raw(&self) -> c_int {
        self.0
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

fn pipe() -> (Fd, Fd) {
    let mut fds = [-1 as c_int; 2];
    // SAFETY: `fds` has room for the two fds.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(rc, 0, "pipe2: {}", io::Error::last_os_error());
    (Fd(fds[0]), Fd(fds[1]))
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

// ---------------------------------------------------------------------------------------------
// A listener whose accept queue is full: a further connect gets no SYN-ACK
// ---------------------------------------------------------------------------------------------

// =============================================================================================
// server.rs: create_tcp_server
// =============================================================================================

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
