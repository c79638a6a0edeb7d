//! `http_get HOST PORT PATH`: the chapter's [`simple_http_client`], one GET request, the raw
//! response on stdout. HOST is an IPv4 literal or a name. Exit: 0 when a response arrived
//! (any status), 1 if a call fails, 2 on bad arguments. Twin of `c_reference/http_get.c`.

use std::process::ExitCode;

use tcp_chapter::http::simple_http_client;
use tcp_chapter::util::{c_args, is_visible_ascii, parse_port, usage_error};

fn usage() -> ExitCode {
    ExitCode::from(usage_error(
        "usage: http_get HOST PORT PATH   (PORT 1-65535, PATH e.g. /index.html, no spaces)",
    ))
}

fn main() -> ExitCode {
    // fix #22: fds 0-2 are open before anything else, so no socket can become stdin, stdout or
    // stderr. The C calls open_standard_fds() here; Rust's runtime has done the same before
    // main (see `tcp_chapter::util`, "Closed fds 0-2").
    let argv = c_args();
    let port = argv.get(2).and_then(|p| parse_port(p, 1));
    let (Some(port), 4) = (port, argv.len()) else {
        return usage();
    };
    if !is_visible_ascii(&argv[1]) || !is_visible_ascii(&argv[3]) {
        return usage();
    }

    // A write to a closed socket or stdout must fail with EPIPE, not kill us. (Rust's
    // runtime has done this already; the call stays, as in the C.)
    // SAFETY: SIG_IGN is a valid disposition for SIGPIPE.
    if unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) } == libc::SIG_ERR {
        // SAFETY: NUL-terminated literal.
        unsafe { libc::perror(c"signal".as_ptr()) };
        return ExitCode::from(1);
    }

    // SAFETY: both arguments are NUL-terminated strings that outlive the call; fd 1 is open
    // (std opened /dev/null on it before main if it was closed).
    let rc = unsafe { simple_http_client(argv[1].as_ptr(), port, argv[3].as_ptr()) };
    ExitCode::from(if rc < 0 { 1 } else { 0 })
}
