#!/usr/bin/env python3
"""The small drivers of the wire lessons, for what the chapter's programs never do. Each is run
under strace by tests/wire/wire.py, so its system calls stand in the timeline beside the
programs'; each prints one readiness line on stdout ("port N", "ready", ...) that the lesson
awaits. Loopback only. python3 standard library only.

    drivers.py close_unread PORT        connect, send "hello\\n", wait until the echo has arrived
                                        (poll, not read), close with it unread: the kernel sends RST
    drivers.py full_listener            listen(0) on a kernel-chosen port and fill its accept queue
                                        with one connection of its own (never accepted), until the
                                        kernel says it is full (TCP_INFO); print "port N"; wait for
                                        stdin EOF
    drivers.py nagle_server             listen, accept one client; answer each 2 bytes with 1
    drivers.py nagle_client PORT N      N rounds of send(1 byte), send(1 byte), recv(1), then
                                        TCP_NODELAY and N rounds more
    drivers.py queue_listener BACKLOG   listen(BACKLOG) with TCP_DEFER_ACCEPT (a handshake without
                                        data then stays in the SYN queue), never accept; "port N"
    drivers.py queue_clients PORT N     N non-blocking connects, one at a time, each given 50 ms to
                                        complete; print "done"; wait for stdin EOF
"""
import select
import socket
import struct
import sys
import time

HOST = "127.0.0.1"


def say(line):
    print(line, flush=True)


def close_unread(port):
    s = socket.create_connection((HOST, port))
    s.sendall(b"hello\n")
    # The echo arrives in our receive queue; we never read it.
    select.select([s], [], [], 3)
    say("unread")
    s.close()


def listener_is_full(ls):
    """The kernel's sk_acceptq_is_full for a listener: TCP_INFO's tcpi_unacked (the accept
    queue's length) above tcpi_sacked (its limit, the backlog) (tcp_get_info, net/ipv4/tcp.c)."""
    info = ls.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
    unacked, sacked = struct.unpack_from("II", info, 24)
    return unacked > sacked


def start_connect(port, wait):
    """A non-blocking connect to HOST:port, given up to `wait` s to become writable (its
    handshake done or refused); the socket is returned either way."""
    c = socket.socket()
    c.setblocking(False)
    try:
        c.connect((HOST, port))
    except BlockingIOError:
        pass
    select.select([], [c], [], wait)
    return c


def full_listener():
    ls = socket.socket()
    ls.bind((HOST, 0))
    ls.listen(0)
    port = ls.getsockname()[1]
    fillers = []
    deadline = time.monotonic() + 3
    while not listener_is_full(ls):
        if time.monotonic() > deadline:
            raise SystemExit("full_listener: the accept queue never filled")
        fillers.append(start_connect(port, 0.5))
    say("port %d" % port)
    sys.stdin.read()


def nagle_server():
    ls = socket.socket()
    ls.bind((HOST, 0))
    ls.listen(1)
    say("port %d" % ls.getsockname()[1])
    a, _ = ls.accept()
    while True:
        got = b""
        while len(got) < 2:
            d = a.recv(2 - len(got))
            if not d:
                a.close()
                return
            got += d
        a.send(b"k")


def nagle_client(port, rounds):
    s = socket.create_connection((HOST, port))
    for nodelay in (0, 1):
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, nodelay)
        for _ in range(rounds):
            s.send(b"a")
            s.send(b"b")
            s.recv(1)
    s.close()


def queue_listener(backlog):
    ls = socket.socket()
    ls.setsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT, 5)
    ls.bind((HOST, 0))
    ls.listen(backlog)
    say("port %d" % ls.getsockname()[1])
    sys.stdin.read()


def queue_clients(port, n):
    socks = []
    for _ in range(n):
        socks.append(start_connect(port, 0.05))
    say("done")
    sys.stdin.read()


def main(argv):
    cmd = argv[1] if len(argv) > 1 else ""
    if cmd == "close_unread" and len(argv) == 3:
        close_unread(int(argv[2]))
    elif cmd == "full_listener" and len(argv) == 2:
        full_listener()
    elif cmd == "nagle_server" and len(argv) == 2:
        nagle_server()
    elif cmd == "nagle_client" and len(argv) == 4:
        nagle_client(int(argv[2]), int(argv[3]))
    elif cmd == "queue_listener" and len(argv) == 3:
        queue_listener(int(argv[2]))
    elif cmd == "queue_clients" and len(argv) == 4:
        queue_clients(int(argv[2]), int(argv[3]))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
