#!/usr/bin/env python3
"""How long does a blocking connect() wait, and what does SO_SNDTIMEO change?

Chapter: "connect()가 영원히 대기하는 문제 ... 해결책? 타임아웃 설정!", "3. 연결 시도 (타임아웃 설정)"
with SO_SNDTIMEO and SO_RCVTIMEO. Linux: connect gives up on its own once the SYN retries are
spent (tcp_syn_retries = 6, plus tcp_syn_linear_timeouts on this kernel); the give-up time is
tcp_model_timeout() in net/ipv4/tcp_timer.c: (2^(n+1) - 1) x 1 s for n retries, 127 s for 6.
SO_SNDTIMEO bounds a blocking connect and expires as EINPROGRESS (socket(7)); SO_RCVTIMEO does
not touch connect. The peer here is a listener whose accept queue is full: it drops SYNs.
CLAIMS_SLOW=1 also times the default (about 130 s).
"""
import os
import socket
import struct
import subprocess
import threading
import time

from claimlib import LO, build, done, errname, listener, port_of, read_sysctl, show, ss, title, verdict


def attempt(port, syncnt=None, sndtimeo=None, rcvtimeo=None):
    c = socket.socket()
    if syncnt is not None:
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_SYNCNT, syncnt)
    if sndtimeo is not None:
        c.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", sndtimeo, 0))
    if rcvtimeo is not None:
        c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", rcvtimeo, 0))
    t = time.monotonic()
    err = c.connect_ex((LO, port))
    took = time.monotonic() - t
    c.close()
    return ("connected" if err == 0 else errname(err)), took


title("connect_timeout", "a blocking connect() can wait forever; SO_SNDTIMEO/SO_RCVTIMEO bound it")
show(f"net.ipv4.tcp_syn_retries = {read_sysctl('net/ipv4/tcp_syn_retries')}, "
     f"net.ipv4.tcp_syn_linear_timeouts = {read_sysctl('net/ipv4/tcp_syn_linear_timeouts')}")
full = listener(backlog=0)
port = port_of(full)
filler = socket.create_connection((LO, port))          # the accept queue (backlog 0 -> 1) is full
show("peer: " + " ".join(ss("-tln", f"( sport = :{port} )")) + "  (Recv-Q 1 = queue full)")

cases = {
    "TCP_SYNCNT 1": dict(syncnt=1),
    "TCP_SYNCNT 2": dict(syncnt=2),
    "SO_SNDTIMEO 1 s": dict(sndtimeo=1),
    "SO_RCVTIMEO 1 s, TCP_SYNCNT 1": dict(rcvtimeo=1, syncnt=1),
}
if os.environ.get("CLAIMS_SLOW") == "1":
    cases["defaults (CLAIMS_SLOW)"] = {}
results = {}
threads = [threading.Thread(target=lambda k=k, v=v: results.__setitem__(k, attempt(port, **v)))
           for k, v in cases.items()]
for t in threads:
    t.start()
for t in threads:
    t.join()
for k in cases:
    show(f"connect() with {k:<30} -> {results[k][0]} after {results[k][1]:.2f} s")

r1, r2 = results["TCP_SYNCNT 1"], results["TCP_SYNCNT 2"]
verdict(r1[0] == "ETIMEDOUT" and 2.5 < r1[1] < 4.5 and r2[0] == "ETIMEDOUT" and 6 < r2[1] < 9,
        "wrong on Linux",
        f"'connect()가 영원히 대기': with 1 and 2 SYN retries connect gave up after {r1[1]:.1f} s and "
        f"{r2[1]:.1f} s (ETIMEDOUT), as (2^(n+1) - 1) s predicts; with the default 6 that is "
        "127 s plus timer slack (tcp(7) tcp_syn_retries: 'approximately 127 seconds'), never forever")
s = results["SO_SNDTIMEO 1 s"]
verdict(s[0] == "EINPROGRESS" and 0.9 < s[1] < 2, "holds",
        f"'타임아웃 설정으로 무한 대기 방지': SO_SNDTIMEO bounds the blocking connect ({s[1]:.2f} s), "
        "but Linux reports the expiry as EINPROGRESS, not ETIMEDOUT (socket(7), "
        "__inet_stream_connect in net/ipv4/af_inet.c)")
r = results["SO_RCVTIMEO 1 s, TCP_SYNCNT 1"]
verdict(r[0] == "ETIMEDOUT" and r[1] > 2.5, "holds",
        f"SO_RCVTIMEO does not bound connect ({r[1]:.1f} s, the SYN retries decided); it bounds each "
        "recv() later")
client = build("c", "tcp_client")
t0 = time.monotonic()
run = subprocess.run([client, "-n", "300", LO, str(port)], stdin=subprocess.DEVNULL,
                     capture_output=True, text=True, timeout=10)
took = time.monotonic() - t0
show(f"$ build/c/tcp_client -n 300 {LO} {port}  -> exit {run.returncode} after {took:.2f} s: "
     f"{run.stderr.strip()}")
verdict(run.returncode == 1 and took >= 0.3 and "timed out" in run.stderr, "wrong on Linux",
        "'비블로킹 연결로 UI 응답성 향상': tcp_connect_nonblocking() sleeps in select() until the "
        f"handshake ends or timeout_ms passes ({took:.2f} s here): its caller is blocked exactly as "
        "with a blocking connect bounded by a timeout; only an event loop that returns to other "
        "work while waiting would keep a UI responsive")
filler.close()
full.close()
done()
