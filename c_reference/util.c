/* util.c - small helpers shared by the three programs (not in the chapter). */
#define _GNU_SOURCE
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// ANCHOR: open_standard_fds
int open_standard_fds(void)
{
    struct pollfd fds[3] = {{.fd = 0}, {.fd = 1}, {.fd = 2}}; /* events 0: only POLLNVAL */
    int polled, devnull = -1;

    while ((polled = poll(fds, 3, 0)) < 0 && errno == EINTR)
        ;
    if (polled < 0 && errno != EINVAL && errno != EAGAIN && errno != ENOMEM) {
        perror_keep_errno("poll");
        return -1;
    }
    for (int fd = 0; fd < 3; fd++) { /* open() and dup() take the lowest free fd: this hole */
        int closed = polled >= 0 ? fds[fd].revents & POLLNVAL
                                 : fcntl(fd, F_GETFD) < 0 && errno == EBADF; /* as std does */
        if (closed && (devnull < 0 || dup(devnull) < 0) &&
            (devnull = open("/dev/null", O_RDWR)) < 0) {
            perror_keep_errno("open /dev/null");
            return -1;
        }
    }
    return 0;
}
// ANCHOR_END: open_standard_fds

int usage_error(const char *usage)
{
    signal(SIGPIPE, SIG_IGN); /* cannot fail: a valid signal and disposition */
    fprintf(stderr, "%s\n", usage);
    return 2;
}

/* Parses digits only (no sign, no spaces, no hex), refusing anything above max. */
static int parse_decimal(const char *s, long long max, long long *value)
{
    long long v = 0;

    if (*s == '\0')
        return -1;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        v = v * 10 + (*s - '0');
        if (v > max)
            return -1;
    }
    *value = v;
    return 0;
}

int parse_port(const char *s, unsigned min, uint16_t *port)
{
    long long v;

    if (parse_decimal(s, 65535, &v) < 0 || v < (long long)min)
        return -1;
    *port = (uint16_t)v;
    return 0;
}

int parse_timeout_ms(const char *s, int *timeout_ms)
{
    long long v;

    if (parse_decimal(s, INT_MAX, &v) < 0 || v < 1)
        return -1;
    *timeout_ms = (int)v;
    return 0;
}

int is_visible_ascii(const char *s)
{
    if (*s == '\0')
        return 0;
    for (; *s != '\0'; s++)
        if (*s <= ' ' || *s > '~')
            return 0;
    return 1;
}

int write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;

    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

// ANCHOR: perror_keep_errno
void perror_keep_errno(const char *what)
{
    int saved = errno;

    perror(what);
    errno = saved;
}
// ANCHOR_END: perror_keep_errno

// ANCHOR: report_invalid_ipv4
void report_invalid_ipv4(const char *addr)
{
    fprintf(stderr, "inet_pton: invalid IPv4 address '%s'\n", addr);
    errno = EINVAL;
}
// ANCHOR_END: report_invalid_ipv4

// ANCHOR: trace_on
/* The flag is atomic: threads may call this at once (the twin tests do), and a plain static
 * written by one and read by another is a data race (C11 5.1.2.4), undefined behaviour. Two
 * first calls may both read TRACE; they store the same answer. */
int trace_on(void)
{
    static atomic_int on = -1; /* -1: TRACE not read yet */
    int v = atomic_load_explicit(&on, memory_order_relaxed);

    if (v < 0) {
        const char *e = getenv("TRACE");
        v = e != NULL && strcmp(e, "1") == 0;
        atomic_store_explicit(&on, v, memory_order_relaxed);
    }
    return v;
}
// ANCHOR_END: trace_on

/* Formats one line and writes it with one write(2), so lines of concurrent processes stay
 * whole (in a pipe, up to PIPE_BUF, 4096 bytes: pipe(7)); errno is kept, so a narrated step
 * never changes what perror() reports next. A line longer than the stack buffer is formatted
 * again into one of its size: never cut, as in Rust. */
void trace_line(const char *fmt, ...)
{
    char small[512], *line = small;
    int saved_errno = errno;
    va_list ap, again;

    va_start(ap, fmt);
    va_copy(again, ap);
    int len = vsnprintf(small, sizeof(small) - 1, fmt, ap); /* - 1: room for the '\n' */
    if (len >= (int)sizeof(small) - 1) {
        line = malloc((size_t)len + 2);
        if (line != NULL) {
            vsnprintf(line, (size_t)len + 1, fmt, again);
        } else { /* no memory: the line, cut */
            line = small;
            len = (int)sizeof(small) - 2;
        }
    }
    va_end(again);
    va_end(ap);
    if (len >= 0) {
        line[len] = '\n';
        write_all(STDERR_FILENO, line, (size_t)len + 1);
    }
    if (line != small)
        free(line);
    errno = saved_errno;
}
