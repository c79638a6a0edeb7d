//! Chapter 7.1.3 (TCP socket programming) ported from C to Rust, step for step.
//!
//! Every C function of the chapter is an `unsafe fn` of the same name, on raw `libc` calls,
//! in the chapter's order; the C originals, completed, are in `c_reference/`. Modules mirror
//! the C files: [`server`] (`server.c`), [`client`] (`client.c`), [`http`] (`http.c`),
//! [`relay`] (`relay.c`, the `tcp_client` program's copy loop) and [`util`] (`util.c`, helpers
//! the programs share that the chapter does not have).
//!
//! Return conventions are the C ones: an fd (or 0) on success, -1 with `errno` set on failure,
//! after the failing call has been reported on stderr as `perror` does.
#![warn(missing_docs)]

// ANCHOR: printf_line
/// The C `printf` of a log line: the text is formatted first and written with one `write`,
/// so a line from one process does not interleave with another's in a shared pipe (up to
/// `PIPE_BUF`, 4096 bytes: pipe(7)). Rust's stdout is line-buffered, so the line leaves at once
/// (the C gets this from `setvbuf(_IOLBF)`). A failed write is ignored, as `printf`'s is.
macro_rules! printf_line {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let line = format!("{}\n", format_args!($($arg)*));
        let _ = std::io::stdout().write_all(line.as_bytes());
    }};
}

/// The C `fprintf(stderr, ...)` of one line, written with one `write` as glibc does.
macro_rules! eprintf_line {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let line = format!("{}\n", format_args!($($arg)*));
        let _ = std::io::stderr().write_all(line.as_bytes());
    }};
}
// ANCHOR_END: printf_line

// ANCHOR: trace_step
/// `TRACE=1` narration (not in the chapter): one line on stderr per chapter step, the same text
/// as the C's `TRACE(...)`. Off unless the environment variable `TRACE` is `"1"`; the format
/// arguments are evaluated only when it is on, so a step costs one test of a cached flag.
macro_rules! trace_step {
    ($($arg:tt)*) => {{
        if $crate::util::trace_on() {
            $crate::util::trace_line(format_args!($($arg)*));
        }
    }};
}
// ANCHOR_END: trace_step

pub mod client;
pub mod http;
pub mod relay;
pub mod server;
pub mod util;
