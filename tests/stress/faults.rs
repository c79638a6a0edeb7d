//! Faults injected from outside: `fork` failing under a low RLIMIT_NPROC
//! (as user nobody: root ignores the limit), `accept` failing with EMFILE
//! under a low RLIMIT_NOFILE, and the measurements docs/security.md quotes
//! (idle connections that exhaust a process limit, a client that never
//! sends).

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use crate::common::{
    Capture, EchoServer, Impl, Input, Need, Proc, children_of, connect_local, connected_line,
    echo_roundtrip, fd_count, local_port, need, poll_until, secs,
};
use crate::{Figure, Mode, StressResult, StressScenario};

pub const SCENARIOS: &[StressScenario] = &[
    ("faults::fork_fails_nproc_server_keeps_serving", fork_fails),
    ("faults::accept_emfile_nofile4_exits_1", emfile_exits),
    ("faults::nofile5_parent_never_emfile", nofile5_serves),
    ("security::idle_connections_exhaust_nproc", dos_nproc),
    ("security::silent_client_holds_a_process", silent_client),
];

/// RLIMIT_NPROC counts every process of the real user: scenarios running
/// as nobody take turns.
static NOBODY: Mutex<()> = Mutex::new(());

/// What running the server as nobody under a process limit takes (root ignores RLIMIT_NPROC).
const AS_NOBODY: &[Need] = &[
    Need::Root("to run the server as user nobody"),
    Need::Tool("prlimit"),
    Need::Tool("setpriv"),
];

/// Processes of user nobody (uid 65534) now. RLIMIT_NPROC counts them all,
/// so a scenario waits for those of the previous one to be gone first.
fn nobody_processes() -> usize {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    dir.flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|e| std::fs::read_to_string(e.path().join("status")).ok())
        .filter(|st| {
            st.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1))
                == Some("65534")
        })
        .count()
}

/// Waits (up to 10 s) until user nobody runs nothing; returns how many
/// processes it still runs (someone else's: counted against the limit).
fn nobody_baseline() -> usize {
    poll_until(secs(10), || nobody_processes() == 0);
    nobody_processes()
}

fn nobody_launcher(nproc: u32) -> Vec<String> {
    [
        format!("--nproc={nproc}:{nproc}"),
        "setpriv".into(),
        "--reuid=nobody".into(),
        "--regid=nogroup".into(),
        "--clear-groups".into(),
    ]
    .into_iter()
    .fold(vec!["prlimit".to_owned()], |mut v, a| {
        v.push(a);
        v
    })
}

/// `echo_server 0` started through `launcher`, ready.
fn server_via(imp: &Impl, launcher: &[String]) -> Result<EchoServer, String> {
    let l: Vec<&str> = launcher.iter().map(String::as_str).collect();
    let cmd = imp.command_via(&l, "echo_server", &["0"])?;
    let proc = Proc::spawn("echo_server", cmd, Input::Null, Capture::Keep)?;
    let line = proc
        .stdout
        .wait_line(secs(10), "listening line", |l| {
            l.starts_with("TCP server listening on 127.0.0.1:")
        })
        .map_err(|e| format!("{e}\nstderr: {}", proc.stderr.text()))?;
    let port = line
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| format!("bad listening line {line}"))?;
    Ok(EchoServer { proc, port })
}

fn fork_failures(server: &EchoServer) -> usize {
    server
        .proc
        .stderr
        .lines()
        .iter()
        .filter(|l| *l == "fork: Resource temporarily unavailable")
        .count()
}

/// A client the server could not fork for: it sees EOF (the parent closed it).
fn expect_closed_by_server(mut s: TcpStream) -> Result<(), String> {
    s.set_read_timeout(Some(secs(5)))
        .map_err(|e| e.to_string())?;
    let mut b = [0u8; 16];
    match s.read(&mut b) {
        Ok(0) => Ok(()),
        Err(e) if e.kind() == ErrorKind::ConnectionReset => Ok(()),
        Ok(n) => Err(format!(
            "got {n} bytes from a client that was not forked for"
        )),
        Err(e) => Err(format!("expected EOF from the server: {e}")),
    }
}

/// Opens one connection and reads back one line (its child is alive).
fn held_client(port: u16) -> Result<TcpStream, String> {
    let mut s = connect_local(port)?;
    s.write_all(b"hold\n").map_err(|e| e.to_string())?;
    let mut b = [0u8; 5];
    s.read_exact(&mut b)
        .map_err(|e| format!("held client echo: {e}"))?;
    Ok(s)
}

/// nproc 3: the server and two children. Further clients: fork fails, the
/// server logs `fork: Resource temporarily unavailable`, closes them and
/// keeps serving; once a child ends, a new client is served again.
fn fork_fails(imp: &Impl, mode: Mode) -> StressResult {
    need(AS_NOBODY)?;
    let _turn = NOBODY.lock().unwrap_or_else(|e| e.into_inner());
    let refused = mode.pick(3, 10);
    let base = nobody_baseline();
    let mut server = server_via(imp, &nobody_launcher(3 + base as u32))?;
    let a = held_client(server.port)?;
    let _b = held_client(server.port)?;
    for i in 0..refused {
        let s = server.connect()?;
        expect_closed_by_server(s).map_err(|e| format!("refused client {i}: {e}"))?;
    }
    if !poll_until(secs(5), || fork_failures(&server) >= refused) {
        return Err(format!(
            "{} fork failures logged, expected {refused}; stderr:\n{}",
            fork_failures(&server),
            server.proc.stderr.text()
        ));
    }
    server.proc.expect_running()?;
    let before = children_of(server.proc.pid).len();
    a.shutdown(Shutdown::Both).map_err(|e| e.to_string())?;
    drop(a);
    if !poll_until(secs(10), || children_of(server.proc.pid).len() < before) {
        return Err("the released client's child did not end".to_owned());
    }
    server.check_echoes("fork failures")?;
    Ok(Figure {
        text: format!(
            "nproc 3 as nobody: {refused} forks failed, logged and closed; served again after"
        ),
        connections: refused as u64 + 3,
        faults: refused as u64,
        ..Figure::default()
    })
}

/// nofile 4: fds 0-2 and the listening socket leave no room; Linux's
/// accept() takes the new fd before it waits, so the first accept fails
/// with EMFILE at once and the chapter's loop `break`s: exit 1 (kept, see
/// docs/security.md).
fn emfile_exits(imp: &Impl, _mode: Mode) -> StressResult {
    need(&[Need::Tool("prlimit")])?;
    let cmd = imp.command_via(&["prlimit", "--nofile=4:4"], "echo_server", &["0"])?;
    let mut p = Proc::spawn("echo_server", cmd, Input::Null, Capture::Keep)?;
    let out = p.finish(secs(10))?;
    out.expect_code(1)?;
    out.expect_stderr_line("accept: Too many open files")?;
    if !out
        .stdout
        .text()
        .starts_with("TCP server listening on 127.0.0.1:")
    {
        return Err(out.fail("expected the listening line first"));
    }
    Ok(Figure {
        text: "exit 1, 'accept: Too many open files' (chapter's break kept)".into(),
        faults: 1,
        ..Figure::default()
    })
}

/// nofile 5: one fd for accept is all the parent ever needs, because it
/// closes each client fd after fork. Many concurrent clients are served.
fn nofile5_serves(imp: &Impl, mode: Mode) -> StressResult {
    need(&[Need::Tool("prlimit")])?;
    let n = mode.pick(20, 100);
    let launcher = ["prlimit".to_owned(), "--nofile=5:5".to_owned()];
    let mut server = server_via(imp, &launcher)?;
    let mut held = Vec::new();
    let mut max_fds = 0;
    for _ in 0..n {
        held.push(held_client(server.port)?);
        max_fds = max_fds.max(fd_count(server.proc.pid)?);
    }
    for s in held.drain(..) {
        echo_roundtrip(s, b"").map_err(|e| format!("held client: {e}"))?;
    }
    server.proc.expect_running()?;
    server.check_echoes("nofile 5")?;
    Ok(Figure {
        text: format!(
            "nofile 5: {n} concurrent clients served (fds seen: {max_fds}, incl. inherited ones above 4)"
        ),
        connections: n as u64 + 1,
        ..Figure::default()
    })
}

/// How many idle connections (connect, send nothing) exhaust a process
/// limit: under nproc L as nobody the server can hold L-1 clients; the
/// next ones are closed at once. Measured, not assumed.
fn dos_nproc(imp: &Impl, mode: Mode) -> StressResult {
    need(AS_NOBODY)?;
    let _turn = NOBODY.lock().unwrap_or_else(|e| e.into_inner());
    let limit: usize = mode.pick(16, 64);
    let base = nobody_baseline();
    let mut server = server_via(imp, &nobody_launcher((limit + base) as u32))?;
    let mut held = Vec::new();
    let mut served = 0;
    for _ in 0..limit + 2 {
        let s = server.connect()?;
        let me = local_port(&s)?;
        let failures = fork_failures(&server);
        let line = connected_line(me);
        let mut ok = false;
        let seen = poll_until(secs(5), || {
            ok = server.proc.stdout.lines().contains(&line);
            ok || fork_failures(&server) > failures
        });
        if !seen {
            return Err(format!(
                "neither a child nor a fork failure for client {me}"
            ));
        }
        if !ok {
            expect_closed_by_server(s)?;
            break;
        }
        served += 1;
        held.push(s);
    }
    if served != limit - 1 {
        return Err(format!(
            "expected {} idle connections to exhaust nproc {limit}, got {served}",
            limit - 1
        ));
    }
    let start = Instant::now();
    drop(held);
    if !poll_until(secs(10), || children_of(server.proc.pid).is_empty()) {
        return Err("children did not end after their clients closed".into());
    }
    server.proc.expect_running()?;
    server.check_echoes("nproc exhausted")?;
    Ok(Figure {
        text: format!(
            "nproc {limit} as nobody: {served} idle connections exhaust it; recovered in {:.2}s",
            start.elapsed().as_secs_f64()
        ),
        connections: served as u64 + 2,
        faults: 1,
        ..Figure::default()
    })
}

/// A client that connects and never sends holds its child, blocked in
/// recv() with no timeout, for as long as it likes.
fn silent_client(imp: &Impl, mode: Mode) -> StressResult {
    let hold = mode.pick(3, 20);
    let mut server = EchoServer::start(imp)?;
    let mut s = server.connect()?;
    let me = local_port(&s)?;
    server.wait_all("connected line", &[me], connected_line, secs(5))?;
    thread::sleep(secs(hold));
    let kids = children_of(server.proc.pid);
    if kids.len() != 1 || kids[0].1 != 'S' {
        return Err(format!("expected one sleeping child, got {kids:?}"));
    }
    let wchan = std::fs::read_to_string(format!("/proc/{}/wchan", kids[0].0)).unwrap_or_default();
    // The child never closed us: nothing to read, no EOF.
    s.set_nonblocking(true).map_err(|e| e.to_string())?;
    let mut b = [0u8; 8];
    match s.read(&mut b) {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        other => return Err(format!("expected nothing from the server, got {other:?}")),
    }
    s.set_nonblocking(false).map_err(|e| e.to_string())?;
    s.write_all(b"late\n").map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    let mut b = [0u8; 5];
    s.read_exact(&mut b)
        .map_err(|e| format!("late echo: {e}"))?;
    server.proc.expect_running()?;
    Ok(Figure {
        text: format!(
            "silent {hold}s: child still blocked{} and served after",
            if wchan.is_empty() || wchan == "0" {
                String::new()
            } else {
                format!(" ({wchan})")
            }
        ),
        connections: 1,
        ..Figure::default()
    })
}
