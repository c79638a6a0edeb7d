/* echo_server PORT [ADDR] - the chapter's TCP echo server: create_tcp_server() and
 * tcp_server_loop(). ADDR defaults to 127.0.0.1 (0.0.0.0 = every interface); PORT 0 lets
 * the kernel pick. Exit: 1 if a call fails, 2 on bad arguments. */
#define _GNU_SOURCE
#include "server.h"
#include "util.h"

#include <stdio.h>
#include <unistd.h>

static int usage(void)
{
    return usage_error("usage: echo_server PORT [ADDR]   (PORT 0-65535, ADDR default 127.0.0.1)");
}

// ANCHOR: main
int main(int argc, char *argv[])
{
    uint16_t port;
    const char *addr = "127.0.0.1";

    /* fix #22: fds 0-2 open before anything else, so no socket can become stdin/stdout/stderr. */
    if (open_standard_fds() < 0)
        return 1;

    if (argc < 2 || argc > 3 || parse_port(argv[1], 0, &port) < 0)
        return usage();
    if (argc == 3)
        addr = argv[2];

    /* Line-buffered stdout: each log line leaves at once, even into a pipe or a file. */
    setvbuf(stdout, NULL, _IOLBF, 0);

    setup_signal_handlers();

    int server_fd = create_tcp_server(addr, port);
    if (server_fd < 0)
        return 1;

    tcp_server_loop(server_fd); /* returns only when accept() fails */
    close(server_fd);
    return 1;
}
// ANCHOR_END: main
