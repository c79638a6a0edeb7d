//! Shared plumbing for the scenarios: which implementation is under test,
//! child processes with captured output (killed with their whole process
//! group on drop), readiness waits with deadlines, test data, small socket
//! helpers and /proc readers.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// What every scenario returns: `Err` carries the failure message.
pub type TestResult = Result<(), String>;

/// A scenario: its name and the function that runs it against one build.
pub type Scenario = (&'static str, fn(&Impl) -> TestResult);

/// Shorthand for second-based durations.
pub const fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// How long a program may take to print its readiness line.
pub const READY: Duration = secs(10);

// ---------------------------------------------------------------------------
// Implementations
// ---------------------------------------------------------------------------

/// The three programs every implementation provides.
pub const PROGRAMS: [&str; 3] = ["echo_server", "tcp_client", "http_get"];

/// The Rust programs cargo built for this test run (cargo's `CARGO_BIN_EXE_<name>`).
const RUST_PROGRAMS: [&str; 3] = [
    env!("CARGO_BIN_EXE_echo_server"),
    env!("CARGO_BIN_EXE_tcp_client"),
    env!("CARGO_BIN_EXE_http_get"),
];

/// One build of the three programs under test.
#[derive(Clone, Debug)]
pub struct Impl {
    /// `c`, `rust`, `c-asan`, ... as in `IMPL=` and in the test names (`SCENARIO::IMPL`).
    pub name: &'static str,
    /// Where each of [`PROGRAMS`] is, in that order.
    paths: [PathBuf; 3],
    /// What makes the programs, for the message when one is missing.
    made_by: &'static str,
}

impl Impl {
    /// The implementation called `name`: `rust` (cargo's build of `src/`), a program set of
    /// the test build (`c`: `c_reference/` compiled by tests/cprogs), or `c-asan` (the C
    /// under ASan and UBSan, `make c-asan`, in `build/c-asan`).
    pub fn named(name: &str) -> Option<Impl> {
        if name == "rust" {
            return Some(Impl {
                name: "rust",
                paths: RUST_PROGRAMS.map(PathBuf::from),
                made_by: "cargo builds it for the test run",
            });
        }
        if name == "c-asan" {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("build/c-asan");
            return Some(Impl {
                name: "c-asan",
                paths: PROGRAMS.map(|p| dir.join(p)),
                made_by: "run make c-asan (make test-asan builds it and runs the suite on it)",
            });
        }
        let set = tcp_chapter_cprogs::set(name)?;
        Some(Impl {
            name: set.name,
            paths: PROGRAMS.map(|p| set.program(p)),
            made_by: "tests/cprogs/build.rs compiles it for the test run",
        })
    }

    /// The same implementation with its programs taken from `dir` (`SUITE_PROGRAMS_DIR`).
    pub fn in_dir(self, dir: &Path) -> Impl {
        Impl {
            paths: PROGRAMS.map(|p| dir.join(p)),
            made_by: "SUITE_PROGRAMS_DIR names this directory",
            ..self
        }
    }

    /// The implementations `IMPL` names (else `default`), each in `SUITE_PROGRAMS_DIR` if
    /// that is set. `IMPL` is a comma-separated list of implementations (`c`, `rust`,
    /// `c-asan`, any program set of tests/cprogs) and groups: `both` (c and rust) and `all`
    /// (every program set of the test build, then rust).
    pub fn from_env(default: &str) -> Result<Vec<Impl>, String> {
        let spec = std::env::var("IMPL").unwrap_or_default();
        let spec = if spec.trim().is_empty() {
            default
        } else {
            spec.trim()
        };
        let mut names: Vec<&str> = Vec::new();
        for word in spec.split(',').map(str::trim) {
            match word {
                "both" => names.extend(["c", "rust"]),
                "all" => {
                    names.extend(tcp_chapter_cprogs::SETS.iter().map(|s| s.name));
                    names.push("rust");
                }
                _ => names.push(word),
            }
        }
        let mut impls: Vec<Impl> = Vec::new();
        for name in names {
            let imp = Impl::named(name).ok_or_else(|| {
                let sets: Vec<&str> = tcp_chapter_cprogs::SETS.iter().map(|s| s.name).collect();
                format!(
                    "IMPL: unknown implementation '{name}' (known: {}, rust, c-asan; groups: both, all)",
                    sets.join(", ")
                )
            })?;
            if !impls.iter().any(|i| i.name == imp.name) {
                impls.push(imp);
            }
        }
        if let Some(dir) = std::env::var_os("SUITE_PROGRAMS_DIR") {
            if impls.len() != 1 {
                return Err(format!(
                    "SUITE_PROGRAMS_DIR needs IMPL to name one implementation, not '{spec}'"
                ));
            }
            impls = impls
                .into_iter()
                .map(|i| i.in_dir(Path::new(&dir)))
                .collect();
        }
        Ok(impls)
    }

    /// Path of one program, or a clear error if it does not exist.
    pub fn bin(&self, prog: &str) -> Result<PathBuf, String> {
        let path = PROGRAMS
            .iter()
            .position(|p| *p == prog)
            .map(|i| self.paths[i].clone())
            .ok_or_else(|| format!("{prog} is not one of the programs {PROGRAMS:?}"))?;
        if path.is_file() {
            Ok(path)
        } else {
            Err(format!(
                "{} does not exist: {}",
                path.display(),
                self.made_by
            ))
        }
    }

    /// The programs that do not exist, with what makes them; `None` when all do.
    pub fn missing(&self) -> Option<String> {
        let missing: Vec<String> = self
            .paths
            .iter()
            .filter(|p| !p.is_file())
            .map(|p| p.display().to_string())
            .collect();
        (!missing.is_empty()).then(|| format!("{} missing: {}", missing.join(", "), self.made_by))
    }

    /// A `Command` for one program with its arguments (under strace when
    /// `SUITE_STRACE_DIR` is set, see [`traced`]).
    pub fn command(&self, prog: &str, args: &[&str]) -> Result<Command, String> {
        self.command_via(&[], prog, args)
    }

    /// Like [`Impl::command`], but started through `launcher` (e.g.
    /// `["unshare", "-n"]`); strace, if on, goes between the two.
    pub fn command_via(
        &self,
        launcher: &[&str],
        prog: &str,
        args: &[&str],
    ) -> Result<Command, String> {
        let bin = self.bin(prog)?;
        let mut argv: Vec<std::ffi::OsString> = launcher.iter().map(Into::into).collect();
        argv.extend(traced(self.name, prog));
        argv.push(bin.into_os_string());
        argv.extend(args.iter().map(Into::into));
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..]);
        Ok(cmd)
    }
}

// ---------------------------------------------------------------------------
// Syscall traces: SUITE_STRACE_DIR=DIR runs every program under
// `strace -f -qq -DD -o DIR/<scenario>.<impl>.<program>.<seq>.trace`.
// -DD makes strace a detached grandchild in its own process group, so the
// spawned pid, its process group, /proc/PID/fd and its children are the
// program's own, exactly as without strace. tests/trace/compare.py reads DIR.
// ---------------------------------------------------------------------------

static STRACE_DIR: OnceLock<Option<PathBuf>> = OnceLock::new();

/// `SUITE_STRACE_DIR` (or the directory given to [`trace_into`]), read
/// once; `None` (the default) means no tracing.
pub fn strace_dir() -> Option<&'static Path> {
    STRACE_DIR
        .get_or_init(|| {
            let dir = PathBuf::from(std::env::var_os("SUITE_STRACE_DIR")?);
            fs::create_dir_all(&dir).ok()?;
            Some(dir)
        })
        .as_deref()
}

/// Traces every program into `dir` (for `SUITE_COMPARE`); call before any
/// spawn. False if tracing was already decided.
pub fn trace_into(dir: PathBuf) -> bool {
    fs::create_dir_all(&dir).is_ok() && STRACE_DIR.set(Some(dir)).is_ok()
}

thread_local! {
    /// The scenario this thread runs and how many programs it has spawned.
    static TRACE_SCENARIO: RefCell<Option<(&'static str, usize)>> = const { RefCell::new(None) };
}

/// Names the scenario run by this thread (set by the harness per job).
pub fn set_trace_scenario(name: &'static str) {
    TRACE_SCENARIO.with(|t| *t.borrow_mut() = Some((name, 0)));
}

/// The strace prefix for the next program spawned by this thread, or
/// nothing when tracing is off (or the thread runs no scenario).
fn traced(imp: &str, prog: &str) -> Vec<std::ffi::OsString> {
    let Some(dir) = strace_dir() else {
        return Vec::new();
    };
    let Some(seq) = TRACE_SCENARIO.with(|t| {
        t.borrow_mut().as_mut().map(|(name, n)| {
            *n += 1;
            (*name, *n - 1)
        })
    }) else {
        return Vec::new();
    };
    let file = dir.join(format!("{}.{imp}.{prog}.{}.trace", seq.0, seq.1));
    let mut v: Vec<std::ffi::OsString> = ["strace", "-f", "-qq", "-DD", "-o"]
        .iter()
        .map(Into::into)
        .collect();
    v.push(file.into_os_string());
    v
}

// ---------------------------------------------------------------------------
// Per-scenario registry of process groups (so the harness can kill them when
// a scenario overruns its deadline)
// ---------------------------------------------------------------------------

/// Process groups spawned by one scenario and still alive.
pub type Registry = Arc<Mutex<Vec<i32>>>;

thread_local! {
    static REGISTRY: RefCell<Option<Registry>> = const { RefCell::new(None) };
}

/// Makes every process spawned from this thread register its group in `reg`.
pub fn set_registry(reg: Registry) {
    REGISTRY.with(|r| *r.borrow_mut() = Some(reg));
}

thread_local! {
    static PANIC_MESSAGE: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Panics are reported as scenario failures (with their place and message), not printed by
/// the default hook.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let msg = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(non-string panic payload)".to_owned());
        let place = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        PANIC_MESSAGE.with(|p| *p.borrow_mut() = Some(format!("panicked{place}: {msg}")));
    }));
}

/// How a scenario ended.
#[derive(Debug)]
pub enum Verdict<T> {
    /// It ran and passed, returning this.
    Passed(T),
    /// It failed (an error, a panic, or its deadline): the message.
    Failed(String),
    /// It did not run, for want of a tool ([`need`]): the reason.
    Skipped(String),
}

impl<T> Verdict<T> {
    /// As libtest-mimic reports it: `ok`, `ignored (reason)` or `FAILED` with the message.
    pub fn outcome(&self) -> Result<libtest_mimic::Completion, libtest_mimic::Failed> {
        match self {
            Verdict::Passed(_) => Ok(libtest_mimic::Completion::Completed),
            Verdict::Skipped(why) => Ok(libtest_mimic::Completion::ignored_with(why)),
            Verdict::Failed(msg) => Err(msg.into()),
        }
    }
}

/// Runs `f` on its own thread named `label`, with a fresh process registry: if it has not
/// finished within `deadline`, every process group it spawned is killed and the run fails
/// (the harness's worker goes on; the scenario thread ends when its processes are gone).
/// A panic in `f` is a failure carrying the panic's message; an error from [`need`] a skip.
pub fn run_with_deadline<T: Send + 'static>(
    label: String,
    deadline: Duration,
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Verdict<T> {
    let registry: Registry = Arc::default();
    let (tx, rx) = std::sync::mpsc::channel();
    let reg = registry.clone();
    let spawned = thread::Builder::new().name(label).spawn(move || {
        set_registry(reg);
        let verdict = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
            Ok(Ok(v)) => Verdict::Passed(v),
            Ok(Err(msg)) => match SKIPPED.with(|s| s.borrow_mut().take()) {
                Some(why) => Verdict::Skipped(why),
                None => Verdict::Failed(msg),
            },
            Err(_) => Verdict::Failed(
                PANIC_MESSAGE
                    .with(|p| p.borrow_mut().take())
                    .unwrap_or_else(|| "panicked".to_owned()),
            ),
        };
        let _ = tx.send(verdict);
    });
    match spawned {
        Err(e) => Verdict::Failed(format!("cannot start the scenario thread: {e}")),
        Ok(_) => match rx.recv_timeout(deadline) {
            Ok(v) => v,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                for pgid in registry.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
                    kill_group(pgid);
                }
                Verdict::Failed(format!(
                    "did not finish within the {}s deadline; its processes were killed",
                    deadline.as_secs()
                ))
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                Verdict::Failed("scenario thread ended without a result".to_owned())
            }
        },
    }
}

/// A positive number from the environment variable `var`, else `default`.
pub fn env_number(var: &str, default: u64) -> u64 {
    std::env::var(var)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(default)
}

/// Without `--test-threads`, runs `RUST_TEST_THREADS` (as libtest does) or `default` tests
/// at a time.
pub fn default_test_threads(args: &mut libtest_mimic::Arguments, default: usize) {
    if args.test_threads.is_none() {
        args.test_threads = Some(env_number("RUST_TEST_THREADS", default as u64) as usize);
    }
}

// ---------------------------------------------------------------------------
// What a scenario needs beyond a Rust toolchain and a C compiler
// ---------------------------------------------------------------------------

/// A tool or privilege a scenario needs that plain `cargo test` may not have.
#[derive(Clone, Copy, Debug)]
pub enum Need {
    /// A program on PATH (`make deps` installs it).
    Tool(&'static str),
    /// Root, for this reason (e.g. to run the server as user nobody).
    #[allow(dead_code)] // the stress test's
    Root(&'static str),
}

thread_local! {
    /// Why this scenario thread is skipped, set by [`need`].
    static SKIPPED: RefCell<Option<String>> = const { RefCell::new(None) };
}

static MAKE_TARGET: OnceLock<&'static str> = OnceLock::new();

/// Names the make target that runs this test binary with every tool installed (for the
/// skip messages of [`need`]); `make test` unless set.
pub fn set_make_target(target: &'static str) {
    let _ = MAKE_TARGET.set(target);
}

/// Called first in a scenario: when something in `needs` is missing, the scenario is
/// skipped, reported `ignored` with one line that names what is missing and the make target
/// that runs it (return the error with `?`).
pub fn need(needs: &[Need]) -> TestResult {
    let target = MAKE_TARGET.get().copied().unwrap_or("make test");
    let missing = needs.iter().find_map(|n| match *n {
        Need::Tool(tool) if !on_path(tool) => Some(format!(
            "{tool} is not installed: `{target}` installs it and runs this"
        )),
        // SAFETY: geteuid() has no preconditions and cannot fail.
        Need::Root(why) if unsafe { libc::geteuid() } != 0 => Some(format!(
            "needs root, {why}: `{target}` run as root runs this"
        )),
        _ => None,
    });
    match missing {
        None => Ok(()),
        Some(why) => {
            SKIPPED.with(|s| *s.borrow_mut() = Some(why.clone()));
            Err(why)
        }
    }
}

fn current_registry() -> Option<Registry> {
    REGISTRY.with(|r| r.borrow().clone())
}

/// Sends SIGKILL to a whole process group (the leader and everything it forked). Only for the
/// group of a [`Proc`] whose leader is not reaped yet: its pid, and so the group's id, cannot
/// belong to anyone else until then (see [`exit_status_unreaped`]).
pub fn kill_group(pgid: i32) {
    if pgid > 0 {
        // SAFETY: kill() has no memory-safety preconditions; a negative pid addresses the
        // process group of a leader we started with process_group(0) and have not reaped.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
}

/// The exit status of our child `pid` once it has ended, without reaping it (`waitid` with
/// `WNOWAIT`, waitid(2)): the zombie keeps the pid, and with it the process group id, out of
/// the kernel's reach until [`Proc::kill`] has signalled the group. A reaped leader whose
/// group is empty frees its number for the next process, and a later `kill(-pgid)` could hit
/// a stranger's group (every program the suite starts leads a group; so do other users').
fn exit_status_unreaped(pid: i32) -> io::Result<Option<ExitStatus>> {
    // SAFETY: `siginfo_t` is plain data; all-zero is a valid value.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `info` is a live siginfo_t; P_PID names one child of ours.
        let rc = unsafe {
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        };
        if rc == 0 {
            break;
        }
        let e = io::Error::last_os_error();
        if e.kind() != ErrorKind::Interrupted {
            return Err(e);
        }
    }
    // SAFETY: waitid filled `info` for SIGCHLD (or left it zeroed: WNOHANG, still running), so
    // the child fields are the ones to read.
    let (si_pid, si_status) = unsafe { (info.si_pid(), info.si_status()) };
    if si_pid == 0 {
        return Ok(None);
    }
    // The wait(2) status word std's ExitStatus wraps: code << 8, or the signal (| 0x80: core).
    let raw = match info.si_code {
        libc::CLD_EXITED => (si_status & 0xff) << 8,
        libc::CLD_KILLED => si_status,
        libc::CLD_DUMPED => si_status | 0x80,
        _ => return Ok(None),
    };
    Ok(Some(ExitStatus::from_raw(raw)))
}

// ---------------------------------------------------------------------------
// Captured output streams
// ---------------------------------------------------------------------------

/// How a child's stdout is kept.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Capture {
    /// Keep every byte (for text and for exact comparisons).
    Keep,
    /// Hash with sha256 as it arrives; keep only the first 64 KiB.
    Hash,
}

const HASH_KEEP: usize = 64 * 1024;

struct StreamState {
    data: Vec<u8>,
    capture: Capture,
    hasher: Sha256,
    len: u64,
    eof: bool,
}

/// Output of one pipe, filled by a reader thread, waitable with deadlines.
#[derive(Clone)]
pub struct Stream {
    name: &'static str,
    shared: Arc<(Mutex<StreamState>, Condvar)>,
}

impl Stream {
    fn new(name: &'static str, capture: Capture) -> Stream {
        Stream {
            name,
            shared: Arc::new((
                Mutex::new(StreamState {
                    data: Vec::new(),
                    capture,
                    hasher: Sha256::new(),
                    len: 0,
                    eof: false,
                }),
                Condvar::new(),
            )),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, StreamState> {
        self.shared.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn push(&self, chunk: &[u8]) {
        let mut st = self.lock();
        st.len += chunk.len() as u64;
        if st.capture == Capture::Keep {
            st.data.extend_from_slice(chunk);
        } else {
            st.hasher.update(chunk);
            let room = HASH_KEEP.saturating_sub(st.data.len());
            let take = room.min(chunk.len());
            st.data.extend_from_slice(&chunk[..take]);
        }
        self.shared.1.notify_all();
    }

    fn close(&self) {
        self.lock().eof = true;
        self.shared.1.notify_all();
    }

    /// Starts a thread that copies `reader` into this stream until EOF.
    fn pump(&self, mut reader: impl Read + Send + 'static) {
        let stream = self.clone();
        thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => stream.push(&buf[..n]),
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(_) => break,
                }
            }
            stream.close();
        });
    }

    /// Everything kept so far.
    pub fn bytes(&self) -> Vec<u8> {
        self.lock().data.clone()
    }

    /// Everything kept so far, as (lossy) text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.lock().data).into_owned()
    }

    /// The complete lines so far (a trailing partial line is left out).
    pub fn lines(&self) -> Vec<String> {
        complete_lines(&self.lock().data)
    }

    /// Number of bytes received so far and the sha256 of all of them.
    pub fn digest(&self) -> (u64, String) {
        let st = self.lock();
        let hash = match st.capture {
            Capture::Keep => sha256_hex(&st.data),
            Capture::Hash => hex(&st.hasher.clone().finalize()),
        };
        (st.len, hash)
    }

    /// Waits until `check` (run on the complete lines after each arrival)
    /// returns `Some`, failing at the deadline or if the stream ends first.
    pub fn wait_lines<T>(
        &self,
        timeout: Duration,
        what: &str,
        mut check: impl FnMut(&[String]) -> Option<T>,
    ) -> Result<T, String> {
        let deadline = Instant::now() + timeout;
        let mut st = self.lock();
        loop {
            let lines = complete_lines(&st.data);
            if let Some(v) = check(&lines) {
                return Ok(v);
            }
            if st.eof {
                return Err(format!(
                    "{} closed before {what}; it had:\n{}",
                    self.name,
                    indent(&String::from_utf8_lossy(&st.data))
                ));
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(format!(
                    "timed out after {:.1}s waiting for {what} on {}; it had:\n{}",
                    timeout.as_secs_f64(),
                    self.name,
                    indent(&String::from_utf8_lossy(&st.data))
                ));
            }
            st = self
                .shared
                .1
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Waits for the first complete line satisfying `pred` and returns it.
    pub fn wait_line(
        &self,
        timeout: Duration,
        what: &str,
        pred: impl Fn(&str) -> bool,
    ) -> Result<String, String> {
        self.wait_lines(timeout, what, |lines| {
            lines.iter().find(|l| pred(l)).cloned()
        })
    }

    /// Waits until the writing end of the pipe is closed.
    pub fn wait_eof(&self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        let mut st = self.lock();
        while !st.eof {
            let now = Instant::now();
            if now >= deadline {
                return Err(format!(
                    "{} still open after {:.1}s",
                    self.name,
                    timeout.as_secs_f64()
                ));
            }
            st = self
                .shared
                .1
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        Ok(())
    }
}

fn complete_lines(data: &[u8]) -> Vec<String> {
    let end = match data.iter().rposition(|&b| b == b'\n') {
        Some(i) => i,
        None => return Vec::new(),
    };
    String::from_utf8_lossy(&data[..end])
        .split('\n')
        .map(str::to_owned)
        .collect()
}

/// Indents text for a failure message (and shortens very long text).
pub fn indent(text: &str) -> String {
    const MAX: usize = 3000;
    let shown = if text.len() > MAX {
        let mut cut = MAX;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        format!("{}... ({} bytes in all)", &text[..cut], text.len())
    } else {
        text.to_owned()
    };
    if shown.trim().is_empty() {
        return "    (nothing)".to_owned();
    }
    shown
        .trim_end_matches('\n')
        .lines()
        .map(|l| format!("    | {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

// ---------------------------------------------------------------------------
// Child processes
// ---------------------------------------------------------------------------

/// What a child reads on stdin.
pub enum Input {
    /// `/dev/null`.
    Null,
    /// These bytes, written by a helper thread, then EOF.
    Bytes(Vec<u8>),
    /// A file opened for reading.
    File(PathBuf),
    /// A pipe kept open; the scenario writes with `write_stdin` and closes
    /// it with `close_stdin`.
    Pipe,
}

/// A running program in its own process group; on drop the whole group is
/// killed with SIGKILL and the leader reaped.
pub struct Proc {
    /// Program name, for messages.
    pub label: String,
    child: Child,
    /// Pid of the program (also its process group id).
    pub pid: i32,
    /// Its stdout.
    pub stdout: Stream,
    /// Its stderr (always kept whole).
    pub stderr: Stream,
    stdin: Option<ChildStdin>,
    status: Option<ExitStatus>,
    started: Instant,
    ended: Option<Instant>,
    registry: Option<Registry>,
    killed: bool,
}

/// A finished program: how it ended, when, and its output.
pub struct Outcome {
    /// Program name, for messages.
    pub label: String,
    /// Exit status.
    pub status: ExitStatus,
    /// From spawn to the observed exit.
    pub elapsed: Duration,
    /// Its stdout.
    pub stdout: Stream,
    /// Its stderr.
    pub stderr: Stream,
}

impl Proc {
    /// Spawns `cmd` in a new process group with piped stdout/stderr.
    pub fn spawn(
        label: &str,
        mut cmd: Command,
        input: Input,
        capture: Capture,
    ) -> Result<Proc, String> {
        cmd.process_group(0)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // Its own process group keeps a terminal's Ctrl-C from reaching it, so have the
        // kernel kill it if the thread that spawned it ends (prctl(2): the parent *thread*;
        // here the scenario's thread, which outlives its processes) or the suite dies.
        let die_with_parent = || {
            // SAFETY: prctl(PR_SET_PDEATHSIG) only sets a flag of the calling
            // process and is async-signal-safe.
            unsafe {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            }
            Ok(())
        };
        // SAFETY: the hook makes one async-signal-safe call and allocates
        // nothing, as required between fork and exec.
        unsafe {
            cmd.pre_exec(die_with_parent);
        }
        let mut feed = None;
        match input {
            Input::Null => {
                cmd.stdin(Stdio::null());
            }
            Input::File(path) => {
                let f = File::open(&path).map_err(|e| format!("open {}: {e}", path.display()))?;
                cmd.stdin(Stdio::from(f));
            }
            Input::Bytes(data) => {
                cmd.stdin(Stdio::piped());
                feed = Some(data);
            }
            Input::Pipe => {
                cmd.stdin(Stdio::piped());
            }
        }
        let started = Instant::now();
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {label}: {e}"))?;
        let pid = child.id() as i32;
        let registry = current_registry();
        if let Some(reg) = &registry {
            reg.lock().unwrap_or_else(|e| e.into_inner()).push(pid);
        }
        let stdout = Stream::new("stdout", capture);
        let stderr = Stream::new("stderr", Capture::Keep);
        if let Some(out) = child.stdout.take() {
            stdout.pump(out);
        }
        if let Some(err) = child.stderr.take() {
            stderr.pump(err);
        }
        let mut stdin = child.stdin.take();
        if let Some(data) = feed
            && let Some(mut pipe) = stdin.take()
        {
            thread::spawn(move || {
                // The program may exit without reading everything: EPIPE is fine.
                let _ = pipe.write_all(&data);
            });
        }
        Ok(Proc {
            label: label.to_owned(),
            child,
            pid,
            stdout,
            stderr,
            stdin,
            status: None,
            started,
            ended: None,
            registry,
            killed: false,
        })
    }

    /// Spawns one of the implementation's programs.
    pub fn start(
        imp: &Impl,
        prog: &str,
        args: &[&str],
        input: Input,
        capture: Capture,
    ) -> Result<Proc, String> {
        let cmd = imp.command(prog, args)?;
        Proc::spawn(prog, cmd, input, capture)
    }

    /// Writes to the program's stdin (only with `Input::Pipe`).
    pub fn write_stdin(&mut self, data: &[u8]) -> TestResult {
        let pipe = self
            .stdin
            .as_mut()
            .ok_or_else(|| format!("{}: stdin is not an open pipe", self.label))?;
        pipe.write_all(data)
            .and_then(|_| pipe.flush())
            .map_err(|e| format!("writing to {}'s stdin: {e}", self.label))
    }

    /// Closes the program's stdin (EOF for it).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Exit status if the program has ended, without waiting. The leader stays a zombie (not
    /// reaped) until [`Proc::kill`], so its group id stays ours.
    pub fn try_status(&mut self) -> Result<Option<ExitStatus>, String> {
        if self.status.is_none() {
            match exit_status_unreaped(self.pid) {
                Ok(Some(st)) => {
                    self.status = Some(st);
                    self.ended = Some(Instant::now());
                }
                Ok(None) => {}
                Err(e) => return Err(format!("waiting for {}: {e}", self.label)),
            }
        }
        Ok(self.status)
    }

    /// Waits for the program to exit, at most `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<ExitStatus, String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(st) = self.try_status()? {
                return Ok(st);
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "{} still running after {:.1}s\nstderr:\n{}\nstdout:\n{}",
                    self.label,
                    timeout.as_secs_f64(),
                    indent(&self.stderr.text()),
                    indent(&self.stdout.text())
                ));
            }
            thread::sleep(Duration::from_millis(2));
        }
    }

    /// Waits for exit and for both output pipes to close.
    pub fn finish(&mut self, timeout: Duration) -> Result<Outcome, String> {
        let status = self.wait_exit(timeout)?;
        self.stdout.wait_eof(secs(10))?;
        self.stderr.wait_eof(secs(10))?;
        let ended = self.ended.unwrap_or_else(Instant::now);
        Ok(Outcome {
            label: self.label.clone(),
            status,
            elapsed: ended - self.started,
            stdout: self.stdout.clone(),
            stderr: self.stderr.clone(),
        })
    }

    /// Fails if the program has already ended (e.g. a server that should
    /// still be serving).
    pub fn expect_running(&mut self) -> TestResult {
        match self.try_status()? {
            None => Ok(()),
            Some(st) => Err(format!(
                "{} ended unexpectedly ({})\nstderr:\n{}",
                self.label,
                describe(st),
                indent(&self.stderr.text())
            )),
        }
    }

    /// Kills the whole process group, then reaps the leader: in this order, so the group id
    /// cannot have been handed to another process when the signal goes out. The registry
    /// forgets the group before the reap, for the same reason (the harness kills what it
    /// lists, under its lock).
    pub fn kill(&mut self) {
        if self.killed {
            return;
        }
        self.killed = true;
        kill_group(self.pid);
        if let Some(reg) = &self.registry {
            reg.lock()
                .unwrap_or_else(|e| e.into_inner())
                .retain(|&p| p != self.pid);
        }
        if let Ok(st) = self.child.wait()
            && self.status.is_none()
        {
            self.status = Some(st);
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs one program to completion (killed after `timeout`).
pub fn run(
    imp: &Impl,
    prog: &str,
    args: &[&str],
    input: Input,
    timeout: Duration,
) -> Result<Outcome, String> {
    let mut p = Proc::start(imp, prog, args, input, Capture::Keep)?;
    p.finish(timeout)
}

/// "exit code N" or "killed by signal N (NAME)".
pub fn describe(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        format!("exit code {code}")
    } else if let Some(sig) = status.signal() {
        let name = match sig {
            libc::SIGSEGV => "SIGSEGV",
            libc::SIGABRT => "SIGABRT",
            libc::SIGPIPE => "SIGPIPE",
            libc::SIGKILL => "SIGKILL",
            libc::SIGBUS => "SIGBUS",
            libc::SIGFPE => "SIGFPE",
            libc::SIGILL => "SIGILL",
            libc::SIGTERM => "SIGTERM",
            _ => "?",
        };
        format!("killed by signal {sig} ({name})")
    } else {
        format!("{status:?}")
    }
}

impl Outcome {
    /// The whole stderr as text.
    pub fn stderr_text(&self) -> String {
        self.stderr.text()
    }

    /// Lines of stderr (a final line without newline included).
    pub fn stderr_lines(&self) -> Vec<String> {
        self.stderr_text().lines().map(str::to_owned).collect()
    }

    /// A failure message with the program's status and output.
    pub fn fail(&self, why: &str) -> String {
        format!(
            "{}: {why}\n  status: {}\n  stderr:\n{}\n  stdout:\n{}",
            self.label,
            describe(self.status),
            indent(&self.stderr_text()),
            indent(&self.stdout.text())
        )
    }

    /// The program exited (not killed by a signal) with `code`, and its
    /// stderr never says `Success`.
    pub fn expect_code(&self, code: i32) -> TestResult {
        if self.status.code() != Some(code) {
            return Err(self.fail(&format!("expected exit code {code}")));
        }
        if self.stderr_text().contains("Success") {
            return Err(self.fail("stderr says 'Success' (errno was not set)"));
        }
        Ok(())
    }

    /// Exit 2 with a line starting `usage: ` on stderr.
    pub fn expect_usage(&self) -> TestResult {
        self.expect_code(2)?;
        if !self.stderr_lines().iter().any(|l| l.starts_with("usage: ")) {
            return Err(self.fail("no line starting 'usage: ' on stderr"));
        }
        Ok(())
    }

    /// Exit `code` and stderr is exactly the one line `line`.
    pub fn expect_only_line(&self, code: i32, line: &str) -> TestResult {
        self.expect_code(code)?;
        if self.stderr_text() != format!("{line}\n") {
            return Err(self.fail(&format!("expected stderr to be exactly the line '{line}'")));
        }
        Ok(())
    }

    /// stderr has a line equal to `line`.
    pub fn expect_stderr_line(&self, line: &str) -> TestResult {
        if !self.stderr_lines().iter().any(|l| l == line) {
            return Err(self.fail(&format!("expected the line '{line}' on stderr")));
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// The echo server under test
// ---------------------------------------------------------------------------

/// A running `echo_server`, ready (its listening line has been read, or, for the chapter's
/// code as printed, its listening socket seen in /proc).
pub struct EchoServer {
    /// The process.
    pub proc: Proc,
    /// The port it listens on.
    pub port: u16,
}

impl EchoServer {
    /// `echo_server 0`: kernel-picked port on 127.0.0.1.
    pub fn start(imp: &Impl) -> Result<EchoServer, String> {
        EchoServer::start_with(imp, &["0"], "127.0.0.1")
    }

    /// `echo_server 0`, ready once it has a listening socket (/proc), whatever it printed: for
    /// scenarios about the log itself, so a line stuck in a buffer fails them for what it
    /// does to the log, not at start-up.
    pub fn start_listening(imp: &Impl) -> Result<EchoServer, String> {
        let proc = Proc::start(imp, "echo_server", &["0"], Input::Null, Capture::Keep)?;
        EchoServer::when_listening(proc, &["0"])
    }

    /// Waits until `proc` has a listening socket (its port from /proc/net/tcp).
    fn when_listening(mut proc: Proc, args: &[&str]) -> Result<EchoServer, String> {
        let pid = proc.pid;
        let mut port = None;
        poll_until(READY, || {
            port = listening_port(pid);
            port.is_some()
        });
        let port = port.ok_or_else(|| {
            format!(
                "echo_server {args:?} has no listening socket after {}s\nstderr:\n{}",
                READY.as_secs(),
                indent(&proc.stderr.text())
            )
        })?;
        proc.expect_running()?;
        Ok(EchoServer { proc, port })
    }

    /// Starts with `args` and waits for `TCP server listening on SHOWN:PORT`. The chapter's
    /// code as printed prints the port it was asked for (0) and keeps the line in a buffer
    /// (pitfalls 13 and 1), so its port is read from /proc instead: one deviation must not
    /// fail every scenario and hide the others.
    pub fn start_with(imp: &Impl, args: &[&str], shown: &str) -> Result<EchoServer, String> {
        let mut proc = Proc::start(imp, "echo_server", args, Input::Null, Capture::Keep)?;
        if imp.name == "chapter" {
            return EchoServer::when_listening(proc, args);
        }
        let line = proc
            .stdout
            .wait_line(READY, "'TCP server listening on' line", |l| {
                l.starts_with("TCP server listening on ")
            })
            .map_err(|e| {
                // Listening without having said so: the line sits in a stdio buffer.
                let unsaid = listening_port(proc.pid).map_or(String::new(), |p| {
                    format!(
                        "\n(it does listen, on port {p}: its line is still in the stdout \
                         buffer, block-buffered because stdout is a pipe; docs/pitfalls.md #1)"
                    )
                });
                format!(
                    "echo_server {args:?} did not get ready: {e}{unsaid}\nstderr:\n{}",
                    indent(&proc.stderr.text())
                )
            })?;
        let rest = &line["TCP server listening on ".len()..];
        let port = rest
            .strip_prefix(shown)
            .and_then(|r| r.strip_prefix(':'))
            .and_then(|p| p.parse::<u16>().ok())
            .ok_or_else(|| {
                format!("listening line '{line}' is not 'TCP server listening on {shown}:PORT'")
            })?;
        if port == 0 {
            return Err(format!(
                "listening line '{line}' shows port 0, not the real port"
            ));
        }
        if let Some(asked) = args.first().and_then(|a| a.parse::<u16>().ok())
            && asked != 0
            && asked != port
        {
            return Err(format!(
                "asked for port {asked} but the listening line says '{line}'"
            ));
        }
        proc.expect_running()?;
        Ok(EchoServer { proc, port })
    }

    /// A connection to the server from 127.0.0.1.
    pub fn connect(&self) -> Result<TcpStream, String> {
        connect_local(self.port)
    }

    /// Waits until stdout has the line `line_for(port)` for every port in
    /// `ports` (how often each appears is not checked here).
    pub fn wait_all(
        &self,
        what: &str,
        ports: &[u16],
        line_for: fn(u16) -> String,
        timeout: Duration,
    ) -> TestResult {
        let wanted: Vec<String> = ports.iter().map(|&p| line_for(p)).collect();
        self.proc
            .stdout
            .wait_lines(timeout, what, |lines| {
                wanted
                    .iter()
                    .all(|w| lines.iter().any(|l| l == w))
                    .then_some(())
            })
            .map_err(|e| format!("echo_server: {e}"))
    }

    /// Waits until at least `n` stdout lines satisfy `pred`.
    pub fn wait_count(
        &self,
        what: &str,
        n: usize,
        pred: fn(&str) -> bool,
        timeout: Duration,
    ) -> TestResult {
        self.proc
            .stdout
            .wait_lines(timeout, what, |lines| {
                (lines.iter().filter(|l| pred(l)).count() >= n).then_some(())
            })
            .map_err(|e| format!("echo_server: {e}"))
    }

    /// One echo round trip on a new connection (the server still serves).
    pub fn check_echoes(&self, tag: &str) -> TestResult {
        let stream = self.connect()?;
        let data = format!("still serving? {tag}\n").into_bytes();
        echo_roundtrip(stream, &data).map_err(|e| format!("new client after {tag}: {e}"))
    }
}

/// `Client connected from 127.0.0.1:PORT`
pub fn connected_line(port: u16) -> String {
    format!("Client connected from 127.0.0.1:{port}")
}

/// `Client 127.0.0.1:PORT disconnected gracefully`
pub fn graceful_line(port: u16) -> String {
    format!("Client 127.0.0.1:{port} disconnected gracefully")
}

/// `Client 127.0.0.1:PORT connection closed`
pub fn closed_line(port: u16) -> String {
    format!("Client 127.0.0.1:{port} connection closed")
}

/// Is this a `Client IP:PORT connection closed` line?
pub fn is_closed_line(l: &str) -> bool {
    l.starts_with("Client ") && l.ends_with(" connection closed")
}

// ---------------------------------------------------------------------------
// Sockets
// ---------------------------------------------------------------------------

/// Connects to 127.0.0.1:`port` with a 5 s connect timeout and 30 s I/O timeouts.
pub fn connect_local(port: u16) -> Result<TcpStream, String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let s = TcpStream::connect_timeout(&addr, secs(5))
        .map_err(|e| format!("connect to {addr}: {e}"))?;
    s.set_read_timeout(Some(secs(30)))
        .map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(secs(30)))
        .map_err(|e| e.to_string())?;
    Ok(s)
}

/// Local port of a connected stream.
pub fn local_port(s: &TcpStream) -> Result<u16, String> {
    s.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

/// Sends `data` (from a helper thread), half-closes, reads until EOF and
/// checks the echo is byte-exact.
pub fn echo_roundtrip(stream: TcpStream, data: &[u8]) -> TestResult {
    let mut writer = stream.try_clone().map_err(|e| e.to_string())?;
    let payload = data.to_vec();
    let w = thread::spawn(move || -> io::Result<()> {
        writer.write_all(&payload)?;
        writer.shutdown(Shutdown::Write)
    });
    let mut got = Vec::with_capacity(data.len());
    let mut reader = stream;
    let r = reader.read_to_end(&mut got);
    let wres = w.join().map_err(|_| "writer thread panicked".to_owned())?;
    wres.map_err(|e| format!("sending {} bytes: {e}", data.len()))?;
    r.map_err(|e| {
        format!(
            "reading the echo ({} of {} bytes so far): {e}",
            got.len(),
            data.len()
        )
    })?;
    if got != data {
        return Err(format!(
            "echo differs: sent {} bytes (sha256 {}), got {} bytes (sha256 {})",
            data.len(),
            sha256_hex(data),
            got.len(),
            sha256_hex(&got)
        ));
    }
    Ok(())
}

/// A port on 127.0.0.1 that nothing listens on, held while this value lives: a socket bound
/// to it (no `SO_REUSEADDR`) that never listens. The kernel answers a SYN to it with RST
/// (`ECONNREFUSED`) and gives the port to no other bind and to no connect as its local port,
/// so a concurrent test cannot start listening there (a port merely released could be taken).
pub struct ClosedPort {
    /// The port.
    pub port: u16,
    _held: Option<OwnedFd>,
}

/// A TCP socket bound to 127.0.0.1 on a port the kernel chooses (no `SO_REUSEADDR`), and
/// that port.
fn bound_loopback_socket() -> Result<(OwnedFd, u16), String> {
    bound_loopback_socket_on(0)
}

/// A TCP socket bound to 127.0.0.1:`port` (0: the kernel chooses; no `SO_REUSEADDR`), and
/// the port it got.
fn bound_loopback_socket_on(port: u16) -> Result<(OwnedFd, u16), String> {
    let err = |what: &str| format!("{what}: {}", io::Error::last_os_error());
    // SAFETY: plain socket() call; the result is checked before use.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(err("socket"));
    }
    // SAFETY: `fd` is a fresh socket that nothing else owns.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut addr = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from_ne_bytes([127, 0, 0, 1]),
        },
        sin_zero: [0; 8],
    };
    let mut len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: `addr` is a valid sockaddr_in and `len` its size.
    if unsafe { libc::bind(fd, (&addr as *const libc::sockaddr_in).cast(), len) } != 0 {
        return Err(err("bind"));
    }
    // SAFETY: `addr`/`len` are valid out-parameters of the right size.
    if unsafe { libc::getsockname(fd, (&mut addr as *mut libc::sockaddr_in).cast(), &mut len) } != 0
    {
        return Err(err("getsockname"));
    }
    Ok((owned, u16::from_be(addr.sin_port)))
}

/// Reserves a [`ClosedPort`], chosen by the kernel.
pub fn closed_port() -> Result<ClosedPort, String> {
    let (held, port) = bound_loopback_socket()?;
    Ok(ClosedPort {
        port,
        _held: Some(held),
    })
}

/// The Python interpreter itself (its `sys.executable`), asked once per suite run, for the
/// helpers the suite starts (the file server of `http_get`'s scenarios). `python3` on PATH may
/// be a launcher rather than the interpreter: pyenv's shim is a bash script that runs several
/// more processes first. The suite starts one file server per scenario, often several at once,
/// and under load that start-up outlasted the 10 s the scenario waits for the server's port
/// line: 10 file servers started at once through the shim took 11.3-13.5 s here (load 12 on
/// 2 cores), the interpreter itself 3.6-3.7 s. `python3` itself if it cannot tell.
pub fn python3() -> PathBuf {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(|| {
        Command::new("python3")
            .args(["-c", "import sys; print(sys.executable)"])
            .stderr(Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
            .filter(|p| p.is_absolute() && p.is_file())
            .unwrap_or_else(|| PathBuf::from("python3"))
    })
    .clone()
}

/// `listener` has no connection waiting: none was made to it (a connection made and already
/// closed by the client would still wait in the accept queue).
pub fn expect_no_connection(listener: &TcpListener) -> TestResult {
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("set_nonblocking: {e}"))?;
    match listener.accept() {
        Err(e) if e.kind() == ErrorKind::WouldBlock => Ok(()),
        Err(e) => Err(format!("accept: {e}")),
        Ok((_, from)) => Err(format!(
            "the server saw a connection from {from}: the program connected before refusing"
        )),
    }
}

/// Runs `prog args` with stdin and stdout on /dev/null and stderr `stderr` (a file or a pipe
/// end), in its own process group, and returns how it ended (killed after `timeout`).
pub fn run_with_stderr(
    imp: &Impl,
    prog: &str,
    args: &[&str],
    stderr: Stdio,
    timeout: Duration,
) -> Result<ExitStatus, String> {
    let mut cmd = imp.command(prog, args)?;
    cmd.process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr);
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {prog}: {e}"))?;
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().map_err(|e| format!("wait: {e}"))? {
            return Ok(status);
        }
        if Instant::now() >= deadline {
            kill_group(child.id() as i32);
            let _ = child.wait();
            return Err(format!("{prog} {args:?} still running after {timeout:?}"));
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// A usage error exits 2 whatever stderr is: with stderr /dev/full (every write fails with
/// `ENOSPC`) and with stderr a pipe whose reading end is closed (a write raises `SIGPIPE`
/// unless it is ignored, then fails with `EPIPE`). Not a crash (a Rust panic exits 101), not
/// death by `SIGPIPE` (141 in a shell).
pub fn usage_exit_2_with_broken_stderr(imp: &Impl, prog: &str, args: &[&str]) -> TestResult {
    let full = File::options()
        .write(true)
        .open("/dev/full")
        .map_err(|e| format!("open /dev/full: {e}"))?;
    let status = run_with_stderr(imp, prog, args, Stdio::from(full), secs(10))?;
    if status.code() != Some(2) {
        return Err(format!(
            "{prog} {args:?} with 2>/dev/full: {}, expected exit code 2",
            describe(status)
        ));
    }
    let (reader, writer) = io::pipe().map_err(|e| format!("pipe: {e}"))?;
    drop(reader);
    let status = run_with_stderr(imp, prog, args, Stdio::from(writer), secs(10))?;
    if status.code() != Some(2) {
        return Err(format!(
            "{prog} {args:?} with stderr a pipe whose reading end is closed: {}, expected \
             exit code 2",
            describe(status)
        ));
    }
    Ok(())
}

/// Waits up to `timeout` for a connection on `listener`.
pub fn accept_timeout(listener: &TcpListener, timeout: Duration) -> Result<TcpStream, String> {
    wait_readable(listener.as_raw_fd(), timeout).map_err(|e| format!("no connection came: {e}"))?;
    let (s, _) = listener.accept().map_err(|e| format!("accept: {e}"))?;
    s.set_read_timeout(Some(secs(20)))
        .map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(secs(20)))
        .map_err(|e| e.to_string())?;
    Ok(s)
}

/// poll() for POLLIN on `fd`.
pub fn wait_readable(fd: i32, timeout: Duration) -> TestResult {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
    // SAFETY: `pfd` is a valid pollfd that lives across the call; nfds is 1.
    let n = unsafe { libc::poll(&mut pfd, 1, ms) };
    match n {
        1.. => Ok(()),
        0 => Err(format!(
            "nothing readable within {:.1}s",
            timeout.as_secs_f64()
        )),
        _ => Err(format!("poll: {}", io::Error::last_os_error())),
    }
}

/// Makes `close()` on this socket send an RST (SO_LINGER {1, 0}).
pub fn set_linger_zero(s: &TcpStream) -> TestResult {
    let lg = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: valid socket fd; the option value points to a live `linger`
    // and its exact size is passed.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&lg as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(format!(
            "setsockopt SO_LINGER: {}",
            io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// A listening socket on 127.0.0.1 made with `listen(fd, 0)` whose accept
/// queue has been filled with connections that are never accepted, so a
/// further connect gets no SYN-ACK and hangs in SYN_SENT.
pub struct FullListener {
    /// Its port.
    pub port: u16,
    /// How many connections fill its accept queue (never accepted unless the test does).
    pub queued: usize,
    listener: OwnedFd,
    _fillers: Vec<OwnedFd>,
}

impl FullListener {
    /// Stops the listener and closes the connections in its queue, and holds its port as a
    /// [`ClosedPort`]: a SYN still retransmitted to it now gets RST, so a client waiting for
    /// its handshake fails with `ECONNREFUSED`.
    ///
    /// `shutdown(SHUT_RD)` on a listener stops it as `close` would (`inet_shutdown` calls
    /// `tcp_disconnect`, which resets the queued connections and leaves state CLOSE), but the
    /// socket keeps its port, because it was bound to that port by number (`SOCK_BINDPORT_LOCK`;
    /// a port chosen by the kernel would be released). So no concurrent test's listener can
    /// take the port between the close and a new bind: there is no such moment.
    pub fn close_into_closed_port(self) -> Result<ClosedPort, String> {
        let FullListener {
            port,
            listener,
            _fillers,
            ..
        } = self;
        // SAFETY: `listener` is a live listening socket that this value owns.
        if unsafe { libc::shutdown(listener.as_raw_fd(), libc::SHUT_RD) } != 0 {
            return Err(format!(
                "shutdown(SHUT_RD) of the listener on port {port}: {}",
                io::Error::last_os_error()
            ));
        }
        drop(_fillers);
        if tcp_states_on_port(port).contains(&0x0A) {
            return Err(format!(
                "port {port}: a socket still listens after shutdown"
            ));
        }
        Ok(ClosedPort {
            port,
            _held: Some(listener),
        })
    }

    /// Accepts the next queued connection (a filler first; once the queue has room, the
    /// connection that was waiting), waiting up to `timeout`.
    pub fn accept(&self, timeout: Duration) -> Result<TcpStream, String> {
        let fd = self.listener.as_raw_fd();
        wait_readable(fd, timeout).map_err(|e| format!("no connection came: {e}"))?;
        // SAFETY: null address pointers are allowed; the result is checked.
        let conn = unsafe {
            libc::accept4(
                fd,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                libc::SOCK_CLOEXEC,
            )
        };
        if conn < 0 {
            return Err(format!("accept: {}", io::Error::last_os_error()));
        }
        // SAFETY: `conn` is a fresh connected socket that nothing else owns.
        let s = unsafe { TcpStream::from_raw_fd(conn) };
        s.set_read_timeout(Some(secs(20)))
            .map_err(|e| e.to_string())?;
        Ok(s)
    }
}

/// Whether the accept queue of listener `fd` is full, by the kernel's own test
/// (`sk_acceptq_is_full`: queued > backlog), read back with `TCP_INFO`: for a listener
/// `tcpi_unacked` is the queue's length and `tcpi_sacked` its backlog (`tcp_get_info`).
fn accept_queue_full(fd: i32) -> Result<bool, String> {
    // SAFETY: `tcp_info` is plain integers; all-zero is a valid value.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
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
    if rc != 0 {
        return Err(format!(
            "getsockopt TCP_INFO: {}",
            io::Error::last_os_error()
        ));
    }
    Ok(info.tcpi_unacked > info.tcpi_sacked)
}

/// A socket bound to a free port of 127.0.0.1 by its number, so that it keeps the port when
/// it stops listening ([`FullListener::close_into_closed_port`]). The kernel names a free
/// port; a concurrent test may take it before the second bind, and then another is tried.
fn bound_by_number() -> Result<(OwnedFd, u16), String> {
    let mut last = String::new();
    for _ in 0..20 {
        let (_, port) = bound_loopback_socket()?;
        match bound_loopback_socket_on(port) {
            Ok(bound) => return Ok(bound),
            Err(e) => last = e,
        }
    }
    Err(format!(
        "20 free ports taken before they could be bound: {last}"
    ))
}

/// Builds a [`FullListener`]: non-blocking connects it never accepts, one at a time, until the
/// kernel says its queue is full (no guess from a timeout). A connect still pending at that
/// moment had its SYN dropped; it is closed, so it cannot take the room a test makes later.
pub fn full_listener() -> Result<FullListener, String> {
    let err = |what: &str| format!("{what}: {}", io::Error::last_os_error());
    let (listener, port) = bound_by_number()?;
    let fd = listener.as_raw_fd();
    // SAFETY: `fd` is a bound stream socket.
    if unsafe { libc::listen(fd, 0) } != 0 {
        return Err(err("listen"));
    }
    let addr = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from_ne_bytes([127, 0, 0, 1]),
        },
        sin_zero: [0; 8],
    };
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    let mut fillers = Vec::new();
    let deadline = Instant::now() + READY;
    while !accept_queue_full(fd)? {
        if fillers.len() == 16 {
            return Err(
                "listen(fd, 0): 16 connections and its accept queue is not full".to_owned(),
            );
        }
        // SAFETY: plain socket() call; the result is checked before use.
        let f = unsafe {
            libc::socket(
                libc::AF_INET,
                libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                0,
            )
        };
        if f < 0 {
            return Err(err("filler socket"));
        }
        // SAFETY: `f` is a fresh socket that nothing else owns.
        let filler = unsafe { OwnedFd::from_raw_fd(f) };
        // SAFETY: `addr` holds the listener's address and `len` its size.
        let rc = unsafe { libc::connect(f, (&addr as *const libc::sockaddr_in).cast(), len) };
        if rc != 0 && io::Error::last_os_error().raw_os_error() != Some(libc::EINPROGRESS) {
            return Err(err("filler connect"));
        }
        // Until it is connected (writable) or the queue is full without it.
        loop {
            let full = accept_queue_full(fd)?;
            let mut pfd = libc::pollfd {
                fd: f,
                events: libc::POLLOUT,
                revents: 0,
            };
            // SAFETY: `pfd` is one live pollfd; timeout 0 only looks.
            let connected =
                unsafe { libc::poll(&mut pfd, 1, 0) } == 1 && pfd.revents & libc::POLLOUT != 0;
            if connected {
                fillers.push(filler);
                break;
            }
            if full {
                break; // `filler` is dropped: its SYN found the queue full
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "filler connect {} neither connected nor filled the queue in {}s",
                    fillers.len() + 1,
                    READY.as_secs()
                ));
            }
            thread::yield_now();
        }
    }
    Ok(FullListener {
        port,
        queued: fillers.len(),
        listener,
        _fillers: fillers,
    })
}

// ---------------------------------------------------------------------------
// Test data
// ---------------------------------------------------------------------------

/// Deterministic pseudo-random bytes (xorshift64), with NUL bytes guaranteed.
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    if len > 0 {
        out[0] = 0;
        out[len / 2] = 0;
    }
    out
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// sha256 as lowercase hex.
pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

/// A file of random bytes shared by all scenarios of this run.
pub struct DataFile {
    /// Where it is.
    pub path: PathBuf,
    /// Its sha256.
    pub sha256: String,
}

/// The run's data file of `len` bytes (made on first use).
pub fn data_file(len: usize) -> Result<Arc<DataFile>, String> {
    static FILES: OnceLock<Mutex<HashMap<usize, Arc<DataFile>>>> = OnceLock::new();
    let files = FILES.get_or_init(|| Mutex::new(HashMap::new()));
    // Held while generating, so each size is made once.
    let mut map = files.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(f) = map.get(&len) {
        return Ok(f.clone());
    }
    let data = random_bytes(len, len as u64 + 1);
    let path = run_dir()?.join(format!("data-{len}.bin"));
    fs::write(&path, &data).map_err(|e| format!("write {}: {e}", path.display()))?;
    let f = Arc::new(DataFile {
        path,
        sha256: sha256_hex(&data),
    });
    map.insert(len, f.clone());
    Ok(f)
}

/// This run's scratch directory (under cargo's target tmp dir).
pub fn run_dir() -> Result<PathBuf, String> {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let base = Path::new(env!("CARGO_TARGET_TMPDIR"));
        remove_stale_run_dirs(base);
        base.join(format!("suite-{}", std::process::id()))
    });
    fs::create_dir_all(dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
    Ok(dir.clone())
}

/// Removes `suite-PID` directories left by runs that were interrupted
/// (their PID no longer exists).
fn remove_stale_run_dirs(base: &Path) {
    let Ok(entries) = fs::read_dir(base) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("suite-"))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = fs::remove_dir_all(e.path());
        }
    }
}

/// A fresh empty directory inside the run's scratch directory.
pub fn fresh_dir(tag: &str) -> Result<PathBuf, String> {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = run_dir()?.join(format!("{tag}-{}", N.fetch_add(1, Ordering::Relaxed)));
    fs::create_dir_all(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
    Ok(dir)
}

/// Removes the run's scratch directory.
pub fn remove_run_dir() {
    if let Ok(dir) = run_dir() {
        let _ = fs::remove_dir_all(dir);
    }
}

/// Is `prog` an executable on PATH?
pub fn on_path(prog: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|d| d.join(prog).is_file()))
        .unwrap_or(false)
}

// ---------------------------------------------------------------------------
// /proc
// ---------------------------------------------------------------------------

/// Children of `pid` with their state letter (`Z` for zombies).
pub fn children_of(pid: i32) -> Vec<(i32, char)> {
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return out;
    };
    for e in entries.flatten() {
        let Some(child) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(format!("/proc/{child}/stat")) else {
            continue;
        };
        // pid (comm) state ppid ... ; comm may contain spaces and parentheses.
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        let mut fields = stat[close + 1..].split_whitespace();
        let state = fields.next().and_then(|s| s.chars().next()).unwrap_or('?');
        let ppid = fields
            .next()
            .and_then(|s| s.parse::<i32>().ok())
            .unwrap_or(-1);
        if ppid == pid {
            out.push((child, state));
        }
    }
    out
}

/// Number of open file descriptors of `pid`.
pub fn fd_count(pid: i32) -> Result<usize, String> {
    fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .map_err(|e| format!("read /proc/{pid}/fd: {e}"))
}

/// TCP states (the `st` column of /proc/net/tcp, e.g. 0x06 = TIME_WAIT) of
/// sockets whose local port is `port`.
pub fn tcp_states_on_port(port: u16) -> Vec<u8> {
    let Ok(text) = fs::read_to_string("/proc/net/tcp") else {
        return Vec::new();
    };
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            let local = f.nth(1)?;
            let st = f.nth(1)?;
            let lport = u16::from_str_radix(local.rsplit(':').next()?, 16).ok()?;
            (lport == port)
                .then(|| u8::from_str_radix(st, 16).ok())
                .flatten()
        })
        .collect()
}

/// The port of `pid`'s listening TCP socket, found by the socket's inode (`/proc/PID/fd`) in
/// `/proc/net/tcp` (state 0A = LISTEN); `None` while it has none.
pub fn listening_port(pid: i32) -> Option<u16> {
    let inodes: Vec<String> = fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()?
        .flatten()
        .filter_map(|e| {
            let target = fs::read_link(e.path()).ok()?;
            let t = target.to_str()?;
            Some(t.strip_prefix("socket:[")?.strip_suffix(']')?.to_owned())
        })
        .collect();
    let text = fs::read_to_string("/proc/net/tcp").ok()?;
    text.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        (f.len() > 9 && f[3] == "0A" && inodes.iter().any(|i| i == f[9]))
            .then(|| u16::from_str_radix(f[1].rsplit(':').next()?, 16).ok())
            .flatten()
    })
}

/// The system call `pid`'s main thread sleeps in (`/proc/PID/syscall`), `None` while it runs.
pub fn blocked_syscall(pid: i32) -> Option<i64> {
    let s = fs::read_to_string(format!("/proc/{pid}/syscall")).ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// The state letter of `pid` (`/proc/PID/stat`): `T` stopped, `t` stopped under a tracer.
pub fn process_state(pid: i32) -> Option<char> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..]
        .split_whitespace()
        .next()?
        .chars()
        .next()
}

/// What Ctrl-Z and `fg` do to a program blocked in `connect()`: waits until it sleeps in
/// connect, lets `into` pass, sends SIGSTOP, waits until it is stopped, sends SIGCONT.
pub fn stop_and_continue_in_connect(p: &mut Proc, into: Duration) -> TestResult {
    if !poll_until(READY, || blocked_syscall(p.pid) == Some(libc::SYS_connect)) {
        p.expect_running()?;
        return Err(format!("{} never blocked in connect()", p.label));
    }
    thread::sleep(into);
    // SAFETY: kill() has no memory preconditions; `p.pid` is our child, not reaped before
    // `p` is killed, so the pid is still its own.
    unsafe { libc::kill(p.pid, libc::SIGSTOP) };
    let stopped = poll_until(READY, || matches!(process_state(p.pid), Some('T' | 't')));
    // SAFETY: as above.
    unsafe { libc::kill(p.pid, libc::SIGCONT) };
    if !stopped {
        return Err(format!("{} did not stop on SIGSTOP", p.label));
    }
    Ok(())
}

/// Ctrl-Z and `fg` one second into `prog`'s blocking connect to a full backlog (`prog
/// 127.0.0.1 PORT extra...`): with `SO_SNDTIMEO` set, Linux ends `connect` with `EINTR` at the
/// stop (signal(7)); the program must go on waiting until its 5 s deadline and then report
/// `connect: Connection timed out` (exit 1), not give up at 1 s.
pub fn stop_cont_in_connect_times_out(imp: &Impl, prog: &str, extra: &[&str]) -> TestResult {
    let full = full_listener()?;
    let port = full.port.to_string();
    let mut args = vec!["127.0.0.1", port.as_str()];
    args.extend_from_slice(extra);
    let mut p = Proc::start(imp, prog, &args, Input::Null, Capture::Keep)?;
    stop_and_continue_in_connect(&mut p, secs(1))?;
    let out = p.finish(secs(15))?;
    out.expect_only_line(1, "connect: Connection timed out")?;
    if out.elapsed < secs(4) {
        return Err(out.fail(&format!(
            "gave up after {:.2}s: a stop and continue at 1 s must not shorten the 5 s timeout",
            out.elapsed.as_secs_f64()
        )));
    }
    Ok(())
}

/// Polls `cond` every 10 ms until it holds or `timeout` passes.
pub fn poll_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Runs `f` on every case and collects all failures into one message.
pub fn all_cases<T: std::fmt::Debug>(
    cases: &[T],
    mut f: impl FnMut(&T) -> TestResult,
) -> TestResult {
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|c| f(c).err().map(|e| format!("case {c:?}:\n{e}")))
        .collect();
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\n"))
    }
}
