//! `echo_server PORT [ADDR]`: the chapter's TCP echo server, [`create_tcp_server`] and
//! [`tcp_server_loop`]. ADDR defaults to 127.0.0.1 (0.0.0.0 = every interface); PORT 0 lets
//! the kernel pick. Exit: 1 if a call fails, 2 on bad arguments. Twin of
//! `c_reference/echo_server.c`.

use std::process::ExitCode;

use tcp_chapter::server::{create_tcp_server, setup_signal_handlers, tcp_server_loop};
use tcp_chapter::util::{c_args, parse_port, usage_error};

fn usage() -> ExitCode {
    ExitCode::from(usage_error(
        "usage: echo_server PORT [ADDR]   (PORT 0-65535, ADDR default 127.0.0.1)",
    ))
}

// ANCHOR: main
fn main() -> ExitCode {
    // fix #22: fds 0-2 are open before anything else, so no socket can become stdin, stdout or
    // stderr. The C calls open_standard_fds() here; Rust's runtime has done the same before
    // main (see `tcp_chapter::util`, "Closed fds 0-2").
    let argv = c_args();
    let Some(port) = argv.get(1).and_then(|p| parse_port(p, 0)) else {
        return usage();
    };
    if argv.len() > 3 {
        return usage();
    }
    let addr = argv.get(2).map_or(c"127.0.0.1", |a| a.as_c_str());

    // Rust's stdout is line-buffered already: each log line leaves at once (the C calls
    // setvbuf(_IOLBF) here).

    // SAFETY: nothing else in this program handles SIGPIPE or SIGCHLD.
    unsafe { setup_signal_handlers() };

    // SAFETY: `addr` is a NUL-terminated string that outlives the call.
    let server_fd = unsafe { create_tcp_server(addr.as_ptr(), port) };
    if server_fd < 0 {
        return ExitCode::from(1);
    }

    // SAFETY: `server_fd` is listening and this program is single-threaded.
    unsafe { tcp_server_loop(server_fd) }; // returns only when accept() fails
    // SAFETY: `server_fd` is ours and not used after this.
    unsafe { libc::close(server_fd) };
    ExitCode::from(1)
}
// ANCHOR_END: main
