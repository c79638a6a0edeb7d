/* http_get HOST PORT PATH - the chapter's simple_http_client(): one GET request, the raw
 * response on stdout. HOST is an IPv4 literal or a name. Exit: 0 when a response arrived
 * (any status), 1 if a call fails, 2 on bad arguments. */
#define _GNU_SOURCE
#include "http.h"
#include "util.h"

#include <signal.h>
#include <stdio.h>

static int usage(void)
{
    return usage_error("usage: http_get HOST PORT PATH   (PORT 1-65535, PATH e.g. /index.html, no spaces)");
}

int main(int argc, char *argv[])
{
    uint16_t port;

    /* fix #22: fds 0-2 open before anything else, so no socket can become stdin/stdout/stderr. */
    if (open_standard_fds() < 0)
        return 1;

    if (argc != 4 || parse_port(argv[2], 1, &port) < 0 || !is_visible_ascii(argv[1]) ||
        !is_visible_ascii(argv[3]))
        return usage();

    /* A write to a closed socket or stdout must fail with EPIPE, not kill us. */
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
        perror("signal");
        return 1;
    }

    return simple_http_client(argv[1], port, argv[3]) < 0 ? 1 : 0;
}
