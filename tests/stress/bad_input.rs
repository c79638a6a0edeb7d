//! Bad input for the three programs: arguments (addresses, ports, paths,
//! huge and empty ones, host names where literals are expected) and bad
//! peers (an HTTP server that sends garbage, no headers, closes at once,
//! resets, never answers, drips, never stops). Each case: the exit code the
//! README specifies (0 / 1 / 2), never a signal death, never past its
//! timeout, and the documented stderr line.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::common::{
    Capture, Impl, Input, Outcome, Proc, accept_timeout, closed_port, describe, full_listener, hex,
    random_bytes, secs, set_linger_zero,
};
use crate::{Figure, Mode, StressResult, StressScenario};

pub const SCENARIOS: &[StressScenario] = &[
    ("bad_input::echo_server", |i, m| {
        run_cases(i, m, echo_server_cases)
    }),
    ("bad_input::tcp_client", |i, m| {
        run_cases(i, m, tcp_client_cases)
    }),
    ("bad_input::http_get", |i, m| {
        run_cases(i, m, http_get_cases)
    }),
    ("bad_input::http_get_endless_response", endless),
];

/// What the peer of a case is.
#[derive(Clone, Debug)]
enum Peer {
    /// No peer; `{port}` is not used.
    None,
    /// A port with nothing listening.
    Refused,
    /// A port whose accept queue is full (connect hangs in SYN_SENT).
    Full,
    /// A port held by a plain listener (no SO_REUSEPORT): bind fails.
    Busy,
    /// A listener that accepts, reads the request, then does this.
    Responder(Reply),
}

#[derive(Clone, Debug)]
enum Reply {
    /// Close before reading anything.
    CloseAtOnce,
    /// Send these bytes, then close.
    Bytes(Vec<u8>),
    /// Read the request, close (FIN) without answering.
    CloseAfterRequest,
    /// Read the request, reset (SO_LINGER 0).
    Reset,
    /// Read the request, say nothing for this long.
    Silent(Duration),
    /// One byte per second, this many.
    Drip(usize),
}

/// What stderr must show.
#[derive(Clone, Debug)]
enum Expect {
    /// A `usage: ` line (exit 2).
    Usage,
    /// This exact line (`{port}` replaced).
    Line(String),
    /// A line starting with this.
    Prefix(&'static str),
}

#[derive(Clone, Debug)]
struct Case {
    what: &'static str,
    args: Vec<String>,
    peer: Peer,
    code: i32,
    expect: Expect,
    /// Exact stdout, when it matters.
    stdout: Option<Vec<u8>>,
    /// Elapsed time must lie in this range (seconds).
    within: (f64, f64),
}

fn case(what: &'static str, args: &[&str], peer: Peer, code: i32, expect: Expect) -> Case {
    Case {
        what,
        args: args.iter().map(|s| (*s).to_owned()).collect(),
        peer,
        code,
        expect,
        stdout: None,
        within: (0.0, 10.0),
    }
}

fn usage(what: &'static str, args: &[&str]) -> Case {
    case(what, args, Peer::None, 2, Expect::Usage)
}

fn line(s: &str) -> Expect {
    Expect::Line(s.to_owned())
}

fn big(len: usize) -> String {
    "9".repeat(len)
}

fn echo_server_cases() -> (&'static str, Vec<Case>) {
    let huge_addr = format!("1.{}", big(100_000));
    let huge_port = big(100_000);
    let cases = vec![
        usage("no arguments", &[]),
        usage("empty port", &[""]),
        usage("negative port", &["-1"]),
        usage("port 65536", &["65536"]),
        usage("port 2^64", &["18446744073709551616"]),
        usage("port with a space", &[" 80"]),
        usage("hex port", &["0x50"]),
        usage("port 100,000 digits", &[&huge_port]),
        usage("three arguments", &["0", "127.0.0.1", "x"]),
        case(
            "empty address",
            &["0", ""],
            Peer::None,
            1,
            line("inet_pton: invalid IPv4 address ''"),
        ),
        case(
            "host name as address",
            &["0", "localhost"],
            Peer::None,
            1,
            line("inet_pton: invalid IPv4 address 'localhost'"),
        ),
        case(
            "IPv6 address",
            &["0", "::1"],
            Peer::None,
            1,
            line("inet_pton: invalid IPv4 address '::1'"),
        ),
        case(
            "address 100,000 chars",
            &["0", &huge_addr],
            Peer::None,
            1,
            Expect::Prefix("inet_pton: invalid IPv4 address '1.999"),
        ),
        case(
            "address not on this host",
            &["0", "192.0.2.1"],
            Peer::None,
            1,
            line("bind: Cannot assign requested address"),
        ),
        case(
            "port in use (no SO_REUSEPORT on the holder)",
            &["{port}"],
            Peer::Busy,
            1,
            line("bind: Address already in use"),
        ),
    ];
    ("echo_server", cases)
}

fn tcp_client_cases() -> (&'static str, Vec<Case>) {
    let huge = format!("127.{}", big(100_000));
    let mut slow = case(
        "-n 300 to a full accept queue",
        &["-n", "300", "127.0.0.1", "{port}"],
        Peer::Full,
        1,
        line("connect: Connection timed out"),
    );
    slow.within = (0.25, 3.0);
    let mut closes = case(
        "server closes at once: the session just ends",
        &["127.0.0.1", "{port}"],
        Peer::Responder(Reply::CloseAtOnce),
        0,
        line("Connected to 127.0.0.1:{port}"),
    );
    closes.stdout = Some(Vec::new());
    let cases = vec![
        usage("no arguments", &[]),
        usage("-n only", &["-n"]),
        usage("-n 0", &["-n", "0", "127.0.0.1", "1"]),
        usage("-n not a number", &["-n", "abc", "127.0.0.1", "1"]),
        usage("-n above INT_MAX", &["-n", "2147483648", "127.0.0.1", "1"]),
        usage("port 0", &["127.0.0.1", "0"]),
        usage("empty port", &["127.0.0.1", ""]),
        usage("port 100,000 digits", &["127.0.0.1", &big(100_000)]),
        case(
            "empty address",
            &["", "1"],
            Peer::None,
            1,
            line("inet_pton: invalid IPv4 address ''"),
        ),
        case(
            "256.0.0.1",
            &["256.0.0.1", "1"],
            Peer::None,
            1,
            line("inet_pton: invalid IPv4 address '256.0.0.1'"),
        ),
        case(
            "host name (blocking)",
            &["example.com", "80"],
            Peer::None,
            1,
            line("inet_pton: invalid IPv4 address 'example.com'"),
        ),
        case(
            "host name (-n)",
            &["-n", "100", "example.com", "80"],
            Peer::None,
            1,
            line("inet_pton: invalid IPv4 address 'example.com'"),
        ),
        case(
            "address 100,000 chars",
            &[&huge, "1"],
            Peer::None,
            1,
            Expect::Prefix("inet_pton: invalid IPv4 address '127.999"),
        ),
        case(
            "refused (blocking)",
            &["127.0.0.1", "{port}"],
            Peer::Refused,
            1,
            line("connect: Connection refused"),
        ),
        case(
            "refused (-n 1000)",
            &["-n", "1000", "127.0.0.1", "{port}"],
            Peer::Refused,
            1,
            line("connect: Connection refused"),
        ),
        slow,
        closes,
    ];
    ("tcp_client", cases)
}

fn http_get_cases() -> (&'static str, Vec<Case>) {
    let garbage = random_bytes(64 * 1024, 99);
    let framed = |body: &[u8]| {
        let mut v = b"HTTP Response:\n".to_vec();
        v.extend_from_slice(body);
        v.push(b'\n');
        v
    };
    let mut g = case(
        "server sends 64 KiB of binary garbage: printed raw",
        &["127.0.0.1", "{port}", "/"],
        Peer::Responder(Reply::Bytes(garbage.clone())),
        0,
        line("Connected to 127.0.0.1:{port}"),
    );
    g.stdout = Some(framed(&garbage));
    let mut nh = case(
        "response without headers: printed raw",
        &["127.0.0.1", "{port}", "/"],
        Peer::Responder(Reply::Bytes(b"hello, no headers".to_vec())),
        0,
        line("Connected to 127.0.0.1:{port}"),
    );
    nh.stdout = Some(framed(b"hello, no headers"));
    let mut silent = case(
        "server never answers: 5 s SO_RCVTIMEO",
        &["127.0.0.1", "{port}", "/"],
        Peer::Responder(Reply::Silent(secs(9))),
        1,
        line("recv: Connection timed out"),
    );
    silent.within = (4.5, 8.0);
    let mut drip = case(
        "one byte a second for 6 s: the timeout is per recv",
        &["127.0.0.1", "{port}", "/"],
        Peer::Responder(Reply::Drip(6)),
        0,
        line("Connected to 127.0.0.1:{port}"),
    );
    drip.stdout = Some(framed(b"dddddd"));
    drip.within = (5.0, 12.0);
    let long_path = format!("/{}", "a".repeat(2000));
    // Refused before connecting: to a closed port, a client that connected first would say
    // "connect: Connection refused" instead.
    let mut long = case(
        "path of 2,001 bytes: request refused before connecting",
        &["127.0.0.1", "{port}", &long_path],
        Peer::Refused,
        1,
        Expect::Prefix("PATH too long: the request would be "),
    );
    long.stdout = Some(Vec::new());
    let cases = vec![
        usage("no arguments", &[]),
        usage("two arguments", &["127.0.0.1", "80"]),
        usage("port 0", &["127.0.0.1", "0", "/"]),
        usage("port 65536", &["127.0.0.1", "65536", "/"]),
        usage("empty host", &["", "80", "/"]),
        usage("empty path", &["127.0.0.1", "80", ""]),
        usage("path with a space", &["127.0.0.1", "80", "/a b"]),
        usage(
            "path with CR LF (header smuggling)",
            &["127.0.0.1", "80", "/\r\nX: y"],
        ),
        usage("host with a tab", &["127.0.0.1\t", "80", "/"]),
        usage("non-ASCII path", &["127.0.0.1", "80", "/\u{e9}"]),
        case(
            "unresolvable name",
            &["no-such-host.invalid", "80", "/"],
            Peer::None,
            1,
            Expect::Prefix("getaddrinfo: no-such-host.invalid: "),
        ),
        case(
            "name of 100,000 chars",
            &[&"a".repeat(100_000), "80", "/"],
            Peer::None,
            1,
            Expect::Prefix("getaddrinfo: aaaa"),
        ),
        case(
            "refused",
            &["127.0.0.1", "{port}", "/"],
            Peer::Refused,
            1,
            line("connect: Connection refused"),
        ),
        case(
            "server closes after the request, sends nothing",
            &["127.0.0.1", "{port}", "/"],
            Peer::Responder(Reply::CloseAfterRequest),
            1,
            line("recv: connection closed before any response"),
        ),
        case(
            "server resets after the request",
            &["127.0.0.1", "{port}", "/"],
            Peer::Responder(Reply::Reset),
            1,
            line("recv: Connection reset by peer"),
        ),
        g,
        nh,
        silent,
        drip,
        long,
    ];
    ("http_get", cases)
}

/// Starts the peer; returns its port and what keeps it alive.
fn start_peer(peer: &Peer) -> Result<(u16, Box<dyn std::any::Any + Send>), String> {
    match peer {
        Peer::None => Ok((0, Box::new(()))),
        Peer::Refused => {
            let closed = closed_port()?;
            Ok((closed.port, Box::new(closed)))
        }
        Peer::Full => {
            let f = full_listener()?;
            Ok((f.port, Box::new(f)))
        }
        Peer::Busy => {
            let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
            let port = l.local_addr().map_err(|e| e.to_string())?.port();
            Ok((port, Box::new(l)))
        }
        Peer::Responder(reply) => {
            let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
            let port = l.local_addr().map_err(|e| e.to_string())?.port();
            let reply = reply.clone();
            thread::spawn(move || respond(&l, &reply));
            Ok((port, Box::new(())))
        }
    }
}

fn read_request(s: &mut std::net::TcpStream) {
    let _ = s.set_read_timeout(Some(secs(2)));
    let mut req = Vec::new();
    let mut b = [0u8; 2048];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut b) {
            Ok(0) | Err(_) => break,
            Ok(n) => req.extend_from_slice(&b[..n]),
        }
    }
}

fn respond(l: &TcpListener, reply: &Reply) -> Result<(), String> {
    let mut s = accept_timeout(l, secs(20))?;
    match reply {
        Reply::CloseAtOnce => {}
        Reply::Bytes(b) => {
            read_request(&mut s);
            s.write_all(b).map_err(|e| e.to_string())?;
        }
        Reply::CloseAfterRequest => read_request(&mut s),
        Reply::Reset => {
            read_request(&mut s);
            set_linger_zero(&s)?;
        }
        Reply::Silent(d) => {
            read_request(&mut s);
            thread::sleep(*d);
        }
        Reply::Drip(n) => {
            read_request(&mut s);
            for _ in 0..*n {
                thread::sleep(Duration::from_secs(1));
                if s.write_all(b"d").is_err() {
                    break;
                }
            }
        }
    }
    Ok(())
}

fn check_case(imp: &Impl, prog: &str, c: &Case) -> Result<(), String> {
    let (port, _keep) = start_peer(&c.peer)?;
    let port_s = port.to_string();
    let args: Vec<String> = c
        .args
        .iter()
        .map(|a| a.replace("{port}", &port_s))
        .collect();
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut p = Proc::start(imp, prog, &argv, Input::Null, Capture::Keep)?;
    let limit = c.within.1 + 2.0;
    let out: Outcome = p
        .finish(Duration::from_secs_f64(limit))
        .map_err(|e| format!("hung past {limit:.0}s: {e}"))?;
    if out.status.code().is_none() {
        return Err(out.fail(&format!("died: {}", describe(out.status))));
    }
    out.expect_code(c.code)?;
    let el = out.elapsed.as_secs_f64();
    if el < c.within.0 || el > c.within.1 {
        return Err(out.fail(&format!(
            "took {el:.2}s, expected {:.2}..{:.2}s",
            c.within.0, c.within.1
        )));
    }
    let lines = out.stderr_lines();
    let ok = match &c.expect {
        Expect::Usage => lines.iter().any(|l| l.starts_with("usage: ")),
        Expect::Line(l) => {
            let want = l.replace("{port}", &port_s);
            lines.contains(&want)
        }
        Expect::Prefix(p) => lines.iter().any(|x| x.starts_with(p)),
    };
    if !ok {
        return Err(out.fail(&format!("stderr lacks {:?}", c.expect)));
    }
    if let Some(want) = &c.stdout
        && out.stdout.bytes() != *want
    {
        return Err(out.fail(&format!(
            "stdout differs: {} bytes, expected {}",
            out.stdout.bytes().len(),
            want.len()
        )));
    }
    Ok(())
}

/// Runs the cases of one program, 6 at a time.
fn run_cases(imp: &Impl, _mode: Mode, cases: fn() -> (&'static str, Vec<Case>)) -> StressResult {
    let (prog, cases) = cases();
    let n = cases.len();
    let failures = Arc::new(Mutex::new(Vec::new()));
    let queue = Arc::new(Mutex::new(cases));
    let mut workers = Vec::new();
    for _ in 0..6 {
        let queue = queue.clone();
        let failures = failures.clone();
        let imp = imp.clone();
        let reg = crate::common::Registry::default();
        workers.push(thread::spawn(move || {
            crate::common::set_registry(reg);
            loop {
                let c = queue.lock().unwrap_or_else(|e| e.into_inner()).pop();
                let Some(c) = c else { break };
                if let Err(e) = check_case(&imp, prog, &c) {
                    failures
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(format!("{prog} case '{}': {e}", c.what));
                }
            }
        }));
    }
    for w in workers {
        let _ = w.join();
    }
    let f = failures.lock().unwrap_or_else(|e| e.into_inner());
    if !f.is_empty() {
        return Err(f.join("\n"));
    }
    Ok(Figure {
        text: format!("{n} bad inputs: exit codes as specified, no signal, no hang"),
        bad_inputs: n as u64,
        ..Figure::default()
    })
}

fn vm_rss_kib(pid: i32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// A server that never stops sending: http_get streams it to stdout as it
/// comes (documented: no cap, one BUFFER_SIZE buffer, so memory stays
/// flat), and exits 0 when the server finally closes.
fn endless(imp: &Impl, mode: Mode) -> StressResult {
    let run_for = Duration::from_secs(mode.pick(3, 15));
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
    let port = l.local_addr().map_err(|e| e.to_string())?.port();
    let server = thread::spawn(move || -> Result<(u64, String), String> {
        let mut s = accept_timeout(&l, secs(10))?;
        read_request(&mut s);
        let mut h = Sha256::new();
        h.update(b"HTTP Response:\n");
        let chunk = random_bytes(64 * 1024, 5);
        let start = Instant::now();
        let mut sent = 0u64;
        while start.elapsed() < run_for {
            match s.write_all(&chunk) {
                Ok(()) => {
                    h.update(&chunk);
                    sent += chunk.len() as u64;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("endless server: {e}")),
            }
        }
        h.update(b"\n");
        Ok((sent, hex(&h.finalize())))
    });
    let port_s = port.to_string();
    let mut p = Proc::start(
        imp,
        "http_get",
        &["127.0.0.1", &port_s, "/"],
        Input::Null,
        Capture::Hash,
    )?;
    thread::sleep(run_for / 4);
    let rss_early = vm_rss_kib(p.pid).ok_or("no VmRSS early")?;
    thread::sleep(run_for / 2);
    let rss_late = vm_rss_kib(p.pid).ok_or("no VmRSS late")?;
    let (sent, want) = server.join().map_err(|_| "server panicked")??;
    let out = p.finish(secs(30))?;
    out.expect_code(0)?;
    let (n, got) = out.stdout.digest();
    if n != sent + 16 || got != want {
        return Err(out.fail(&format!("stdout {n} bytes, expected {}", sent + 16)));
    }
    if rss_late > rss_early + 1024 {
        return Err(format!("VmRSS grew from {rss_early} to {rss_late} KiB"));
    }
    Ok(Figure {
        text: format!(
            "endless response: {} MiB streamed in {}s, byte-exact, RSS flat ({} -> {} KiB), exit 0 at close",
            sent >> 20,
            run_for.as_secs(),
            rss_early,
            rss_late
        ),
        bytes: n,
        bad_inputs: 1,
        connections: 1,
        ..Figure::default()
    })
}
