/* relay.h - not in the chapter: the tcp_client program's copy loop (see relay.c). */
#ifndef TCP_CHAPTER_RELAY_H
#define TCP_CHAPTER_RELAY_H

int tcp_client_relay(int sock_fd);

#endif
