/* client.c - chapter 7.1.3, "TCP 클라이언트 구현": socket -> address -> timeouts -> connect,
 * and the non-blocking variant with select(). Lines marked "fix #N:" differ from the chapter;
 * docs/deviations.md lists each one with its reason. */
#define _GNU_SOURCE
#include "client.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h> /* fix #1: the chapter uses fcntl() without this include */
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

// ANCHOR: clear_nonblocking
/* Clears O_NONBLOCK (chapter step 9 of tcp_connect_nonblocking); 0, or -1 with errno set. */
static int clear_nonblocking(int fd)
{
    int flags = fcntl(fd, F_GETFL, 0);
    if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0) { /* fix #28: checked */
        perror_keep_errno("fcntl");
        return -1;
    }
    TRACE("[nonblocking step 9] fcntl(F_SETFL, flags & ~O_NONBLOCK) -> 0");
    return 0;
}
// ANCHOR_END: clear_nonblocking

// ANCHOR: wait_interrupted_connect
/* Waits for the handshake of a blocking connect() that a signal interrupted (step 4 of
 * tcp_client_connect). With SO_SNDTIMEO set, Linux ends connect() with EINTR even after a mere
 * stop and continue (Ctrl-Z, fg), yet the handshake goes on. A second connect() would wait for
 * it with a new full timeout (each signal moving the deadline) and, if that ran out, fail with
 * EALREADY (__inet_stream_connect, net/ipv4/af_inet.c; UNP 16.3). So: poll() for writability,
 * then SO_ERROR, as tcp_connect_nonblocking does with select(), until `limit` after `start`.
 * poll(), not select(): this socket may be fd 1024 or above, which no fd_set can hold
 * (select(2)), and the blocking path works at any fd. Returns 0 once connected, or -1 with
 * errno set (ETIMEDOUT when time is up) after printing what failed. */
static int wait_interrupted_connect(int fd, const struct timespec *start,
                                    const struct timeval *limit)
{
    TRACE("[connect step 4] connect -> EINTR: the handshake goes on, poll() for it");
    struct pollfd pfd = {.fd = fd, .events = POLLOUT};
    int ret;
    do { /* a signal in poll() too: go on with the time left until the same deadline */
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now); /* cannot fail: a valid clock and pointer */
        long long left_us = (long long)limit->tv_sec * 1000000 + limit->tv_usec -
                            ((long long)(now.tv_sec - start->tv_sec) * 1000000 +
                             (now.tv_nsec - start->tv_nsec) / 1000);
        ret = poll(&pfd, 1, left_us > 0 ? (int)((left_us + 999) / 1000) : 0); /* ms, rounded up */
    } while (ret < 0 && errno == EINTR);

    if (ret <= 0) {
        if (ret == 0) {
            errno = ETIMEDOUT;
            perror_keep_errno("connect");
        } else {
            perror_keep_errno("poll");
        }
        return -1;
    }
    /* Writable also means "failed" (POLLERR, POLLHUP): SO_ERROR holds the handshake's result. */
    int error;
    socklen_t len = sizeof(error);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) < 0) {
        perror_keep_errno("getsockopt SO_ERROR");
        return -1;
    }
    if (error != 0) {
        errno = error; /* e.g. ECONNREFUSED */
        perror_keep_errno("connect");
        return -1;
    }
    return 0;
}
// ANCHOR_END: wait_interrupted_connect

// ANCHOR: tcp_client_connect
/* Connects to server_addr:server_port (an IPv4 literal) with 5 s send/receive timeouts and
 * prints "Connected to ADDR:PORT" on stderr.
 * Returns the connected fd, or -1 with errno set after printing which call failed. A signal
 * or a stop and continue that interrupts connect() is not a failure: the handshake is awaited
 * until the same 5 s deadline (fix #23). */
int tcp_client_connect(const char *server_addr, uint16_t server_port)
{
    int sock_fd;
    struct sockaddr_in server;

    /* Step 1: socket() */
    sock_fd = socket(AF_INET, SOCK_STREAM, 0);
    if (sock_fd < 0) {
        perror_keep_errno("socket");
        return -1;
    }
    TRACE("[connect step 1] socket() -> fd %d", sock_fd);

    /* Step 2: the server's address; inet_pton() parses dotted-quad text only. */
    memset(&server, 0, sizeof(server));
    server.sin_family = AF_INET;
    server.sin_port = htons(server_port);

    int rc = inet_pton(AF_INET, server_addr, &server.sin_addr);
    if (rc <= 0) {
        if (rc == 0) /* fix #7: 0 means "not an address" and leaves errno alone */
            report_invalid_ipv4(server_addr);
        else
            perror_keep_errno("inet_pton");
        close(sock_fd);
        return -1;
    }
    TRACE("[connect step 2] sockaddr_in {AF_INET, %s, htons(%u)}", server_addr, server_port);

    /* Step 3: timeouts. SO_SNDTIMEO also bounds a blocking connect() (socket(7)), so the call
     * below cannot hang for the kernel's ~2 min of SYN retries (tcp(7), tcp_syn_retries). */
    struct timeval timeout = {
        .tv_sec = 5,
        .tv_usec = 0,
    };

    if (setsockopt(sock_fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout)) < 0 ||
        setsockopt(sock_fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout)) < 0) {
        perror_keep_errno("setsockopt"); /* fix #27: the chapter ignores both results */
        close(sock_fd);
        return -1;
    }
    TRACE("[connect step 3] setsockopt(SO_SNDTIMEO, SO_RCVTIMEO: 5 s) -> 0");

    /* Step 4: connect() - the three-way handshake. */
    struct timespec start; /* fix #23: the deadline, should a signal interrupt connect() */
    clock_gettime(CLOCK_MONOTONIC, &start); /* cannot fail: a valid clock and pointer */
    if (connect(sock_fd, (struct sockaddr *)&server, sizeof(server)) < 0) {
        if (errno == EINTR) { /* fix #23: Ctrl-Z and fg, or a signal: the handshake goes on */
            if (wait_interrupted_connect(sock_fd, &start, &timeout) < 0) {
                close(sock_fd);
                return -1;
            }
        } else {
            if (errno == EINPROGRESS) /* fix #12: Linux's "SO_SNDTIMEO expired" (socket(7)) */
                errno = ETIMEDOUT;
            perror_keep_errno("connect");
            close(sock_fd);
            return -1;
        }
    }
    TRACE("[connect step 4] connect %s:%u -> 0", server_addr, server_port);

    /* fix #13: stderr, so that stdout carries only the data */
    fprintf(stderr, "Connected to %s:%u\n", server_addr, server_port);

    return sock_fd;
}
// ANCHOR_END: tcp_client_connect

// ANCHOR: tcp_connect_nonblocking
/* Connects without blocking longer than timeout_ms: connect() on a non-blocking socket,
 * select() for writability, SO_ERROR for the result. Returns a connected fd in blocking
 * mode, or -1 with errno set (ETIMEDOUT on timeout) after printing what failed. */
int tcp_connect_nonblocking(const char *server_addr, uint16_t server_port, int timeout_ms)
{
    int sock_fd;
    struct sockaddr_in server;

    /* Step 1: socket(), non-blocking from birth (SOCK_NONBLOCK: no extra fcntl). */
    sock_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (sock_fd < 0) {
        perror_keep_errno("socket");
        return -1;
    }
    TRACE("[nonblocking step 1] socket(SOCK_NONBLOCK) -> fd %d", sock_fd);

    /* fix #9: select() (step 7) cannot watch an fd >= FD_SETSIZE: FD_SET on it is undefined
     * behaviour (select(2)), writing past the fd_set or aborting under _FORTIFY_SOURCE.
     * Refused now, before connect() reaches the server. */
    if (sock_fd >= FD_SETSIZE) {
        fprintf(stderr, "select: fd %d >= FD_SETSIZE (%d), cannot wait on it\n", sock_fd,
                FD_SETSIZE);
        close(sock_fd);
        errno = EINVAL;
        return -1;
    }

    /* Step 2: the server's address. */
    memset(&server, 0, sizeof(server));
    server.sin_family = AF_INET;
    server.sin_port = htons(server_port);
    int rc = inet_pton(AF_INET, server_addr, &server.sin_addr);
    if (rc <= 0) { /* fix #8: the chapter ignores the result and connects to 0.0.0.0 */
        if (rc == 0)
            report_invalid_ipv4(server_addr);
        else
            perror_keep_errno("inet_pton");
        close(sock_fd);
        return -1;
    }
    TRACE("[nonblocking step 2] sockaddr_in {AF_INET, %s, htons(%u)}", server_addr, server_port);

    /* Step 3: connect() returns at once, normally -1 with EINPROGRESS. */
    int ret = connect(sock_fd, (struct sockaddr *)&server, sizeof(server));

    /* Step 4: anything but EINPROGRESS is an immediate failure (e.g. ENETUNREACH). */
    if (ret < 0 && errno != EINPROGRESS) {
        perror_keep_errno("connect");
        close(sock_fd);
        return -1;
    }
    TRACE("[nonblocking step 3] connect %s:%u -> %d", server_addr, server_port, ret);
    TRACE("[nonblocking step 4] %s",
          ret == 0 ? "connected at once" : "EINPROGRESS: the handshake goes on, wait for it");

    if (ret == 0) {
        /* Connected at once. fix #24: the chapter returned here still non-blocking. */
        if (clear_nonblocking(sock_fd) < 0) {
            close(sock_fd);
            return -1;
        }
        return sock_fd;
    }

    /* Step 5: wait for writability, which is how a finished handshake shows. */
    fd_set write_fds;
    FD_ZERO(&write_fds);
    FD_SET(sock_fd, &write_fds);
    TRACE("[nonblocking step 5] FD_SET(fd %d, &write_fds)", sock_fd);

    /* Step 6: the timeout, milliseconds -> seconds + microseconds. */
    struct timeval timeout = {
        .tv_sec = timeout_ms / 1000,
        .tv_usec = (timeout_ms % 1000) * 1000,
    };
    TRACE("[nonblocking step 6] timeout %d ms -> {%ld s, %ld us}", timeout_ms,
          (long)timeout.tv_sec, (long)timeout.tv_usec);

    /* Step 7: select() on writability only. On EINTR the set is left untouched (select(2)) and
     * Linux, where POSIX leaves it open, writes the time left into the timeout (fs/select.c,
     * poll_select_finish), so retrying keeps the deadline (fix #11: retried). */
    do {
        ret = select(sock_fd + 1, NULL, &write_fds, NULL, &timeout);
    } while (ret < 0 && errno == EINTR);

    if (ret <= 0) {
        if (ret == 0) { /* fix #10: the chapter returns -1 with no errno and no message */
            errno = ETIMEDOUT;
            perror_keep_errno("connect");
        } else {
            perror_keep_errno("select");
        }
        close(sock_fd);
        return -1;
    }
    TRACE("[nonblocking step 7] select() -> %d (writable)", ret);

    /* Step 8: writable also means "failed": SO_ERROR holds the handshake's result. */
    int error;
    socklen_t len = sizeof(error);
    if (getsockopt(sock_fd, SOL_SOCKET, SO_ERROR, &error, &len) < 0) {
        perror_keep_errno("getsockopt SO_ERROR"); /* fix #10: reported */
        close(sock_fd);
        return -1;
    }

    if (error != 0) {
        errno = error; /* e.g. ECONNREFUSED */
        perror_keep_errno("connect"); /* fix #10: reported */
        close(sock_fd);
        return -1;
    }
    TRACE("[nonblocking step 8] getsockopt(SO_ERROR) -> 0, error 0");

    /* Step 9: back to blocking mode for ordinary send()/recv() (fix #28: fcntl checked). */
    if (clear_nonblocking(sock_fd) < 0) {
        close(sock_fd);
        return -1;
    }

    return sock_fd;
}
// ANCHOR_END: tcp_connect_nonblocking
