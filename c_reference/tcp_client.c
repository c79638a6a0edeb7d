/* tcp_client [-n TIMEOUT_MS] ADDR PORT - connects with the chapter's tcp_client_connect()
 * (5 s timeouts) or, with -n, tcp_connect_nonblocking(); then copies stdin to the server and
 * the server to stdout until the server closes. Exit: 0 when the server closed, 1 if a call
 * fails, 2 on bad arguments. */
#define _GNU_SOURCE
#include "client.h"
#include "relay.h"
#include "util.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int usage(void)
{
    return usage_error("usage: tcp_client [-n TIMEOUT_MS] ADDR PORT   "
                       "(PORT 1-65535, TIMEOUT_MS 1-2147483647)");
}

int main(int argc, char *argv[])
{
    int nonblocking = argc > 1 && strcmp(argv[1], "-n") == 0;
    int timeout_ms = 0;
    uint16_t port;

    /* fix #22: fds 0-2 open before anything else, so no socket can become stdin/stdout/stderr. */
    if (open_standard_fds() < 0)
        return 1;

    if (nonblocking) {
        if (argc != 5 || parse_timeout_ms(argv[2], &timeout_ms) < 0)
            return usage();
        argv += 2;
    } else if (argc != 3) {
        return usage();
    }
    const char *addr = argv[1];
    if (parse_port(argv[2], 1, &port) < 0)
        return usage();

    /* A write to a closed socket or stdout must fail with EPIPE, not kill us. */
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
        perror("signal");
        return 1;
    }

    int sock_fd;
    if (nonblocking) {
        sock_fd = tcp_connect_nonblocking(addr, port, timeout_ms);
        if (sock_fd >= 0)
            fprintf(stderr, "Connected to %s:%u\n", addr, port);
    } else {
        sock_fd = tcp_client_connect(addr, port);
    }
    if (sock_fd < 0)
        return 1;

    int rc = tcp_client_relay(sock_fd);
    close(sock_fd);
    return rc < 0 ? 1 : 0;
}
