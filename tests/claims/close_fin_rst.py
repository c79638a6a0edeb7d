#!/usr/bin/env python3
"""What does close() send?

Chapter: "close(): TCP FIN 전송하고 소켓 정리". Linux: __tcp_close (net/ipv4/tcp.c) sends RST
instead of FIN when received data is still unread (RFC 2525 section 2.17, RFC 9293 3.10.4);
and close() of one descriptor sends nothing while another descriptor (dup, fork) still refers to
the socket. A process that exits is closed the same way.
"""
import os
import socket
import time

from claimlib import LO, done, listener, show, ss, title, verdict


def pair():
    lst = listener()
    port = lst.getsockname()[1]
    cli = socket.create_connection((LO, port))
    srv, _ = lst.accept()
    lst.close()
    return port, cli, srv


def peer_sees(cli):
    cli.settimeout(0.5)
    try:
        data = cli.recv(100)
        return "EOF (FIN)" if data == b"" else f"data {data!r}"
    except ConnectionResetError:
        return "ECONNRESET (RST)"
    except socket.timeout:
        return "nothing (still open)"


title("close_fin_rst", "close() sends FIN")

port, cli, srv = pair()
srv.close()
a = peer_sees(cli)
state_a = ss("-tan", f"( sport = :{port} )")
show(f"server close(), nothing unread: client sees {a}; server side: {state_a or 'gone'}")
cli.close()

port, cli, srv = pair()
cli.sendall(b"request the server never read")
time.sleep(0.05)
srv.close()
b = peer_sees(cli)
state_b = ss("-tan", f"( sport = :{port} )")
show(f"server close() with 29 bytes unread: client sees {b}; server side: {state_b or 'gone'}")
cli.close()

port, cli, srv = pair()
dup = os.dup(srv.fileno())                       # what fork() does to the accepted fd
srv.close()
c = peer_sees(cli)
os.close(dup)
c2 = peer_sees(cli)
show(f"close() of one of two fds: client sees {c}; after closing the last fd: {c2}")
cli.close()

def exit_holding(unread):
    """A child process holds the only descriptor of the server's socket and exits."""
    port, cli, srv = pair()
    if unread:
        cli.sendall(b"unread")
        time.sleep(0.05)
    pid = os.fork()
    if pid == 0:
        time.sleep(0.1)
        os._exit(0)
    srv.close()                                  # the child's copy is now the only one
    os.waitpid(pid, 0)
    seen = peer_sees(cli)
    cli.close()
    return seen


d = exit_holding(False)
e = exit_holding(True)
show(f"a process exits holding the socket: client sees {d}; with unread data: {e}")

verdict(a == "EOF (FIN)" and b == "ECONNRESET (RST)" and c == "nothing (still open)"
        and c2 == "EOF (FIN)" and d == "EOF (FIN)"
        and e == "ECONNRESET (RST)", "wrong on Linux",
        "'close(): TCP FIN 전송': only when the socket's last descriptor goes and nothing received is "
        "left unread; with unread data Linux sends RST (the peer gets ECONNRESET, and the closer "
        "skips FIN_WAIT/TIME_WAIT); closing one of several descriptors sends nothing")
verdict(d == "EOF (FIN)" and e == "ECONNRESET (RST)", "wrong on Linux",
        "'ECONNRESET: ... (브라우저 새로고침, 앱 종료)': a program that exits is closed like close(): its "
        "peer reads EOF (recv() == 0), not ECONNRESET, unless data it had received was left unread "
        "(or it set SO_LINGER 0)")
done()
