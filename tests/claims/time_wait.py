#!/usr/bin/env python3
"""TIME_WAIT: how long it lasts on Linux, and which side gets it.

Chapter: "TCP 소켓이 TIME_WAIT 상태 (2MSL = 120초)", "120초 동안 서비스 중단",
"커널이 TIME_WAIT 상태로 전환하여 잔여 패킷 처리" (after the server's close()).
Linux: TIME_WAIT lasts TCP_TIMEWAIT_LEN = 60*HZ (include/net/tcp.h), whatever MSL is, and only
the side that closes first enters it. CLAIMS_SLOW=1 also waits for the TIME_WAIT to expire.
"""
import os
import re
import socket
import time

from claimlib import LO, done, listener, port_of, show, ss, title, verdict, wait_until


def session(server_closes_first):
    """One connection on a fresh listener; returns (listening port, client port)."""
    lst = listener()
    port = port_of(lst)
    cli = socket.create_connection((LO, port))
    srv, _ = lst.accept()
    cport = cli.getsockname()[1]
    first, second = (srv, cli) if server_closes_first else (cli, srv)
    first.close()                       # FIN from this side: it will own the TIME_WAIT
    assert second.recv(1) == b""        # the other side reads EOF...
    second.close()                      # ...and answers with its own FIN
    lst.close()
    return port, cport


def timer_seconds(line):
    """ss prints the TIME_WAIT timer as '59sec', '1min' or '1min2sec'."""
    text = re.search(r"timewait,([^,]+),", line).group(1)
    mins = re.search(r"(\d+)min", text)
    secs = re.search(r"(\d+)sec", text)
    return (int(mins.group(1)) * 60 if mins else 0) + (int(secs.group(1)) if secs else 0)


def tw_lines(port):
    return ss("-tan", "-o", "state", "time-wait", f"( sport = :{port} or dport = :{port} )")


title("time_wait", "TIME_WAIT = 2MSL = 120 s, entered by the server when it closes")

# 1. The server closes first (what a killed or restarted server does to its connections).
port, cport = session(server_closes_first=True)
lines = wait_until(lambda: tw_lines(port), 2)
show(f"server closes first: $ ss -tan -o state time-wait '( sport = :{port} or dport = :{port} )'")
show("\n".join(lines) or "(nothing)")
secs = [timer_seconds(line) for line in lines if "timewait," in line]
on_server = [line for line in lines if f"{LO}:{port} " in line + " "]
verdict(bool(secs) and 50 <= max(secs) <= 60 and len(on_server) == 1, "wrong on Linux",
        f"'2MSL = 120초': the TIME_WAIT timer starts at {max(secs) if secs else '?'} s here "
        "(fixed TCP_TIMEWAIT_LEN = 60*HZ, include/net/tcp.h), not 120 s")

# 2. The client closes first (what happens in an echo session: the client's input ends).
port2, cport2 = session(server_closes_first=False)
lines2 = wait_until(lambda: tw_lines(port2), 2)
show(f"client closes first: $ ss -tan -o state time-wait '( sport = :{port2} or dport = :{port2} )'")
show("\n".join(lines2) or "(nothing)")
server_side = [line for line in lines2 if f"{LO}:{port2} {LO}:{cport2}" in line]
client_side = [line for line in lines2 if f"{LO}:{cport2} {LO}:{port2}" in line]
verdict(len(client_side) == 1 and not server_side, "wrong on Linux",
        "'close() ... 커널이 TIME_WAIT 상태로 전환': only the side that closes first enters "
        f"TIME_WAIT; here the client (port {cport2}) has it and the server's close() left none")

if os.environ.get("CLAIMS_SLOW") == "1":
    start = time.monotonic()
    wait_until(lambda: not tw_lines(port), 75, 0.5)
    show(f"CLAIMS_SLOW: the server-side TIME_WAIT of port {port} vanished after another "
         f"{time.monotonic() - start:.1f} s")
done()
