#!/usr/bin/env python3
"""Thundering herd: who wakes up when one connection arrives at a shared listening socket?

Chapter: "accept() mutex로 인한 thundering herd 문제" (the reason given for SO_REUSEPORT).
Linux: processes blocked in accept() on one socket wait exclusively (prepare_to_wait_exclusive
in inet_csk_wait_for_connect, net/ipv4/inet_connection_sock.c): one connection wakes one of
them. The herd happens with select/poll/epoll on a shared socket; EPOLLEXCLUSIVE (Linux 4.5,
epoll_ctl(2)) tames it. nginx's accept_mutex is a remedy for that herd, not its cause.
"""
import os
import select
import signal
import socket
import time

from claimlib import LO, done, listener, port_of, show, title, verdict

WORKERS = 4


def ctxt(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("voluntary_ctxt_switches"):
                return int(line.split()[1])
    return 0


def worker(lst, mode, out):
    lst.setblocking(mode == "accept")
    ep = None
    if mode.startswith("epoll"):
        ep = select.epoll()
        flags = select.EPOLLIN | (select.EPOLLEXCLUSIVE if mode == "epoll EPOLLEXCLUSIVE" else 0)
        ep.register(lst.fileno(), flags)
    while True:
        if mode == "select":
            select.select([lst], [], [])
        elif ep is not None:
            ep.poll()
        try:
            c, _ = lst.accept()
            c.close()
            os.write(out, b"A")         # this worker got the connection
        except BlockingIOError:
            pass                        # woken for nothing: another worker took it


def run(mode, connections=12):
    lst = listener(backlog=64)
    port = port_of(lst)
    r, w = os.pipe()
    pids = []
    for _ in range(WORKERS):
        pid = os.fork()
        if pid == 0:
            os.close(r)
            worker(lst, mode, w)
            os._exit(0)
        pids.append(pid)
    os.close(w)
    time.sleep(0.3)                     # all workers asleep in accept/select/epoll_wait
    woken, got = [], [0] * WORKERS
    for _ in range(connections):
        before = [ctxt(p) for p in pids]
        c = socket.create_connection((LO, port))
        time.sleep(0.15)                # every woken worker has gone back to sleep
        after = [ctxt(p) for p in pids]
        os.read(r, 1)
        woken.append(sum(1 for x, y in zip(before, after) if y > x))
        for i, (x, y) in enumerate(zip(before, after)):
            got[i] += y > x
        c.close()
    for p in pids:
        os.kill(p, signal.SIGKILL)
        os.waitpid(p, 0)
    os.close(r)
    lst.close()
    show(f"{mode:>22}: processes woken per connection: {woken}; wake-ups per worker: {got}")
    return woken


title("thundering_herd", "accept() on a shared socket causes a thundering herd")
res = {m: run(m) for m in ("accept", "select", "epoll", "epoll EPOLLEXCLUSIVE")}
med = {m: sorted(v)[len(v) // 2] for m, v in res.items()}
verdict(med["accept"] == 1 and med["select"] >= WORKERS - 1 and med["epoll"] >= WORKERS - 1
        and med["epoll EPOLLEXCLUSIVE"] < med["epoll"], "wrong on Linux",
        f"'accept() ... thundering herd': {WORKERS} processes blocked in accept() on one socket, "
        f"one connection wakes {med['accept']} of them (exclusive wait); select() or epoll wakes "
        f"all {WORKERS}, EPOLLEXCLUSIVE about {med['epoll EPOLLEXCLUSIVE']}: the herd comes from "
        "readiness APIs, and an accept mutex (nginx accept_mutex) is one cure for it, not its cause")
done()
