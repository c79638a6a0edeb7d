#!/usr/bin/env python3
"""SO_REUSEPORT on Linux: how the kernel spreads connections, and its conditions.

Chapter: "커널이 들어오는 연결을 worker들에게 자동 분배", "CPU 친화도 기반 intelligent load
balancing", "CPU 코어별 완벽한 분산", "Hot reload 지원 (새 worker 추가/제거 자유)", failure cases of
setsockopt(SO_REUSEPORT): "구 커널, 권한 부족, 또는 이미 다른 프로세스가 non-REUSEPORT로 바인드".
Linux: the listener is chosen by a hash of the connection's 4-tuple (reuseport_select_sock,
net/core/sock_reuseport.c); socket(7): set on every socket before bind(), same effective UID.
"""
import os
import select
import socket
import time

from claimlib import (LO, done, errname, linger0, listener, port_of, read_sysctl, show, title,
                      verdict)


def drain(lst):
    """Accepts everything queued on a listener; returns the accepted sockets."""
    lst.setblocking(False)
    got = []
    while select.select([lst], [], [], 0.05)[0]:
        try:
            got.append(lst.accept()[0])
        except BlockingIOError:
            break
    return got


def in_child(fn):
    """Runs fn() in a forked child; returns the string it returns."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            res = fn()
        except OSError as e:
            res = errname(e.errno)
        os.write(w, res.encode())
        os._exit(0)
    os.close(w)
    res = os.read(r, 200).decode()
    os.close(r)
    os.waitpid(pid, 0)
    return res


title("reuseport", "SO_REUSEPORT: kernel load balancing, by CPU affinity, perfectly even")

# 1. Two listeners on one port: how 400 connections are spread.
a = listener(backlog=512, reuseport=True)
port = port_of(a)
b = listener(backlog=512, reuseport=True, port=port)
clients = [socket.create_connection((LO, port)) for _ in range(400)]
na, nb = len(drain(a)), len(drain(b))
show(f"2 listeners, 400 connections from 400 client ports: {na} to the first, {nb} to the second")
verdict(na + nb == 400 and 100 < na < 300, "holds",
        "'커널이 들어오는 연결을 worker들에게 자동 분배': yes, about half each; the split varies from run to "
        "run like coin tosses (it is a hash), so not 'perfectly even' either")
for c in clients:
    linger0(c)
    c.close()
a.close()
b.close()

# 2. The same 4-tuple always lands on the same listener: the choice is a hash, not the CPU.
a = listener(reuseport=True)
port = port_of(a)
b = listener(reuseport=True, port=port)
fixed_ports = []
picks = {}
for trial in range(3):
    probe = socket.socket()
    probe.bind((LO, 0))
    cport = probe.getsockname()[1]
    probe.close()
    seen = []
    for _ in range(20):
        c = socket.socket()
        c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        c.bind((LO, cport))
        c.connect((LO, port))
        r, _, _ = select.select([a, b], [], [], 2)
        who = "first" if a in r else "second"
        s, _ = (a if who == "first" else b).accept()
        seen.append(who)
        linger0(c)                      # RST: the 4-tuple is free again at once, no TIME_WAIT
        c.close()
        s.close()
    picks[cport] = seen
for cport, seen in picks.items():
    show(f"client port {cport}, 20 connects: " + ", ".join(f"{seen.count(w)} to the {w}"
                                                          for w in ("first", "second") if w in seen))
verdict(all(len(set(seen)) == 1 for seen in picks.values()), "wrong on Linux",
        "'CPU 친화도 기반 intelligent load balancing': the same 4-tuple went to the same listener every "
        "time, whichever CPU ran the client: the listener is picked by a hash of the 4-tuple "
        "(reuseport_select_sock), blind to CPU and to load, unless a BPF program is attached "
        "(SO_ATTACH_REUSEPORT_CBPF/EBPF)")
a.close()
b.close()


# 3. Conditions: every socket, before bind; same effective UID.
def second_bind(first):
    """A second SO_REUSEPORT socket binds and listens on FIRST's port (another process); then 40
    connections: how many reach the second listener."""
    port = port_of(first)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            s.bind((LO, port))
            s.listen(64)
            os.write(w, b"ok ")
            time.sleep(0.5)
            os.write(w, str(len(drain(s))).encode())
        except OSError as e:
            os.write(w, errname(e.errno).encode())
        os._exit(0)
    os.close(w)
    res = os.read(r, 3).decode()
    if res == "ok ":
        clients = [socket.create_connection((LO, port)) for _ in range(40)]
        res = f"ok, {os.read(r, 20).decode()} of 40 connections reach it"
        for c in clients:
            c.close()
    else:
        res += os.read(r, 20).decode()
    os.close(r)
    os.waitpid(pid, 0)
    drain(first)
    return res


cases = {}
first = listener(backlog=64)                       # no SO_REUSEPORT at all
cases["first socket without it"] = second_bind(first)
first.close()
first = socket.socket()
first.bind((LO, 0))
first.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)   # after bind, before listen
first.listen(64)
cases["first socket: set after bind(), before listen()"] = second_bind(first)
first.close()
first = listener(backlog=64)
first.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)   # after listen
cases["first socket: set after listen()"] = second_bind(first)
first.close()
for k, v in cases.items():
    show(f"second socket (SO_REUSEPORT) binds the port of a {k}: {v}")
verdict(cases["first socket without it"] == "EADDRINUSE", "holds",
        "every socket sharing the port must set SO_REUSEPORT, the first one included (socket(7)); "
        "socket(7) says before bind(), but this kernel also accepts it on the first socket later, "
        "even after listen()")

if os.geteuid() == 0:
    first = listener(reuseport=True)
    port = port_of(first)

    def as_nobody():
        os.setgroups([])
        os.setresgid(65534, 65534, 65534)
        os.setresuid(65534, 65534, 65534)
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        res = "setsockopt ok"
        try:
            s.bind((LO, port))
            res += ", bind ok"
        except OSError as e:
            res += f", bind {errname(e.errno)}"
        return res
    res = in_child(as_nobody)
    show(f"uid 65534 sets SO_REUSEPORT and binds root's SO_REUSEPORT port: {res}")
    verdict(res == "setsockopt ok, bind EADDRINUSE", "wrong on Linux",
            "'실패 시나리오: 구 커널, 권한 부족, 또는 이미 ... 바인드': setsockopt(SO_REUSEPORT) needs no "
            "privilege and does not look at the port; what fails (EADDRINUSE) is the later bind(), "
            "when the port is held without SO_REUSEPORT or by another effective UID")
    first.close()

# 4. Removing a worker: connections queued in its listener are reset, not handed over.
migrate = read_sysctl("net/ipv4/tcp_migrate_req")
a = listener(reuseport=True)
port = port_of(a)
b = listener(reuseport=True, port=port)
clients = [socket.create_connection((LO, port)) for _ in range(40)]
time.sleep(0.05)
b.close()                               # the 'removed' worker never accepted its share
reset = 0
time.sleep(0.1)                                  # closing a listener resets its queue (RST)
for c in clients:
    try:
        c.recv(1, socket.MSG_DONTWAIT)
    except ConnectionResetError:
        reset += 1
    except BlockingIOError:
        pass                                     # queued on the surviving listener
kept = len(drain(a))
show(f"net.ipv4.tcp_migrate_req = {migrate}; 40 connections queued on 2 listeners, one listener "
     f"closed without accepting: {reset} clients reset, {kept} still served by the other")
verdict(migrate != "0" or reset > 0, "wrong on Linux",
        "'Hot reload 지원 (새 worker 추가/제거 자유)': adding a listener is free, but removing one resets "
        "the connections waiting in its accept queue unless net.ipv4.tcp_migrate_req=1 (Linux 5.14+) "
        "or a BPF program moves them")
for c in clients:
    c.close()
a.close()
done()
