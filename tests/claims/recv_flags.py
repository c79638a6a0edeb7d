#!/usr/bin/env python3
"""recv() flags as the chapter describes them, and recv() == 0.

Chapter: "flags=0: 블로킹 모드 수신", "MSG_DONTWAIT: 논블로킹 수신 (EAGAIN/EWOULDBLOCK 가능)",
"MSG_WAITALL: 정확한 크기만큼 수신 대기", "MSG_PEEK: 데이터를 읽지 않고 엿보기",
"n == 0: TCP FIN 패킷 수신". Reference: recv(2).
"""
import socket
import threading
import time

from claimlib import done, errname, pair, show, title, verdict



title("recv_flags", "MSG_DONTWAIT, MSG_WAITALL, MSG_PEEK and recv() == 0")

a, b = pair()
try:
    b.recv(100, socket.MSG_DONTWAIT)
    dontwait = "data"
except BlockingIOError as e:
    dontwait = errname(e.errno)
b.setblocking(False)
try:
    b.recv(100)
    flags0 = "data"
except BlockingIOError as e:
    flags0 = errname(e.errno)
b.setblocking(True)
show(f"empty blocking socket, recv(MSG_DONTWAIT) -> {dontwait}; the same socket made O_NONBLOCK, "
     f"recv(flags 0) -> {flags0}")
verdict(dontwait == "EAGAIN" and flags0 == "EAGAIN", "holds",
        "MSG_DONTWAIT makes one call non-blocking (EAGAIN); flags 0 means 'as the socket is': it "
        "blocks only because this socket is blocking")

a.sendall(b"hello")
peek = b.recv(100, socket.MSG_PEEK)
again = b.recv(100)
show(f"recv(MSG_PEEK) -> {peek!r}, then recv() -> {again!r}")
verdict(peek == again == b"hello", "holds", "MSG_PEEK returns the data and leaves it queued")


def dribble():
    for part in (b"abc", b"def", b"ghij"):
        time.sleep(0.05)
        a.sendall(part)


t = threading.Thread(target=dribble)
t.start()
full = b.recv(10, socket.MSG_WAITALL)
t.join()
a.sendall(b"xyz")
a.shutdown(socket.SHUT_WR)                      # FIN after 3 bytes
short = b.recv(10, socket.MSG_WAITALL)
eof = b.recv(10)
show(f"MSG_WAITALL for 10 bytes sent in 3 pieces -> {full!r}; 3 bytes then FIN -> {short!r} "
     f"(short); next recv() -> {eof!r}")
verdict(full == b"abcdefghij" and short == b"xyz", "holds",
        "MSG_WAITALL waits for the full count, but still returns less on EOF, an error, a signal "
        "or a receive timeout (recv(2)): the caller must check the count anyway")
verdict(eof == b"", "holds",
        "recv() returns 0 once the peer's FIN (close() or shutdown(SHUT_WR)) has been read: an "
        "orderly end, not an error")
a.close()
b.close()
done()
