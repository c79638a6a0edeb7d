/* server.h - chapter 7.1.3, "TCP 서버 구현": the fork-per-client echo server. */
#ifndef TCP_CHAPTER_SERVER_H
#define TCP_CHAPTER_SERVER_H

#include <netinet/in.h>
#include <stdint.h>

// ANCHOR: constants
/* listen() backlog: caps the accept queue (completed connections waiting for accept())
 * and the SYN queue (half-open handshakes); see step 5 of create_tcp_server. */
#define LISTEN_BACKLOG 128
#ifndef BUFFER_SIZE /* make BUFFER_SIZE=N overrides it (make bench) */
#define BUFFER_SIZE 4096
#endif
// ANCHOR_END: constants
/* As the Rust's const assert: recv() into 0 bytes returns 0 (recv(2)), read as EOF. */
#if BUFFER_SIZE < 1
#error "BUFFER_SIZE must be positive"
#endif

void setup_signal_handlers(void);
int create_tcp_server(const char *addr, uint16_t port);
void handle_client(int client_fd, struct sockaddr_in *client_addr);
void tcp_server_loop(int server_fd);

#endif
