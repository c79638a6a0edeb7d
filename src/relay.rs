//! Not in the chapter: the `tcp_client` program's copy loop, stdin → socket and socket →
//! stdout, once the chapter's connect functions have returned a connected fd. Twin of
//! `c_reference/relay.c`.

use errno::errno;
use libc::c_int;

use crate::server::BUFFER_SIZE;
use crate::util::{perror_keep_errno, write_all};

// ANCHOR: tcp_client_relay
/// Not in the chapter: what the `tcp_client` program does once connected. Copies stdin to the
/// socket and the socket to stdout at the same time, as Stevens' `str_cli` does with `select`:
/// `poll(2)` waits on both, so neither direction can block the other (a large input echoed
/// back cannot deadlock). At stdin EOF it half-closes (`shutdown(SHUT_WR)`) and keeps reading.
/// `recv` runs only when `poll` says data is ready, so the 5 s `SO_RCVTIMEO` never fires on an
/// idle session.
///
/// # Errors
/// Returns 0 when the peer closes after stdin's EOF; -1 with `errno` set after reporting the
/// failing call (`recv: Connection reset by peer`, `send: Broken pipe`, ...), or -1 with
/// `errno` left as it was after `tcp_client: server terminated prematurely`, when the peer
/// closes while stdin is still open (UNP 6.7, `str_cli`): what stdin has yet to say can no
/// longer be sent.
///
/// # Safety
/// `sock_fd` must be a connected stream socket; fds 0 and 1 must be open.
pub unsafe fn tcp_client_relay(sock_fd: c_int) -> c_int {
    let mut to_sock = [0u8; BUFFER_SIZE]; // read from stdin, not yet sent
    let mut from_sock = [0u8; BUFFER_SIZE]; // received, written to stdout at once
    let (mut pending, mut offset) = (0usize, 0usize);
    let mut stdin_open = true;

    loop {
        let mut fds = [
            libc::pollfd {
                // -1: not watched
                fd: if stdin_open && pending == 0 {
                    libc::STDIN_FILENO
                } else {
                    -1
                },
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: sock_fd,
                events: libc::POLLIN | if pending > 0 { libc::POLLOUT } else { 0 },
                revents: 0,
            },
        ];

        // SAFETY: `fds` is a live array of 2 pollfds.
        if unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) } < 0 {
            if errno().0 == libc::EINTR {
                continue;
            }
            perror_keep_errno(c"poll");
            return -1;
        }

        if fds[1].revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
            // SAFETY: `from_sock` is writable for its full length.
            let n = unsafe {
                libc::recv(
                    sock_fd,
                    from_sock.as_mut_ptr().cast(),
                    from_sock.len(),
                    libc::MSG_DONTWAIT,
                )
            };
            let e = errno().0;
            if n < 0 && e != libc::EINTR && e != libc::EAGAIN {
                perror_keep_errno(c"recv"); // e.g. ECONNRESET
                return -1;
            }
            if n == 0 {
                // the peer closed
                if !stdin_open {
                    return 0; // after our FIN: done
                }
                let stdin_ready = libc::POLLIN | libc::POLLHUP | libc::POLLERR | libc::POLLNVAL;
                if fds[0].revents & stdin_ready == 0 {
                    eprintf_line!("tcp_client: server terminated prematurely");
                    return -1;
                }
                // stdin is readable too (its EOF?): read it below, judge on the next round
            }
            // SAFETY: fd 1 is stdout (this function's contract).
            if n > 0 && unsafe { write_all(libc::STDOUT_FILENO, &from_sock[..n as usize]) } < 0 {
                perror_keep_errno(c"write");
                return -1;
            }
        }

        if pending > 0 && fds[1].revents & libc::POLLOUT != 0 {
            // MSG_DONTWAIT: take what fits now, never block with the other side unread.
            let rest = &to_sock[offset..offset + pending];
            // SAFETY: `rest` is a live slice and its length is passed with it.
            let n = unsafe {
                libc::send(
                    sock_fd,
                    rest.as_ptr().cast(),
                    rest.len(),
                    libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
                )
            };
            let e = errno().0;
            if n < 0 && e != libc::EINTR && e != libc::EAGAIN {
                perror_keep_errno(c"send");
                return -1;
            }
            if n > 0 {
                offset += n as usize;
                pending -= n as usize;
            }
        }

        // POLLNVAL: fd 0 is closed; read() then reports EBADF instead of poll() spinning.
        if fds[0].revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
            // SAFETY: `to_sock` is writable for its full length.
            let n = unsafe {
                libc::read(
                    libc::STDIN_FILENO,
                    to_sock.as_mut_ptr().cast(),
                    to_sock.len(),
                )
            };
            if n < 0 && errno().0 != libc::EINTR {
                perror_keep_errno(c"read");
                return -1;
            }
            if n == 0 {
                // stdin EOF: tell the peer we are done sending
                stdin_open = false;
                // SAFETY: plain syscall on our socket.
                if unsafe { libc::shutdown(sock_fd, libc::SHUT_WR) } < 0 {
                    perror_keep_errno(c"shutdown");
                    return -1;
                }
            } else if n > 0 {
                pending = n as usize;
                offset = 0;
            }
        }
    }
}
// ANCHOR_END: tcp_client_relay
