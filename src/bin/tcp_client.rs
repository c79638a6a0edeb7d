//! `tcp_client [-n TIMEOUT_MS] ADDR PORT`: connects with the chapter's [`tcp_client_connect`]
//! (5 s timeouts) or, with -n, [`tcp_connect_nonblocking`]; then copies stdin to the server
//! and the server to stdout until the server closes. Exit: 0 when the server closed, 1 if a
//! call fails, 2 on bad arguments. Twin of `c_reference/tcp_client.c`.

use std::io::Write;
use std::process::ExitCode;

use tcp_chapter::client::{tcp_client_connect, tcp_connect_nonblocking};
use tcp_chapter::relay::tcp_client_relay;
use tcp_chapter::util::{c_args, parse_port, parse_timeout_ms, usage_error};

fn usage() -> ExitCode {
    ExitCode::from(usage_error(
        "usage: tcp_client [-n TIMEOUT_MS] ADDR PORT   (PORT 1-65535, TIMEOUT_MS 1-2147483647)",
    ))
}

fn main() -> ExitCode {
    // fix #22: fds 0-2 are open before anything else, so no socket can become stdin, stdout or
    // stderr. The C calls open_standard_fds() here; Rust's runtime has done the same before
    // main (see `tcp_chapter::util`, "Closed fds 0-2").
    let argv = c_args();
    let nonblocking = argv.get(1).is_some_and(|a| a.as_c_str() == c"-n");
    let mut timeout_ms = 0;

    let args = if nonblocking {
        match argv.get(2).and_then(|t| parse_timeout_ms(t)) {
            Some(t) if argv.len() == 5 => timeout_ms = t,
            _ => return usage(),
        }
        &argv[2..]
    } else if argv.len() != 3 {
        return usage();
    } else {
        &argv[..]
    };
    let addr = &args[1];
    let Some(port) = parse_port(&args[2], 1) else {
        return usage();
    };

    // A write to a closed socket or stdout must fail with EPIPE, not kill us. (Rust's
    // runtime has done this already; the call stays, as in the C.)
    // SAFETY: SIG_IGN is a valid disposition for SIGPIPE.
    if unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) } == libc::SIG_ERR {
        // SAFETY: NUL-terminated literal.
        unsafe { libc::perror(c"signal".as_ptr()) };
        return ExitCode::from(1);
    }

    let sock_fd = if nonblocking {
        // SAFETY: `addr` is a NUL-terminated string that outlives the call.
        let fd = unsafe { tcp_connect_nonblocking(addr.as_ptr(), port, timeout_ms) };
        if fd >= 0 {
            // One write(2) for the whole line, as fprintf to stderr does in the C.
            let line = format!("Connected to {}:{}\n", addr.to_string_lossy(), port);
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
        fd
    } else {
        // SAFETY: as above.
        unsafe { tcp_client_connect(addr.as_ptr(), port) }
    };
    if sock_fd < 0 {
        return ExitCode::from(1);
    }

    // SAFETY: `sock_fd` is connected; fds 0 and 1 are open (std opened /dev/null on any closed
    // one before main).
    let rc = unsafe { tcp_client_relay(sock_fd) };
    // SAFETY: `sock_fd` is ours and not used after this.
    unsafe { libc::close(sock_fd) };
    ExitCode::from(if rc < 0 { 1 } else { 0 })
}
