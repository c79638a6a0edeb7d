/* echo_server PORT [ADDR] built from the chapter's code as printed (build/chapter/echo_server).
 * The same arguments as c_reference/echo_server.c, and nothing that would hide a pitfall of
 * the chapter's functions: no line-buffered stdout, no check that fds 0-2 are open. */
#define _GNU_SOURCE
#include "chapter.h"
#include "util.h" /* parse_port: argument checking, not a chapter function */

static int usage(void)
{
    fprintf(stderr, "usage: echo_server PORT [ADDR]   (PORT 0-65535, ADDR default 127.0.0.1)\n");
    return 2;
}

int main(int argc, char *argv[])
{
    uint16_t port;
    const char *addr = "127.0.0.1";

    if (argc < 2 || argc > 3 || parse_port(argv[1], 0, &port) < 0)
        return usage();
    if (argc == 3)
        addr = argv[2];

    setup_signal_handlers();

    int server_fd = create_tcp_server(addr, port);
    if (server_fd < 0)
        return 1;

    tcp_server_loop(server_fd); /* returns only when accept() fails */
    close(server_fd);
    return 1;
}
