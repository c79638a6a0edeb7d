/* http.c - chapter 7.1.3, "완전한 TCP 클라이언트 예제": connect, send one GET request, print
 * the response until the server closes. Lines marked "fix #N:" differ from the chapter;
 * docs/deviations.md lists each one with its reason. */
#define _GNU_SOURCE
#include "http.h"
#include "client.h"
#include "server.h" /* BUFFER_SIZE */
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

// ANCHOR: resolve_ipv4
/* fix #16: the chapter hands the host name straight to inet_pton(), which accepts only
 * dotted-quad text. A dotted quad is taken as it is (inet_pton); any other text that is not
 * a number is a name, which getaddrinfo() resolves to an IPv4 address. getaddrinfo() also
 * takes the old inet_aton() spellings (127.1, 0x7f.1, 0177.0.0.1 in octal, 2130706433;
 * inet_aton(3)): refused, as tcp_client refuses them (a leading 0 means octal there, so
 * 010.1.1.1 is 8.1.1.1). Writes the address as text into ip; 0, or -1 after printing why. */
static int resolve_ipv4(const char *host, char *ip, socklen_t ip_len)
{
    struct addrinfo hints, *res;
    struct in_addr quad;

    if (inet_pton(AF_INET, host, &quad) == 1) {
        inet_ntop(AF_INET, &quad, ip, ip_len);
        return 0;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST; /* numbers only: no lookup */
    if (getaddrinfo(host, NULL, &hints, &res) == 0) {
        freeaddrinfo(res);
        report_invalid_ipv4(host); /* a number, but not a dotted quad */
        return -1;
    }
    hints.ai_flags = 0;
    int rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "getaddrinfo: %s: %s\n", host,
                rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
        errno = ENOENT;
        return -1;
    }
    struct sockaddr_in *sin = (struct sockaddr_in *)res->ai_addr;
    inet_ntop(AF_INET, &sin->sin_addr, ip, ip_len);
    freeaddrinfo(res);
    return 0;
}
// ANCHOR_END: resolve_ipv4

// ANCHOR: simple_http_client
/* GET path from host:port; prints "HTTP Response:", every byte received, and a newline.
 * Returns 0 once a response arrived (any status), -1 after printing what failed.
 * fix #20: the chapter returns void; the caller needs to know for its exit code. */
int simple_http_client(const char *host, uint16_t port, const char *path)
{
    int sock_fd;
    char request[1024];
    char response[BUFFER_SIZE]; /* fix #15: reused per recv() and streamed out, so no 4 KiB cap */
    char ip[INET_ADDRSTRLEN];

    /* fix #16: the name is resolved first (resolve_ipv4). */
    if (resolve_ipv4(host, ip, sizeof(ip)) < 0)
        return -1;
    TRACE("[http step 1] resolve_ipv4(%s) -> %s", host, ip);

    /* Build the request. fix #17, #18: Host carries ":port" when the port is not 80 (RFC 9110
     * 7.2), and a request that does not fit is refused instead of cut short, before connecting. */
    int len;
    if (port == 80)
        len = snprintf(request, sizeof(request),
                       "GET %s HTTP/1.1\r\n"
                       "Host: %s\r\n"
                       "Connection: close\r\n"
                       "\r\n",
                       path, host);
    else
        len = snprintf(request, sizeof(request),
                       "GET %s HTTP/1.1\r\n"
                       "Host: %s:%u\r\n"
                       "Connection: close\r\n"
                       "\r\n",
                       path, host, port);
    if (len < 0 || (size_t)len >= sizeof(request)) {
        fprintf(stderr, "PATH too long: the request would be %d bytes, at most %zu\n", len,
                sizeof(request) - 1);
        errno = EMSGSIZE;
        return -1;
    }
    TRACE("[http step 2] request: GET %s, %d bytes", path, len);

    /* Connect to the server (fix #18: once the request is known to fit). */
    sock_fd = tcp_client_connect(ip, port);
    if (sock_fd < 0) {
        return -1;
    }
    TRACE("[http step 3] tcp_client_connect(%s, %u) -> fd %d", ip, port, sock_fd);

    /* Send the request. fix #25: loop, as handle_client does; send() may write less. */
    size_t sent_total = 0;
    while (sent_total < (size_t)len) {
        ssize_t sent = send(sock_fd, request + sent_total, (size_t)len - sent_total,
                            MSG_NOSIGNAL);
        if (sent < 0) {
            if (errno == EINTR)
                continue;
            perror_keep_errno("send");
            close(sock_fd);
            return -1;
        }
        sent_total += (size_t)sent;
    }
    TRACE("[http step 4] send() -> %zu bytes", sent_total);

    /* Receive until the server closes (Connection: close). fix #15: each chunk goes to stdout
     * as it arrives, with write(), so nothing is cut at 4 KiB or at a NUL byte. */
    ssize_t total = 0;
    ssize_t n;
    while (1) {
        n = recv(sock_fd, response, sizeof(response), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if ((total == 0 && write_all(STDOUT_FILENO, "HTTP Response:\n", 15) < 0) ||
            write_all(STDOUT_FILENO, response, (size_t)n) < 0) {
            perror_keep_errno("write");
            close(sock_fd);
            return -1;
        }
        total += n;
    }

    /* The loop ended at EOF or on an error: only EOF after some bytes is a response. */
    if (n < 0) { /* fix #19: the chapter treats a failed recv() like the end of the response */
        if (errno == EAGAIN) /* SO_RCVTIMEO expired */
            errno = ETIMEDOUT;
        perror_keep_errno("recv");
        close(sock_fd);
        return -1;
    }

    if (total == 0) { /* fix #20: nothing at all is an error, not an empty success */
        fprintf(stderr, "recv: connection closed before any response\n");
        close(sock_fd);
        errno = ECONNRESET;
        return -1;
    }
    TRACE("[http step 5] recv() until EOF -> %zd bytes", total);

    close(sock_fd);
    TRACE("[http step 6] close(fd %d)", sock_fd);
    if (write_all(STDOUT_FILENO, "\n", 1) < 0) {
        perror_keep_errno("write");
        return -1;
    }
    return 0;
}
// ANCHOR_END: simple_http_client
