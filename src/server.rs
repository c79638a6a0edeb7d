//! Chapter 7.1.3, "TCP 서버 구현": socket → setsockopt → bind → listen → accept → fork →
//! recv/send → close (steps 1-9). Twin of `c_reference/server.c`; comments marked "fix #N:"
//! differ from the chapter and are listed in `docs/deviations.md`.

use std::ffi::CStr;
use std::io::Write;
use std::{mem, ptr};

use errno::errno;
use libc::{c_char, c_int, sockaddr, sockaddr_in, socklen_t};

use crate::util::{
    INET_ADDRSTRLEN, buffer_size_or, c_text, inet_ntop, inet_pton, perror_keep_errno,
    report_invalid_ipv4,
};

// ANCHOR: constants
/// `listen()` backlog: caps the accept queue (completed connections waiting for `accept()`)
/// and the SYN queue (half-open handshakes); see step 5 of `create_tcp_server`.
pub const LISTEN_BACKLOG: c_int = 128;

/// Bytes per `recv()`: the chapter's 4 KiB (`make BUFFER_SIZE=N` overrides it, as in the C).
pub const BUFFER_SIZE: usize = buffer_size_or(4096);
// ANCHOR_END: constants

/// `sizeof(struct sockaddr_in)`, as the kernel wants it.
const SOCKADDR_IN_LEN: socklen_t = mem::size_of::<sockaddr_in>() as socklen_t;

// ANCHOR: setup_signal_handlers
/// Ignores `SIGPIPE` (a write to a closed peer must fail with `EPIPE`, not kill the server)
/// and lets the kernel reap children itself (`SA_NOCLDWAIT`: no zombies, no `waitpid` loop).
/// Chapter 7.1.3, `setup_signal_handlers`; wraps `signal(2)` and `sigaction(2)`.
///
/// Rust's runtime already sets `SIGPIPE` to `SIG_IGN` before `main`, so the first call changes
/// nothing in a Rust program; it is made anyway, because the C needs it and the port must
/// not hide its absence (see `docs/pitfalls.md`).
///
/// # Safety
/// Changes process-wide signal dispositions: no other code in the process may rely on its own
/// `SIGPIPE` or `SIGCHLD` handling (with `SA_NOCLDWAIT`, `waitpid` for a child fails with
/// `ECHILD`).
pub unsafe fn setup_signal_handlers() {
    // SIGPIPE ignored: a send() to a peer that has gone fails with EPIPE instead (send(2)).
    // SAFETY: `SIG_IGN` is a valid disposition for SIGPIPE.
    if unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) } == libc::SIG_ERR {
        // fix #26: result checked
        perror_keep_errno(c"signal SIGPIPE");
    }

    // SIGCHLD with SA_NOCLDWAIT: exited children are reaped by the kernel (자동 회수),
    // never zombies (sigaction(2)).
    // SAFETY: `struct sigaction` is plain data; all-zero is a valid value (fix #26: the C zeroes
    // it too, so no uninitialised field reaches the kernel).
    let mut sa: libc::sigaction = unsafe { mem::zeroed() };
    sa.sa_sigaction = libc::SIG_DFL;
    sa.sa_flags = libc::SA_NOCLDWAIT;
    // SAFETY: `sa.sa_mask` is a live `sigset_t` we own.
    unsafe { libc::sigemptyset(&mut sa.sa_mask) };
    // SAFETY: `sa` is initialised; a null old-action pointer is allowed.
    if unsafe { libc::sigaction(libc::SIGCHLD, &sa, ptr::null_mut()) } < 0 {
        // fix #26: result checked
        perror_keep_errno(c"sigaction SIGCHLD");
    }
}
// ANCHOR_END: setup_signal_handlers

// ANCHOR: create_tcp_server
/// Creates a listening IPv4 TCP socket bound to `addr:port`. Chapter 7.1.3,
/// `create_tcp_server`; wraps `socket(2)`, `setsockopt(2)`, `inet_pton(3)`, `bind(2)`,
/// `listen(2)` and `getsockname(2)`.
///
/// Steps as in the chapter: `socket` → `setsockopt(SO_REUSEADDR)` → `setsockopt(SO_REUSEPORT)`
/// → address → `bind` → `listen`. A null `addr` binds every interface (`INADDR_ANY`); port 0
/// lets the kernel choose. Prints `TCP server listening on ADDR:PORT` with the address really
/// bound (fix #14: read back with `getsockname`, so port 0 shows the chosen port).
///
/// # Errors
/// Returns -1 with `errno` set, after reporting the failing call on stderr: `EINVAL` for an
/// `addr` that is not an IPv4 literal, `EADDRINUSE` from `bind`, `EMFILE` from `socket`, ...
///
/// # Safety
/// `addr` must be null or point to a NUL-terminated string that stays valid for the call.
pub unsafe fn create_tcp_server(addr: *const c_char, port: u16) -> c_int {
    // Step 1: socket() - a TCP endpoint in the kernel and the fd that names it.
    // SAFETY: plain syscall with constant arguments.
    let server_fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) };
    if server_fd < 0 {
        perror_keep_errno(c"socket");
        return -1;
    }
    trace_step!("[step 1] socket() -> fd {}", server_fd);

    // Step 2: SO_REUSEADDR - restart at once while old connections sit in TIME_WAIT
    // (docs/pitfalls.md #11).
    let opt: c_int = 1;
    // SAFETY: `opt` is a live c_int and the length passed is its size.
    let rc = unsafe {
        libc::setsockopt(
            server_fd,
            libc::SOL_SOCKET,
            libc::SO_REUSEADDR,
            (&raw const opt).cast(),
            mem::size_of::<c_int>() as socklen_t,
        )
    };
    if rc < 0 {
        perror_keep_errno(c"setsockopt SO_REUSEADDR");
        // SAFETY: `server_fd` is ours to close.
        unsafe { libc::close(server_fd) };
        return -1;
    }

    // SO_REUSEPORT - other sockets of the same user that also set it may bind this port
    // (socket(7)); the kernel picks one per connection by a hash of its addresses and ports
    // (reuseport_select_sock, docs/pitfalls.md #7). Optional, so a failure is reported and
    // ignored. Set by the old and the new server alike, it also lets a restart bind over
    // TIME_WAIT (docs/pitfalls.md #11).
    // SAFETY: `opt` is a live c_int and the length passed is its size.
    let rc = unsafe {
        libc::setsockopt(
            server_fd,
            libc::SOL_SOCKET,
            libc::SO_REUSEPORT,
            (&raw const opt).cast(),
            mem::size_of::<c_int>() as socklen_t,
        )
    };
    if rc < 0 {
        perror_keep_errno(c"setsockopt SO_REUSEPORT");
        // Non-critical, continue
    }
    trace_step!("[step 2] setsockopt(SO_REUSEADDR), setsockopt(SO_REUSEPORT)");

    // Step 3: the address to bind, port in network byte order (htons).
    // SAFETY: `sockaddr_in` is plain data; all-zero is the C's memset.
    let mut server_addr: sockaddr_in = unsafe { mem::zeroed() };
    server_addr.sin_family = libc::AF_INET as libc::sa_family_t;
    server_addr.sin_port = port.to_be();

    if addr.is_null() {
        server_addr.sin_addr.s_addr = libc::INADDR_ANY; // 0.0.0.0 (0: byte order moot)
    } else {
        // SAFETY: `addr` is a valid C string (caller); `sin_addr` is a writable in_addr.
        let rc = unsafe { inet_pton(libc::AF_INET, addr, (&raw mut server_addr.sin_addr).cast()) };
        if rc <= 0 {
            if rc == 0 {
                // fix #7: 0 means "not an address" and leaves errno alone
                // SAFETY: `addr` is a valid C string.
                unsafe { report_invalid_ipv4(addr) };
            } else {
                perror_keep_errno(c"inet_pton");
            }
            // SAFETY: `server_fd` is ours to close.
            unsafe { libc::close(server_fd) };
            return -1;
        }
    }
    trace_step!(
        "[step 3] sockaddr_in {{AF_INET, {}, htons({})}}",
        // SAFETY: `addr` is null or a valid C string (caller).
        unsafe { c_text(addr, "INADDR_ANY") },
        port
    );

    // Step 4: bind() - register (address, port) -> this socket in the kernel.
    // SAFETY: `server_addr` is a live sockaddr_in and its exact size is passed.
    let rc = unsafe {
        libc::bind(
            server_fd,
            (&raw const server_addr).cast::<sockaddr>(),
            SOCKADDR_IN_LEN,
        )
    };
    if rc < 0 {
        perror_keep_errno(c"bind");
        // SAFETY: `server_fd` is ours to close.
        unsafe { libc::close(server_fd) };
        return -1;
    }
    trace_step!(
        "[step 4] bind {}:{} -> 0",
        // SAFETY: `addr` is null or a valid C string (caller).
        unsafe { c_text(addr, "0.0.0.0") },
        port
    );

    // Step 5: listen() - passive socket; the kernel completes handshakes itself and queues
    // them for accept(). LISTEN_BACKLOG caps that accept queue and also the SYN queue of
    // half-open handshakes, which listen(2) NOTES give to tcp_max_syn_backlog instead:
    // tests/claims/backlog.py measures backlog + 1 half-open, then SYN cookies, and backlog + 1
    // completed (docs/claims.md row 49); somaxconn caps both (listen(2)).
    // SAFETY: plain syscall on our fd.
    if unsafe { libc::listen(server_fd, LISTEN_BACKLOG) } < 0 {
        perror_keep_errno(c"listen");
        // SAFETY: `server_fd` is ours to close.
        unsafe { libc::close(server_fd) };
        return -1;
    }
    trace_step!("[step 5] listen(backlog {}) -> 0", LISTEN_BACKLOG);

    // fix #14: read the bound address back, so port 0 prints the port the kernel chose.
    let mut addr_len = SOCKADDR_IN_LEN;
    // SAFETY: `server_addr` is writable for `addr_len` bytes.
    let rc = unsafe {
        libc::getsockname(
            server_fd,
            (&raw mut server_addr).cast::<sockaddr>(),
            &mut addr_len,
        )
    };
    if rc < 0 {
        perror_keep_errno(c"getsockname");
        // SAFETY: `server_fd` is ours to close.
        unsafe { libc::close(server_fd) };
        return -1;
    }
    let mut addr_str = [0 as c_char; INET_ADDRSTRLEN];
    // SAFETY: `sin_addr` is an in_addr; `addr_str` holds INET_ADDRSTRLEN bytes.
    unsafe {
        inet_ntop(
            libc::AF_INET,
            (&raw const server_addr.sin_addr).cast(),
            addr_str.as_mut_ptr(),
            addr_str.len() as socklen_t,
        )
    };
    // SAFETY: `addr_str` was zeroed and inet_ntop, which cannot fail for AF_INET into
    // INET_ADDRSTRLEN bytes (inet_ntop(3) ERRORS), wrote a NUL-terminated address into it.
    let addr_str = unsafe { CStr::from_ptr(addr_str.as_ptr()) }.to_string_lossy();
    printf_line!(
        "TCP server listening on {}:{}",
        addr_str,
        u16::from_be(server_addr.sin_port)
    );

    server_fd
}
// ANCHOR_END: create_tcp_server

// ANCHOR: handle_client
/// Echoes everything the client sends until EOF or an error, then closes `client_fd`.
/// Chapter 7.1.3, `handle_client`; wraps `recv(2)`, `send(2)` and `close(2)`.
///
/// Prints `Client connected from IP:PORT`, then `Client IP:PORT disconnected gracefully` on
/// EOF, and `Client IP:PORT connection closed` at the end of every session. `recv` and `send`
/// are retried on `EINTR`; `send` loops until every byte is out (partial writes) and uses
/// `MSG_NOSIGNAL`, so a vanished peer gives `EPIPE`, reported on stderr, never `SIGPIPE`.
///
/// # Safety
/// `client_fd` must be a connected stream socket owned by the caller (it is closed here), and
/// `client_addr` must point to a valid `sockaddr_in`.
pub unsafe fn handle_client(client_fd: c_int, client_addr: *const sockaddr_in) {
    let mut buffer = [0u8; BUFFER_SIZE];
    let mut addr_str = [0 as c_char; INET_ADDRSTRLEN];

    // Who connected: the peer's address as text (inet_ntop), its port in host order (ntohs).
    // SAFETY: `client_addr` is valid (caller); `addr_str` holds INET_ADDRSTRLEN bytes.
    let client_port = unsafe {
        inet_ntop(
            libc::AF_INET,
            (&raw const (*client_addr).sin_addr).cast(),
            addr_str.as_mut_ptr(),
            addr_str.len() as socklen_t,
        );
        u16::from_be((*client_addr).sin_port)
    };
    // SAFETY: `addr_str` was zeroed and inet_ntop, which cannot fail for AF_INET into
    // INET_ADDRSTRLEN bytes (inet_ntop(3) ERRORS), wrote a NUL-terminated address into it.
    let addr_str = unsafe { CStr::from_ptr(addr_str.as_ptr()) }.to_string_lossy();
    printf_line!("Client connected from {}:{}", addr_str, client_port);

    'done: loop {
        // Step 8: recv() blocks until data, EOF (0) or an error.
        // SAFETY: `buffer` is writable for its full length.
        let n = unsafe { libc::recv(client_fd, buffer.as_mut_ptr().cast(), buffer.len(), 0) };

        if n < 0 {
            if errno().0 == libc::EINTR {
                // a signal handler ran: just retry
                continue;
            }
            perror_keep_errno(c"recv"); // e.g. ECONNRESET: the peer sent RST
            break;
        }

        if n == 0 {
            // the peer sent FIN
            trace_step!("[step 8] recv() -> 0 (EOF: the peer sent FIN)");
            printf_line!(
                "Client {}:{} disconnected gracefully",
                addr_str,
                client_port
            );
            break;
        }

        // send() may queue less than asked: on this blocking socket, when it stops after
        // queuing part (a stop and continue, an error, a caught signal or SO_SNDTIMEO; this
        // server sets neither of the last two; docs/claims.md row 73): loop until all n bytes
        // are out.
        // MSG_NOSIGNAL: a closed peer gives EPIPE instead of SIGPIPE.
        let mut total_sent: isize = 0;
        while total_sent < n {
            let rest = &buffer[total_sent as usize..n as usize];
            // SAFETY: `rest` is a live slice and its length is passed with it.
            let sent = unsafe {
                libc::send(
                    client_fd,
                    rest.as_ptr().cast(),
                    rest.len(),
                    libc::MSG_NOSIGNAL,
                )
            };
            if sent < 0 {
                if errno().0 == libc::EINTR {
                    continue;
                }
                perror_keep_errno(c"send"); // EPIPE, ECONNRESET
                break 'done;
            }
            total_sent += sent;
        }
    }

    // Step 9: close() - the last reference: FIN, or RST if received data is still unread
    // (__tcp_close, net/ipv4/tcp.c; docs/claims.md row 77).
    // SAFETY: `client_fd` is ours (caller's contract) and not used after this.
    unsafe { libc::close(client_fd) };
    trace_step!("[step 9] close(fd {})", client_fd);
    printf_line!("Client {}:{} connection closed", addr_str, client_port);
}
// ANCHOR_END: handle_client

// ANCHOR: tcp_server_loop
/// `accept()`s forever, one child process per client (`fork`), each running
/// [`handle_client`]. Chapter 7.1.3, `tcp_server_loop`; wraps `accept(2)` and `fork(2)`.
///
/// Returns only when `accept` fails with something other than `EINTR` or `ECONNABORTED`
/// (reported on stderr). A failed `fork` is reported, that client closed, and the loop goes
/// on. stdout is flushed before each `fork` (fix #6: or a buffered line is written twice).
///
/// # Safety
/// `server_fd` must be a listening socket. The process must be single-threaded: after `fork`
/// the child runs ordinary code (stdout, allocation), which is only sound when no other thread
/// could have held a lock at the moment of the fork. Children exit with `exit(0)`.
pub unsafe fn tcp_server_loop(server_fd: c_int) {
    loop {
        // SAFETY: `sockaddr_in` is plain data; all-zero is valid.
        let mut client_addr: sockaddr_in = unsafe { mem::zeroed() };
        let mut client_len = SOCKADDR_IN_LEN;

        // Step 6: accept() - the next completed connection, as a new fd.
        // SAFETY: `client_addr` is writable for `client_len` bytes.
        let client_fd = unsafe {
            libc::accept(
                server_fd,
                (&raw mut client_addr).cast::<sockaddr>(),
                &mut client_len,
            )
        };

        if client_fd < 0 {
            let e = errno().0;
            if e == libc::EINTR || e == libc::ECONNABORTED {
                continue;
            }
            perror_keep_errno(c"accept");
            break;
        }
        trace_step!(
            "[step 6] accept() -> fd {} from {}:{}",
            client_fd,
            std::net::Ipv4Addr::from(u32::from_be(client_addr.sin_addr.s_addr)),
            u16::from_be(client_addr.sin_port)
        );

        // fix #6: flush stdout before fork, or a line still in the buffer is written by both
        // processes (twice in the log when stdout is a pipe or a file).
        let _ = std::io::stdout().flush();

        // Step 7: fork() - one process per client.
        // SAFETY: single-threaded process (this function's contract).
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            perror_keep_errno(c"fork");
            // SAFETY: `client_fd` is ours to close.
            unsafe { libc::close(client_fd) };
        } else if pid == 0 {
            // child: serve this client only
            // SAFETY: the child's copy of the listening fd is not used again.
            unsafe { libc::close(server_fd) };
            // SAFETY: `client_fd` was just accepted and is owned here; `client_addr` is live.
            unsafe { handle_client(client_fd, &client_addr) };
            std::process::exit(0);
        } else {
            // parent: the child owns client_fd now
            trace_step!("[step 7] fork() -> child {}", pid);
            // SAFETY: the parent's copy of `client_fd` is not used again.
            unsafe { libc::close(client_fd) };
        }
    }
}
// ANCHOR_END: tcp_server_loop
