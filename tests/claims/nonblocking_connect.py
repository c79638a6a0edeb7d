#!/usr/bin/env python3
"""Non-blocking connect(): does it ever return 0, and what does 'writable' mean?

Chapter: "즉시 연결 성공 - 매우 드문 경우. 발생 조건: localhost 연결, Unix domain socket, 또는 로컬
네트워크"; "select()에서 쓰기 가능해도 연결 실패일 수 있음 ... SO_ERROR". Linux:
__inet_stream_connect (net/ipv4/af_inet.c) sends the SYN and returns EINPROGRESS for a
non-blocking socket; the SYN-ACK is processed only after the call releases the socket, even on
loopback. A Unix stream connect completes inside the call (unix_stream_connect).
"""
import errno
import os
import select
import socket

from claimlib import LO, done, errname, linger0, listener, port_of, show, title, verdict

N = 1000
title("nonblocking_connect", "ret == 0 happens for localhost and Unix domain sockets")

lst = listener(backlog=4096)
lst.setblocking(False)
port = port_of(lst)
outcomes = {}
for i in range(N):
    c = socket.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
    rc = c.connect_ex((LO, port))
    outcomes[errname(rc) if rc else "0"] = outcomes.get(errname(rc) if rc else "0", 0) + 1
    select.select([], [c], [], 2)
    linger0(c)
    c.close()
    if i % 100 == 99:
        while True:
            try:
                lst.accept()[0].close()
            except BlockingIOError:
                break
lst.close()
show(f"{N} non-blocking TCP connects to {LO}: " + ", ".join(f"{k}: {v}" for k, v in outcomes.items()))

path = "\0tcp-chapter-claims-%d" % os.getpid()      # abstract Unix socket: no file to clean up
ul = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
ul.bind(path)
ul.listen(128)
unix_zero = 0
for _ in range(100):
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
    unix_zero += c.connect_ex(path) == 0
    c.close()
    ul.accept()[0].close()
ul.close()
show(f"100 non-blocking Unix stream connects: {unix_zero} returned 0")
verdict(outcomes.get("0", 0) == 0 and unix_zero == 100, "wrong on Linux",
        f"'localhost 연결 ... 즉시 연결 성공': 0 of {N} non-blocking TCP connects to {LO} returned 0 "
        f"(all EINPROGRESS); a Unix stream socket does return 0 ({unix_zero}/100), but "
        "tcp_connect_nonblocking() can never make one (it creates an AF_INET socket)")

# Refused: writable, and SO_ERROR says why.
probe = socket.socket()
probe.bind((LO, 0))
closed_port = port_of(probe)
probe.close()                                   # nothing listens on closed_port now
c = socket.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
rc = c.connect_ex((LO, closed_port))
_, w, _ = select.select([], [c], [], 2)
err = c.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
c.close()
show(f"connect to a closed port: connect -> {errname(rc) if rc else 0}, select -> "
     f"{'writable' if w else 'timeout'}, getsockopt(SO_ERROR) -> {errname(err)}")
verdict(rc == errno.EINPROGRESS and w and err == errno.ECONNREFUSED, "holds",
        "'select()에서 쓰기 가능해도 연결 실패일 수 있음': the socket is reported writable and SO_ERROR "
        "holds ECONNREFUSED (connect(2), EINPROGRESS)")
done()
