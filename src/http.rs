//! Chapter 7.1.3, "완전한 TCP 클라이언트 예제": connect, send one GET request, print the
//! response until the server closes. Twin of `c_reference/http.c`; comments marked "fix #N:"
//! differ from the chapter and are listed in `docs/deviations.md`.

use std::ffi::CStr;
use std::{mem, ptr};

use errno::{Errno, errno, set_errno};
use libc::{c_char, c_int, socklen_t};

use crate::client::tcp_client_connect;
use crate::server::BUFFER_SIZE;
use crate::util::{
    INET_ADDRSTRLEN, c_text, inet_ntop, inet_pton, perror_keep_errno, report_invalid_ipv4,
    write_all,
};

// ANCHOR: request_size
/// The chapter's `char request[1024]`: a request must fit, NUL included.
const REQUEST_SIZE: usize = 1024;
// ANCHOR_END: request_size

// ANCHOR: resolve_ipv4
/// fix #16: the chapter hands the host name straight to `inet_pton()`, which accepts only
/// dotted-quad text. A dotted quad is taken as it is (`inet_pton`); any other text that is
/// not a number is a name, which `getaddrinfo(3)` resolves to an IPv4 address. `getaddrinfo`
/// also takes the old `inet_aton` spellings (`127.1`, `0x7f.1`, `0177.0.0.1` in octal,
/// `2130706433`; inet_aton(3)): refused, as `tcp_client` refuses them (a leading 0 means octal
/// there, so `010.1.1.1` is 8.1.1.1). Writes the address into `ip` as text. 0 on success; -1
/// after printing why.
///
/// # Errors
/// Returns -1 with `errno` = `EINVAL` for a number that is not a dotted quad, after
/// `inet_pton: invalid IPv4 address 'HOST'`; with `ENOENT` whatever `getaddrinfo` reported
/// for a name, after `getaddrinfo: HOST: REASON` on stderr (REASON from `gai_strerror`, or
/// `strerror(errno)` for `EAI_SYSTEM`).
///
/// # Safety
/// `host` must point to a NUL-terminated string valid for the call.
unsafe fn resolve_ipv4(host: *const c_char, ip: &mut [c_char; INET_ADDRSTRLEN]) -> c_int {
    let mut quad = libc::in_addr { s_addr: 0 };
    // SAFETY: `host` is a valid C string (caller); `quad` is a writable in_addr.
    if unsafe { inet_pton(libc::AF_INET, host, (&raw mut quad).cast()) } == 1 {
        // SAFETY: `quad` is an in_addr; `ip` holds INET_ADDRSTRLEN bytes.
        unsafe {
            inet_ntop(
                libc::AF_INET,
                (&raw const quad).cast(),
                ip.as_mut_ptr(),
                ip.len() as socklen_t,
            )
        };
        return 0;
    }
    // SAFETY: `addrinfo` is plain data; all-zero is the C's memset.
    let mut hints: libc::addrinfo = unsafe { mem::zeroed() };
    hints.ai_family = libc::AF_INET;
    hints.ai_socktype = libc::SOCK_STREAM;
    hints.ai_flags = libc::AI_NUMERICHOST; // numbers only: no lookup
    let mut res: *mut libc::addrinfo = ptr::null_mut();
    // SAFETY: `host` is a valid C string (caller); `hints` and `res` are live.
    if unsafe { libc::getaddrinfo(host, ptr::null(), &hints, &mut res) } == 0 {
        // SAFETY: `res` is the list getaddrinfo just returned, freed once.
        unsafe { libc::freeaddrinfo(res) };
        // SAFETY: `host` is a valid C string (caller).
        unsafe { report_invalid_ipv4(host) }; // a number, but not a dotted quad
        return -1;
    }
    hints.ai_flags = 0;
    // SAFETY: as above.
    let rc = unsafe { libc::getaddrinfo(host, ptr::null(), &hints, &mut res) };
    if rc != 0 {
        let reason = if rc == libc::EAI_SYSTEM {
            errno().to_string()
        } else {
            // SAFETY: gai_strerror returns a static NUL-terminated string.
            unsafe { CStr::from_ptr(libc::gai_strerror(rc)) }
                .to_string_lossy()
                .into_owned()
        };
        // SAFETY: `host` is a valid C string (caller).
        let host = unsafe { CStr::from_ptr(host) }.to_string_lossy();
        eprintf_line!("getaddrinfo: {}: {}", host, reason);
        set_errno(Errno(libc::ENOENT));
        return -1;
    }
    // SAFETY: on success `res` is a non-null list whose ai_addr, with AF_INET hints, is a
    // sockaddr_in; `ip` holds INET_ADDRSTRLEN bytes; `res` is freed once, after use.
    unsafe {
        let sin = (*res).ai_addr.cast::<libc::sockaddr_in>();
        inet_ntop(
            libc::AF_INET,
            (&raw const (*sin).sin_addr).cast(),
            ip.as_mut_ptr(),
            ip.len() as socklen_t,
        );
        libc::freeaddrinfo(res);
    }
    0
}
// ANCHOR_END: resolve_ipv4

// ANCHOR: simple_http_client
/// `GET path` from `host:port`; prints `HTTP Response:`, a newline, every byte received and
/// a newline. Chapter 7.1.3, `simple_http_client`; wraps `getaddrinfo(3)`,
/// [`tcp_client_connect`], `send(2)` and `recv(2)`.
///
/// `host` may be an IPv4 literal or a name (fix #16: resolved first). The `Host` header carries
/// `:port` when the port is not 80 (fix #17). The response is streamed to stdout as it arrives,
/// so it is never cut at 4 KiB or at a NUL byte (fix #15). Returns 0 once a response arrived,
/// whatever its status (fix #20: the chapter returns `void`; the program needs an exit code).
///
/// # Errors
/// Returns -1 with `errno` set after reporting on stderr: `ENOENT` for a name that does not
/// resolve, `EINVAL` for a number that is not a dotted quad (`127.1`), the errors of
/// [`tcp_client_connect`], `EMSGSIZE` for a request over 1023 bytes,
/// `ETIMEDOUT` when the server stays silent past the 5 s `SO_RCVTIMEO`, `ECONNRESET` when it
/// closes before sending anything.
///
/// # Safety
/// `host` and `path` must point to NUL-terminated strings valid for the call; fd 1 (stdout)
/// must be open.
pub unsafe fn simple_http_client(host: *const c_char, port: u16, path: *const c_char) -> c_int {
    let mut response = [0u8; BUFFER_SIZE]; // fix #15: reused per recv() and streamed out
    let mut ip = [0 as c_char; INET_ADDRSTRLEN];

    // fix #16: the name is resolved first (resolve_ipv4).
    // SAFETY: `host` is a valid C string (caller).
    if unsafe { resolve_ipv4(host, &mut ip) } < 0 {
        return -1;
    }
    trace_step!(
        "[http step 1] resolve_ipv4({}) -> {}",
        // SAFETY: `host` is a valid C string (caller).
        unsafe { c_text(host, "") },
        // SAFETY: `ip` holds a NUL-terminated address.
        unsafe { c_text(ip.as_ptr(), "") }
    );

    // Build the request. fix #17, #18: Host carries ":port" when the port is not 80 (RFC 9110 7.2),
    // and a request that does not fit is refused instead of cut short, before connecting.
    // SAFETY: `host` and `path` are valid C strings (caller).
    let (host_bytes, path_bytes) = unsafe {
        (
            CStr::from_ptr(host).to_bytes(),
            CStr::from_ptr(path).to_bytes(),
        )
    };
    let mut request = Vec::with_capacity(REQUEST_SIZE);
    request.extend_from_slice(b"GET ");
    request.extend_from_slice(path_bytes);
    request.extend_from_slice(b" HTTP/1.1\r\nHost: ");
    request.extend_from_slice(host_bytes);
    if port != 80 {
        request.extend_from_slice(format!(":{port}").as_bytes());
    }
    request.extend_from_slice(b"\r\nConnection: close\r\n\r\n");
    if request.len() >= REQUEST_SIZE {
        eprintf_line!(
            "PATH too long: the request would be {} bytes, at most {}",
            request.len(),
            REQUEST_SIZE - 1
        );
        set_errno(Errno(libc::EMSGSIZE));
        return -1;
    }
    trace_step!(
        "[http step 2] request: GET {}, {} bytes",
        String::from_utf8_lossy(path_bytes),
        request.len()
    );

    // Connect to the server (fix #18: once the request is known to fit).
    // SAFETY: resolve_ipv4 wrote a NUL-terminated address into `ip`.
    let sock_fd = unsafe { tcp_client_connect(ip.as_ptr(), port) };
    if sock_fd < 0 {
        return -1;
    }
    trace_step!(
        "[http step 3] tcp_client_connect({}, {}) -> fd {}",
        // SAFETY: `ip` holds a NUL-terminated address.
        unsafe { c_text(ip.as_ptr(), "") },
        port,
        sock_fd
    );

    // Send the request. fix #25: loop, as handle_client does; send() may write less.
    let mut sent_total = 0;
    while sent_total < request.len() {
        let rest = &request[sent_total..];
        // SAFETY: `rest` is a live slice and its length is passed with it.
        let sent = unsafe {
            libc::send(
                sock_fd,
                rest.as_ptr().cast(),
                rest.len(),
                libc::MSG_NOSIGNAL,
            )
        };
        if sent < 0 {
            if errno().0 == libc::EINTR {
                continue;
            }
            perror_keep_errno(c"send");
            // SAFETY: `sock_fd` is ours to close.
            unsafe { libc::close(sock_fd) };
            return -1;
        }
        sent_total += sent as usize;
    }
    trace_step!("[http step 4] send() -> {} bytes", sent_total);

    // Receive until the server closes (Connection: close). fix #15: each chunk goes to stdout as
    // it arrives, with write(), so nothing is cut at 4 KiB or at a NUL byte.
    let mut total: isize = 0;
    let mut n;
    loop {
        // SAFETY: `response` is writable for its full length.
        n = unsafe { libc::recv(sock_fd, response.as_mut_ptr().cast(), response.len(), 0) };
        if n < 0 && errno().0 == libc::EINTR {
            continue;
        }
        if n <= 0 {
            break;
        }
        // SAFETY: fd 1 is stdout (this function's contract).
        let failed = unsafe {
            (total == 0 && write_all(libc::STDOUT_FILENO, b"HTTP Response:\n") < 0)
                || write_all(libc::STDOUT_FILENO, &response[..n as usize]) < 0
        };
        if failed {
            perror_keep_errno(c"write");
            // SAFETY: `sock_fd` is ours to close.
            unsafe { libc::close(sock_fd) };
            return -1;
        }
        total += n;
    }

    // The loop ended at EOF or on an error: only EOF after some bytes is a response.
    if n < 0 {
        // fix #19: the chapter treats a failed recv() like the end of the response
        if errno().0 == libc::EAGAIN {
            // SO_RCVTIMEO expired
            set_errno(Errno(libc::ETIMEDOUT));
        }
        perror_keep_errno(c"recv");
        // SAFETY: `sock_fd` is ours to close.
        unsafe { libc::close(sock_fd) };
        return -1;
    }

    if total == 0 {
        // fix #20: nothing at all is an error, not an empty success
        eprintf_line!("recv: connection closed before any response");
        // SAFETY: `sock_fd` is ours to close.
        unsafe { libc::close(sock_fd) };
        set_errno(Errno(libc::ECONNRESET));
        return -1;
    }
    trace_step!("[http step 5] recv() until EOF -> {} bytes", total);

    // SAFETY: `sock_fd` is ours to close.
    unsafe { libc::close(sock_fd) };
    trace_step!("[http step 6] close(fd {})", sock_fd);
    // SAFETY: fd 1 is stdout (this function's contract).
    if unsafe { write_all(libc::STDOUT_FILENO, b"\n") } < 0 {
        perror_keep_errno(c"write");
        return -1;
    }
    0
}
// ANCHOR_END: simple_http_client
