#!/usr/bin/env python3
"""The recv()/send() errors the chapter lists, produced on loopback.

Chapter: "ECONNRESET: 클라이언트가 강제로 연결 종료", "ETIMEDOUT: 네트워크 타임아웃 (WiFi 끊김, 방화벽
차단)", "ENOTCONN: 소켓이 연결되지 않음 (프로그래밍 오류)", "EBADF: 잘못된 파일 디스크립터 (이중 close(),
메모리 corruption)", and the distribution "ECONNRESET 60%, ETIMEDOUT 25%, EINTR 10%, 기타 5%".
References: recv(2), send(2), tcp(7) (tcp_retries2, TCP_USER_TIMEOUT).
"""
import os
import socket
import time

from claimlib import done, errname, linger0, pair, show, title, verdict



def recv_err(s):
    try:
        s.recv(10)
        return "no error"
    except OSError as e:
        return errname(e.errno)


title("errors", "ECONNRESET, ETIMEDOUT, ENOTCONN, EBADF and their shares")

a, b = pair()
linger0(a)
a.close()                                        # RST
reset = recv_err(b)
b.close()
lone = socket.socket()
notconn = recv_err(lone)
fd = lone.fileno()
lone.close()
try:
    os.read(fd, 1)
    badf = "no error"
except OSError as e:
    badf = errname(e.errno)
show(f"recv after the peer's RST: {reset}; recv on a socket never connected: {notconn}; read on a "
     f"closed fd: {badf}")

# Double close: the fd number is reused at once, so the second close() hits someone else.
x = socket.socket()
n = x.fileno()
os.close(n)                                      # first close (behind the object's back)
y = socket.socket()                              # gets the same, lowest free, number
reused = y.fileno() == n
os.close(n)                                      # the 'double' close: closes y's socket, no EBADF
try:
    y.getsockname()
    y_state = "still open"
except OSError as e:
    y_state = errname(e.errno)
x.detach()
y.detach()
show(f"double close: the fd number {n} was reused by the next socket: {reused}; the second "
     f"close() succeeded and closed that socket (it now gives {y_state})")
verdict(reset == "ECONNRESET" and notconn == "ENOTCONN" and badf == "EBADF" and reused,
        "holds",
        "ECONNRESET (the peer sent RST), ENOTCONN and EBADF are as described; a double close() "
        "is worse than EBADF when the number was reused in between: it silently closes another file")

# ETIMEDOUT needs data the peer does not acknowledge (or a keepalive that goes unanswered).
a, b = pair()
b.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
a.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, 1000)
t0 = time.monotonic()
try:
    while True:
        a.send(b"x" * 65536)                     # b never reads: its window closes
except OSError as e:
    tmo = errname(e.errno)
took = time.monotonic() - t0
show(f"peer stops reading, sender has TCP_USER_TIMEOUT 1000 ms: send() fails with {tmo} after "
     f"{took:.1f} s")
a.close()
b.close()
verdict(tmo == "ETIMEDOUT", "holds",
        "ETIMEDOUT comes when sent data stays unacknowledged (tcp_retries2 = 15: about 13-30 min by "
        "tcp(7)), a keepalive goes unanswered (off by default), or TCP_USER_TIMEOUT expires, as "
        "here; a blocking recv() on an idle connection whose peer vanished never times out by itself")
verdict(True, "cannot be checked",
        "'ECONNRESET 60%, ETIMEDOUT 25%, EINTR 10%, 기타 5%': no source, service or period is given; "
        "in the chapter's server EINTR cannot occur at all (no handler is installed: signals.py), "
        "and the EINTR branch retries before perror, so EINTR never reaches an error count")
done()
