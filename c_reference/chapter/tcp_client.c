/* tcp_client [-n TIMEOUT_MS] ADDR PORT built from the chapter's code as printed
 * (build/chapter/tcp_client): the chapter's tcp_client_connect / tcp_connect_nonblocking, then
 * our copy loop (relay.c, not in the chapter). The same arguments as c_reference/tcp_client.c,
 * and nothing that would hide a pitfall of the chapter's functions (no check that fds 0-2 are
 * open). */
#define _GNU_SOURCE
#include "chapter.h"
#include "relay.h"
#include "util.h" /* parse_port, parse_timeout_ms: argument checking */

static int usage(void)
{
    fprintf(stderr, "usage: tcp_client [-n TIMEOUT_MS] ADDR PORT   (PORT 1-65535)\n");
    return 2;
}

int main(int argc, char *argv[])
{
    int nonblocking = argc > 1 && strcmp(argv[1], "-n") == 0;
    int timeout_ms = 0;
    uint16_t port;

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

    /* As in our program: a write to a closed socket or stdout gives EPIPE, not death. */
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
