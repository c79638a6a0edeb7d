/* util.h - small helpers shared by the three programs (not in the chapter). */
#ifndef TCP_CHAPTER_UTIL_H
#define TCP_CHAPTER_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

// ANCHOR: open_standard_fds
/* Makes sure fds 0, 1 and 2 are open, pointing a closed one at /dev/null: otherwise the
 * program's first socket() takes the lowest free fd (socket(2)), say 2, and perror() or
 * "Connected to" writes into the connection. Each main calls it first. The twin of what Rust's
 * runtime does before main (std's sanitize_standard_fds), with the same calls: poll() of fds
 * 0-2 with timeout 0 (fcntl(F_GETFD) per fd if poll() fails with EINVAL, EAGAIN or ENOMEM),
 * then open("/dev/null", O_RDWR) for the first closed fd and dup() of it for the others.
 * Returns 0, or -1 after printing why (on whatever fd 2 is), where std calls abort(). */
int open_standard_fds(void);
// ANCHOR_END: open_standard_fds

/* Prints the usage line `usage` on stderr and returns 2, the exit status of a usage error,
 * whatever stderr is: SIGPIPE is ignored first (a closed pipe as stderr would otherwise kill
 * the program before its main ignores SIGPIPE), and a failed write (2>/dev/full) is ignored. */
int usage_error(const char *usage);

/* Parses a decimal port (digits only) in [min, 65535]; 0 on success, -1 if invalid. */
int parse_port(const char *s, unsigned min, uint16_t *port);

/* Parses a decimal timeout in milliseconds in [1, INT_MAX]; 0 on success, -1 if invalid. */
int parse_timeout_ms(const char *s, int *timeout_ms);

/* 1 if s is non-empty printable ASCII without spaces (fit for an HTTP request line or Host
 * header: no CR LF to smuggle a header in), else 0. */
int is_visible_ascii(const char *s);

/* write() until all len bytes are out (retrying EINTR); 0 on success, -1 with errno set. */
int write_all(int fd, const void *buf, size_t len);

// ANCHOR: perror_keep_errno
/* perror(what), then errno as it was: glibc's first perror() in a process may itself set errno
 * (to EINVAL, when stderr is a write-only pipe or file: its fdopen(dup(2), "w+") fails, in
 * stdio-common/perror.c; docs/pitfalls.md #8), and our functions return -1 with the failing
 * call's errno. */
void perror_keep_errno(const char *what);
// ANCHOR_END: perror_keep_errno

/* Prints "inet_pton: invalid IPv4 address 'addr'" and sets errno to EINVAL: inet_pton()
 * returns 0 for a malformed address WITHOUT setting errno (inet_pton(3) names errno only for -1;
 * docs/pitfalls.md #2), so perror() would say "Success". */
void report_invalid_ipv4(const char *addr);

// ANCHOR: trace
/* TRACE=1 narration (not in the chapter): when the environment variable TRACE is "1", each
 * chapter step prints one line on stderr, the same text as the Rust port, whatever its length.
 * trace_on() reads getenv("TRACE") once into an atomic flag (safe from several threads); with
 * TRACE unset a step costs one load of that flag. */
int trace_on(void);
void trace_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#define TRACE(...)                                                                             \
    do {                                                                                       \
        if (trace_on())                                                                        \
            trace_line(__VA_ARGS__);                                                           \
    } while (0)
// ANCHOR_END: trace

#endif
