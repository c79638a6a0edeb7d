//! `echo_server PORT [ADDR]`: readiness line, byte-exact echo, fork per
//! client, log lines, error paths, restart over TIME_WAIT, argument checks.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::process::Command;
use std::thread;

use crate::common::*;

const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;

pub const SCENARIOS: &[Scenario] = &[
    (
        "echo_server::port0_listening_line_shows_real_port",
        port0_listening_line_shows_real_port,
    ),
    (
        "echo_server::bind_0_0_0_0_reachable_via_loopback",
        bind_any_addr,
    ),
    ("echo_server::echo_1b_via_tcp_client", |i| {
        echo_via_tcp_client(i, 1)
    }),
    ("echo_server::echo_4095b_via_tcp_client", |i| {
        echo_via_tcp_client(i, 4095)
    }),
    ("echo_server::echo_4096b_via_tcp_client", |i| {
        echo_via_tcp_client(i, 4096)
    }),
    ("echo_server::echo_4097b_via_tcp_client", |i| {
        echo_via_tcp_client(i, 4097)
    }),
    ("echo_server::echo_1mib_via_tcp_client", |i| {
        echo_via_tcp_client(i, MIB)
    }),
    ("echo_server::echo_64mib_via_tcp_client", |i| {
        echo_via_tcp_client(i, 64 * MIB)
    }),
    ("echo_server::echo_1b_via_socat", |i| echo_via_socat(i, 1)),
    ("echo_server::echo_4095b_via_socat", |i| {
        echo_via_socat(i, 4095)
    }),
    ("echo_server::echo_4096b_via_socat", |i| {
        echo_via_socat(i, 4096)
    }),
    ("echo_server::echo_4097b_via_socat", |i| {
        echo_via_socat(i, 4097)
    }),
    ("echo_server::echo_1mib_via_socat", |i| {
        echo_via_socat(i, MIB)
    }),
    ("echo_server::echo_64mib_via_socat", |i| {
        echo_via_socat(i, 64 * MIB)
    }),
    (
        "echo_server::concurrent_32_clients_distinct_data",
        concurrent_32_clients,
    ),
    (
        "echo_server::sequential_200_clients_no_zombies_no_fd_leak",
        sequential_200_clients,
    ),
    (
        "echo_server::log_lines_exactly_once_with_piped_stdout",
        log_lines_exactly_once,
    ),
    (
        "echo_server::peer_rst_mid_echo_server_survives",
        peer_rst_mid_echo,
    ),
    (
        "echo_server::peer_sends_4mib_closes_unread_server_survives",
        peer_closes_unread,
    ),
    (
        "echo_server::restart_on_port_in_time_wait_reuseaddr_or_reuseport",
        restart_on_time_wait_port,
    ),
    (
        "echo_server::port_held_without_reuseport_bind_fails",
        port_held_bind_fails,
    ),
    ("echo_server::bad_args_missing", |i| usage_cases(i, &[&[]])),
    (
        "echo_server::bad_args_with_stderr_full_or_a_closed_pipe_exit_2",
        |i| usage_exit_2_with_broken_stderr(i, "echo_server", &[]),
    ),
    ("echo_server::bad_args_port_not_a_number", |i| {
        usage_cases(i, &[&["abc"], &["-1"], &[""], &["+80"], &["0x10"]])
    }),
    ("echo_server::bad_args_port_out_of_range", |i| {
        usage_cases(i, &[&["65536"], &["99999999999999999999"]])
    }),
    ("echo_server::bad_args_too_many", |i| {
        usage_cases(i, &[&["80", "127.0.0.1", "extra"]])
    }),
    ("echo_server::bad_addr_999_1_1_1", |i| {
        bad_addr(i, "999.1.1.1")
    }),
    ("echo_server::bad_addr_localhost_is_not_a_literal", |i| {
        bad_addr(i, "localhost")
    }),
];

fn port0_listening_line_shows_real_port(imp: &Impl) -> TestResult {
    let server = EchoServer::start(imp)?;
    // The printed port must be the one that accepts: the server logs our
    // own local port, which proves this very server took the connection.
    let stream = server.connect()?;
    let me = local_port(&stream)?;
    echo_roundtrip(stream, b"ping\n")?;
    server.wait_all(
        "'Client connected' line for our connection",
        &[me],
        connected_line,
        secs(10),
    )?;
    let want = format!("TCP server listening on 127.0.0.1:{}", server.port);
    let lines = server.proc.stdout.lines();
    match lines
        .iter()
        .find(|l| l.starts_with("TCP server listening on "))
    {
        Some(l) if *l == want => Ok(()),
        Some(l) if l.ends_with(":0") => Err(format!(
            "the listening line '{l}' shows port 0, not the port it listens on, {}",
            server.port
        )),
        other => Err(format!("listening line {other:?}, expected '{want}'")),
    }
}

fn bind_any_addr(imp: &Impl) -> TestResult {
    let server = EchoServer::start_with(imp, &["0", "0.0.0.0"], "0.0.0.0")?;
    let stream = server.connect()?;
    let me = local_port(&stream)?;
    echo_roundtrip(stream, b"hello via 127.0.0.1\n")?;
    server.wait_all("'Client connected' line", &[me], connected_line, secs(10))
}

fn echo_via_tcp_client(imp: &Impl, len: usize) -> TestResult {
    let server = EchoServer::start(imp)?;
    let port = server.port.to_string();
    let cmd = imp.command("tcp_client", &["127.0.0.1", &port])?;
    echo_file_through(cmd, "tcp_client", len)
}

fn echo_via_socat(imp: &Impl, len: usize) -> TestResult {
    need(&[Need::Tool("socat")])?;
    let server = EchoServer::start(imp)?;
    let mut cmd = Command::new("socat");
    // -t 30: after stdin EOF socat waits for the peer's EOF (up to 30 s)
    // instead of its default 0.5 s, so a large echo is never cut short.
    cmd.args(["-t", "30", "-", &format!("TCP:127.0.0.1:{}", server.port)]);
    echo_file_through(cmd, "socat", len)
}

/// Feeds a random file of `len` bytes to `cmd`'s stdin and checks that its
/// stdout is the same bytes (sha256).
fn echo_file_through(cmd: Command, label: &str, len: usize) -> TestResult {
    let data = data_file(len)?;
    let mut p = Proc::spawn(label, cmd, Input::File(data.path.clone()), Capture::Hash)?;
    let out = p.finish(secs(50))?;
    out.expect_code(0)?;
    let (got_len, got_hash) = out.stdout.digest();
    if got_len != len as u64 || got_hash != data.sha256 {
        return Err(out.fail(&format!(
            "echo is not byte-exact: sent {len} bytes (sha256 {}), got back {got_len} bytes (sha256 {got_hash})",
            data.sha256
        )));
    }
    Ok(())
}

fn concurrent_32_clients(imp: &Impl) -> TestResult {
    const N: usize = 32;
    let server = EchoServer::start(imp)?;
    let mut streams = Vec::new();
    let mut ports = Vec::new();
    for _ in 0..N {
        let s = server.connect()?;
        ports.push(local_port(&s)?);
        streams.push(s);
    }
    // All 32 sessions are open at once and none has sent a byte: a server that
    // forks per client has a live child for each (one serving a client at a time
    // would have one at most).
    let pid = server.proc.pid;
    let live = || children_of(pid).iter().filter(|(_, st)| *st != 'Z').count();
    if !poll_until(secs(15), || live() >= N) {
        return Err(format!(
            "{} live session processes for {N} open connections after 15 s",
            live()
        ));
    }
    let workers: Vec<_> = streams
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            thread::spawn(move || {
                let data = random_bytes(256 * KIB, 1000 + i as u64);
                echo_roundtrip(s, &data).map_err(|e| format!("client {i}: {e}"))
            })
        })
        .collect();
    let errors: Vec<String> = workers
        .into_iter()
        .filter_map(|h| match h.join() {
            Ok(r) => r.err(),
            Err(_) => Some("client thread panicked".to_owned()),
        })
        .collect();
    if !errors.is_empty() {
        return Err(errors.join("\n"));
    }
    server.wait_all(
        "a 'connection closed' line for each client",
        &ports,
        closed_line,
        secs(15),
    )
}

fn sequential_200_clients(imp: &Impl) -> TestResult {
    const N: usize = 200;
    let mut server = EchoServer::start(imp)?;
    let pid = server.proc.pid;
    let fds_before = fd_count(pid)?;
    for i in 0..N {
        let s = server.connect()?;
        echo_roundtrip(s, format!("client {i}\n").as_bytes())
            .map_err(|e| format!("client {i}: {e}"))?;
    }
    server.wait_count(
        &format!("{N} 'connection closed' lines"),
        N,
        is_closed_line,
        secs(30),
    )?;
    // Every session is over; its process exits right after its last line. An exited child
    // is a zombie for a moment, longer under strace: its exit goes to the tracer first, to the
    // parent (and its SA_NOCLDWAIT) only once strace has collected it (ptrace(2), "Real
    // parent"). A zombie the server never reaps stays forever.
    if !poll_until(secs(5), || children_of(pid).is_empty()) {
        let children = children_of(pid);
        let zombies: Vec<i32> = children
            .iter()
            .filter(|(_, st)| *st == 'Z')
            .map(|(p, _)| *p)
            .collect();
        if zombies.is_empty() {
            return Err(format!(
                "{} children of the server still alive 5 s after all sessions ended",
                children.len()
            ));
        }
        return Err(format!(
            "{} zombie children of the server (pid {pid}) 5 s after {N} clients, e.g. {:?}",
            zombies.len(),
            &zombies[..zombies.len().min(5)]
        ));
    }
    // The parent closes its copy of each connection right after fork(), possibly after the
    // child has already answered: wait for that close, a leaked socket never comes.
    if !poll_until(secs(5), || fd_count(pid).is_ok_and(|n| n == fds_before)) {
        return Err(format!(
            "the server's fd count changed from {fds_before} to {} after {N} clients (leaked client sockets?)",
            fd_count(pid)?
        ));
    }
    server.proc.expect_running()
}

fn log_lines_exactly_once(imp: &Impl) -> TestResult {
    const N: usize = 5;
    let mut server = EchoServer::start_listening(imp)?;
    let mut ports = Vec::new();
    for i in 0..N {
        let s = server.connect()?;
        ports.push(local_port(&s)?);
        echo_roundtrip(s, format!("line {i}\n").as_bytes())?;
    }
    server.wait_all(
        "a 'connection closed' line per client",
        &ports,
        closed_line,
        secs(15),
    )?;
    // A line already there twice is a failure whatever comes later.
    let lines = server.proc.stdout.lines();
    let twice: Vec<String> = lines
        .iter()
        .filter(|l| lines.iter().filter(|x| x == l).count() > 1)
        .map(|l| format!("'{l}' appears more than once"))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if !twice.is_empty() {
        return Err(format!(
            "{}\nstdout was:\n{}",
            twice.join("\n"),
            indent(&server.proc.stdout.text())
        ));
    }
    // Once every session process is gone, all they ever wrote is in the
    // pipe; a sentinel client's first line then marks the end of it.
    let pid = server.proc.pid;
    if !poll_until(secs(10), || {
        children_of(pid).iter().all(|(_, st)| *st == 'Z')
    }) {
        return Err("session processes still alive 10 s after their sessions ended".to_owned());
    }
    let sentinel = server.connect()?;
    let sport = local_port(&sentinel)?;
    server.wait_all(
        "the sentinel client's 'Client connected' line",
        &[sport],
        connected_line,
        secs(10),
    )?;
    drop(sentinel);
    server.proc.expect_running()?;

    let lines = server.proc.stdout.lines();
    let count = |want: &str| lines.iter().filter(|l| *l == want).count();
    let mut problems = Vec::new();
    let listening = lines
        .iter()
        .filter(|l| l.starts_with("TCP server listening on "))
        .count();
    if listening != 1 {
        problems.push(format!("{listening} listening lines, expected 1"));
    }
    let mut expected = vec![format!("TCP server listening on 127.0.0.1:{}", server.port)];
    for &p in &ports {
        let seq = [connected_line(p), graceful_line(p), closed_line(p)];
        for l in &seq {
            let n = count(l);
            if n != 1 {
                problems.push(format!("'{l}' appears {n} times, expected once"));
            }
        }
        let pos: Vec<Option<usize>> = seq
            .iter()
            .map(|l| lines.iter().position(|x| x == l))
            .collect();
        if let [Some(a), Some(b), Some(c)] = pos[..]
            && !(a < b && b < c)
        {
            problems.push(format!("lines for client port {p} are out of order"));
        }
        expected.extend(seq);
    }
    let sentinel_line = connected_line(sport);
    for l in &lines {
        if !expected.contains(l) && *l != sentinel_line && !l.contains(&format!(":{sport} ")) {
            problems.push(format!("unexpected line '{l}'"));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{}\nstdout was:\n{}",
            problems.join("\n"),
            indent(&server.proc.stdout.text())
        ))
    }
}

/// Waits for the session of `port` to log a recv/send error and end.
fn expect_session_error(server: &EchoServer, port: u16) -> TestResult {
    server
        .proc
        .stderr
        .wait_line(secs(15), "'recv: ...' or 'send: ...' error line", |l| {
            l == "recv: Connection reset by peer"
                || l == "send: Connection reset by peer"
                || l == "send: Broken pipe"
        })
        .map_err(|e| format!("echo_server: {e}"))?;
    server.wait_all(
        "'connection closed' line after the error",
        &[port],
        closed_line,
        secs(10),
    )?;
    let lines = server.proc.stdout.lines();
    if lines.contains(&graceful_line(port)) {
        return Err(format!(
            "a reset session was logged as '{}'",
            graceful_line(port)
        ));
    }
    if server.proc.stderr.text().contains("Success") {
        return Err(format!(
            "stderr says 'Success':\n{}",
            indent(&server.proc.stderr.text())
        ));
    }
    Ok(())
}

fn peer_rst_mid_echo(imp: &Impl) -> TestResult {
    let mut server = EchoServer::start(imp)?;
    let mut s = server.connect()?;
    let port = local_port(&s)?;
    s.write_all(&random_bytes(64 * KIB, 7))
        .map_err(|e| format!("send: {e}"))?;
    let mut first = [0u8; 1024];
    let n = s
        .read(&mut first)
        .map_err(|e| format!("reading the first echoed bytes: {e}"))?;
    if n == 0 {
        return Err("server closed before echoing anything".to_owned());
    }
    // Mid-echo: most of the 64 KiB is still on its way. Abort with RST.
    set_linger_zero(&s)?;
    drop(s);
    expect_session_error(&server, port)?;
    server.proc.expect_running()?;
    server.check_echoes("a peer reset")
}

fn peer_closes_unread(imp: &Impl) -> TestResult {
    let mut server = EchoServer::start(imp)?;
    let mut s = server.connect()?;
    let port = local_port(&s)?;
    // Send up to 4 MiB without ever reading. The echo fills our receive
    // buffer and then the server stops reading, so the write may stall:
    // stop after 2 s without progress, that is enough unread data.
    s.set_write_timeout(Some(secs(2)))
        .map_err(|e| e.to_string())?;
    let data = random_bytes(4 * MIB, 11);
    let mut sent = 0;
    while sent < data.len() {
        match s.write(&data[sent..]) {
            Ok(n) => sent += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("send after {sent} bytes: {e}")),
        }
    }
    // Unread echo in our receive queue makes close() send an RST.
    wait_readable(s.as_raw_fd(), secs(10)).map_err(|e| format!("no echo arrived: {e}"))?;
    drop(s);
    expect_session_error(&server, port)?;
    server.proc.expect_running()?;
    server.check_echoes("a peer that closed without reading")
}

/// The server killed mid-session leaves TIME_WAIT on its port; a new echo_server binds it at
/// once. On Linux either `SO_REUSEADDR` or `SO_REUSEPORT` (set by both servers) lets it through,
/// so this fails only if both are gone; the twin test
/// `create_tcp_server_time_wait_rebinds_with_either_reuse_option_not_with_neither` tells them
/// apart (docs/pitfalls.md #11).
fn restart_on_time_wait_port(imp: &Impl) -> TestResult {
    let mut first = EchoServer::start(imp)?;
    let port = first.port;
    let mut client = first.connect()?;
    // One byte echoed: a session process serves this connection.
    client
        .write_all(b"x")
        .and_then(|_| client.read_exact(&mut [0u8; 1]))
        .map_err(|e| format!("one-byte echo before the restart: {e}"))?;
    // The session is back in recv() (so every call it made has returned, also in a trace).
    let pid = first.proc.pid;
    let in_recv = || {
        children_of(pid)
            .iter()
            .any(|&(child, _)| blocked_syscall(child) == Some(libc::SYS_recvfrom))
    };
    if !poll_until(secs(10), in_recv) {
        return Err("the session process did not go back to recv() after the echo".to_owned());
    }
    // Kill the server and its session child: the server side closes first...
    first.proc.kill();
    let mut rest = Vec::new();
    client
        .read_to_end(&mut rest)
        .map_err(|e| format!("waiting for the killed server's FIN: {e}"))?;
    // ...and once the client closes too, the server's side is in TIME_WAIT.
    drop(client);
    if !poll_until(secs(10), || tcp_states_on_port(port).contains(&0x06)) {
        return Err(format!(
            "no TIME_WAIT (06) socket on port {port} in /proc/net/tcp; states there: {:?}",
            tcp_states_on_port(port)
        ));
    }
    let p = port.to_string();
    let second = EchoServer::start_with(imp, &[&p], "127.0.0.1")
        .map_err(|e| format!("restart on port {port} (in TIME_WAIT) failed: {e}"))?;
    second.check_echoes("the restart")
}

fn port_held_bind_fails(imp: &Impl) -> TestResult {
    // std's listener sets SO_REUSEADDR but not SO_REUSEPORT.
    let holder = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
    let port = holder
        .local_addr()
        .map_err(|e| e.to_string())?
        .port()
        .to_string();
    let out = run(imp, "echo_server", &[&port], Input::Null, secs(10))?;
    out.expect_only_line(1, "bind: Address already in use")
}

fn usage_cases(imp: &Impl, cases: &[&[&str]]) -> TestResult {
    all_cases(cases, |args| {
        run(imp, "echo_server", args, Input::Null, secs(10))?.expect_usage()
    })
}

fn bad_addr(imp: &Impl, addr: &str) -> TestResult {
    let out = run(imp, "echo_server", &["0", addr], Input::Null, secs(10))?;
    out.expect_only_line(1, &format!("inet_pton: invalid IPv4 address '{addr}'"))
}
