#!/usr/bin/env python3
"""Signals around the chapter's server: SIGTERM and EINTR, SIGPIPE, SA_NOCLDWAIT.

Chapter: "EINTR ... 실무 예시: SIGTERM으로 graceful shutdown 중"; "signal(SIGPIPE, SIG_IGN) 깨진 파이프
무시"; "MSG_NOSIGNAL: SIGPIPE 시그널 방지 (broken pipe 대신 EPIPE 에러 반환)"; "SA_NOCLDWAIT 자동
회수". References: signal(7) (default actions; 'Interruption of system calls and library
functions by signal handlers'), sigaction(2) SA_NOCLDWAIT, send(2) MSG_NOSIGNAL.
"""
import ctypes
import os
import signal
import socket
import struct
import time

from claimlib import (build, done, errname, libc, LO, pair, show, start_server, title, verdict,
                      wait_until)



def child_status(st):
    if os.WIFSIGNALED(st):
        return f"killed by {signal.Signals(os.WTERMSIG(st)).name}"
    return f"exit {os.WEXITSTATUS(st)}"


title("signals", "EINTR during SIGTERM graceful shutdown; SIGPIPE; SA_NOCLDWAIT")

# 1. SIGTERM to the chapter's server child blocked in recv(): no EINTR, it dies.
server = build("c", "echo_server")
p, port = start_server(server)
cli = socket.create_connection((LO, port))
cli.sendall(b"x")
cli.recv(1)                                      # the child is now blocked in recv()


def children():
    try:
        with open(f"/proc/{p.pid}/task/{p.pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except FileNotFoundError:
        return []


kids = wait_until(children, 2)
os.kill(kids[0], signal.SIGTERM)
gone = wait_until(lambda: not os.path.exists(f"/proc/{kids[0]}"), 2)
eof = cli.recv(10)
show(f"SIGTERM to build/c/echo_server's child (blocked in recv): child gone {bool(gone)}, the "
     f"client reads {eof!r} (EOF from the kernel closing the dead child's socket)")
os.kill(p.pid, signal.SIGTERM)
p.wait()
parent = (f"killed by {signal.Signals(-p.returncode).name}" if p.returncode < 0
          else f"exit {p.returncode}")
show(f"SIGTERM to the server parent (blocked in accept): {parent}")
cli.close()


# 2. In a process that installs a handler: EINTR or restart?
def blocked_recv(install, timeout=None):
    """A child blocks in libc recv(); the parent signals it after 0.2 s and sends data after
    0.5 s. Returns what recv returned."""
    a, b = pair()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        install()
        if timeout:
            b.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", timeout, 0))
        buf = ctypes.create_string_buffer(16)
        n = libc.recv(b.fileno(), buf, 16, 0)   # libc directly: no Python EINTR retry (PEP 475)
        res = f"recv -> {n}" + (f" ({errname(ctypes.get_errno())})" if n < 0 else f" {buf.raw[:n]!r}")
        os.write(w, res.encode())
        os._exit(0)
    time.sleep(0.2)
    os.kill(pid, signal.SIGUSR1)
    time.sleep(0.3)
    a.sendall(b"data")
    os.waitpid(pid, 0)
    res = os.read(r, 100).decode()
    for fd in (r, w):
        os.close(fd)
    a.close()
    b.close()
    return res


def handler_no_restart():
    signal.signal(signal.SIGUSR1, lambda *_: None)
    signal.siginterrupt(signal.SIGUSR1, True)    # sigaction without SA_RESTART


def handler_restart():
    signal.signal(signal.SIGUSR1, lambda *_: None)
    signal.siginterrupt(signal.SIGUSR1, False)   # SA_RESTART


r1 = blocked_recv(handler_no_restart)
r2 = blocked_recv(handler_restart)
r3 = blocked_recv(handler_restart, timeout=5)
show(f"handler without SA_RESTART: {r1}; with SA_RESTART: {r2}; with SA_RESTART and "
     f"SO_RCVTIMEO: {r3}")
verdict(gone and parent == "killed by SIGTERM" and "EINTR" in r1 and "data" in r2 and "EINTR" in r3, "wrong on Linux",
        "'EINTR ... SIGTERM으로 graceful shutdown 중': SIGTERM's default action kills the process (the "
        "chapter installs no SIGTERM handler); recv() fails with EINTR only when a handler runs "
        "that was installed without SA_RESTART, or the socket has a timeout (signal(7)); and then "
        "'continue' would ignore the shutdown request")

# 3. SIGPIPE: default action kills; SIG_IGN or MSG_NOSIGNAL turn it into EPIPE.
def write_to_closed(flags, disposition):
    a, b = pair()
    b.close()                                    # the peer is gone
    time.sleep(0.05)
    pid = os.fork()
    if pid == 0:
        signal.signal(signal.SIGPIPE, disposition)
        buf = b"x" * 100
        for _ in range(5):
            if libc.send(a.fileno(), buf, len(buf), flags) < 0:
                os._exit(100 + ctypes.get_errno())
            time.sleep(0.05)
        os._exit(0)
    _, st = os.waitpid(pid, 0)
    a.close()
    if os.WIFEXITED(st) and os.WEXITSTATUS(st) >= 100:
        return f"send fails with {errname(os.WEXITSTATUS(st) - 100)}"
    return child_status(st)


s_dfl = write_to_closed(0, signal.SIG_DFL)
s_ign = write_to_closed(0, signal.SIG_IGN)
s_nosig = write_to_closed(socket.MSG_NOSIGNAL, signal.SIG_DFL)
show(f"send() to a closed peer: SIGPIPE default -> {s_dfl}; SIG_IGN -> {s_ign}; MSG_NOSIGNAL -> "
     f"{s_nosig}")
verdict(s_dfl == "killed by SIGPIPE" and s_ign == s_nosig == "send fails with EPIPE", "holds",
        "without SIG_IGN or MSG_NOSIGNAL the writer dies of SIGPIPE; with either, send() fails "
        "with EPIPE (the first send still succeeds: the peer answers it with RST)")


# 4. SA_NOCLDWAIT: the chapter's sigaction, via ctypes (x86-64 glibc struct sigaction).
class Sigaction(ctypes.Structure):
    _fields_ = [("handler", ctypes.c_void_p), ("mask", ctypes.c_ulong * 16),
                ("flags", ctypes.c_int), ("restorer", ctypes.c_void_p)]


def zombie_check(nocldwait):
    r, w = os.pipe()
    helper = os.fork()
    if helper == 0:
        sa = Sigaction()                        # SIG_DFL, empty mask
        sa.flags = 2 if nocldwait else 0         # SA_NOCLDWAIT = 2
        libc.sigaction(signal.SIGCHLD, ctypes.byref(sa), None)
        kid = os.fork()
        if kid == 0:
            os._exit(0)
        time.sleep(0.2)
        try:
            with open(f"/proc/{kid}/stat") as f:
                state = "zombie" if f.read().rsplit(")", 1)[1].split()[0] == "Z" else "alive"
        except FileNotFoundError:
            state = "gone"
        try:
            os.waitpid(kid, 0)
            waited = "waitpid ok"
        except ChildProcessError:
            waited = "waitpid ECHILD"
        os.write(w, f"{state}, {waited}".encode())
        os._exit(0)
    os.waitpid(helper, 0)
    res = os.read(r, 100).decode()
    os.close(r)
    os.close(w)
    return res


z_plain, z_nocld = zombie_check(False), zombie_check(True)
show(f"a child exits, nobody waits: SIG_DFL -> {z_plain}; SIG_DFL + SA_NOCLDWAIT -> {z_nocld}")
verdict(z_plain.startswith("zombie") and z_nocld == "gone, waitpid ECHILD", "holds",
        "'SA_NOCLDWAIT ... 자동 회수': with it the kernel reaps exited children itself, no zombie "
        "(sigaction(2): 'do not transform children into zombies'); waitpid then fails with ECHILD")
done()
