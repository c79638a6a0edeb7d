#!/usr/bin/env python3
"""The eleven TCP states of RFC 9293 §3.3.2, each made on loopback and shown as Linux names it.

Backs docs/tcp-states.md: for every state a socket is put into it, then `ss -tan` (the name a
student reads there) and the kernel's own state (tcpi_state of TCP_INFO, include/net/tcp_states.h)
are printed side by side. States that need a peer that does not answer use a drop-everything
socket filter on the peer (SO_ATTACH_FILTER, as tests/claims/backlog.py does): it receives nothing,
so it never acknowledges. Loopback only, kernel-chosen ports; the filter needs root on this
machine (as a user it got EPERM), so the states that use it are skipped without root.
"""
import os
import socket

from backlog import drop_everything
from claimlib import LO, done, listener, port_of, show, ss, tcp_state, title, verdict, wait_until


def ss_state(local, remote=None):
    """The state column of `ss -tan` for the socket with this local (and remote) address."""
    flt = f"( src {local[0]}:{local[1]}" + (f" and dst {remote[0]}:{remote[1]} )" if remote else " )")
    lines = ss("-tan", flt)
    return lines[0].split()[0] if lines else "(not listed)"


def established():
    lst = listener()
    a = socket.create_connection(lst.getsockname())
    b, _ = lst.accept()
    lst.close()
    return a, b


def wait_state(s, want):
    return wait_until(lambda: tcp_state(s) == want, timeout=3)


rows = []       # (RFC 9293 name, how it was made, ss -tan, tcpi_state)


def row(name, how, sock, peer=None):
    """One state: ss is asked for this exact connection (local and peer address), since an older
    connection in TIME-WAIT may hold the same local port."""
    if peer is None:
        try:
            peer = sock.getpeername()
        except OSError:                    # not connected (CLOSED, LISTEN)
            peer = None
    rows.append((name, how, ss_state(sock.getsockname(), peer), tcp_state(sock)))


title("tcp_states", "the eleven TCP states (RFC 9293 §3.3.2) as `ss -tan` and TCP_INFO name them")
root = os.geteuid() == 0

s = socket.socket()
s.bind((LO, 0))
row("CLOSED", "socket() + bind(), nothing else", s)
s.close()

lst = listener(backlog=8)
row("LISTEN", "listen()", lst)

if root:
    c = socket.socket()
    drop_everything(c)
    c.setblocking(False)
    c.connect_ex(lst.getsockname())
    wait_until(lambda: ss("-tan", "state", "syn-recv", f"( sport = :{port_of(lst)} )"), timeout=3)
    row("SYN-SENT", "connect(), the SYN-ACK never reaches it", c, lst.getsockname())
    rows.append(("SYN-RECEIVED", "the listener's side of that handshake",
                 ss_state(lst.getsockname(), c.getsockname()), "(a request, no socket yet)"))
    c.close()
lst.close()

a, b = established()
row("ESTABLISHED", "connect() + accept()", a)

if root:
    drop_everything(b)                       # b hears nothing more
    a.shutdown(socket.SHUT_WR)               # a's FIN is never acknowledged
    wait_state(a, "FIN_WAIT1")
    row("FIN-WAIT-1", "shutdown(SHUT_WR), the FIN unacknowledged", a, b.getsockname())
    b.shutdown(socket.SHUT_WR)               # b's FIN crosses a's: a has sent FIN and gets FIN
    wait_state(a, "CLOSING")
    row("CLOSING", "then the peer's FIN comes before the ACK of its own (simultaneous close)", a,
        b.getsockname())
a.close()
b.close()

a, b = established()
a.shutdown(socket.SHUT_WR)
wait_state(a, "FIN_WAIT2")
row("FIN-WAIT-2", "shutdown(SHUT_WR), the FIN acknowledged", a, b.getsockname())
wait_state(b, "CLOSE_WAIT")
row("CLOSE-WAIT", "the peer of that: FIN received, not closed yet", b, a.getsockname())
if root:
    drop_everything(a)                       # a will not acknowledge b's FIN
    b_addr, a_addr = b.getsockname(), a.getsockname()
    b.close()
    wait_until(lambda: ss_state(b_addr, a_addr) == "LAST-ACK", timeout=3)
    rows.append(("LAST-ACK", "then close(): its FIN unacknowledged", ss_state(b_addr, a_addr),
                 "(closed: no fd to ask)"))
else:
    b.close()
a.close()

a, b = established()
a_addr, b_addr = a.getsockname(), b.getsockname()
a.close()
wait_until(lambda: ss_state(b_addr, a_addr) == "CLOSE-WAIT", timeout=3)
b.close()
wait_until(lambda: ss_state(a_addr, b_addr) == "TIME-WAIT", timeout=3)
rows.append(("TIME-WAIT", "close() first, then the peer's FIN", ss_state(a_addr, b_addr),
             "(closed: no fd to ask)"))

w = max(len(r[1]) for r in rows)
show(f"{'RFC 9293':<13} {'made by':<{w}}  {'ss -tan':<12} tcpi_state")
for name, how, ssname, info in rows:
    show(f"{name:<13} {how:<{w}}  {ssname:<12} {info}")
if not root:
    show("not root: SYN-SENT, SYN-RECEIVED, FIN-WAIT-1, CLOSING, LAST-ACK skipped (the socket filter "
         "that keeps a peer silent needs root here)")
expected = {"CLOSED": "(not listed)", "LISTEN": "LISTEN", "SYN-SENT": "SYN-SENT",
            "SYN-RECEIVED": "SYN-RECV", "ESTABLISHED": "ESTAB", "FIN-WAIT-1": "FIN-WAIT-1",
            "FIN-WAIT-2": "FIN-WAIT-2", "CLOSE-WAIT": "CLOSE-WAIT", "CLOSING": "CLOSING",
            "LAST-ACK": "LAST-ACK", "TIME-WAIT": "TIME-WAIT"}
bad = [(n, got) for n, _, got, _ in rows if expected[n] != got]
verdict(not bad and (len(rows) == 11 or not root), "holds",
        "docs/tcp-states.md names: `ss -tan` prints ESTAB, SYN-SENT, SYN-RECV, FIN-WAIT-1, "
        "FIN-WAIT-2, CLOSE-WAIT, CLOSING, LAST-ACK, TIME-WAIT, LISTEN; a CLOSED socket is not listed"
        + (f" (differs: {bad})" if bad else ""))
done()
