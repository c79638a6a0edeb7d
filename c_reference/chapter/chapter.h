/* chapter.h - what the chapter's three code blocks need to compile as separate files: the
 * chapter's own includes (from its server block), <fcntl.h> for fcntl() in
 * tcp_connect_nonblocking (the chapter forgot it: docs/deviations.md #1), and the prototypes of
 * its functions exactly as printed (simple_http_client returns void). */
#ifndef TCP_CHAPTER_AS_PRINTED_H
#define TCP_CHAPTER_AS_PRINTED_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <signal.h>
#include <errno.h>
#include <fcntl.h>

void setup_signal_handlers(void);
int create_tcp_server(const char *addr, uint16_t port);
void handle_client(int client_fd, struct sockaddr_in *client_addr);
void tcp_server_loop(int server_fd);
int tcp_client_connect(const char *server_addr, uint16_t server_port);
int tcp_connect_nonblocking(const char *server_addr, uint16_t server_port, int timeout_ms);
void simple_http_client(const char *host, uint16_t port, const char *path);

#endif
