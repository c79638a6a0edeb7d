/* http.c - the chapter's HTTP client AS PRINTED in 7.1.3 "TCP 소켓 프로그래밍" ("완전한 TCP
 * 클라이언트 예제"), bugs included: every code line below is the chapter's, byte for byte. Left
 * out: the chapter's main(), which fetches httpbin.org; http_get.c in this folder takes HOST PORT
 * PATH instead (docs/deviations.md #4). `// ANCHOR:` lines mark the steps for the book (mdBook
 * includes the lines between them and drops the marks). Do not fix anything here: c_reference/http.c is ours. */
#define _GNU_SOURCE
#include "chapter.h"

// ANCHOR: simple_http_client
// ANCHOR: http_signature
// 간단한 HTTP 클라이언트 구현
void simple_http_client(const char *host, uint16_t port, const char *path) {
    int sock_fd;
    char request[1024];
    char response[4096];
// ANCHOR_END: http_signature
    
    // ANCHOR: http_connect
    // 서버에 연결
    sock_fd = tcp_client_connect(host, port);
    if (sock_fd < 0) {
        return;
    }
    // ANCHOR_END: http_connect
    
    // ANCHOR: http_request
    // HTTP 요청 생성
    snprintf(request, sizeof(request),
             "GET %s HTTP/1.1\r\n"
             "Host: %s\r\n"
             "Connection: close\r\n"
             "\r\n",
             path, host);
    // ANCHOR_END: http_request
    
    // ANCHOR: http_send
    // 요청 전송
    if (send(sock_fd, request, strlen(request), MSG_NOSIGNAL) < 0) {
        perror("send");
        close(sock_fd);
        return;
    }
    // ANCHOR_END: http_send
    
    // ANCHOR: http_receive
    // 응답 수신
    ssize_t total = 0;
    ssize_t n;
    while ((n = recv(sock_fd, response + total, 
                    sizeof(response) - total - 1, 0)) > 0) {
        total += n;
    }
    // ANCHOR_END: http_receive
    
    // ANCHOR: http_after_loop
    if (total > 0) {
        response[total] = '\0';
        printf("HTTP Response:\n%s\n", response);
    }
    
    close(sock_fd);
}
// ANCHOR_END: http_after_loop
// ANCHOR_END: simple_http_client
