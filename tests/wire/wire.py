#!/usr/bin/env python3
"""See it on the wire: one lesson of the chapter run while its loopback packets are captured
(tcpdump) and its programs traced (strace), printed as ONE timeline in time order: the system
calls of each process, the packets as tcpdump prints them, each tied to the call that caused it
where that can be told, and each socket's TCP state as it changes.

    wire.py list                                    the lessons
    wire.py run LESSON [--impl chapter|c|rust] [--bin-dir DIR]
                                                    run one, print its timeline

How each column is known:
  * system calls: strace -f -ttt -T -yy (one trace per program; -yy names each socket fd by its
    addresses, so only calls on TCP sockets, on stderr, and the forks and exits are shown);
  * packets: tcpdump -i lo -U -w on the lesson's ports; the text shown is tcpdump's own
    (tcpdump -r -n -tt, relative seq/ack), the fields judged are parsed by dpkt (Debian's
    python3-dpkt) from the same capture;
  * states: the kernel's tracepoint sock:inet_sock_set_state (tracefs, an instance of our own),
    which fires at every state change of a full socket. A socket that enters TIME-WAIT is
    replaced by a small timewait socket, and the tracepoint shows the full socket's CLOSE; the
    TIME-WAIT is then read from `ss -tan` right after (shown as "ss:").
  * the time base: strace and tcpdump stamp CLOCK_REALTIME; the tracepoint instance uses the
    "mono" clock, shifted by CLOCK_REALTIME - CLOCK_MONOTONIC measured here.

Glosses in English or Korean as the lecture demo chooses: DEMO_LANG=en|ko, else a ko* locale.
Needs root (capture and ptrace), tcpdump and strace: without them one line says what is missing
and the exit status is 1. Loopback only, kernel-chosen ports; every process started is killed
by its id at the end. If tracefs is not mounted, it is mounted (mount -t tracefs); without it
the states come from ss alone. ERESTARTSYS restarts are left out (a signal to a traced process
restarts its call: strace's doing). WIRE_KEEP=1 keeps a run's traces and capture in /tmp/wire-*.
"""
import argparse
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.dirname(os.path.abspath(__file__))
DRIVERS = os.path.join(HERE, "drivers.py")
PY = sys.executable or "/usr/bin/python3"
HOST = "127.0.0.1"
TRACEFS = "/sys/kernel/tracing"
STRACE_CALLS = ("socket,bind,listen,accept,accept4,connect,setsockopt,getsockopt,shutdown,close,"
                "recvfrom,sendto,recvmsg,sendmsg,read,write,poll,ppoll,select,pselect6,clone,"
                "clone3,fork,vfork,exit_group")

LESSONS = [
    ("echo_session", "a", "one echo session: handshake, data, half-close, FINs, TIME-WAIT",
     "에코 세션 하나: 3-way handshake, 데이터, 반쪽 닫기, 양쪽 FIN, TIME-WAIT"),
    ("close_unread_rst", "b", "close() with unread data: RST, no FIN",
     "읽지 않은 데이터가 남은 close(): FIN 대신 RST"),
    ("closed_port", "c", "connect to a closed port: RST, ECONNREFUSED",
     "닫힌 포트에 connect: RST, ECONNREFUSED"),
    ("full_backlog", "d", "connect to a full backlog: SYNs retransmitted, the 5 s SO_SNDTIMEO",
     "백로그가 가득 찬 서버에 connect: SYN 재전송, 5초 SO_SNDTIMEO"),
    ("server_first", "e", "server killed first: its FIN, TIME-WAIT on its port, the restart",
     "서버가 먼저 죽을 때: 서버의 FIN, 서버 포트의 TIME-WAIT, 그 위로 재시작"),
    ("nonblocking_connect", "f", "non-blocking connect: EINPROGRESS, select waking",
     "비블로킹 connect: EINPROGRESS, select가 깨어나는 때"),
    ("nagle_delayed_ack", "g", "Nagle and delayed ACK: the ~40 ms stall, TCP_NODELAY",
     "Nagle과 지연 ACK: 작은 쓰기의 약 40ms 정체, TCP_NODELAY"),
    ("backlog_queues", "h", "the two queues behind the backlog: SYN queue, SYN cookies, drops",
     "백로그 뒤의 두 큐: SYN 큐, SYN 쿠키, 버려지는 SYN"),
]
LESSON_NAMES = [l[0] for l in LESSONS]


# ------------------------------------------------------------------------------------------
# Language (as tests/demo/demo.py chooses)
# ------------------------------------------------------------------------------------------

def wire_lang():
    """The demo's rule, from the demo itself: DEMO_LANG=en|ko, else a ko* locale."""
    sys.path.insert(0, os.path.join(ROOT, "tests", "demo"))
    from demo import demo_lang  # noqa: E402 (the demo's module has no side effects on import)
    return demo_lang()


GLOSS = {
    "syn": ("SYN <- {who} connect()", "SYN <- {who}의 connect()"),
    "synack": ("SYN-ACK: the kernel's own (the listener's)", "SYN-ACK: 커널이 스스로 보냄 (리스닝 소켓 쪽)"),
    "ack": ("ACK: the kernel's own", "ACK: 커널이 스스로 보냄"),
    "data": ("data <- {who} {call}()", "데이터 <- {who}의 {call}()"),
    "data_kernel": ("data: the kernel's own (sent when the ACK came; Nagle held it)",
                    "데이터: 커널이 스스로 보냄 (Nagle이 잡아 두었다가 ACK가 오자 보냄)"),
    "fin": ("FIN <- {who} {call}()", "FIN <- {who}의 {call}()"),
    "fin_exit": ("FIN <- {who} killed: the kernel closes its fds", "FIN <- 죽은 {who}: 커널이 그 fd를 닫음"),
    "fin_kernel": ("FIN: the kernel's own", "FIN: 커널이 스스로 보냄"),
    "rst_close": ("RST <- {who} close()", "RST <- {who}의 close()"),
    "rst_unread": ("RST <- {who} close() with {n} bytes unread",
                   "RST <- {who}의 close() (받은 {n}바이트를 읽지 않음)"),
    "rst_kernel": ("RST: the kernel's own (no socket takes this SYN)",
                   "RST: 커널이 스스로 보냄 (이 SYN을 받을 리스닝 소켓이 없음)"),
    "rst_other": ("RST: the kernel's own", "RST: 커널이 스스로 보냄"),
    "retrans": ("retransmission: the kernel's timer (no answer yet)",
                "재전송: 커널의 타이머 (아직 응답 없음)"),
    "cookie": ("SYN-ACK: the kernel's own, a SYN cookie (SYN queue full)",
               "SYN-ACK: 커널이 스스로 보냄, SYN 쿠키 (SYN 큐가 가득 참)"),
}
WHO = {"en": {}, "ko": {"client": "클라이언트", "server": "서버", "child": "자식 프로세스",
                        "driver": "드라이버"}}


def gloss(key, lang, **kw):
    text = GLOSS[key][0 if lang == "en" else 1]
    if "who" in kw and lang == "ko":
        base = kw["who"].split(" ")[0]
        kw["who"] = (WHO["ko"].get(base, base)
                     + kw["who"][len(base):].replace("(driver)", "(드라이버)"))
    return text.format(**kw)


# ------------------------------------------------------------------------------------------
# What the lesson needs
# ------------------------------------------------------------------------------------------

class Missing(Exception):
    """Capture is impossible here: the reason, one line."""


def requirements():
    """None when capture and tracing can run here, else the reason (one line)."""
    missing = []
    if os.geteuid() != 0:
        missing.append("root (packet capture and ptrace need it)")
    for tool in ("tcpdump", "strace", "ss"):
        if not shutil.which(tool):
            missing.append("%s (make deps installs it)" % tool)
    try:
        import dpkt  # noqa: F401
    except ImportError:
        missing.append("python3-dpkt (make deps installs it; run with /usr/bin/python3)")
    if missing:
        return "wire: needs " + ", ".join(missing)
    return None


def bin_dir(impl, override=None):
    return override or os.path.join(ROOT, "build", impl)


# ------------------------------------------------------------------------------------------
# Processes: traced programs, tcpdump, the tracepoint
# ------------------------------------------------------------------------------------------

class Proc:
    """One program run under strace -f, in a process group of its own."""

    def __init__(self, run, role, argv, stdin=subprocess.DEVNULL):
        self.role = role
        self.trace = os.path.join(run.tmp, "%s.%d.strace" % (role.replace(" ", "_"), len(run.procs)))
        self.out = open(os.path.join(run.tmp, "%s.%d.out" % (role.replace(" ", "_"), len(run.procs))), "w+")
        cmd = ["strace", "-f", "-ttt", "-T", "-yy", "-q", "-s", "40", "-o", self.trace,
               "-e", "trace=" + STRACE_CALLS, "--"] + argv
        self.p = subprocess.Popen(cmd, stdin=stdin, stdout=subprocess.PIPE, stderr=self.out,
                                  start_new_session=True)
        self.lines = []
        run.procs.append(self)
        self._tracee = None

    def tracee(self, deadline=3.0):
        """The pid of the program strace runs (its only child)."""
        if self._tracee:
            return self._tracee
        end = time.monotonic() + deadline
        path = "/proc/%d/task/%d/children" % (self.p.pid, self.p.pid)
        while time.monotonic() < end:
            try:
                kids = open(path).read().split()
            except OSError:
                kids = []
            if kids:
                self._tracee = int(kids[0])
                return self._tracee
            time.sleep(0.002)
        raise RuntimeError("%s: the traced program did not start" % self.role)

    def children(self):
        """Pids of the program's own children (the server's forked children)."""
        pid = self.tracee()
        try:
            return [int(x) for x in open("/proc/%d/task/%d/children" % (pid, pid)).read().split()]
        except OSError:
            return []

    def await_line(self, pattern, deadline=5.0):
        """The first line of the program's stdout matching pattern (a readiness line)."""
        rx = re.compile(pattern)
        end = time.monotonic() + deadline
        buf = b""
        while time.monotonic() < end:
            r, _, _ = select.select([self.p.stdout], [], [], max(0.0, end - time.monotonic()))
            if not r:
                break
            chunk = os.read(self.p.stdout.fileno(), 4096)
            if not chunk:
                break
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                line = line.decode(errors="replace")
                self.lines.append(line)
                m = rx.search(line)
                if m:
                    return m
        raise RuntimeError("%s: no line /%s/ within %.0f s" % (self.role, pattern, deadline))

    def await_in_trace(self, pattern, deadline=5.0):
        """The first line of its strace output matching pattern (strace writes each line as the
        call completes)."""
        rx = re.compile(pattern)
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            try:
                with open(self.trace, errors="replace") as f:
                    for line in f:
                        m = rx.search(line)
                        if m:
                            return m
            except OSError:
                pass
            time.sleep(0.005)
        raise RuntimeError("%s: no call /%s/ within %.0f s" % (self.role, pattern, deadline))

    def wait(self, deadline):
        try:
            return self.p.wait(timeout=deadline)
        except subprocess.TimeoutExpired:
            raise RuntimeError("%s did not finish within %.0f s" % (self.role, deadline))

    def kill(self):
        """SIGKILL to its process group (strace, the program, its children), then reaped."""
        if self.p.poll() is None:
            try:
                os.killpg(self.p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self.p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self.out.close()


class Capture:
    """tcpdump on lo for some TCP ports, plus UDP markers (datagrams to a port of ours): a start
    marker awaited in the capture before the lesson begins, and an end marker awaited before
    tcpdump is stopped, so no packet of the lesson is lost at either end."""

    def __init__(self, run, ports):
        self.pcap = os.path.join(run.tmp, "wire.pcap")
        self.marker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.marker.bind((HOST, 0))
        self.mport = self.marker.getsockname()[1]
        flt = "(tcp and (%s)) or (udp and dst port %d)" % (
            " or ".join("port %d" % p for p in ports), self.mport)
        self.err = open(os.path.join(run.tmp, "tcpdump.err"), "w+")
        self.p = subprocess.Popen(["tcpdump", "-i", "lo", "-n", "-U", "--immediate-mode",
                                   "-w", self.pcap, flt],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  start_new_session=True)
        run.captures.append(self)
        self.end_t = None
        self.dropped = 0
        end = time.monotonic() + 5
        seen = b""
        while b"listening on" not in seen:
            r, _, _ = select.select([self.p.stderr], [], [], max(0.0, end - time.monotonic()))
            chunk = os.read(self.p.stderr.fileno(), 4096) if r else b""
            if not chunk:
                raise Missing("wire: tcpdump did not start: %s" % seen.decode(errors="replace").strip())
            seen += chunk
        # "listening on" comes when the filter is set, but the ring may still hold packets of
        # the whole loopback taken before it (libpcap filters those in user space:
        # blocks_to_filter_in_userland, pcap_setfilter_linux in pcap-linux.c) and, on a
        # busy machine, be full: a packet sent now could be dropped. Once a marker sent now is
        # in the file, tcpdump has caught up (resent, in case the ring dropped one).
        if not self.await_marker(b"wire-start"):
            raise RuntimeError("wire: tcpdump did not write a start marker within 5 s")

    def await_marker(self, text):
        """Sends `text` to the marker port until it is in the capture file (5 s at most)."""
        import dpkt
        end = time.monotonic() + 5
        while time.monotonic() < end:
            self.marker.sendto(text, (HOST, self.mport))
            resend = time.monotonic() + 0.1
            while time.monotonic() < min(resend, end):
                try:
                    with open(self.pcap, "rb") as f:
                        if any(text in buf for _, buf in dpkt.pcap.Reader(f)):
                            return True
                except (ValueError, dpkt.dpkt.NeedData):
                    pass
                time.sleep(0.005)
        return False

    def finish(self):
        """Sends the end marker, waits for it in the capture, stops tcpdump."""
        self.end_t = time.time()
        self.await_marker(b"wire-end")
        self.stop()

    def stop(self):
        if self.p.poll() is None:
            os.kill(self.p.pid, signal.SIGINT)
            try:
                self.p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.kill(self.p.pid, signal.SIGKILL)
                self.p.wait()
            # On exit tcpdump reports "N packets dropped by kernel" (its ring was full). The count
            # includes packets of the whole loopback dropped before the filter was set, so it is
            # shown beside a failure, not taken as one.
            m = re.search(r"(\d+) packets? dropped by kernel",
                          self.p.stderr.read().decode(errors="replace"))
            self.dropped = int(m.group(1)) if m else 0
        self.marker.close()


class StateTrace:
    """The tracepoint sock:inet_sock_set_state in a tracefs instance of our own, filtered on the
    lesson's ports."""

    def __init__(self, run, ports):
        self.dir = None
        self.note = None
        if not os.path.isdir(os.path.join(TRACEFS, "instances")):
            subprocess.run(["mount", "-t", "tracefs", "nodev", TRACEFS], capture_output=True)
        inst = os.path.join(TRACEFS, "instances")
        if not os.path.isdir(inst):
            self.note = "tracefs not available: states from ss only"
            return
        self.dir = os.path.join(inst, "tcp-chapter-wire-%d" % os.getpid())
        try:
            os.mkdir(self.dir)
            self._w("trace_clock", "mono")
            flt = " || ".join("sport == %d || dport == %d" % (p, p) for p in ports)
            self._w("events/sock/inet_sock_set_state/filter", flt)
            self._w("events/sock/inet_sock_set_state/enable", "1")
            self._w("tracing_on", "1")
        except OSError as e:
            self.note = "tracefs: %s: states from ss only" % e
            self.close()
            return
        self.offset = time.time() - time.monotonic()
        run.states.append(self)

    def _w(self, name, text):
        with open(os.path.join(self.dir, name), "w") as f:
            f.write(text)

    def read(self):
        rows = []
        if not self.dir:
            return rows
        self._w("tracing_on", "0")
        rx = re.compile(r"\s(\d+\.\d+): inet_sock_set_state: .*?sport=(\d+) dport=(\d+) "
                        r"saddr=(\S+) daddr=(\S+) .*oldstate=TCP_(\w+) newstate=TCP_(\w+)")
        with open(os.path.join(self.dir, "trace")) as f:
            for line in f:
                m = rx.search(line)
                if m:
                    rows.append(dict(t=float(m.group(1)) + self.offset, sport=int(m.group(2)),
                                     dport=int(m.group(3)), old=m.group(6), new=m.group(7)))
        return rows

    def close(self):
        if self.dir and os.path.isdir(self.dir):
            try:
                self._w("events/sock/inet_sock_set_state/enable", "0")
            except OSError:
                pass
            try:
                os.rmdir(self.dir)
            except OSError:
                pass
        self.dir = None


# ------------------------------------------------------------------------------------------
# One run of a lesson
# ------------------------------------------------------------------------------------------

class Run:
    def __init__(self, lesson, impl, bins, lang):
        self.lesson, self.impl, self.bins, self.lang = lesson, impl, bins, lang
        self.tmp = tempfile.mkdtemp(prefix="wire-%s." % lesson)
        self.procs, self.captures, self.states = [], [], []
        self.snapshots = []   # (t, (English label, Korean label), lines)
        self.notes = []       # lines printed under the title
        self.facts = {}       # lesson-specific measurements, for the tests
        self.server_port = None
        self.holders = []

    def prog(self, name):
        return os.path.join(self.bins, name)

    def start(self, role, argv, stdin=subprocess.DEVNULL):
        return Proc(self, role, argv, stdin)

    def driver(self, role, *args, stdin=subprocess.DEVNULL):
        return Proc(self, role, [PY, DRIVERS] + [str(a) for a in args], stdin)

    def server(self, role="server", port=0):
        """echo_server on a port (0: the kernel's), its port read back from its listen() call
        in the trace (strace -yy names the listening socket's address)."""
        s = self.start(role, [self.prog("echo_server"), str(port)])
        m = s.await_in_trace(r"listen\(\d+<TCP:\[127\.0\.0\.1:(\d+)\]>, \d+\) = 0")
        s.port = int(m.group(1))
        return s

    def watched_server(self):
        """The lesson's echo_server, its port the one captured and traced."""
        srv = self.server()
        self.server_port = srv.port
        self.watch([srv.port])
        return srv

    def watch(self, ports):
        self.ports = ports
        StateTrace(self, ports)
        self.capture = Capture(self, ports)

    def ss(self, label):
        """An `ss -tan` snapshot of the lesson's ports; label is (English, Korean)."""
        flt = " or ".join("sport = :%d or dport = :%d" % (p, p) for p in self.ports)
        out = subprocess.run(["ss", "-tanoH", "( %s )" % flt], capture_output=True, text=True).stdout
        lines = [" ".join(l.split()) for l in out.splitlines() if l.strip()]
        self.snapshots.append((time.time(), label, lines))
        return lines

    def cleanup(self):
        for p in self.procs:
            p.kill()
        for c in self.captures:
            c.stop()
        for s in self.states:
            s.close()
        for h in self.holders:
            h.close()
        if not os.environ.get("WIRE_KEEP"):
            shutil.rmtree(self.tmp, ignore_errors=True)


# ------------------------------------------------------------------------------------------
# The lessons. Each leaves the capture running; run_lesson() finishes it.
# ------------------------------------------------------------------------------------------

def lesson_echo_session(r):
    srv = r.watched_server()
    cli = r.start("client", [r.prog("tcp_client"), HOST, str(srv.port)], stdin=subprocess.PIPE)
    cli.p.stdin.write(b"hello\n")
    cli.p.stdin.close()
    cli.wait(5)
    wait_no_children(srv, 5)
    r.ss(("after the session", "세션이 끝난 뒤"))
    stop(srv)
    r.facts["client_exit"] = cli.p.returncode


def lesson_close_unread_rst(r):
    srv = r.watched_server()
    r.notes.append(("the client is a driver (tests/wire/drivers.py close_unread): the programs "
                    "always read what they receive",
                    "클라이언트는 드라이버(tests/wire/drivers.py close_unread)입니다. 우리 프로그램은 "
                    "받은 것을 언제나 다 읽기 때문입니다"))
    drv = r.driver("client (driver)", "close_unread", srv.port, stdin=subprocess.DEVNULL)
    drv.await_line(r"^unread$")
    drv.wait(5)
    wait_no_children(srv, 5)
    r.ss(("after the close", "close 뒤"))
    stop(srv)


def lesson_closed_port(r):
    hold = socket.socket()
    hold.bind((HOST, 0))   # bound, never listening: nobody else can take the port
    r.holders.append(hold)
    port = hold.getsockname()[1]
    r.server_port = port
    r.notes.append(("port %d is held by a socket of this tool, bound but never listening"
                    % port, "포트 %d는 이 도구의 소켓이 바인드만 하고 listen하지 않은 채 잡고 있습니다"
                    % port))
    r.watch([port])
    cli = r.start("client", [r.prog("tcp_client"), HOST, str(port)])
    cli.wait(5)
    r.facts["client_exit"] = cli.p.returncode


def lesson_full_backlog(r):
    lst = r.driver("listener (driver)", "full_listener", stdin=subprocess.PIPE)
    port = int(lst.await_line(r"^port (\d+)$").group(1))
    r.server_port = port
    r.notes.append(("the listener is a driver (drivers.py full_listener): listen(0), its accept "
                    "queue filled by one connection of its own before the capture starts",
                    "리스닝 소켓은 드라이버(drivers.py full_listener)입니다. listen(0)으로 만들고, "
                    "캡처 전에 자기 연결 하나로 accept 큐를 채워 둡니다"))
    r.ports = [port]
    r.ss(("before the client", "클라이언트를 실행하기 전"))
    r.watch([port])
    started = time.time()
    cli = r.start("client", [r.prog("tcp_client"), HOST, str(port)])
    cli.wait(10)
    r.facts["client_exit"] = cli.p.returncode
    r.facts["client_seconds"] = time.time() - started


def lesson_server_first(r):
    srv = r.watched_server()
    cli = r.start("client", [r.prog("tcp_client"), HOST, str(srv.port)], stdin=subprocess.PIPE)
    cli.p.stdin.write(b"hi\n")
    cli.p.stdin.flush()
    cli.await_line(r"^hi$")
    kids = srv.children()
    for pid in kids + [srv.tracee()]:
        os.kill(pid, signal.SIGTERM)
    cli.wait(5)
    srv.wait(5)
    r.ss(("after the server died", "서버가 죽은 뒤"))
    again = r.server("server (restart)", srv.port)
    r.facts["restart_port"] = again.port
    r.ss(("after the restart", "재시작 뒤"))
    stop(again)
    cli.p.stdin.close()


NB_TIMEOUT_MS = 1500


def lesson_nonblocking_connect(r):
    srv = r.server()
    r.server_port = srv.port
    lst = r.driver("listener (driver)", "full_listener", stdin=subprocess.PIPE)
    full = int(lst.await_line(r"^port (\d+)$").group(1))
    r.full_port = full
    r.notes.append(("1) tcp_client -n %d to the echo server; 2) the same to port %d, a listener "
                    "whose accept queue is full (drivers.py full_listener): no SYN-ACK ever comes"
                    % (NB_TIMEOUT_MS, full),
                    "1) 에코 서버에 tcp_client -n %d, 2) 같은 명령을 accept 큐가 가득 찬 리스닝 소켓"
                    "(포트 %d, drivers.py full_listener)에: SYN-ACK가 오지 않습니다" % (NB_TIMEOUT_MS, full)))
    r.watch([srv.port, full])
    cli = r.start("client", [r.prog("tcp_client"), "-n", str(NB_TIMEOUT_MS), HOST, str(srv.port)],
                  stdin=subprocess.PIPE)
    cli.p.stdin.write(b"hi\n")
    cli.p.stdin.close()
    cli.wait(5)
    wait_no_children(srv, 5)
    r.ss(("after the first client", "첫 클라이언트 뒤"))
    started = time.time()
    late = r.start("client 2", [r.prog("tcp_client"), "-n", str(NB_TIMEOUT_MS), HOST, str(full)])
    late.wait(5)
    r.facts["late_seconds"] = time.time() - started
    r.facts["late_exit"] = late.p.returncode
    r.capture.finish()
    lst.p.stdin.close()
    lst.wait(5)
    stop(srv)


NAGLE_ROUNDS = 3


def lesson_nagle_delayed_ack(r):
    r.notes.append(("both ends are drivers (drivers.py nagle_server, nagle_client): the programs "
                    "never write twice before reading",
                    "양쪽 모두 드라이버(drivers.py nagle_server, nagle_client)입니다. 우리 프로그램은 "
                    "읽기 전에 두 번 쓰는 일이 없기 때문입니다"))
    srv = r.driver("server (driver)", "nagle_server")
    port = int(srv.await_line(r"^port (\d+)$").group(1))
    r.server_port = port
    r.watch([port])
    cli = r.driver("client (driver)", "nagle_client", port, NAGLE_ROUNDS)
    cli.wait(8)
    srv.wait(5)


QUEUE_BACKLOG = 2
QUEUE_CLIENTS = 8
NSTAT = ("TcpExtSyncookiesSent", "TcpExtSyncookiesRecv", "TcpExtListenOverflows",
         "TcpExtListenDrops", "TcpExtTCPReqQFullDoCookies", "TcpExtTCPReqQFullDrop")


def nstat():
    out = subprocess.run(["nstat", "-az"] + list(NSTAT), capture_output=True, text=True).stdout
    vals = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] in NSTAT:
            vals[parts[0]] = int(parts[1])
    return vals


def lesson_backlog_queues(r):
    r.notes.append(("both ends are drivers: listen(%d) with TCP_DEFER_ACCEPT (a handshake without "
                    "data then stays in the SYN queue, so the queue can be seen on loopback), and "
                    "%d non-blocking connects; counters from nstat (machine-wide)"
                    % (QUEUE_BACKLOG, QUEUE_CLIENTS),
                    "양쪽 모두 드라이버입니다. 리스닝 소켓은 listen(%d)에 TCP_DEFER_ACCEPT를 걸어 "
                    "데이터 없는 handshake가 SYN 큐에 머물게 하고(루프백에서 큐를 보려고), 클라이언트는 "
                    "비블로킹 connect를 %d번 합니다. 카운터는 nstat(머신 전체)입니다"
                    % (QUEUE_BACKLOG, QUEUE_CLIENTS)))
    lst = r.driver("server (driver)", "queue_listener", QUEUE_BACKLOG, stdin=subprocess.PIPE)
    port = int(lst.await_line(r"^port (\d+)$").group(1))
    r.server_port = port
    r.watch([port])
    before = nstat()
    cli = r.driver("client (driver)", "queue_clients", port, QUEUE_CLIENTS, stdin=subprocess.PIPE)
    cli.await_line(r"^done$")
    lines = r.ss(("after %d connects" % QUEUE_CLIENTS, "connect %d번 뒤" % QUEUE_CLIENTS))
    after = nstat()
    r.facts["nstat"] = {k: after.get(k, 0) - before.get(k, 0) for k in NSTAT}
    r.snapshots.append((time.time(), ("nstat -az: change during the connects (machine-wide)",
                                      "nstat -az: connect 동안 바뀐 값 (머신 전체)"),
                        ["%s %+d" % (k, v) for k, v in r.facts["nstat"].items()]))
    r.facts["ss"] = lines
    # Wait for the dropped SYNs' first retransmission (about 1 s after each), read in the capture.
    wait_for_retransmitted_syn(r, 3)
    r.capture.finish()
    cli.p.stdin.close()
    lst.p.stdin.close()
    cli.wait(5)
    lst.wait(5)


def stop(proc, deadline=5):
    """SIGTERM to the traced program (the way a user stops the server), then its end."""
    try:
        os.kill(proc.tracee(), signal.SIGTERM)
    except ProcessLookupError:
        pass
    proc.wait(deadline)


def wait_no_children(srv, deadline):
    """Until the server has no child left (the child's exit ends the session's server side)."""
    end = time.monotonic() + deadline
    while srv.children() and time.monotonic() < end:
        time.sleep(0.005)


def wait_for_retransmitted_syn(r, deadline):
    import dpkt
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        seen = {}
        try:
            with open(r.capture.pcap, "rb") as f:
                for _, buf in dpkt.pcap.Reader(f):
                    tcp = tcp_of(buf)
                    if tcp is not None and tcp.flags & dpkt.tcp.TH_SYN and not tcp.flags & dpkt.tcp.TH_ACK:
                        seen[tcp.sport] = seen.get(tcp.sport, 0) + 1
        except (ValueError, dpkt.dpkt.NeedData):
            pass
        if any(n > 1 for n in seen.values()):
            return
        time.sleep(0.02)


LESSON_FUNCS = {
    "echo_session": lesson_echo_session,
    "close_unread_rst": lesson_close_unread_rst,
    "closed_port": lesson_closed_port,
    "full_backlog": lesson_full_backlog,
    "server_first": lesson_server_first,
    "nonblocking_connect": lesson_nonblocking_connect,
    "nagle_delayed_ack": lesson_nagle_delayed_ack,
    "backlog_queues": lesson_backlog_queues,
}


# ------------------------------------------------------------------------------------------
# Reading what was recorded
# ------------------------------------------------------------------------------------------

def tcp_of(buf):
    import dpkt
    eth = dpkt.ethernet.Ethernet(buf)
    ip = eth.data
    if isinstance(ip, dpkt.ip.IP) and isinstance(ip.data, dpkt.tcp.TCP):
        return ip.data
    return None


def read_packets(pcap):
    """Each TCP packet: time, ports, flags, seq, ack, len (dpkt), and tcpdump's own text line."""
    import dpkt
    text = subprocess.run(["tcpdump", "-r", pcap, "-n", "-tt", "tcp"], capture_output=True,
                          text=True).stdout.splitlines()
    pkts = []
    with open(pcap, "rb") as f:
        for ts, buf in dpkt.pcap.Reader(f):
            tcp = tcp_of(buf)
            if tcp is None:
                continue
            pkts.append(dict(t=ts, sport=tcp.sport, dport=tcp.dport, flags=tcp.flags,
                             seq=tcp.seq, ack=tcp.ack, len=len(tcp.data),
                             syn=bool(tcp.flags & dpkt.tcp.TH_SYN),
                             fin=bool(tcp.flags & dpkt.tcp.TH_FIN),
                             rst=bool(tcp.flags & dpkt.tcp.TH_RST),
                             ackf=bool(tcp.flags & dpkt.tcp.TH_ACK)))
    if len(text) != len(pkts):
        raise RuntimeError("tcpdump printed %d lines for %d packets" % (len(text), len(pkts)))
    for p, line in zip(pkts, text):
        p["text"] = line.split(" ", 1)[1] if " " in line else line
    return pkts


LINE = re.compile(r"^(\d+)\s+(\d+\.\d+)\s+(.*)$")
RESULT = re.compile(r"\)\s+=\s+(-?\d+|\?|0x[0-9a-f]+)(.*?)(?:\s+<(\d+\.\d+)>)?\s*$")
FDNOTE = re.compile(r"<TCP(?:v6)?:\[(?:(?:[\d.]+):(\d+)(?:->(?:[\d.]+):(\d+))?|\d+)\]>")
SOCKADDR = re.compile(r"\{sa_family=AF_INET, sin_port=htons\((\d+)\), sin_addr=inet_addr\(\"([\d.]+)\"\)\}")


def parse_strace(path, role, errfile=None):
    """The calls of one trace: pid, role, start, end, name, text (simplified), ret, ports."""
    calls, pending, pids = [], {}, []
    try:
        f = open(path, errors="replace")
    except OSError:
        return calls
    with f:
        for raw in f:
            m = LINE.match(raw.rstrip("\n"))
            if not m:
                continue
            pid, t, rest = int(m.group(1)), float(m.group(2)), m.group(3)
            if pid not in pids:
                pids.append(pid)
            if rest.startswith("+++"):
                calls.append(dict(pid=pid, start=t, end=t, name="exit", raw=rest, ret=None))
                continue
            if rest.startswith("---"):
                sig = re.match(r"--- (SIG\w+)", rest)
                if sig and sig.group(1) != "SIGCHLD":
                    calls.append(dict(pid=pid, start=t, end=t, name="signal", raw=rest, ret=None,
                                      sig=sig.group(1)))
                continue
            if rest.endswith("<unfinished ...>"):
                nm = re.match(r"(\w+)\((.*)<unfinished \.\.\.>$", rest)
                if nm:
                    pending[pid] = (nm.group(1), nm.group(2), t)
                continue
            rm = re.match(r"<\.\.\. (\w+) resumed>(.*)$", rest)
            if rm:
                if pid not in pending:
                    continue
                name, args, start = pending.pop(pid)
                body = args + rm.group(2)
                end = t
                resumed = True
            else:
                cm = re.match(r"(\w+)\((.*)$", rest)
                if not cm:
                    continue
                name, body, start, end = cm.group(1), cm.group(2), t, None
                resumed = False
            res = RESULT.search(body)
            if not res:
                continue
            dur = float(res.group(3)) if res.group(3) else 0.0
            if end is None:
                end = start + dur
            calls.append(dict(pid=pid, start=start, end=end, resumed=resumed, name=name, body=body,
                              ret=res.group(1),
                              tail=res.group(2).strip(), args=body[:res.start()]))
    # strace's -T leaves out part of a call's time (a SYN was seen after connect's start + -T,
    # before its caller's next call): a call's window ends at the next call of the same process.
    nxt = {}
    for c in sorted(calls, key=lambda c: c["start"], reverse=True):
        c["until"] = max(c["end"], nxt.get(c["pid"], c["end"] + 0.05))
        nxt[c["pid"]] = c["start"]
    roles = {}
    kids = 0
    for pid in pids:
        if not roles:
            roles[pid] = role
        else:
            kids += 1
            roles[pid] = "child" if kids == 1 else "child %d" % kids
    keep = []
    for c in calls:
        c["role"] = roles.get(c["pid"], role)
        if c["name"] in ("exit", "signal"):
            keep.append(c)
            continue
        body = c["body"]
        tcp = "<TCP" in body
        stderr_write = c["name"] == "write" and (body.startswith("2<") or bool(
            errfile and re.match(r"\d+<%s>" % re.escape(errfile), body)))
        forks = c["name"] in ("clone", "clone3", "fork", "vfork")
        if not (tcp or stderr_write or forks):
            continue
        if "ERESTARTSYS" in c["tail"]:
            # A signal delivered to a traced process stops it and restarts its call: strace's own
            # doing (SIGCHLD, ignored by default, interrupts nothing in an untraced server).
            continue
        fm = FDNOTE.search(body)
        c["lport"] = int(fm.group(1)) if fm and fm.group(1) else None
        c["rport"] = int(fm.group(2)) if fm and fm.group(2) else None
        sa = SOCKADDR.search(c["args"])
        c["addr_port"] = int(sa.group(1)) if sa else None
        c["text"] = simplify(c)
        keep.append(c)
    return keep


def simplify(c):
    args = re.sub(r"\s+\)", ")", FDNOTE.sub("", c["args"]).rstrip())
    args = re.sub(r"(\d+)<(?:pipe|/dev|/tmp|/proc|socket)[^>]*(?:>[^>,)\]]*)?>", r"\1", args)
    args = re.sub(r"^\d+<[^>]*\.out>", "2", args)
    args = SOCKADDR.sub(lambda m: "%s:%s" % (m.group(2), m.group(1)), args)
    args = re.sub(r"child_stack=NULL, flags=[^,]*, child_tidptr=0x[0-9a-f]+", "...", args)
    ret = c["ret"]
    tail = FDNOTE.sub("", c["tail"])
    if c["name"] in ("clone", "clone3", "fork", "vfork"):
        tail = ""
    text = "%s(%s) = %s%s" % (c["name"], args, ret, (" " + tail) if tail else "")
    text = re.sub(r"\s+", " ", text)
    return text if len(text) <= 120 else text[:117] + "..."


# ------------------------------------------------------------------------------------------
# Causes: which call sent which packet
# ------------------------------------------------------------------------------------------

SENDS = ("sendto", "send", "write", "sendmsg", "writev")
SLACK = 0.0  # strace stamps a call at its entry stop, before the kernel runs it


def attribute(pkts, calls, lang):
    """Each packet's gloss and the call it is tied to (or None: the kernel's own)."""
    sent = {}   # (sport, dport, seq, flags-without-ack, len) -> count, for retransmissions
    for p in pkts:
        key = (p["sport"], p["dport"], p["seq"], p["syn"], p["fin"], p["len"])
        p["retrans"] = key in sent and (p["syn"] or p["fin"] or p["len"] > 0)
        sent[key] = True
        p["cause"], p["kind"] = None, None

        def during(names, match):
            """The latest call of these names, started before the packet and not yet followed
            by its process's next call, that matches."""
            best = None
            for c in calls:
                if c["name"] in names and c["start"] - SLACK <= p["t"] <= c["until"] + SLACK \
                        and match(c) and (best is None or c["start"] > best["start"]):
                    best = c
            return best

        if p["retrans"]:
            p["kind"] = "retrans"
            p["gloss"] = gloss("retrans", lang)
            continue
        if p["syn"] and not p["ackf"]:
            c = during(("connect",), lambda c: c["addr_port"] == p["dport"])
            p["kind"], p["cause"] = "syn", c
            p["gloss"] = gloss("syn", lang, who=c["role"] if c else "?")
            continue
        if p["syn"]:
            p["kind"] = "synack"
            p["gloss"] = gloss("synack", lang)
            continue
        if p["rst"]:
            c = during(("close",), lambda c: c["lport"] == p["sport"])
            if c:
                p["kind"], p["cause"] = "rst", c
                # Bytes that reached this socket minus the bytes its process read from it.
                got = sum(q["len"] for q in pkts if q["dport"] == p["sport"] and
                          q["sport"] == p["dport"] and q["t"] < p["t"] and not q["retrans"])
                read = sum(int(x["ret"]) for x in calls if x["name"] in ("recvfrom", "read", "recvmsg")
                           and x.get("lport") == p["sport"] and x.get("rport") == p["dport"]
                           and x["ret"].isdigit())
                p["unread"] = got - read
                p["gloss"] = gloss("rst_unread", lang, who=c["role"], n=got - read) if got > read \
                    else gloss("rst_close", lang, who=c["role"])
            else:
                p["kind"] = "rst"
                p["gloss"] = gloss("rst_kernel" if p["len"] == 0 and any(
                    q["syn"] and q["sport"] == p["dport"] for q in pkts) and not any(
                    q["syn"] and q["ackf"] and q["dport"] == p["dport"] for q in pkts)
                    else "rst_other", lang)
            continue
        if p["fin"]:
            c = during(("close", "shutdown"), lambda c: c["lport"] == p["sport"])
            if c:
                p["kind"], p["cause"] = "fin", c
                p["gloss"] = gloss("fin", lang, who=c["role"], call=c["name"])
                continue
            # Killed, not closed: the process that still held this connection got a signal.
            uses = {}
            for c in calls:
                if c.get("lport") == p["sport"] and c.get("rport") == p["dport"]:
                    uses[c["pid"]] = c["name"]
            holders = [pid for pid, last in uses.items() if last != "close"]
            dead = [c for c in calls if c["name"] == "signal" and c["pid"] in holders
                    and 0 <= p["t"] - c["start"] < 0.5]
            p["kind"] = "fin"
            if dead:
                p["gloss"] = gloss("fin_exit", lang, who=dead[0]["role"])
            else:
                p["gloss"] = gloss("fin_kernel", lang)
            continue
        if p["len"] > 0:
            c = during(SENDS, lambda c: c["lport"] == p["sport"])
            p["kind"], p["cause"] = "data", c
            p["gloss"] = gloss("data", lang, who=c["role"], call=c["name"]) if c else \
                gloss("data_kernel", lang)
            continue
        p["kind"] = "ack"
        p["gloss"] = gloss("ack", lang)


# ------------------------------------------------------------------------------------------
# The timeline
# ------------------------------------------------------------------------------------------

STATE_NAMES = {"SYN_SENT": "SYN-SENT", "SYN_RECV": "SYN-RECV", "NEW_SYN_RECV": "NEW-SYN-RECV",
               "FIN_WAIT1": "FIN-WAIT-1", "FIN_WAIT2": "FIN-WAIT-2", "TIME_WAIT": "TIME-WAIT",
               "CLOSE_WAIT": "CLOSE-WAIT", "LAST_ACK": "LAST-ACK"}


def state_name(s):
    return STATE_NAMES.get(s, s)


def collect(r):
    """Everything recorded by one run: packets, calls, states, snapshots."""
    calls = []
    for p in r.procs:
        calls += parse_strace(p.trace, p.role, p.out.name)
    calls = [c for c in calls if c["start"] <= r.capture.end_t]
    calls.sort(key=lambda c: c["start"])
    pkts = read_packets(r.capture.pcap)
    states = []
    for s in r.states:
        states += [x for x in s.read() if x["t"] <= r.capture.end_t]
    attribute(pkts, calls, r.lang)
    tw = set()
    for _, _, lines in r.snapshots:
        for l in lines:
            f = l.split()
            if f and f[0] == "TIME-WAIT":
                tw.add((int(f[3].rsplit(":", 1)[1]), int(f[4].rsplit(":", 1)[1])))
    for s in states:
        # The full socket's CLOSE on entering TIME-WAIT (tcp_time_wait -> tcp_done): read as
        # TIME-WAIT when ss showed that connection in TIME-WAIT afterwards.
        s["shown"] = s["new"]
        if s["new"] == "CLOSE" and s["old"] in ("FIN_WAIT2", "FIN_WAIT1", "CLOSING") and \
                (s["sport"], s["dport"]) in tw:
            s["shown"] = "TIME_WAIT"
            s["via_ss"] = True
    rec = dict(calls=calls, packets=pkts, states=states, snapshots=r.snapshots, tw=tw)
    mark_cookies(r, rec)
    return rec


def mark_cookies(r, rec):
    """Lesson backlog_queues: which SYN-ACKs were SYN cookies."""
    states, pkts = rec["states"], rec["packets"]
    if r.lesson == "backlog_queues":
        # The listener has TCP_DEFER_ACCEPT: a handshake from its SYN queue makes no full socket
        # at the bare ACK. One that does (LISTEN -> SYN-RECV -> ESTABLISHED at the ACK) came
        # through a SYN cookie (cookie_v4_check builds the socket from the ACK alone).
        est = {s["dport"] for s in states if s["sport"] == r.server_port and s["new"] == "ESTABLISHED"}
        for p in pkts:
            if p["kind"] == "synack" and p["sport"] == r.server_port and p["dport"] in est:
                p["kind"] = "cookie"
                p["gloss"] = gloss("cookie", r.lang)


def side(r, port):
    return "server" if port in (r.server_port, getattr(r, "full_port", None)) else "client"


BLOCKING = ("accept", "accept4", "connect", "recvfrom", "recvmsg", "read", "poll", "ppoll",
            "select", "pselect6")


def returned_at(c, pkts):
    """(when a call returned, whether it waited for something). strace's own timing is exact for a
    call it saw block (printed "unfinished", then "resumed"), but its -T leaves out part of a
    short call; so a blocking call returns at the packet that woke it, when one came before its
    process's next call: connect() after the last packet of its handshake (on loopback the
    SYN-ACK and the ACK are processed before the call returns), a blocking recv, poll, select or
    accept at the first packet into its socket that brings data, a FIN or an RST (accept: the
    handshake's ACK)."""
    if c["name"] not in BLOCKING:
        return c["end"], False
    if c.get("resumed"):
        return c["end"], c["end"] - c["start"] > 0.002
    caused = [p for p in pkts if p["cause"] is c]
    if c["name"] == "connect" and caused:
        ports = {caused[0]["sport"], caused[0]["dport"]}
        late = [p["t"] for p in pkts if {p["sport"], p["dport"]} == ports
                and c["start"] <= p["t"] <= c["until"]]
        return max([c["end"]] + late) + 1e-6, True
    if "MSG_DONTWAIT" in c["args"] or c["name"] == "connect":
        return c["end"], c["end"] - c["start"] > 0.002
    for p in pkts:
        if not c["start"] <= p["t"] <= c["until"] or p["dport"] != c.get("lport"):
            continue
        if c.get("rport") and p["sport"] != c["rport"]:
            continue
        accept = c["name"] in ("accept", "accept4") and p["ackf"] and not p["syn"] and not c.get("rport")
        if p["len"] > 0 or p["fin"] or p["rst"] or accept:
            return max(c["end"], p["t"] + 1e-6), True
    return c["end"], c["end"] - c["start"] > 0.002


def timeline(r, rec):
    """[(t, who, text, gloss)] in time order."""
    lang = r.lang
    rows = []
    for c in rec["calls"]:
        if c["name"] == "exit":
            rows.append((c["start"], c["role"], c["raw"], ""))
        elif c["name"] == "signal":
            rows.append((c["start"], c["role"], "--- %s ---" % c["sig"], ""))
        else:
            end, waited = returned_at(c, rec["packets"])
            blocked = end - c["start"]
            if waited:
                rows.append((c["start"], c["role"], "%s(...) ..." % c["name"],
                             "waits" if lang == "en" else "대기"))
                rows.append((end - 1e-7, c["role"], "... " + c["text"],
                             ("returns after %.1f ms" if lang == "en" else "%.1f ms 뒤 반환") % (blocked * 1000)))
            else:
                rows.append((c["start"], c["role"], c["text"], ""))
    for p in rec["packets"]:
        rows.append((p["t"], "wire", p["text"], p["gloss"]))
    for s in rec["states"]:
        if not s["sport"]:
            who = "client :?"
        else:
            who = "%s :%d" % (side(r, s["sport"]) if s["dport"] else "listener", s["sport"])
        text = "%s %s -> %s" % (who, state_name(s["old"]), state_name(s["shown"]))
        how = "tracepoint" if not s.get("via_ss") else (
            "tracepoint: CLOSE; ss: TIME-WAIT" if lang == "en" else "tracepoint: CLOSE; ss: TIME-WAIT")
        rows.append((s["t"], "state", text, how))
    for t, label, lines in rec["snapshots"]:
        label = label[0] if lang == "en" else label[1]
        who = "nstat" if label.startswith("nstat") else "ss"
        rows.append((t, who, label + ":" if who == "nstat" else "ss -tan (%s):" % label, ""))
        for l in lines:
            rows.append((t, who, "  " + l, ""))
    rows.sort(key=lambda x: x[0])
    return rows


def print_timeline(r, rec, out=sys.stdout):
    lang = r.lang
    name, letter, en, ko = next(l for l in LESSONS if l[0] == r.lesson)
    impl = {"chapter": ("the chapter's code as printed", "챕터 그대로의 코드"),
            "c": ("our C", "우리 C"), "rust": ("our Rust", "우리 Rust")}[r.impl]
    print("%s %s, %s: %s   [IMPL=%s: %s]" % ("lesson" if lang == "en" else "실습", letter, name,
                                             en if lang == "en" else ko, r.impl,
                                             impl[0] if lang == "en" else impl[1]), file=out)
    for n in r.notes:
        print("  note: " + n[0] if lang == "en" else "  참고: " + n[1], file=out)
    how = ("calls: strace -f (calls on TCP sockets, stderr, forks); packets: tcpdump -i lo; "
           "states: tracepoint sock:inet_sock_set_state, TIME-WAIT from ss"
           if lang == "en" else
           "호출: strace -f (TCP 소켓, stderr, fork만); 패킷: tcpdump -i lo; "
           "상태: 트레이스포인트 sock:inet_sock_set_state, TIME-WAIT는 ss로")
    print("  " + how, file=out)
    for s in r.states:
        if s.note:
            print("  note: " + s.note, file=out)
    rows = timeline(r, rec)
    if not rows:
        return
    t0 = rows[0][0]
    print("  %9s  %-17s %s" % ("ms", "who" if lang == "en" else "누가", "what" if lang == "en" else "무엇"), file=out)
    for t, who, text, g in rows:
        line = "  %9.3f  %-17s %s" % ((t - t0) * 1000, who, text)
        if g:
            line += "   # " + g
        print(line, file=out)


def run_lesson(lesson, impl="c", bins=None, lang=None):
    """Runs one lesson: (Run, record). Raises Missing when capture is impossible here."""
    why = requirements()
    if why:
        raise Missing(why)
    b = bin_dir(impl, bins)
    need = os.path.join(b, "echo_server")
    if not os.access(need, os.X_OK):
        raise Missing("wire: %s is not built (make all)" % need)
    r = Run(lesson, impl, b, lang or wire_lang())
    try:
        LESSON_FUNCS[lesson](r)
        if r.capture.end_t is None:
            r.capture.finish()
        for p in r.procs:
            if p.p.poll() is None:
                p.kill()
            else:
                p.out.close()
        rec = collect(r)
        return r, rec
    finally:
        r.cleanup()


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list")
    rp = sub.add_parser("run")
    rp.add_argument("lesson")
    rp.add_argument("--impl", default="c")
    rp.add_argument("--bin-dir")
    args = ap.parse_args(argv)
    lang = wire_lang()
    if args.cmd == "list":
        print("wire lessons (make wire LESSON=name [IMPL=chapter|c|rust]):" if lang == "en"
              else "패킷 실습 (make wire LESSON=이름 [IMPL=chapter|c|rust]):")
        for name, letter, en, ko in LESSONS:
            print("  %s  %-20s %s" % (letter, name, en if lang == "en" else ko))
        return 0
    if args.lesson not in LESSON_FUNCS:
        print("wire: no lesson %r; make wire lists them" % args.lesson)
        return 2
    if args.impl not in ("chapter", "c", "rust"):
        print("wire: IMPL must be chapter, c or rust, not %r" % args.impl)
        return 2
    started = time.monotonic()
    try:
        r, rec = run_lesson(args.lesson, args.impl, args.bin_dir, lang)
    except Missing as e:
        print(str(e))
        return 1
    print_timeline(r, rec)
    print("  (%.1f s)" % (time.monotonic() - started))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
