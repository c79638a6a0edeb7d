//! `tcp_client [-n TIMEOUT_MS] ADDR PORT`: echo round trips, refused and
//! timed-out connects in both modes, the FD_SETSIZE guard, idle sessions,
//! peer close/reset, argument checks.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use crate::common::*;

pub const SCENARIOS: &[Scenario] = &[
    ("tcp_client::echo_roundtrip_blocking", |i| {
        echo_roundtrip_mode(i, &[])
    }),
    ("tcp_client::echo_roundtrip_nonblocking_n2000", |i| {
        echo_roundtrip_mode(i, &["-n", "2000"])
    }),
    ("tcp_client::refused_blocking", |i| refused(i, &[])),
    ("tcp_client::refused_nonblocking", |i| {
        refused(i, &["-n", "2000"])
    }),
    (
        "tcp_client::connect_timeout_blocking_5s",
        connect_timeout_blocking,
    ),
    (
        "tcp_client::connect_timeout_nonblocking_n300",
        connect_timeout_nonblocking,
    ),
    (
        "tcp_client::stop_cont_in_blocking_connect_still_times_out_at_5s",
        |i| stop_cont_in_connect_times_out(i, "tcp_client", &[]),
    ),
    (
        "tcp_client::stop_cont_in_blocking_connect_then_accepted_echoes",
        |i| stop_cont_in_connect_then_accepted(i, false),
    ),
    (
        "tcp_client::stop_cont_in_blocking_connect_then_refused_exit_1",
        stop_cont_in_connect_then_refused,
    ),
    (
        "tcp_client::stop_cont_in_blocking_connect_at_fd_above_1024_then_accepted_echoes",
        |i| stop_cont_in_connect_then_accepted(i, true),
    ),
    ("tcp_client::bad_args_missing", |i| {
        usage_cases(i, &[&[], &["127.0.0.1"], &["-n", "100", "127.0.0.1"]])
    }),
    ("tcp_client::bad_args_port", |i| {
        usage_cases(
            i,
            &[
                &["127.0.0.1", "abc"],
                &["127.0.0.1", "0"],
                &["127.0.0.1", "65536"],
                &["127.0.0.1", ""],
            ],
        )
    }),
    ("tcp_client::bad_args_timeout", |i| {
        usage_cases(
            i,
            &[
                &["-n"],
                &["-n", "abc", "127.0.0.1", "{P}"],
                &["-n", "0", "127.0.0.1", "{P}"],
                &["-n", "-5", "127.0.0.1", "{P}"],
                &["-n", "2147483648", "127.0.0.1", "{P}"],
            ],
        )
    }),
    ("tcp_client::bad_args_too_many", |i| {
        usage_cases(
            i,
            &[
                &["127.0.0.1", "{P}", "extra"],
                &["-n", "100", "127.0.0.1", "{P}", "extra"],
            ],
        )
    }),
    (
        "tcp_client::bad_args_with_stderr_full_or_a_closed_pipe_exit_2",
        |i| usage_exit_2_with_broken_stderr(i, "tcp_client", &["127.0.0.1"]),
    ),
    ("tcp_client::addr_localhost_is_not_a_literal", |i| {
        bad_addr(i, "localhost")
    }),
    ("tcp_client::addr_999_1_1_1", |i| bad_addr(i, "999.1.1.1")),
    (
        "tcp_client::fd_setsize_guard_nonblocking_refuses",
        fd_setsize_nonblocking,
    ),
    (
        "tcp_client::fd_above_1024_blocking_still_works",
        fd_high_blocking,
    ),
    (
        "tcp_client::idle_7s_longer_than_rcvtimeo_then_echo",
        idle_session,
    ),
    (
        "tcp_client::peer_closes_first_stdin_open_server_terminated_prematurely",
        peer_closes_first,
    ),
    ("tcp_client::peer_reset_exit_1", peer_reset),
];

fn echo_roundtrip_mode(imp: &Impl, mode: &[&str]) -> TestResult {
    let server = EchoServer::start(imp)?;
    let port = server.port.to_string();
    let mut args = mode.to_vec();
    args.extend(["127.0.0.1", &port]);
    // More than the socket buffers hold at once: both directions must flow.
    let data = random_bytes(512 * 1024, 99);
    let out = run(
        imp,
        "tcp_client",
        &args,
        Input::Bytes(data.clone()),
        secs(30),
    )?;
    out.expect_code(0)?;
    out.expect_stderr_line(&format!("Connected to 127.0.0.1:{port}"))?;
    let got = out.stdout.bytes();
    if got != data {
        return Err(out.fail(&format!(
            "echo differs: sent {} bytes (sha256 {}), got {} bytes (sha256 {})",
            data.len(),
            sha256_hex(&data),
            got.len(),
            sha256_hex(&got)
        )));
    }
    Ok(())
}

fn refused(imp: &Impl, mode: &[&str]) -> TestResult {
    let closed = closed_port()?;
    let port = closed.port.to_string();
    let mut args = mode.to_vec();
    args.extend(["127.0.0.1", &port]);
    let out = run(imp, "tcp_client", &args, Input::Null, secs(10))?;
    out.expect_only_line(1, "connect: Connection refused")
}

/// Runs the client against a listener whose accept queue is full and checks
/// the time-out message and that it came between `min` and `max`.
fn timed_out(imp: &Impl, mode: &[&str], min: Duration, max: Duration) -> TestResult {
    let full = full_listener()?;
    let port = full.port.to_string();
    let mut args = mode.to_vec();
    args.extend(["127.0.0.1", &port]);
    let out = run(imp, "tcp_client", &args, Input::Null, max + secs(5))?;
    out.expect_only_line(1, "connect: Connection timed out")
        .map_err(|e| {
            format!(
                "{e}\n  (listen(fd, 0) queue held {} connection(s))",
                full.queued
            )
        })?;
    if out.elapsed < min || out.elapsed > max {
        return Err(out.fail(&format!(
            "timed out after {:.2}s, expected between {:.2}s and {:.2}s",
            out.elapsed.as_secs_f64(),
            min.as_secs_f64(),
            max.as_secs_f64()
        )));
    }
    Ok(())
}

fn connect_timeout_blocking(imp: &Impl) -> TestResult {
    // 5 s SO_SNDTIMEO, plus 2 s slack; not before ~4.5 s.
    timed_out(imp, &[], Duration::from_millis(4500), secs(7))
}

fn connect_timeout_nonblocking(imp: &Impl) -> TestResult {
    // 300 ms, plus 1.5 s slack; select() cannot time out early.
    timed_out(
        imp,
        &["-n", "300"],
        Duration::from_millis(250),
        Duration::from_millis(1800),
    )
}

/// The stop and continue of [`stop_cont_in_connect_times_out`], then the listener makes room
/// (accepts its queue): the interrupted handshake completes, the client connects and echoes.
/// With `high_fd`, the client's socket is fd 1101 (fds 3..=1100 taken, [`high_fd_client`]):
/// waiting for the interrupted handshake must not need `select`, whose `fd_set` stops at
/// `FD_SETSIZE` (1024).
fn stop_cont_in_connect_then_accepted(imp: &Impl, high_fd: bool) -> TestResult {
    let full = full_listener()?;
    let port = full.port.to_string();
    let devnull = File::open("/dev/null").map_err(|e| format!("open /dev/null: {e}"))?;
    let args = ["127.0.0.1", port.as_str()];
    let cmd = if high_fd {
        high_fd_client(imp, &args, &devnull)?
    } else {
        imp.command("tcp_client", &args)?
    };
    let mut p = Proc::spawn("tcp_client", cmd, Input::Pipe, Capture::Keep)?;
    stop_and_continue_in_connect(&mut p, secs(1))?;
    let mut fillers = Vec::new();
    for _ in 0..full.queued {
        fillers.push(full.accept(secs(10))?);
    }
    // The client's SYN is retransmitted (1 s, 3 s, ...) and now finds room.
    let mut conn = full
        .accept(secs(10))
        .map_err(|e| format!("{e}\nclient stderr:\n{}", indent(&p.stderr.text())))?;
    let connected = format!("Connected to 127.0.0.1:{port}");
    p.stderr
        .wait_line(READY, "'Connected to' line", |l| l == connected)?;
    p.write_stdin(b"after fg\n")?;
    let mut got = [0u8; 9];
    conn.read_exact(&mut got)
        .map_err(|e| format!("reading the client's line: {e}"))?;
    conn.write_all(&got).map_err(|e| format!("echo: {e}"))?;
    p.close_stdin();
    let mut rest = Vec::new();
    conn.read_to_end(&mut rest)
        .map_err(|e| format!("waiting for the client's FIN: {e}"))?;
    drop(conn);
    let out = p.finish(secs(10))?;
    out.expect_code(0)?;
    if &got != b"after fg\n" || !rest.is_empty() || out.stdout.bytes() != b"after fg\n" {
        return Err(out.fail(&format!(
            "expected 'after fg' sent once and echoed on stdout; the peer got {:?} then {:?}",
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&rest)
        )));
    }
    Ok(())
}

/// The stop and continue of [`stop_cont_in_connect_times_out`], then the listener closes: the
/// retransmitted SYN gets RST. The handshake's result (`SO_ERROR`, `ECONNREFUSED`) must be
/// reported: `connect: Connection refused`, exit 1, and never `Connected to` (select() or
/// poll() says "writable" for a failed handshake as for a completed one).
fn stop_cont_in_connect_then_refused(imp: &Impl) -> TestResult {
    let full = full_listener()?;
    let port = full.port.to_string();
    let mut p = Proc::start(
        imp,
        "tcp_client",
        &["127.0.0.1", &port],
        Input::Pipe,
        Capture::Keep,
    )?;
    stop_and_continue_in_connect(&mut p, secs(1))?;
    let _closed = full.close_into_closed_port()?;
    let out = p.finish(secs(15))?;
    out.expect_only_line(1, "connect: Connection refused")
}

/// Each case runs with `{P}` replaced by a port nobody listens on, so a
/// client that ignores a bad argument fails fast instead of hanging.
fn usage_cases(imp: &Impl, cases: &[&[&str]]) -> TestResult {
    let closed = closed_port()?;
    let port = closed.port.to_string();
    all_cases(cases, |args| {
        let args: Vec<&str> = args
            .iter()
            .map(|a| if *a == "{P}" { port.as_str() } else { a })
            .collect();
        run(imp, "tcp_client", &args, Input::Null, secs(10))?.expect_usage()
    })
}

fn bad_addr(imp: &Impl, addr: &str) -> TestResult {
    let closed = closed_port()?;
    let port = closed.port.to_string();
    let line = format!("inet_pton: invalid IPv4 address '{addr}'");
    all_cases(
        &[
            vec![addr, port.as_str()],
            vec!["-n", "1000", addr, port.as_str()],
        ],
        |args| run(imp, "tcp_client", args, Input::Null, secs(10))?.expect_only_line(1, &line),
    )
}

/// A tcp_client command whose fds 3..=1100 are taken (by /dev/null, not
/// close-on-exec) and whose RLIMIT_NOFILE is at least 4096, so the socket
/// it creates gets a descriptor above FD_SETSIZE (1024).
fn high_fd_client(imp: &Impl, args: &[&str], devnull: &File) -> Result<Command, String> {
    let mut cmd = imp.command("tcp_client", args)?;
    let nul = devnull.as_raw_fd();
    let hook = move || -> io::Result<()> {
        // SAFETY: runs in the forked child before exec; only async-signal-safe
        // system calls on plain integers and a stack-allocated rlimit.
        unsafe {
            let mut lim = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
                return Err(io::Error::last_os_error());
            }
            if lim.rlim_cur < 4096 {
                lim.rlim_cur = 4096;
                lim.rlim_max = lim.rlim_max.max(4096);
                if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            // A copy above the range (F_DUPFD clears close-on-exec), then
            // fill 3..=1100 with it; `nul` itself may be inside the range.
            let src = libc::fcntl(nul, libc::F_DUPFD, 2000);
            if src < 0 {
                return Err(io::Error::last_os_error());
            }
            for fd in 3..=1100 {
                if libc::dup2(src, fd) < 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            libc::close(src);
        }
        Ok(())
    };
    // SAFETY: the hook only makes async-signal-safe calls (see above) and
    // allocates nothing, as required between fork and exec.
    unsafe {
        cmd.pre_exec(hook);
    }
    Ok(cmd)
}

/// `tcp_client -n` whose socket would be fd 1101: refused with a `select: ... FD_SETSIZE` line
/// and exit 1 before it connects: the server never sees a connection. (A connection that does
/// come is accepted and closed at once, so a client that connected ends instead of hanging.)
fn fd_setsize_nonblocking(imp: &Impl) -> TestResult {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
    let port = listener
        .local_addr()
        .map_err(|e| e.to_string())?
        .port()
        .to_string();
    let done = Arc::new(AtomicBool::new(false));
    let stop = Arc::clone(&done);
    let watcher = thread::spawn(move || {
        while !stop.load(Ordering::SeqCst) {
            if wait_readable(listener.as_raw_fd(), Duration::from_millis(100)).is_ok() {
                return listener.accept().ok().map(|(_, from)| from);
            }
        }
        None
    });
    let devnull = File::open("/dev/null").map_err(|e| format!("open /dev/null: {e}"))?;
    let cmd = high_fd_client(imp, &["-n", "1000", "127.0.0.1", &port], &devnull)?;
    let mut p = Proc::spawn(
        "tcp_client",
        cmd,
        Input::Bytes(b"hello\n".to_vec()),
        Capture::Keep,
    )?;
    let out = p.finish(secs(15));
    done.store(true, Ordering::SeqCst);
    let came = watcher
        .join()
        .map_err(|_| "watcher thread panicked".to_owned())?;
    let out = out?;
    if let Some(from) = came {
        return Err(out.fail(&format!(
            "the server saw a connection from {from}: the fd must be refused before connect()"
        )));
    }
    out.expect_code(1)?;
    if !out
        .stderr_lines()
        .iter()
        .any(|l| l.starts_with("select: ") && l.contains("FD_SETSIZE"))
    {
        return Err(out.fail("expected a stderr line starting 'select: ' that mentions FD_SETSIZE"));
    }
    Ok(())
}

fn fd_high_blocking(imp: &Impl) -> TestResult {
    let server = EchoServer::start(imp)?;
    let port = server.port.to_string();
    let devnull = File::open("/dev/null").map_err(|e| format!("open /dev/null: {e}"))?;
    let cmd = high_fd_client(imp, &["127.0.0.1", &port], &devnull)?;
    let mut p = Proc::spawn("tcp_client", cmd, Input::Pipe, Capture::Keep)?;
    let connected = format!("Connected to 127.0.0.1:{port}");
    p.stderr
        .wait_line(READY, "'Connected to' line", |l| l == connected)?;
    // Check the set-up did what it is for: the socket sits above FD_SETSIZE.
    let socket_fds: Vec<i32> = fs::read_dir(format!("/proc/{}/fd", p.pid))
        .map_err(|e| format!("read /proc/{}/fd: {e}", p.pid))?
        .flatten()
        .filter(|e| {
            fs::read_link(e.path())
                .map(|t| t.to_string_lossy().starts_with("socket:"))
                .unwrap_or(false)
        })
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse().ok()))
        .collect();
    if !socket_fds.iter().any(|&fd| fd >= 1024) {
        return Err(format!(
            "test set-up: the client's socket fds are {socket_fds:?}, none >= 1024"
        ));
    }
    p.write_stdin(b"high fd\n")?;
    p.close_stdin();
    let out = p.finish(secs(15))?;
    out.expect_code(0)?;
    if out.stdout.bytes() != b"high fd\n" {
        return Err(out.fail("expected the echo 'high fd' on stdout"));
    }
    Ok(())
}

fn idle_session(imp: &Impl) -> TestResult {
    let server = EchoServer::start(imp)?;
    let port = server.port.to_string();
    let mut p = Proc::start(
        imp,
        "tcp_client",
        &["127.0.0.1", &port],
        Input::Pipe,
        Capture::Keep,
    )?;
    let connected = format!("Connected to 127.0.0.1:{port}");
    p.stderr
        .wait_line(READY, "'Connected to' line", |l| l == connected)?;
    // Idleness is the behaviour under test: stay silent past the 5 s SO_RCVTIMEO.
    thread::sleep(secs(7));
    p.expect_running()
        .map_err(|e| format!("the client gave up on an idle but healthy connection: {e}"))?;
    p.write_stdin(b"after 7 s of silence\n")?;
    p.stdout
        .wait_line(secs(10), "echo of the line sent after 7 s", |l| {
            l == "after 7 s of silence"
        })?;
    p.close_stdin();
    let out = p.finish(secs(10))?;
    out.expect_code(0)?;
    if out.stdout.bytes() != b"after 7 s of silence\n" {
        return Err(out.fail("stdout should be exactly the echoed line"));
    }
    Ok(())
}

/// `tcp_client` (stdin a pipe kept open) connected to a listener of ours: the program, our
/// end of its connection, and the port.
fn client_with_our_peer(imp: &Impl) -> Result<(Proc, TcpStream, String), String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
    let port = listener
        .local_addr()
        .map_err(|e| e.to_string())?
        .port()
        .to_string();
    let p = Proc::start(
        imp,
        "tcp_client",
        &["127.0.0.1", &port],
        Input::Pipe,
        Capture::Keep,
    )?;
    let conn = accept_timeout(&listener, secs(10))?;
    Ok((p, conn, port))
}

/// The peer sends a line and closes while the client's stdin is still open (the pipe is held,
/// nothing written): what the user would type next can never be sent. The line is written out,
/// then `tcp_client: server terminated prematurely` (UNP's `str_cli`, 6.7), exit 1; not a
/// silent exit 0.
fn peer_closes_first(imp: &Impl) -> TestResult {
    let (mut p, mut conn, _) = client_with_our_peer(imp)?;
    conn.write_all(b"bye\n").map_err(|e| format!("send: {e}"))?;
    drop(conn);
    // stdin stays open (the pipe is still held): the peer's FIN alone must end it.
    let out = p.finish(secs(10))?;
    if out.stdout.bytes() != b"bye\n" {
        return Err(out.fail("expected 'bye' on stdout"));
    }
    out.expect_code(1)?;
    out.expect_stderr_line("tcp_client: server terminated prematurely")
}

fn peer_reset(imp: &Impl) -> TestResult {
    let (mut p, conn, port) = client_with_our_peer(imp)?;
    let connected = format!("Connected to 127.0.0.1:{port}");
    p.stderr
        .wait_line(READY, "'Connected to' line", |l| l == connected)?;
    set_linger_zero(&conn)?;
    drop(conn);
    let out = p.finish(secs(10))?;
    out.expect_code(1)?;
    out.expect_stderr_line("recv: Connection reset by peer")
}
