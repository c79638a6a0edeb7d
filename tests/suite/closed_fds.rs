//! Each program started with fd 0, 1 or 2 closed (`prog <&-`, `>&-`, `2>&-`). Without a guard
//! the first `socket()` takes the lowest free fd, so the socket *is* stdin, stdout or stderr:
//! `Connected to` or `perror` text goes into the connection, echoes ping-pong, stdin reads the
//! socket. Each main makes sure fds 0-2 are open first (C: `open_standard_fds`; Rust: the
//! runtime before `main`), so here: the closed fd is `/dev/null` while the program runs, the
//! peer receives exactly the bytes it should, the program ends with its documented exit code.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::Command;

use crate::common::*;

pub const SCENARIOS: &[Scenario] = &[
    (
        "echo_server::fd0_closed_at_start_is_dev_null_echo_exact",
        |i| echo_server_fd_closed(i, 0),
    ),
    (
        "echo_server::fd1_closed_at_start_is_dev_null_echo_exact",
        |i| echo_server_fd_closed(i, 1),
    ),
    (
        "echo_server::fd2_closed_at_start_is_dev_null_echo_exact",
        |i| echo_server_fd_closed(i, 2),
    ),
    (
        "tcp_client::fd0_closed_at_start_is_dev_null_peer_gets_exact_bytes",
        |i| tcp_client_fd_closed(i, 0),
    ),
    (
        "tcp_client::fd1_closed_at_start_is_dev_null_peer_gets_exact_bytes",
        |i| tcp_client_fd_closed(i, 1),
    ),
    (
        "tcp_client::fd2_closed_at_start_is_dev_null_peer_gets_exact_bytes",
        |i| tcp_client_fd_closed(i, 2),
    ),
    (
        "http_get::fd0_closed_at_start_is_dev_null_request_exact",
        |i| http_get_fd_closed(i, 0),
    ),
    (
        "http_get::fd1_closed_at_start_is_dev_null_request_exact",
        |i| http_get_fd_closed(i, 1),
    ),
    (
        "http_get::fd2_closed_at_start_is_dev_null_request_exact",
        |i| http_get_fd_closed(i, 2),
    ),
];

/// Makes the program start with `fd` closed, as a shell's `<&-`, `>&-` or `2>&-` does.
fn close_in_child(cmd: &mut Command, fd: i32) {
    let hook = move || {
        // SAFETY: close() is async-signal-safe and touches only the child's fd table.
        unsafe { libc::close(fd) };
        Ok(())
    };
    // SAFETY: the hook makes one async-signal-safe call and allocates nothing, as required
    // between fork and exec.
    unsafe { std::os::unix::process::CommandExt::pre_exec(cmd, hook) };
}

/// Fails unless fd `fd` of process `pid` is `/dev/null`.
fn expect_dev_null(label: &str, pid: i32, fd: i32) -> TestResult {
    let path = format!("/proc/{pid}/fd/{fd}");
    let target = std::fs::read_link(&path).map_err(|e| format!("readlink {path}: {e}"))?;
    if target.as_os_str() != "/dev/null" {
        return Err(format!(
            "{label} was started with fd {fd} closed; fd {fd} is now {}, not /dev/null: the \
             program's socket took the place of {}",
            target.display(),
            ["stdin", "stdout", "stderr"][fd as usize]
        ));
    }
    Ok(())
}

/// The port of the socket `pid` listens on, found through /proc (its stdout may be closed, so
/// the listening line may never come): its fds' socket inodes against /proc/net/tcp.
fn listening_port(pid: i32) -> Option<u16> {
    let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()?
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter_map(|t| {
            let t = t.to_string_lossy().into_owned();
            t.strip_prefix("socket:[")?
                .strip_suffix(']')
                .map(str::to_owned)
        })
        .collect();
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        // sl local rem st queues timer retrnsmt uid timeout inode
        let (local, state, inode) = (f.get(1)?, f.get(3)?, f.get(9)?);
        if *state != "0A" || !inodes.iter().any(|i| i == inode) {
            return None;
        }
        u16::from_str_radix(local.rsplit(':').next()?, 16).ok()
    })
}

fn echo_server_fd_closed(imp: &Impl, fd: i32) -> TestResult {
    let mut cmd = imp.command("echo_server", &["0"])?;
    close_in_child(&mut cmd, fd);
    let mut p = Proc::spawn("echo_server", cmd, Input::Null, Capture::Keep)?;
    let mut port = None;
    if !poll_until(READY, || {
        port = listening_port(p.pid);
        port.is_some()
    }) {
        return Err(format!(
            "echo_server (fd {fd} closed) never listened\nstderr:\n{}",
            indent(&p.stderr.text())
        ));
    }
    let port = port.unwrap_or_default();
    expect_dev_null("echo_server", p.pid, fd)?;
    echo_roundtrip(
        connect_local(port)?,
        b"hello through a server started without fd\n",
    )?;
    p.expect_running()
}

/// Reads what the client sends until its FIN, at most 10 s.
fn read_until_fin(conn: &mut TcpStream, what: &str) -> Result<Vec<u8>, String> {
    conn.set_read_timeout(Some(secs(10)))
        .map_err(|e| e.to_string())?;
    let mut got = Vec::new();
    match conn.read_to_end(&mut got) {
        Ok(_) => Ok(got),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Err(format!(
            "no FIN from {what} within 10 s (it hangs); it had sent {:?}",
            String::from_utf8_lossy(&got)
        )),
        Err(e) => Err(format!("reading what {what} sent: {e}")),
    }
}

fn tcp_client_fd_closed(imp: &Impl, fd: i32) -> TestResult {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let mut cmd = imp.command("tcp_client", &["127.0.0.1", &port.to_string()])?;
    close_in_child(&mut cmd, fd);
    let sent: &[u8] = if fd == 0 { b"" } else { b"hello\n" };
    let input = if fd == 0 {
        Input::Null // closed in the child anyway
    } else {
        Input::Bytes(sent.to_vec())
    };
    let mut p = Proc::spawn("tcp_client", cmd, input, Capture::Keep)?;
    let mut conn = accept_timeout(&listener, secs(10))?;
    // stdin's bytes, then EOF: the client half-closes and waits for us.
    let got = read_until_fin(&mut conn, "tcp_client")?;
    if got != sent {
        return Err(format!(
            "tcp_client (fd {fd} closed) sent {:?} into the connection, expected exactly {:?}\n\
             stderr:\n{}",
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(sent),
            indent(&p.stderr.text())
        ));
    }
    expect_dev_null("tcp_client", p.pid, fd)?;
    conn.write_all(b"from the peer\n")
        .map_err(|e| format!("send: {e}"))?;
    let _ = conn.shutdown(Shutdown::Write);
    // Nothing more may come back (with stdout the socket, the client would write it to us).
    let extra = read_until_fin(&mut conn, "tcp_client")?;
    let out = p.finish(secs(10))?;
    out.expect_code(0)?;
    if !extra.is_empty() {
        return Err(out.fail(&format!(
            "after its FIN the client still wrote {:?} into the connection",
            String::from_utf8_lossy(&extra)
        )));
    }
    if fd != 1 && out.stdout.bytes() != b"from the peer\n" {
        return Err(out.fail("stdout should be exactly what the peer sent"));
    }
    if fd != 2 {
        out.expect_stderr_line(&format!("Connected to 127.0.0.1:{port}"))?;
    }
    Ok(())
}

fn http_get_fd_closed(imp: &Impl, fd: i32) -> TestResult {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let mut cmd = imp.command("http_get", &["127.0.0.1", &port.to_string(), "/fd"])?;
    close_in_child(&mut cmd, fd);
    let mut p = Proc::spawn("http_get", cmd, Input::Null, Capture::Keep)?;
    let mut conn = accept_timeout(&listener, secs(10))?;
    conn.set_read_timeout(Some(secs(10)))
        .map_err(|e| e.to_string())?;
    let mut req = Vec::new();
    let mut buf = [0u8; 4096];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => req.extend_from_slice(&buf[..n]),
            Err(e) => return Err(format!("reading the request: {e}")),
        }
    }
    let want = format!("GET /fd HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    if req != want.as_bytes() {
        return Err(format!(
            "http_get (fd {fd} closed) sent {:?}, expected exactly {want:?}",
            String::from_utf8_lossy(&req)
        ));
    }
    // The client waits for the response: the closed fd can be looked at now.
    expect_dev_null("http_get", p.pid, fd)?;
    let response = b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n";
    conn.write_all(response).map_err(|e| format!("send: {e}"))?;
    let _ = conn.shutdown(Shutdown::Write);
    let extra = read_until_fin(&mut conn, "http_get")?;
    let out = p.finish(secs(10))?;
    out.expect_code(0)?;
    if !extra.is_empty() {
        return Err(out.fail(&format!(
            "after its request http_get wrote {:?} into the connection",
            String::from_utf8_lossy(&extra)
        )));
    }
    if fd != 1 {
        let mut want_out = b"HTTP Response:\n".to_vec();
        want_out.extend_from_slice(response);
        want_out.push(b'\n');
        if out.stdout.bytes() != want_out {
            return Err(out.fail("stdout is not 'HTTP Response:\\n' + the response + '\\n'"));
        }
    }
    if fd != 2 {
        out.expect_stderr_line(&format!("Connected to 127.0.0.1:{port}"))?;
    }
    Ok(())
}
