#!/usr/bin/env python3
"""listen()'s backlog: which queue it sizes, its cap, and what it costs.

Chapter: "LISTEN_BACKLOG: SYN queue 크기 설정 (일반적으로 128-1024)", "backlog 증가 (단, 메모리
사용량 증가)". Linux: listen(2) NOTES: since Linux 2.2 the backlog is the length of the queue of
*established* connections waiting for accept(); half-open ones are bounded by tcp_max_syn_backlog;
the value is capped by net.core.somaxconn (4096 since Linux 5.4).
"""
import errno
import socket
import time

from claimlib import LO, done, listener, port_of, read_sysctl, show, ss, title, verdict


def connect_nb(port):
    c = socket.socket()
    c.setblocking(False)
    if c.connect_ex((LO, port)) not in (0, errno.EINPROGRESS):
        raise OSError("connect")
    return c


title("backlog", "the listen backlog is the SYN queue size, typically 128-1024")
show(f"net.core.somaxconn = {read_sysctl('net/core/somaxconn')}, net.ipv4.tcp_max_syn_backlog = "
     f"{read_sysctl('net/ipv4/tcp_max_syn_backlog')}, net.ipv4.tcp_syncookies = "
     f"{read_sysctl('net/ipv4/tcp_syncookies')}")

lst = listener(backlog=3)
port = port_of(lst)
clients = [connect_nb(port) for _ in range(10)]
time.sleep(0.3)
listen_line = ss("-tln", f"( sport = :{port} )")
estab = ss("-tan", "state", "established", f"( dport = :{port} )")
synsent = ss("-tan", "state", "syn-sent", f"( dport = :{port} )")
synrecv = ss("-tan", "state", "syn-recv", f"( sport = :{port} )")
show(f"listen(fd, 3), nobody accepts, 10 clients connect: $ ss -tln '( sport = :{port} )'")
show("\n".join(listen_line))
show(f"clients ESTABLISHED {len(estab)}, still in SYN-SENT {len(synsent)}; server SYN-RECV "
     f"{len(synrecv)}")
lst.setblocking(False)
accepted = 0
while True:
    try:
        lst.accept()[0].close()
        accepted += 1
    except BlockingIOError:
        break
show(f"accept() then returns {accepted} connections; the {len(synsent)} others were never seen by "
     "the server (their SYNs were dropped; they retry after 1 s)")
recvq = int(listen_line[0].split()[1]) if listen_line else -1
verdict(recvq == 4 and len(synsent) == 6 and not synrecv, "wrong on Linux",
        "'SYN queue 크기': the backlog bounds the queue of completed connections waiting for accept() "
        "(Recv-Q 4 = backlog + 1 here, Send-Q shows the backlog 3); when it is full, new SYNs are "
        "dropped, none waits half-open")
for c in clients:
    c.close()
lst.close()

big = listener(backlog=100000)
line = ss("-tln", f"( sport = :{port_of(big)} )")
show(f"listen(fd, 100000): $ ss -tln -> {line[0] if line else '?'}")
verdict(line and line[0].split()[2] == read_sysctl("net/core/somaxconn"), "holds",
        "'일반적으로 128-1024': common values (nginx and Node.js use 511, the chapter 128), but "
        f"Linux silently caps any backlog at net.core.somaxconn, {read_sysctl('net/core/somaxconn')}"
        " here (4096 by default since Linux 5.4, 128 before)")
big.close()
show("memory: listen() only stores the number (sk_max_ack_backlog, set in inet_listen, "
     "net/ipv4/af_inet.c); memory is used per queued connection, not per backlog slot")
done()
