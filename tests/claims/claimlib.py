"""Shared helpers for the claim experiments (tests/claims/*.py, `make claims`).

Each experiment checks one or more claims of chapter 7.1.3 on this machine, prints what it
measured, and ends with one VERDICT line per claim. It exits 1 when the kernel does not behave
as docs/claims.md says (then the document, not the kernel, needs fixing), 0 otherwise.
Loopback only, kernel-chosen ports, python3 standard library only.
"""
import ctypes
import ctypes.util
import errno
import os
import platform
import socket
import struct
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LO = "127.0.0.1"
_failures = []

libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def machine():
    """One line naming the machine: kernel release and online CPUs."""
    return f"Linux {platform.release()}, nproc {os.cpu_count()}"


def title(name, claim):
    print(f"== {name}: {claim}")
    print(f"   machine: {machine()}")


def show(text):
    for line in str(text).splitlines():
        print(f"   {line}")


def verdict(ok, kind, text):
    """kind: 'holds', 'wrong on Linux' or 'cannot be checked'. ok: the measurement agrees
    with docs/claims.md (False makes the experiment exit 1)."""
    print(f"   VERDICT {kind}: {text}")
    if not ok:
        print("   ^^^ MEASUREMENT DISAGREES WITH docs/claims.md")
        _failures.append(text)


def done():
    sys.exit(1 if _failures else 0)


def listener(backlog=128, reuseaddr=False, reuseport=False, port=0):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if reuseaddr:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuseport:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.bind((LO, port))
    s.listen(backlog)
    return s


def pair():
    """A connected TCP pair on loopback: (client end, server end)."""
    lst = listener()
    a = socket.create_connection(lst.getsockname())
    b, _ = lst.accept()
    lst.close()
    return a, b


def port_of(s):
    return s.getsockname()[1]


def linger0(s):
    """close() will then send RST instead of FIN (SO_LINGER with a zero timeout)."""
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def ss(*args):
    """`ss -H ARGS` lines, whitespace squeezed."""
    out = subprocess.run(["ss", "-H", *args], capture_output=True, text=True, timeout=10).stdout
    return [" ".join(line.split()) for line in out.splitlines() if line.strip()]


def tcp_state(s):
    """The kernel's TCP state of a socket (tcpi_state, first byte of struct tcp_info)."""
    names = {1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2",
             6: "TIME_WAIT", 7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN",
             11: "CLOSING"}
    info = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)
    return names.get(info[0], str(info[0]))


def errname(e):
    return errno.errorcode.get(e, str(e))


def wait_until(pred, timeout=5.0, step=0.01):
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() > end:
            return v
        time.sleep(step)


def read_sysctl(path):
    with open("/proc/sys/" + path) as f:
        return " ".join(f.read().split())


def build(impl, prog):
    return os.path.join(ROOT, "build", impl, prog)


def start_server(path, port=0, new_session=False):
    """Starts one of our echo_server builds on LO:PORT; returns (Popen, port). Its stdout (one
    line per client) is drained by a thread, so the server never blocks on a full pipe."""
    import subprocess
    import threading
    p = subprocess.Popen([path, str(port), LO], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, start_new_session=new_session, text=True)
    line = p.stdout.readline()          # "TCP server listening on 127.0.0.1:PORT"
    threading.Thread(target=lambda: [None for _ in p.stdout], daemon=True).start()
    return p, int(line.rsplit(":", 1)[1])
