/* relay.c - not in the chapter: the tcp_client program's copy loop, stdin -> socket and
 * socket -> stdout, once the chapter's connect functions have returned a connected fd. */
#define _GNU_SOURCE
#include "relay.h"
#include "server.h" /* BUFFER_SIZE */
#include "util.h"

#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

// ANCHOR: tcp_client_relay
/* Not in the chapter: what the tcp_client program does once connected. Copies stdin to the
 * socket and the socket to stdout at the same time, as Stevens' str_cli does with select():
 * poll() waits on both, so neither direction can block the other (a large input echoed back
 * cannot deadlock). At stdin EOF it half-closes (shutdown SHUT_WR) and keeps reading.
 * recv() runs only when poll() says data is ready, so the 5 s SO_RCVTIMEO never fires on an
 * idle session. Returns 0 when the peer closes after stdin's EOF; -1 after printing an error,
 * or -1 with errno left as it was after "tcp_client: server terminated prematurely", when the
 * peer closes while stdin is still open (UNP 6.7, str_cli): what stdin has yet to say can no
 * longer be sent. */
int tcp_client_relay(int sock_fd)
{
    char to_sock[BUFFER_SIZE];   /* read from stdin, not yet sent */
    char from_sock[BUFFER_SIZE]; /* received, written to stdout at once */
    size_t pending = 0, offset = 0;
    int stdin_open = 1;

    while (1) {
        struct pollfd fds[2];
        fds[0].fd = (stdin_open && pending == 0) ? STDIN_FILENO : -1; /* -1: not watched */
        fds[0].events = POLLIN;
        fds[0].revents = 0;
        fds[1].fd = sock_fd;
        fds[1].events = (short)(POLLIN | (pending > 0 ? POLLOUT : 0));
        fds[1].revents = 0;

        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            perror_keep_errno("poll");
            return -1;
        }

        if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = recv(sock_fd, from_sock, sizeof(from_sock), MSG_DONTWAIT);
            if (n < 0 && errno != EINTR && errno != EAGAIN) {
                perror_keep_errno("recv"); /* e.g. ECONNRESET */
                return -1;
            }
            if (n == 0) { /* the peer closed */
                if (!stdin_open)
                    return 0; /* after our FIN: done */
                if (!(fds[0].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL))) {
                    fprintf(stderr, "tcp_client: server terminated prematurely\n");
                    return -1;
                }
                /* stdin is readable too (its EOF?): read it below, judge on the next round */
            }
            if (n > 0 && write_all(STDOUT_FILENO, from_sock, (size_t)n) < 0) {
                perror_keep_errno("write");
                return -1;
            }
        }

        if (pending > 0 && (fds[1].revents & POLLOUT)) {
            /* MSG_DONTWAIT: take what fits now, never block with the other side unread. */
            ssize_t n = send(sock_fd, to_sock + offset, pending, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n < 0 && errno != EINTR && errno != EAGAIN) {
                perror_keep_errno("send");
                return -1;
            }
            if (n > 0) {
                offset += (size_t)n;
                pending -= (size_t)n;
            }
        }

        /* POLLNVAL: fd 0 is closed; read() then reports EBADF instead of poll() spinning. */
        if (fds[0].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL)) {
            ssize_t n = read(STDIN_FILENO, to_sock, sizeof(to_sock));
            if (n < 0 && errno != EINTR) {
                perror_keep_errno("read");
                return -1;
            }
            if (n == 0) { /* stdin EOF: tell the peer we are done sending */
                stdin_open = 0;
                if (shutdown(sock_fd, SHUT_WR) < 0) {
                    perror_keep_errno("shutdown");
                    return -1;
                }
            } else if (n > 0) {
                pending = (size_t)n;
                offset = 0;
            }
        }
    }
}
// ANCHOR_END: tcp_client_relay
