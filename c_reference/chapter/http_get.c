/* http_get HOST PORT PATH built from the chapter's code as printed (build/chapter/http_get).
 * The chapter's main() calls simple_http_client("httpbin.org", 80, "/ip") and returns 0; this
 * one takes the same arguments as c_reference/http_get.c and, like the chapter's, returns 0
 * whatever happened: the chapter's simple_http_client returns void. */
#define _GNU_SOURCE
#include "chapter.h"
#include "util.h" /* parse_port, is_visible_ascii: argument checking */

static int usage(void)
{
    fprintf(stderr, "usage: http_get HOST PORT PATH   (PORT 1-65535, PATH e.g. /index.html, no spaces)\n");
    return 2;
}

int main(int argc, char *argv[])
{
    uint16_t port;

    if (argc != 4 || parse_port(argv[2], 1, &port) < 0 || !is_visible_ascii(argv[1]) ||
        !is_visible_ascii(argv[3]))
        return usage();

    /* As in our program: a write to a closed socket or stdout gives EPIPE, not death. */
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
        perror("signal");
        return 1;
    }

    simple_http_client(argv[1], port, argv[3]);
    return 0;
}
