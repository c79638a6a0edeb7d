/* util.c - small helpers shared by the three programs (not in the chapter). */
#define _GNU_SOURCE
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int open_standard_fds(void)
{
    struct pollfd fds[3] = {{.fd = 0}, {.fd = 1}, {.fd = 2}}; /* events 0: only POLLNVAL */
    int polled = 1, devnull = -1;

    /* One call tells which of the three are closed: revents POLLNVAL. */
    while (poll(fds, 3, 0) < 0) {
        if (errno == EINTR)
            continue;
        if (errno != EINVAL && errno != EAGAIN && errno != ENOMEM) {
            perror_keep_errno("poll");
            return -1;
        }
        polled = 0; /* RLIMIT_NOFILE below 3 or no memory: ask fcntl() per fd, as std does */
        break;
    }

    /* open() and dup() return the lowest free fd: filled in order, each lands on its hole. */
    for (int fd = 0; fd < 3; fd++) {
        int closed = polled ? (fds[fd].revents & POLLNVAL)
                            : (fcntl(fd, F_GETFD) < 0 && errno == EBADF);
        if (!closed)
            continue;
        if (devnull < 0 || dup(devnull) < 0) {
            devnull = open("/dev/null", O_RDWR);
            if (devnull < 0) {
                perror_keep_errno("open /dev/null");
                return -1;
            }
        }
    }
    return 0;
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

void perror_keep_errno(const char *what)
{
    int saved = errno;

    perror(what);
    errno = saved;
}

void report_invalid_ipv4(const char *addr)
{
    fprintf(stderr, "inet_pton: invalid IPv4 address '%s'\n", addr);
    errno = EINVAL;
}

int trace_on(void)
{
    static int on = -1; /* -1: TRACE not read yet */

    if (on < 0) {
        const char *v = getenv("TRACE");
        on = v != NULL && strcmp(v, "1") == 0;
    }
    return on;
}

/* Formats one line and writes it with one write(2), so lines of concurrent processes stay
 * whole; errno is kept, so a narrated step never changes what perror() reports next. */
void trace_line(const char *fmt, ...)
{
    char line[512];
    int saved_errno = errno;
    va_list ap;

    va_start(ap, fmt);
    int len = vsnprintf(line, sizeof(line) - 1, fmt, ap);
    va_end(ap);
    if (len >= 0) {
        if ((size_t)len > sizeof(line) - 2)
            len = (int)sizeof(line) - 2;
        line[len++] = '\n';
        write_all(STDERR_FILENO, line, (size_t)len);
    }
    errno = saved_errno;
}
