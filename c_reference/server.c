/* server.c - chapter 7.1.3, "TCP 서버 구현": socket -> setsockopt -> bind -> listen ->
 * accept -> fork -> recv/send -> close (steps 1-9). Lines marked "fix #N:" differ from the chapter;
 * docs/deviations.md lists each one with its reason. */
#define _GNU_SOURCE
#include "server.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

// ANCHOR: setup_signal_handlers
/* Ignore SIGPIPE (a write to a closed peer must fail with EPIPE, not kill the server) and
 * let the kernel reap children itself (SA_NOCLDWAIT: no zombies, no waitpid loop). */
void setup_signal_handlers(void)
{
    /* SIGPIPE ignored: a send() to a peer that has gone fails with EPIPE instead (send(2)). */
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) /* fix #26: result checked */
        perror_keep_errno("signal SIGPIPE");

    /* SIGCHLD with SA_NOCLDWAIT: exited children are reaped by the kernel (자동 회수),
     * never zombies (sigaction(2)). */
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa)); /* fix #26: no uninitialised fields reach the kernel */
    sa.sa_handler = SIG_DFL;
    sa.sa_flags = SA_NOCLDWAIT;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGCHLD, &sa, NULL) < 0) /* fix #26: result checked */
        perror_keep_errno("sigaction SIGCHLD");
}
// ANCHOR_END: setup_signal_handlers

// ANCHOR: create_tcp_server
/* Returns a listening socket bound to addr:port (addr NULL = every interface), or -1 with
 * errno set after printing which call failed. Prints "TCP server listening on ADDR:PORT" with
 * the address and port really bound (port 0: the one the kernel chose). */
int create_tcp_server(const char *addr, uint16_t port)
{
    int server_fd;
    struct sockaddr_in server_addr;

    /* Step 1: socket() - a TCP endpoint in the kernel and the fd that names it. */
    server_fd = socket(AF_INET, SOCK_STREAM, 0);
    if (server_fd < 0) {
        perror_keep_errno("socket");
        return -1;
    }
    TRACE("[step 1] socket() -> fd %d", server_fd);

    /* Step 2: SO_REUSEADDR - restart at once while old connections sit in TIME_WAIT
     * (docs/pitfalls.md #11). */
    int opt = 1;
    if (setsockopt(server_fd, SOL_SOCKET, SO_REUSEADDR, &opt, sizeof(opt)) < 0) {
        perror_keep_errno("setsockopt SO_REUSEADDR");
        close(server_fd);
        return -1;
    }

    /* SO_REUSEPORT - other sockets of the same user that also set it may bind this port
     * (socket(7)); the kernel picks one per connection by a hash of its addresses and ports
     * (reuseport_select_sock, docs/pitfalls.md #7). Optional, so a failure is reported and
     * ignored. Set by the old and the new server alike, it also lets a restart bind over
     * TIME_WAIT (docs/pitfalls.md #11). */
#ifdef SO_REUSEPORT
    if (setsockopt(server_fd, SOL_SOCKET, SO_REUSEPORT, &opt, sizeof(opt)) < 0) {
        perror_keep_errno("setsockopt SO_REUSEPORT");
        /* Non-critical, continue */
    }
#endif
    TRACE("[step 2] setsockopt(SO_REUSEADDR), setsockopt(SO_REUSEPORT)");

    /* Step 3: the address to bind, port in network byte order (htons). */
    memset(&server_addr, 0, sizeof(server_addr));
    server_addr.sin_family = AF_INET;
    server_addr.sin_port = htons(port);

    if (addr == NULL) {
        server_addr.sin_addr.s_addr = INADDR_ANY; /* 0.0.0.0 (0: byte order moot) */
    } else {
        int rc = inet_pton(AF_INET, addr, &server_addr.sin_addr);
        if (rc <= 0) {
            if (rc == 0) /* fix #7: 0 means "not an address" and leaves errno alone */
                report_invalid_ipv4(addr);
            else
                perror_keep_errno("inet_pton");
            close(server_fd);
            return -1;
        }
    }
    TRACE("[step 3] sockaddr_in {AF_INET, %s, htons(%u)}", addr ? addr : "INADDR_ANY", port);

    /* Step 4: bind() - register (address, port) -> this socket in the kernel. */
    if (bind(server_fd, (struct sockaddr *)&server_addr, sizeof(server_addr)) < 0) {
        perror_keep_errno("bind");
        close(server_fd);
        return -1;
    }
    TRACE("[step 4] bind %s:%u -> 0", addr ? addr : "0.0.0.0", port);

    /* Step 5: listen() - passive socket; the kernel completes handshakes itself and queues
     * them for accept(). LISTEN_BACKLOG caps that accept queue and also the SYN queue of
     * half-open handshakes, which listen(2) NOTES give to tcp_max_syn_backlog instead:
     * tests/claims/backlog.py measures backlog + 1 half-open, then SYN cookies, and backlog + 1
     * completed (docs/claims.md row 49); somaxconn caps both (listen(2)). */
    if (listen(server_fd, LISTEN_BACKLOG) < 0) {
        perror_keep_errno("listen");
        close(server_fd);
        return -1;
    }
    TRACE("[step 5] listen(backlog %d) -> 0", LISTEN_BACKLOG);

    /* fix #14: read the bound address back, so port 0 prints the port the kernel chose. */
    socklen_t addr_len = sizeof(server_addr);
    if (getsockname(server_fd, (struct sockaddr *)&server_addr, &addr_len) < 0) {
        perror_keep_errno("getsockname");
        close(server_fd);
        return -1;
    }
    char addr_str[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &server_addr.sin_addr, addr_str, sizeof(addr_str));
    printf("TCP server listening on %s:%u\n", addr_str, ntohs(server_addr.sin_port));

    return server_fd;
}
// ANCHOR_END: create_tcp_server

// ANCHOR: handle_client
/* Echoes everything the client sends until EOF or an error, then closes client_fd. Prints
 * "Client connected from IP:PORT", then "Client IP:PORT disconnected gracefully" on EOF, and
 * "Client IP:PORT connection closed" at the end of every session. */
void handle_client(int client_fd, struct sockaddr_in *client_addr)
{
    char buffer[BUFFER_SIZE];
    char addr_str[INET_ADDRSTRLEN];

    /* Who connected: the peer's address as text (inet_ntop), its port in host order (ntohs). */
    inet_ntop(AF_INET, &client_addr->sin_addr, addr_str, sizeof(addr_str));
    printf("Client connected from %s:%u\n", addr_str, ntohs(client_addr->sin_port));

    while (1) {
        /* Step 8: recv() blocks until data, EOF (0) or an error. */
        ssize_t n = recv(client_fd, buffer, sizeof(buffer), 0);

        if (n < 0) {
            if (errno == EINTR) { /* a signal handler ran: just retry */
                continue;
            }
            perror_keep_errno("recv"); /* e.g. ECONNRESET: the peer sent RST */
            break;
        }

        if (n == 0) { /* the peer sent FIN */
            TRACE("[step 8] recv() -> 0 (EOF: the peer sent FIN)");
            printf("Client %s:%u disconnected gracefully\n", addr_str,
                   ntohs(client_addr->sin_port));
            break;
        }

        /* send() may queue less than asked: on this blocking socket, when it stops after
         * queuing part (a stop and continue, an error, a caught signal or SO_SNDTIMEO; this
         * server sets neither of the last two; docs/claims.md row 73): loop until all n bytes
         * are out.
         * MSG_NOSIGNAL: a closed peer gives EPIPE instead of SIGPIPE. */
        ssize_t total_sent = 0;
        while (total_sent < n) {
            ssize_t sent = send(client_fd, buffer + total_sent, n - total_sent, MSG_NOSIGNAL);
            if (sent < 0) {
                if (errno == EINTR)
                    continue;
                perror_keep_errno("send"); /* EPIPE, ECONNRESET */
                goto done;
            }
            total_sent += sent;
        }
    }

done:
    /* Step 9: close() - the last reference: FIN, or RST if received data is still unread
     * (__tcp_close, net/ipv4/tcp.c; docs/claims.md row 77). */
    close(client_fd);
    TRACE("[step 9] close(fd %d)", client_fd);
    printf("Client %s:%u connection closed\n", addr_str, ntohs(client_addr->sin_port));
}
// ANCHOR_END: handle_client

// ANCHOR: tcp_server_loop
/* accept() forever, one child process per client. Returns only when accept() fails. Call it
 * from a single-threaded process: the child runs stdio and malloc after fork(), which is only
 * safe when no other thread can have held their locks at the fork (fork(2), signal-safety(7)). */
void tcp_server_loop(int server_fd)
{
    while (1) {
        struct sockaddr_in client_addr;
        socklen_t client_len = sizeof(client_addr);

        /* Step 6: accept() - the next completed connection, as a new fd. */
        int client_fd = accept(server_fd, (struct sockaddr *)&client_addr, &client_len);

        if (client_fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            perror_keep_errno("accept");
            break;
        }
        char ip[INET_ADDRSTRLEN]; /* for the narration only */
        TRACE("[step 6] accept() -> fd %d from %s:%u", client_fd,
              inet_ntop(AF_INET, &client_addr.sin_addr, ip, sizeof(ip)),
              ntohs(client_addr.sin_port));

        /* fix #6: flush stdio before fork, or a line still in the buffer is written by both
         * processes (twice in the log when stdout is a pipe or a file). */
        fflush(stdout);

        /* Step 7: fork() - one process per client. */
        pid_t pid = fork();
        if (pid < 0) {
            perror_keep_errno("fork");
            close(client_fd);
        } else if (pid == 0) {
            /* child: serve this client only */
            close(server_fd);
            handle_client(client_fd, &client_addr);
            exit(0);
        } else {
            /* parent: the child owns client_fd now */
            TRACE("[step 7] fork() -> child %d", (int)pid);
            close(client_fd);
        }
    }
}
// ANCHOR_END: tcp_server_loop
