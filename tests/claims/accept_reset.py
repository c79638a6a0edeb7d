#!/usr/bin/env python3
"""accept() and a connection the client reset before it was accepted.

Chapter: tcp_server_loop retries accept() on ECONNABORTED (no explanation). Linux: a connection
reset while waiting in the accept queue is still handed out by accept(): __inet_accept
(net/ipv4/af_inet.c) accepts a socket in state CLOSE, inet_accept and inet_csk_accept never look
at its pending error, and the first recv() reports ECONNRESET. accept() returns ECONNABORTED only
when the peer address cannot be read (do_accept in net/socket.c).
"""
import socket
import time

from claimlib import LO, done, errname, linger0, listener, show, tcp_state, title, verdict

N = 20
title("accept_reset", "accept(): retry on EINTR and ECONNABORTED")
lst = listener()
port = lst.getsockname()[1]
outcomes = {}
example = ""
for _ in range(N):
    c = socket.create_connection((LO, port))
    cport = c.getsockname()[1]
    linger0(c)
    c.close()                                    # RST while the connection waits in the queue
    time.sleep(0.02)
    try:
        s, peer = lst.accept()
        state = tcp_state(s)
        try:
            s.recv(10)
            first = "recv ok"
        except OSError as e:
            first = f"recv {errname(e.errno)}"
        key = f"accept ok ({state}), {first}"
        if not example:
            example = f"accept() -> fd {s.fileno()} from {peer[0]}:{peer[1]} (client port {cport})"
        s.close()
    except OSError as e:
        key = f"accept {errname(e.errno)}"
    outcomes[key] = outcomes.get(key, 0) + 1
lst.close()
show(example)
show(f"{N} connections reset before accept(): " + "; ".join(f"{k}: {v}" for k, v in outcomes.items()))
verdict(outcomes.get("accept ok (CLOSE), recv ECONNRESET", 0) == N, "holds",
        "retrying accept() on ECONNABORTED is harmless, but it is not how Linux reports a client "
        f"that reset before accept(): all {N} such connections were returned by accept() (state "
        "CLOSE, with the client's address) and their first recv() failed with ECONNRESET, which "
        "handle_client's recv() error path handles")
done()
