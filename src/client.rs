//! Chapter 7.1.3, "TCP 클라이언트 구현": socket → address → timeouts → connect, and the
//! non-blocking variant with `select()`. Twin of `c_reference/client.c`; comments marked
//! "fix #N:" differ from the chapter and are listed in `docs/deviations.md`.

use std::{mem, ptr};

use errno::{Errno, errno, set_errno};
use libc::{c_char, c_int, sockaddr, sockaddr_in, socklen_t};

use crate::util::{c_text, inet_pton, perror_keep_errno, report_invalid_ipv4};

/// `sizeof(struct sockaddr_in)`, as the kernel wants it.
const SOCKADDR_IN_LEN: socklen_t = mem::size_of::<sockaddr_in>() as socklen_t;

// ANCHOR: clear_nonblocking
/// Clears `O_NONBLOCK` (step 9 of [`tcp_connect_nonblocking`]); 0, or -1 with `errno` set.
///
/// # Errors
/// Returns -1 with the errno of the `fcntl` that failed, after `fcntl: ...` on stderr.
///
/// # Safety
/// `fd` must be an open file descriptor owned by the caller.
unsafe fn clear_nonblocking(fd: c_int) -> c_int {
    // SAFETY: F_GETFL takes no pointer argument.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL, 0) };
    // SAFETY: F_SETFL takes an int argument.
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) } < 0 {
        // fix #28: checked
        perror_keep_errno(c"fcntl");
        return -1;
    }
    trace_step!("[nonblocking step 9] fcntl(F_SETFL, flags & ~O_NONBLOCK) -> 0");
    0
}
// ANCHOR_END: clear_nonblocking

// ANCHOR: wait_interrupted_connect
/// Waits for the handshake of a blocking `connect` that a signal interrupted (step 4 of
/// [`tcp_client_connect`]). With `SO_SNDTIMEO` set, Linux ends `connect` with `EINTR` even after
/// a mere stop and continue (Ctrl-Z, `fg`), yet the handshake goes on. A second `connect` would
/// wait for it with a new full timeout (each signal moving the deadline) and, if that ran out,
/// fail with `EALREADY` (`__inet_stream_connect`, `net/ipv4/af_inet.c`; UNP 16.3). So: `poll`
/// for writability, then `SO_ERROR`, as [`tcp_connect_nonblocking`] does with `select`, until
/// `limit` after `start` (`CLOCK_MONOTONIC`). `poll`, not `select`: this socket may be fd 1024
/// or above, which no `fd_set` can hold (select(2)), and the blocking path works at any fd.
/// Returns 0 once connected, or -1 with `errno` set (`ETIMEDOUT` when time is up) after
/// printing what failed.
///
/// # Errors
/// Returns -1 with `errno` set, after reporting on stderr: `ETIMEDOUT` when `limit` has passed,
/// `poll`'s or `getsockopt`'s own errno, or the handshake's error from `SO_ERROR` (e.g.
/// `ECONNREFUSED`).
///
/// # Safety
/// `fd` must be an open socket owned by the caller.
unsafe fn wait_interrupted_connect(
    fd: c_int,
    start: &libc::timespec,
    limit: &libc::timeval,
) -> c_int {
    trace_step!("[connect step 4] connect -> EINTR: the handshake goes on, poll() for it");
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLOUT,
        revents: 0,
    };
    let mut ret;
    loop {
        // a signal in poll() too: go on with the time left until the same deadline
        let mut now = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `now` is a live timespec; cannot fail with a valid clock and pointer.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
        let left_us = limit.tv_sec * 1_000_000 + limit.tv_usec
            - ((now.tv_sec - start.tv_sec) * 1_000_000 + (now.tv_nsec - start.tv_nsec) / 1000);
        let left_ms = if left_us > 0 {
            (left_us + 999) / 1000
        } else {
            0
        }; // rounded up
        // SAFETY: `pfd` is one live pollfd.
        ret = unsafe { libc::poll(&mut pfd, 1, left_ms as c_int) };
        if !(ret < 0 && errno().0 == libc::EINTR) {
            break;
        }
    }

    if ret <= 0 {
        if ret == 0 {
            set_errno(Errno(libc::ETIMEDOUT));
            perror_keep_errno(c"connect");
        } else {
            perror_keep_errno(c"poll");
        }
        return -1;
    }
    // Writable also means "failed" (POLLERR, POLLHUP): SO_ERROR holds the handshake's result.
    let mut error: c_int = 0;
    let mut len = mem::size_of::<c_int>() as socklen_t;
    // SAFETY: `error` is writable for `len` bytes.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            (&raw mut error).cast(),
            &mut len,
        )
    };
    if rc < 0 {
        perror_keep_errno(c"getsockopt SO_ERROR");
        return -1;
    }
    if error != 0 {
        set_errno(Errno(error)); // e.g. ECONNREFUSED
        perror_keep_errno(c"connect");
        return -1;
    }
    0
}
// ANCHOR_END: wait_interrupted_connect

// ANCHOR: tcp_client_connect
/// Connects to `server_addr:server_port` (an IPv4 literal) with 5 s send and receive timeouts.
/// Chapter 7.1.3, `tcp_client_connect`; wraps `socket(2)`, `inet_pton(3)`, `setsockopt(2)`
/// (`SO_SNDTIMEO`, `SO_RCVTIMEO`) and `connect(2)`.
///
/// Prints `Connected to ADDR:PORT` on stderr (fix #13: the chapter uses stdout, which the
/// programs keep for data).
///
/// # Errors
/// Returns -1 with `errno` set, after reporting the failing call on stderr: `EINVAL` for an
/// address that is not an IPv4 literal (a host name included), `ECONNREFUSED`, and
/// `ETIMEDOUT` when the handshake outlasts `SO_SNDTIMEO` (Linux reports `EINPROGRESS` there;
/// translated, see `docs/pitfalls.md` #3). A signal or a stop and continue that interrupts
/// `connect` (`EINTR`) is not an error: the handshake is awaited until the same 5 s deadline
/// (fix #23, `docs/pitfalls.md` #10).
///
/// # Safety
/// `server_addr` must point to a NUL-terminated string valid for the call.
pub unsafe fn tcp_client_connect(server_addr: *const c_char, server_port: u16) -> c_int {
    // Step 1: socket()
    // SAFETY: plain syscall with constant arguments.
    let sock_fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) };
    if sock_fd < 0 {
        perror_keep_errno(c"socket");
        return -1;
    }
    trace_step!("[connect step 1] socket() -> fd {}", sock_fd);

    // Step 2: the server's address; inet_pton() parses dotted-quad text only.
    // SAFETY: `sockaddr_in` is plain data; all-zero is the C's memset.
    let mut server: sockaddr_in = unsafe { mem::zeroed() };
    server.sin_family = libc::AF_INET as libc::sa_family_t;
    server.sin_port = server_port.to_be();

    // SAFETY: `server_addr` is a valid C string (caller); `sin_addr` is a writable in_addr.
    let rc = unsafe {
        inet_pton(
            libc::AF_INET,
            server_addr,
            (&raw mut server.sin_addr).cast(),
        )
    };
    if rc <= 0 {
        if rc == 0 {
            // fix #7: 0 means "not an address" and leaves errno alone
            // SAFETY: `server_addr` is a valid C string.
            unsafe { report_invalid_ipv4(server_addr) };
        } else {
            perror_keep_errno(c"inet_pton");
        }
        // SAFETY: `sock_fd` is ours to close.
        unsafe { libc::close(sock_fd) };
        return -1;
    }
    trace_step!(
        "[connect step 2] sockaddr_in {{AF_INET, {}, htons({})}}",
        // SAFETY: `server_addr` is a valid C string (caller).
        unsafe { c_text(server_addr, "") },
        server_port
    );

    // Step 3: timeouts. SO_SNDTIMEO also bounds a blocking connect() (socket(7)), so the call
    // below cannot hang for the kernel's ~2 min of SYN retries (tcp(7), tcp_syn_retries).
    let timeout = libc::timeval {
        tv_sec: 5,
        tv_usec: 0,
    };
    let timeout_ptr = (&raw const timeout).cast();
    let timeout_len = mem::size_of::<libc::timeval>() as socklen_t;

    // SAFETY: `timeout` is a live timeval and its exact size is passed (both calls).
    let failed = unsafe {
        libc::setsockopt(
            sock_fd,
            libc::SOL_SOCKET,
            libc::SO_SNDTIMEO,
            timeout_ptr,
            timeout_len,
        ) < 0
            || libc::setsockopt(
                sock_fd,
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                timeout_ptr,
                timeout_len,
            ) < 0
    };
    if failed {
        // fix #27: the chapter ignores both results
        perror_keep_errno(c"setsockopt");
        // SAFETY: `sock_fd` is ours to close.
        unsafe { libc::close(sock_fd) };
        return -1;
    }
    trace_step!("[connect step 3] setsockopt(SO_SNDTIMEO, SO_RCVTIMEO: 5 s) -> 0");

    // Step 4: connect() - the three-way handshake.
    let mut start = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    }; // fix #23: the deadline, should a signal interrupt connect()
    // SAFETY: `start` is a live timespec; cannot fail with a valid clock and pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut start) };
    // SAFETY: `server` is a live sockaddr_in and its exact size is passed.
    if unsafe {
        libc::connect(
            sock_fd,
            (&raw const server).cast::<sockaddr>(),
            SOCKADDR_IN_LEN,
        )
    } < 0
    {
        if errno().0 == libc::EINTR {
            // fix #23: Ctrl-Z and fg, or a signal: the handshake goes on
            // SAFETY: `sock_fd` is our open socket.
            if unsafe { wait_interrupted_connect(sock_fd, &start, &timeout) } < 0 {
                // SAFETY: `sock_fd` is ours to close.
                unsafe { libc::close(sock_fd) };
                return -1;
            }
        } else {
            if errno().0 == libc::EINPROGRESS {
                // fix #12: Linux's "SO_SNDTIMEO expired" (socket(7))
                set_errno(Errno(libc::ETIMEDOUT));
            }
            perror_keep_errno(c"connect");
            // SAFETY: `sock_fd` is ours to close.
            unsafe { libc::close(sock_fd) };
            return -1;
        }
    }
    trace_step!(
        "[connect step 4] connect {}:{} -> 0",
        // SAFETY: `server_addr` is a valid C string (caller).
        unsafe { c_text(server_addr, "") },
        server_port
    );

    // fix #13: stderr, so that stdout carries only the data
    // SAFETY: `server_addr` is a valid C string (caller).
    let addr = unsafe { std::ffi::CStr::from_ptr(server_addr) }.to_string_lossy();
    eprintf_line!("Connected to {}:{}", addr, server_port);

    sock_fd
}
// ANCHOR_END: tcp_client_connect

// ANCHOR: tcp_connect_nonblocking
/// Connects without blocking longer than `timeout_ms`: `connect` on a non-blocking socket,
/// `select` for writability, `SO_ERROR` for the result, then back to blocking mode.
/// Chapter 7.1.3, `tcp_connect_nonblocking`; wraps `socket(2)` (`SOCK_NONBLOCK`),
/// `connect(2)`, `select(2)`, `getsockopt(2)` (`SO_ERROR`) and `fcntl(2)`.
///
/// # Errors
/// Returns -1 with `errno` set, after reporting on stderr: `EINVAL` for an address that is
/// not an IPv4 literal (fix #8: the chapter ignored it) or for a socket fd >= `FD_SETSIZE`,
/// which `select` cannot watch (fix #9: in the chapter's C, `FD_SET` on it is undefined behaviour);
/// `ETIMEDOUT` when `timeout_ms` passes (fix #10: the chapter left errno unset); the handshake's
/// own error from `SO_ERROR`, e.g. `ECONNREFUSED`.
///
/// # Safety
/// `server_addr` must point to a NUL-terminated string valid for the call.
pub unsafe fn tcp_connect_nonblocking(
    server_addr: *const c_char,
    server_port: u16,
    timeout_ms: c_int,
) -> c_int {
    // Step 1: socket(), non-blocking from birth (SOCK_NONBLOCK: no extra fcntl).
    // SAFETY: plain syscall with constant arguments.
    let sock_fd =
        unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_NONBLOCK, 0) };
    if sock_fd < 0 {
        perror_keep_errno(c"socket");
        return -1;
    }
    trace_step!(
        "[nonblocking step 1] socket(SOCK_NONBLOCK) -> fd {}",
        sock_fd
    );

    // fix #9: select() (step 7) cannot watch an fd >= FD_SETSIZE: in C, FD_SET on it is
    // undefined behaviour (select(2)); the libc crate's FD_SET panics on it. Refused now,
    // before connect() reaches the server.
    if sock_fd as usize >= libc::FD_SETSIZE {
        eprintf_line!(
            "select: fd {} >= FD_SETSIZE ({}), cannot wait on it",
            sock_fd,
            libc::FD_SETSIZE
        );
        // SAFETY: `sock_fd` is ours to close.
        unsafe { libc::close(sock_fd) };
        set_errno(Errno(libc::EINVAL));
        return -1;
    }

    // Step 2: the server's address.
    // SAFETY: `sockaddr_in` is plain data; all-zero is the C's memset.
    let mut server: sockaddr_in = unsafe { mem::zeroed() };
    server.sin_family = libc::AF_INET as libc::sa_family_t;
    server.sin_port = server_port.to_be();
    // SAFETY: `server_addr` is a valid C string (caller); `sin_addr` is a writable in_addr.
    let rc = unsafe {
        inet_pton(
            libc::AF_INET,
            server_addr,
            (&raw mut server.sin_addr).cast(),
        )
    };
    if rc <= 0 {
        // fix #8: the chapter ignores the result and connects to 0.0.0.0
        if rc == 0 {
            // SAFETY: `server_addr` is a valid C string.
            unsafe { report_invalid_ipv4(server_addr) };
        } else {
            perror_keep_errno(c"inet_pton");
        }
        // SAFETY: `sock_fd` is ours to close.
        unsafe { libc::close(sock_fd) };
        return -1;
    }
    trace_step!(
        "[nonblocking step 2] sockaddr_in {{AF_INET, {}, htons({})}}",
        // SAFETY: `server_addr` is a valid C string (caller).
        unsafe { c_text(server_addr, "") },
        server_port
    );

    // Step 3: connect() returns at once, normally -1 with EINPROGRESS.
    // SAFETY: `server` is a live sockaddr_in and its exact size is passed.
    let mut ret = unsafe {
        libc::connect(
            sock_fd,
            (&raw const server).cast::<sockaddr>(),
            SOCKADDR_IN_LEN,
        )
    };

    // Step 4: anything but EINPROGRESS is an immediate failure (e.g. ENETUNREACH).
    if ret < 0 && errno().0 != libc::EINPROGRESS {
        perror_keep_errno(c"connect");
        // SAFETY: `sock_fd` is ours to close.
        unsafe { libc::close(sock_fd) };
        return -1;
    }
    trace_step!(
        "[nonblocking step 3] connect {}:{} -> {}",
        // SAFETY: `server_addr` is a valid C string (caller).
        unsafe { c_text(server_addr, "") },
        server_port,
        ret
    );
    trace_step!(
        "[nonblocking step 4] {}",
        if ret == 0 {
            "connected at once"
        } else {
            "EINPROGRESS: the handshake goes on, wait for it"
        }
    );

    if ret == 0 {
        // Connected at once. fix #24: the chapter returned here still non-blocking.
        // SAFETY: `sock_fd` is ours.
        if unsafe { clear_nonblocking(sock_fd) } < 0 {
            // SAFETY: `sock_fd` is ours to close.
            unsafe { libc::close(sock_fd) };
            return -1;
        }
        return sock_fd;
    }

    // Step 5: wait for writability, which is how a finished handshake shows.
    // SAFETY: `fd_set` is plain data (an array of integers); all-zero is a valid, empty set.
    let mut write_fds: libc::fd_set = unsafe { mem::zeroed() };
    // SAFETY: `write_fds` is a live fd_set and 0 <= sock_fd < FD_SETSIZE (checked after step 1,
    // fix #9).
    unsafe {
        libc::FD_ZERO(&mut write_fds);
        libc::FD_SET(sock_fd, &mut write_fds);
    }
    trace_step!("[nonblocking step 5] FD_SET(fd {}, &write_fds)", sock_fd);

    // Step 6: the timeout, milliseconds -> seconds + microseconds.
    let mut timeout = libc::timeval {
        tv_sec: (timeout_ms / 1000) as libc::time_t,
        tv_usec: ((timeout_ms % 1000) * 1000) as libc::suseconds_t,
    };
    trace_step!(
        "[nonblocking step 6] timeout {} ms -> {{{} s, {} us}}",
        timeout_ms,
        timeout.tv_sec,
        timeout.tv_usec
    );

    // Step 7: select() on writability only. On EINTR the set is left untouched (select(2)) and
    // Linux, where POSIX leaves it open, writes the time left into the timeout (fs/select.c,
    // poll_select_finish), so retrying keeps the deadline (fix #11: retried).
    loop {
        // SAFETY: `write_fds` and `timeout` are live; the other sets may be null.
        ret = unsafe {
            libc::select(
                sock_fd + 1,
                ptr::null_mut(),
                &mut write_fds,
                ptr::null_mut(),
                &mut timeout,
            )
        };
        if !(ret < 0 && errno().0 == libc::EINTR) {
            break;
        }
    }

    if ret <= 0 {
        if ret == 0 {
            // fix #10: the chapter returns -1 with no errno and no message
            set_errno(Errno(libc::ETIMEDOUT));
            perror_keep_errno(c"connect");
        } else {
            perror_keep_errno(c"select");
        }
        // SAFETY: `sock_fd` is ours to close.
        unsafe { libc::close(sock_fd) };
        return -1;
    }
    trace_step!("[nonblocking step 7] select() -> {} (writable)", ret);

    // Step 8: writable also means "failed": SO_ERROR holds the handshake's result.
    let mut error: c_int = 0;
    let mut len = mem::size_of::<c_int>() as socklen_t;
    // SAFETY: `error` is writable for `len` bytes.
    let rc = unsafe {
        libc::getsockopt(
            sock_fd,
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            (&raw mut error).cast(),
            &mut len,
        )
    };
    if rc < 0 {
        perror_keep_errno(c"getsockopt SO_ERROR"); // fix #10: reported
        // SAFETY: `sock_fd` is ours to close.
        unsafe { libc::close(sock_fd) };
        return -1;
    }

    if error != 0 {
        set_errno(Errno(error)); // e.g. ECONNREFUSED
        perror_keep_errno(c"connect"); // fix #10: reported
        // SAFETY: `sock_fd` is ours to close.
        unsafe { libc::close(sock_fd) };
        return -1;
    }
    trace_step!("[nonblocking step 8] getsockopt(SO_ERROR) -> 0, error 0");

    // Step 9: back to blocking mode for ordinary send()/recv() (fix #28: fcntl checked).
    // SAFETY: `sock_fd` is ours.
    if unsafe { clear_nonblocking(sock_fd) } < 0 {
        // SAFETY: `sock_fd` is ours to close.
        unsafe { libc::close(sock_fd) };
        return -1;
    }

    sock_fd
}
// ANCHOR_END: tcp_connect_nonblocking
