#!/usr/bin/env python3
"""SO_REUSEADDR / SO_REUSEPORT and a restart over a server-side TIME_WAIT.

Chapter: SO_REUSEADDR prevents "Address already in use" on restart; "안전함: 동일 프로세스 내에서만
재사용"; "sequence number로 이전 연결과 구분"; "실패 원인: 보통 권한 문제나 커널 버그".
Linux: socket(7) NOTES: reuse works only when the option was set on the old socket AND on the
new one. We try every combination of {none, SO_REUSEADDR, SO_REUSEPORT, both} on the old server
(whose connection sits in TIME_WAIT) and on the new one, binding from another process.
"""
import os
import socket

from claimlib import LO, done, errname, listener, port_of, show, ss, title, verdict

OPTS = {"none": (False, False), "ADDR": (True, False), "PORT": (False, True), "both": (True, True)}


def server_time_wait(old):
    """A listener with OLD options serves one connection and closes it first, then exits:
    the port is held only by a server-side TIME_WAIT. Returns the port."""
    a, p = OPTS[old]
    lst = listener(reuseaddr=a, reuseport=p)
    port = port_of(lst)
    cli = socket.create_connection((LO, port))
    srv, _ = lst.accept()
    srv.close()
    cli.recv(1)
    cli.close()
    lst.close()
    return port


def bind_in_child(port, new, uid=None):
    """bind()+listen() on PORT with NEW options in a forked child (another process, and another
    user when uid is given). Returns 'ok' or the errno name of the call that failed."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        res = "ok"
        try:
            if uid is not None:
                os.setgroups([])
                os.setresgid(uid, uid, uid)
                os.setresuid(uid, uid, uid)
            a, p = OPTS[new]
            s = socket.socket()
            stage = "setsockopt"
            if a:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if p:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            stage = "bind"
            s.bind((LO, port))
            stage = "listen"
            s.listen(8)
        except OSError as e:
            res = f"{stage}: {errname(e.errno)}"
        os.write(w, res.encode())
        os._exit(0)
    os.close(w)
    res = os.read(r, 100).decode()
    os.close(r)
    os.waitpid(pid, 0)
    return res


title("reuse_restart", "SO_REUSEADDR lets a restarted server bind at once; only in the same process")

table = {}
for old in OPTS:
    for new in OPTS:
        table[(old, new)] = bind_in_child(server_time_wait(old), new)
show("bind()+listen() of a NEW process over a server-side TIME_WAIT left by an OLD server:")
show("old server \\ new server  " + "  ".join(f"{n:>16}" for n in OPTS))
for old in OPTS:
    show(f"{old:>24}  " + "  ".join(f"{table[(old, n)]:>16}" for n in OPTS))

expected_ok = {("ADDR", "ADDR"), ("ADDR", "both"), ("both", "ADDR"), ("both", "both"),
               ("PORT", "PORT"), ("PORT", "both"), ("both", "PORT")}
got_ok = {k for k, v in table.items() if v == "ok"}
verdict(got_ok == expected_ok and all(v == "bind: EADDRINUSE" for k, v in table.items()
                                      if k not in expected_ok), "holds",
        "SO_REUSEADDR avoids 'Address already in use' on restart, when the old server set it too "
        "(socket(7) NOTES); SO_REUSEPORT on both sides alone does the same; the chapter's server "
        "sets both, so either option alone on the new one suffices")

# Another user, another process: SO_REUSEADDR is not 'same process only'.
if os.geteuid() == 0:
    port = server_time_wait("both")
    as_nobody = bind_in_child(port, "ADDR", uid=65534)
    show(f"old server (root, both options) in TIME_WAIT; new process as uid 65534 with "
         f"SO_REUSEADDR: {as_nobody}")
    verdict(as_nobody == "ok", "wrong on Linux",
            "'안전함: 동일 프로세스 내에서만 재사용': another process, even of another user, binds over "
            "the TIME_WAIT (no privilege is needed to set SO_REUSEADDR either)")
else:
    show("not root: the other-user case is skipped (it needs setresuid)")

# Two live sockets with SO_REUSEADDR only: bind may share, listen may not.
a = socket.socket()
a.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
a.bind((LO, 0))
port = port_of(a)
b = socket.socket()
b.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
b.bind((LO, port))
a.listen(8)
try:
    b.listen(8)
    second = "ok"
except OSError as e:
    second = errname(e.errno)
c = socket.socket()
c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    c.bind((LO, port))
    third = "ok"
except OSError as e:
    third = errname(e.errno)
show(f"two sockets with SO_REUSEADDR bind port {port}: both ok; first listen ok, second listen: "
     f"{second}; a third bind while one listens: {third}")
verdict(second == "EADDRINUSE" and third == "EADDRINUSE", "wrong on Linux",
        "'여러 프로세스가 동일 포트 바인드하면 예측 불가능': with SO_REUSEADDR alone Linux never lets two "
        "sockets listen on one port (EADDRINUSE); with SO_REUSEPORT it is allowed and spread by "
        "a hash (reuseport.py)")
for s in (a, b, c):
    s.close()

# The TIME_WAIT sockets are still there after the restart: they, not the new listener, own the
# old connections' 4-tuples, and catch any late segment of them.
port = server_time_wait("both")
new = listener(reuseaddr=True, reuseport=True, port=port)
lines = ss("-tan", f"( sport = :{port} )")
show(f"after the restart: $ ss -tan '( sport = :{port} )'")
show("\n".join(lines))
verdict(any(line.startswith("TIME-WAIT") for line in lines)
        and any(line.startswith("LISTEN") for line in lines), "wrong on Linux",
        "'sequence number 체크로 이전 연결과 구분': SO_REUSEADDR only relaxes bind(); the TIME_WAIT "
        "socket stays and still owns the old 4-tuple (a new SYN on that same 4-tuple is judged by "
        "tcp_timewait_state_process, SO_REUSEADDR or not)")
new.close()
done()
