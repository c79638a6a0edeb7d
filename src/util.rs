//! Small helpers shared by the three programs (not in the chapter): twin of
//! `c_reference/util.c`.
//!
// ANCHOR: closed_fds
//! # Closed fds 0-2
//! The C's `open_standard_fds()` has no twin here because Rust's runtime makes the same calls
//! before `main`: std's `sanitize_standard_fds` (`library/std/src/sys/pal/unix/mod.rs`, run
//! from `std::rt::init`) polls fds 0-2 with timeout 0 and, for each `POLLNVAL`, opens
//! `/dev/null` `O_RDWR` (then `dup`s it for a second closed fd); if `poll` fails with
//! `EINVAL`, `EAGAIN` or `ENOMEM` it asks `fcntl(F_GETFD)` per fd instead. Seen with
//! `strace build/rust/tcp_client >&- 2>&-`: `poll([{fd=0, events=0}, {fd=1, events=0},
//! {fd=2, events=0}], 3, 0) = 2 ([{fd=1, revents=POLLNVAL}, {fd=2, revents=POLLNVAL}])`, then
//! `openat(AT_FDCWD, "/dev/null", O_RDWR) = 1` and `dup(1) = 2`. One difference: where `poll`
//! fails otherwise or `/dev/null` cannot be opened, std calls `abort()` (SIGABRT); the C prints
//! why and exits 1.
// ANCHOR_END: closed_fds

use std::ffi::{CStr, CString};
use std::os::unix::ffi::OsStrExt;

use libc::{c_char, c_int, c_void, socklen_t};

// The `libc` crate does not bind these two from <arpa/inet.h>; glibc exports them, so they
// are declared here exactly as the man pages give them (inet_pton(3), inet_ntop(3)).
unsafe extern "C" {
    /// `inet_pton(3)`: text address -> binary, network byte order. 1 on success, 0 when `src`
    /// is not an address of family `af` (errno untouched!), -1 with `EAFNOSUPPORT`.
    ///
    /// # Safety
    /// `src` must be a NUL-terminated string; `dst` must be writable for an `in_addr`
    /// (`AF_INET`, 4 bytes) or an `in6_addr` (`AF_INET6`, 16 bytes).
    pub fn inet_pton(af: c_int, src: *const c_char, dst: *mut c_void) -> c_int;
    /// `inet_ntop(3)`: binary address -> NUL-terminated text in `dst` (`size` bytes); null
    /// with `ENOSPC` if `size` is too small (never for `AF_INET` and [`INET_ADDRSTRLEN`]).
    ///
    /// # Safety
    /// `src` must point to an `in_addr` (`AF_INET`) or `in6_addr` (`AF_INET6`); `dst` must be
    /// writable for `size` bytes.
    pub fn inet_ntop(
        af: c_int,
        src: *const c_void,
        dst: *mut c_char,
        size: socklen_t,
    ) -> *const c_char;
}

/// `INET_ADDRSTRLEN` of <netinet/in.h>: room for "255.255.255.255" and its NUL.
pub const INET_ADDRSTRLEN: usize = 16;

/// The buffer size `make BUFFER_SIZE=N` asks for (`TCP_CHAPTER_BUFFER_SIZE`, read at compile
/// time, as the C takes `-DBUFFER_SIZE=N`), or `default`; refuses to build with anything but
/// a positive decimal ("BUFFER_SIZE must be positive": a `recv` into 0 bytes returns 0, EOF;
/// recv(2)).
pub const fn buffer_size_or(default: usize) -> usize {
    let b = match option_env!("TCP_CHAPTER_BUFFER_SIZE") {
        Some(s) if !s.is_empty() => s.as_bytes(),
        _ => return default,
    };
    let mut v = 0;
    let mut i = 0;
    while i < b.len() {
        assert!(b[i].is_ascii_digit(), "BUFFER_SIZE must be decimal");
        v = v * 10 + (b[i] - b'0') as usize;
        i += 1;
    }
    assert!(v > 0, "BUFFER_SIZE must be positive");
    v
}

/// Prints the usage line `usage` on stderr and returns 2, the exit status of a usage error,
/// whatever stderr is: a failed write (`2>/dev/full`, a closed pipe) is ignored, where
/// `eprintln!` would panic (exit 101). `SIGPIPE` is set to `SIG_IGN` first, as the C does
/// (there a closed pipe as stderr would kill the program before its `main` ignores it; Rust's
/// runtime has ignored it already, so here the call changes nothing).
pub fn usage_error(usage: &str) -> u8 {
    // SAFETY: SIG_IGN is a valid disposition for SIGPIPE.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    let line = format!("{usage}\n");
    // SAFETY: fd 2 is stderr, open for the life of the process (std makes sure before main).
    unsafe { write_all(libc::STDERR_FILENO, line.as_bytes()) };
    2
}

/// Parses digits only (no sign, no spaces, no hex), refusing anything above `max`.
fn parse_decimal(s: &[u8], max: i64) -> Option<i64> {
    if s.is_empty() {
        return None;
    }
    let mut v: i64 = 0;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + i64::from(c - b'0');
        if v > max {
            return None;
        }
    }
    Some(v)
}

/// Parses a decimal port (digits only) in `min..=65535`; `None` if invalid.
pub fn parse_port(s: &CStr, min: u16) -> Option<u16> {
    match parse_decimal(s.to_bytes(), 65535) {
        Some(v) if v >= i64::from(min) => u16::try_from(v).ok(),
        _ => None,
    }
}

/// Parses a decimal timeout in milliseconds in `1..=INT_MAX`; `None` if invalid.
pub fn parse_timeout_ms(s: &CStr) -> Option<c_int> {
    match parse_decimal(s.to_bytes(), i64::from(c_int::MAX)) {
        Some(v) if v >= 1 => c_int::try_from(v).ok(),
        _ => None,
    }
}

/// `true` if `s` is non-empty printable ASCII without spaces (fit for an HTTP request line
/// or `Host` header: no CR LF to smuggle a header in).
pub fn is_visible_ascii(s: &CStr) -> bool {
    !s.is_empty() && s.to_bytes().iter().all(|&c| c > b' ' && c <= b'~')
}

/// `write(2)` until all of `buf` is out, retrying `EINTR`; 0 on success, -1 with `errno` set.
///
/// # Errors
/// Returns -1 with `errno` set by the `write` that failed (e.g. `EPIPE`, `EBADF`); nothing is
/// printed.
///
/// # Safety
/// `fd` must be an open file descriptor the caller is entitled to write to.
pub unsafe fn write_all(fd: c_int, mut buf: &[u8]) -> c_int {
    while !buf.is_empty() {
        // SAFETY: `buf` is a live slice and its length is passed with it.
        let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        if n < 0 {
            if errno::errno().0 == libc::EINTR {
                continue;
            }
            return -1;
        }
        buf = &buf[n as usize..];
    }
    0
}

// ANCHOR: perror_keep_errno
/// `perror(3)`, then `errno` as it was: glibc's first `perror` in a process may itself set
/// `errno` (to `EINVAL`, when stderr is a write-only pipe or file: its `fdopen(dup(2), "w+")`
/// fails, in `stdio-common/perror.c`; `docs/pitfalls.md` #8), and the chapter's functions
/// return -1 with the failing call's `errno`.
pub fn perror_keep_errno(what: &CStr) {
    let saved = errno::errno();
    // SAFETY: `what` is a NUL-terminated string borrowed for the call.
    unsafe { libc::perror(what.as_ptr()) };
    errno::set_errno(saved);
}
// ANCHOR_END: perror_keep_errno

// ANCHOR: report_invalid_ipv4
/// Prints `inet_pton: invalid IPv4 address 'ADDR'` and sets `errno` to `EINVAL`:
/// `inet_pton` returns 0 for a malformed address without setting `errno` (inet_pton(3) names
/// `errno` only for -1; `docs/pitfalls.md` #2), so `perror` would print whatever `errno` held
/// before, often "Success".
///
/// # Safety
/// `addr` must point to a NUL-terminated string valid for the call.
pub unsafe fn report_invalid_ipv4(addr: *const c_char) {
    // SAFETY: the caller guarantees `addr` is a valid C string.
    let addr = unsafe { CStr::from_ptr(addr) };
    let mut line = b"inet_pton: invalid IPv4 address '".to_vec();
    line.extend_from_slice(addr.to_bytes());
    line.extend_from_slice(b"'\n");
    // SAFETY: fd 2 is stderr, open for the life of the process.
    unsafe { write_all(libc::STDERR_FILENO, &line) };
    errno::set_errno(errno::Errno(libc::EINVAL));
}
// ANCHOR_END: report_invalid_ipv4

// ANCHOR: trace_on
/// Whether `TRACE=1` narration is on: reads the environment variable `TRACE` once and caches
/// the answer (twin of the C's `trace_on()` in `util.c`, whose flag is a C11 atomic: callable
/// from several threads at once, as this `OnceLock` is).
pub fn trace_on() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("TRACE").is_some_and(|v| v == "1"))
}
// ANCHOR_END: trace_on

/// Writes one narration line (and its newline) to stderr with one `write(2)`, so lines of
/// concurrent processes stay whole (in a pipe, up to `PIPE_BUF`, 4096 bytes: pipe(7));
/// `errno` is kept, so a narrated step never changes what `perror` reports next (twin of the
/// C's `trace_line()`). Never cut, at any length (the C formats a long line again into a
/// buffer of its size).
pub fn trace_line(args: std::fmt::Arguments<'_>) {
    let saved = errno::errno();
    let line = format!("{args}\n");
    // SAFETY: fd 2 is stderr, open for the life of the process.
    unsafe { write_all(libc::STDERR_FILENO, line.as_bytes()) };
    errno::set_errno(saved);
}

/// The text of a C string for a narration line, or `if_null` when `s` is null.
///
/// # Safety
/// `s` must be null or point to a NUL-terminated string valid for the call.
pub unsafe fn c_text(s: *const c_char, if_null: &str) -> String {
    if s.is_null() {
        return if_null.to_owned();
    }
    // SAFETY: `s` is a valid C string (caller).
    unsafe { CStr::from_ptr(s) }.to_string_lossy().into_owned()
}

/// The program's arguments as C strings, as `main`'s `argv` holds them in C.
pub fn c_args() -> Vec<CString> {
    std::env::args_os()
        // An argument from the kernel is a C string already: it cannot hold a NUL.
        .filter_map(|a| CString::new(a.as_bytes()).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_parse_digits_only_in_range() {
        assert_eq!(parse_port(c"0", 0), Some(0));
        assert_eq!(parse_port(c"65535", 1), Some(65535));
        for bad in [
            c"",
            c"0",
            c"-1",
            c"+1",
            c"65536",
            c" 80",
            c"80 ",
            c"0x50",
            c"99999999999999999999",
        ] {
            assert_eq!(parse_port(bad, 1), None, "{bad:?}");
        }
    }

    #[test]
    fn timeouts_parse_positive_ints() {
        assert_eq!(parse_timeout_ms(c"1"), Some(1));
        assert_eq!(parse_timeout_ms(c"2147483647"), Some(c_int::MAX));
        for bad in [c"0", c"2147483648", c"", c"-5", c"1.5"] {
            assert_eq!(parse_timeout_ms(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn invalid_ipv4_sets_einval() {
        errno::set_errno(errno::Errno(0));
        // SAFETY: a NUL-terminated literal.
        unsafe { report_invalid_ipv4(c"999.1.1.1".as_ptr()) };
        assert_eq!(errno::errno().0, libc::EINVAL);
    }
}
