/* client.h - chapter 7.1.3, "TCP 클라이언트 구현": blocking and non-blocking connect. */
#ifndef TCP_CHAPTER_CLIENT_H
#define TCP_CHAPTER_CLIENT_H

#include <stdint.h>

int tcp_client_connect(const char *server_addr, uint16_t server_port);
int tcp_connect_nonblocking(const char *server_addr, uint16_t server_port, int timeout_ms);

#endif
