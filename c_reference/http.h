/* http.h - chapter 7.1.3, "완전한 TCP 클라이언트 예제": a minimal HTTP/1.1 GET. */
#ifndef TCP_CHAPTER_HTTP_H
#define TCP_CHAPTER_HTTP_H

#include <stdint.h>

int simple_http_client(const char *host, uint16_t port, const char *path);

#endif
