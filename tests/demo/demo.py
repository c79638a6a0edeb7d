#!/usr/bin/env python3
"""The lecture demo of chapter 7.1.3: six scenes, in tmux (`make demo`) or headless with checks
(`make demo-check`). Both modes run the same scenes with the same narration.

  tests/demo/demo.py tmux [c|rust] [PORT]   interactive: tmux panes for the server, two clients,
                                            the server's process tree, the socket table and the
                                            wire (tcpdump on PORT..PORT+2, live); a key (Enter)
                                            per scene. PORT defaults to 7007 (and PORT+1, PORT+2
                                            for scenes 5 and 6).
  tests/demo/demo.py check [c|rust|both]    headless: every scene on kernel-chosen ports,
                                            asserting what it must show, the wire pane's
                                            packets included (tcpdump on the scene's port);
                                            prints a text capture of each scene. Exit 0 when
                                            every scene passed and every scene has its
                                            narration in English and in Korean.

The narration and the scene titles are in English or Korean: DEMO_LANG=en|ko, or, without it,
the locale (LC_ALL, LC_MESSAGES, LANG) starting with "ko" picks Korean.

Needs only what `make` needs plus tmux (interactive mode only), ss (iproute2) and tcpdump (the
wire pane; capturing needs root: without root or tcpdump the pane says so, and demo-check reports
the wire checks as skipped, with the reason); installs nothing (`make deps` does). Loopback only.
python3 standard library only: the packets are read from tcpdump's own text, the lines the pane
shows (tcpdump decodes them, nothing here parses a packet).
"""
import errno
import os
import re
import select
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unicodedata

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# The scenes: title and what the lecturer says (printed in both modes), in English and in Korean.
# DEMO_LANG=en|ko picks the language; without it, a locale (LC_ALL, LC_MESSAGES, LANG) that
# starts with "ko" picks Korean. `make demo-check` checks that every scene has both texts.
SCENES = [
    {
        "en": ("Start the server and read the listening socket",
               "echo_server runs the chapter's steps 1-5 (TRACE=1 narrates them): socket, SO_REUSEADDR and "
               "SO_REUSEPORT, bind, listen(128). ss shows the socket in LISTEN; for a listening socket "
               "Send-Q is the backlog."),
        "ko": ("서버를 시작하고 리스닝 소켓 보기",
               "echo_server는 챕터의 1-5단계를 실행합니다(TRACE=1이 하나씩 해설함): socket, SO_REUSEADDR와 "
               "SO_REUSEPORT, bind, listen(128). ss는 LISTEN 상태의 소켓을 보여 주며, 리스닝 소켓에서 "
               "Send-Q는 백로그입니다."),
    },
    {
        "en": ("Two clients, two children",
               "Each accept() returns a new fd and the server forks a child for it (steps 6-7). The tree "
               "shows the parent and two children; ss shows two connections, each seen from both ends "
               "(ESTAB twice)."),
        "ko": ("클라이언트 둘, 자식 둘",
               "accept()는 연결마다 새 fd를 돌려주고 서버는 그 연결을 맡을 자식을 fork합니다(6-7단계). "
               "프로세스 트리에는 부모와 자식 둘이 보이고, ss에는 연결 둘이 각각 양쪽 엔드포인트에서 "
               "한 줄씩 보입니다(연결마다 ESTAB 두 줄)."),
    },
    {
        "en": ("Clients leave, children reaped",
               "Ctrl-D half-closes each client (shutdown SHUT_WR). The child reads EOF, closes (step 9) "
               "and exits; SA_NOCLDWAIT lets the kernel reap it: no zombie (no STAT Z). The side that sent "
               "FIN first, the client, keeps the connection in TIME-WAIT."),
        "ko": ("클라이언트가 떠나고 자식은 자동 회수",
               "Ctrl-D를 누르면 클라이언트가 한쪽 방향을 닫습니다(shutdown SHUT_WR). 자식은 EOF를 읽고 "
               "소켓을 닫은 뒤(9단계) 끝납니다. SA_NOCLDWAIT 덕분에 커널이 자식을 자동 회수하므로 좀비가 "
               "없습니다(STAT Z 없음). FIN을 먼저 보낸 쪽인 클라이언트에 연결이 TIME-WAIT 상태로 "
               "남습니다."),
    },
    {
        "en": ("Kill the server, restart at once on the same port",
               "With a client connected, Ctrl-C kills the server and its child: now the server side closed "
               "first, so TIME-WAIT sits on the server's port, for 60 s on Linux. Linux lets a new socket "
               "bind it when the new and the old socket share SO_REUSEADDR, or share SO_REUSEPORT "
               "(echo_server set both): with neither option, EADDRINUSE; with either one alone, bound; "
               "echo_server, with both, restarts at once. Removing one of the two from the server would "
               "change nothing here."),
        "ko": ("서버를 죽이고 같은 포트에서 곧바로 재시작",
               "클라이언트가 연결되어 있는 상태에서 Ctrl-C로 서버와 그 자식을 죽입니다. 이번에는 서버 쪽이 먼저 "
               "닫았으므로 TIME-WAIT가 서버의 포트에 남습니다(Linux에서 60초). Linux는 새 소켓과 "
               "옛 소켓이 둘 다 SO_REUSEADDR를 켰거나 둘 다 SO_REUSEPORT를 켰으면 새 소켓이 그 포트에 "
               "바인드할 수 있게 해 줍니다(echo_server는 둘 다 켰음). 옵션이 둘 다 없으면 EADDRINUSE, 하나만 "
               "있어도 바인드되고, 둘 다 켜는 echo_server는 곧바로 재시작합니다. 서버에서 둘 중 하나를 "
               "지워도 여기서는 달라지는 것이 없습니다."),
    },
    {
        "en": ("Connect to a port whose backlog is full",
               "A listener with listen(fd, 0) and one connection nobody accepts: the kernel drops further "
               "SYNs. The blocking client gives up after SO_SNDTIMEO (5 s), the non-blocking one after its "
               "select() timeout; both say 'connect: Connection timed out'."),
        "ko": ("백로그가 가득 찬 포트에 연결",
               "listen(fd, 0)으로 만들고, 아무도 accept하지 않는 연결 하나로 큐가 찬 리스닝 소켓입니다. "
               "커널은 그 뒤에 오는 SYN을 버립니다. 블로킹 클라이언트는 SO_SNDTIMEO(5초) 뒤에, 비블로킹 클라이언트는 "
               "select() 타임아웃 뒤에 포기하며, 둘 다 'connect: Connection timed out'을 출력합니다."),
    },
    {
        "en": ("http_get against a local HTTP server",
               "simple_http_client: getaddrinfo, tcp_client_connect, one GET with Host and "
               "Connection: close, then recv until the server closes."),
        "ko": ("로컬 HTTP 서버에 http_get",
               "simple_http_client: getaddrinfo, tcp_client_connect, Host와 Connection: close를 담은 "
               "GET 하나, 그다음 서버가 닫을 때까지 recv."),
    },
]

# What to look for in the wire pane during each scene (tcpdump's Flags: S SYN, . ACK, P push, F FIN,
# R RST), said after the narration. `make demo-check` asserts each on the scene's captured packets.
WIRE = [
    {"en": "Wire pane: nothing. listen() sends no packet; a listening socket only answers.",
     "ko": "패킷 창: 아무것도 없습니다. listen()은 패킷을 보내지 않고, 리스닝 소켓은 답하기만 합니다."},
    {"en": "Wire pane: each connect is the 3-way handshake, Flags [S] (SYN), [S.] (SYN-ACK), [.] (ACK); "
           "then each line typed goes out as [P.] and comes back as [P.], each acknowledged by [.].",
     "ko": "패킷 창: connect마다 3-way handshake, 곧 Flags [S](SYN), [S.](SYN-ACK), [.](ACK)가 "
           "보입니다. 그다음 입력한 줄은 [P.]로 나가고 [P.]로 돌아오며, 각각 [.]로 확인응답됩니다."},
    {"en": "Wire pane: [F.] from the client's port first (its half-close), then [F.] from the server's "
           "port (the child's close), each acknowledged; no [R].",
     "ko": "패킷 창: 먼저 클라이언트 포트에서 [F.](한쪽 닫기), 그다음 서버 포트에서 [F.](자식의 "
           "close)가 나가고, 각각 확인응답됩니다. [R]은 없습니다."},
    {"en": "Wire pane: after the kill the first [F.] comes from the server's port this time, then the "
           "client's; the binds send nothing; the client after the restart shakes hands anew.",
     "ko": "패킷 창: 이번에는 kill 뒤 첫 [F.]가 서버의 포트에서 나오고 클라이언트의 것이 뒤따릅니다. "
           "bind는 아무것도 보내지 않고, 재시작 뒤의 클라이언트는 처음부터 다시 핸드셰이크를 합니다."},
    {"en": "Wire pane: the queued connection's handshake, then [S] after [S] from the clients and no "
           "[S.] back; the first column shows the gaps, 1 s each (since Linux 6.7 a SYN is resent after "
           "1, 1, 1, 1, 1, then 2, 4 ... s); giving up sends nothing.",
     "ko": "패킷 창: 큐에 걸린 연결의 핸드셰이크 뒤로 클라이언트의 [S]가 거듭 나가지만 [S.]는 돌아오지 "
           "않습니다. 첫 열이 보여 주는 간격은 1초씩입니다(Linux 6.7부터 SYN은 1, 1, 1, 1, 1초, 그다음 "
           "2, 4초 ... 뒤에 다시 보냄). 포기할 때는 아무것도 보내지 않습니다."},
    {"en": "Wire pane: handshake, the request [P.] out, the response [P.] back, then the server's [F.] "
           "first (HTTP/1.0 closes after the response), the client's after it.",
     "ko": "패킷 창: 핸드셰이크, 요청 [P.]가 나가고 응답 [P.]가 돌아온 뒤, 서버의 [F.]가 먼저(HTTP/1.0은 "
           "응답 뒤에 닫음), 클라이언트의 [F.]가 그 뒤에 보입니다."},
]

# The panes' titles, in the narration's language.
TITLES = {
    "en": {"narrator": "narrator", "server": "server", "client1": "client 1", "client2": "client 2",
           "tree": "process tree", "sockets": "sockets (ss -tan)", "wire": "wire (tcpdump)"},
    "ko": {"narrator": "해설", "server": "서버", "client1": "클라이언트 1", "client2": "클라이언트 2",
           "tree": "프로세스 트리", "sockets": "소켓 (ss -tan)", "wire": "패킷 (tcpdump)"},
}

# What the interactive narrator prints besides the scenes.
UI = {
    "en": {"scene": "scene", "next": "[Enter] next scene, q quits ", "end": "[Enter] end the demo ",
           "restart": "\n[Enter] restart echo_server on the same port ",
           "full": "listener on :{port}: listen(fd, 0), one connection never accepted",
           "failed": "demo: scene failed", "with": "with",
           "wire_head": "$ {cmd}   (TCP options left out)\nfirst column: time since the previous "
                        "packet; Flags: S SYN, . ACK, P push (data), F FIN, R RST",
           "no_capture": "(no capture: {why})",
           "attach": "the demo runs in tmux session {session}: tmux attach -t {session}",
           "no_tcpdump": "tcpdump is not installed (make deps installs it)",
           "not_root": "capturing packets needs root (tcpdump on lo)",
           "cases": {"neither option": "neither option", "SO_REUSEADDR alone": "SO_REUSEADDR alone",
                     "SO_REUSEPORT alone": "SO_REUSEPORT alone"}},
    "ko": {"scene": "장면", "next": "[Enter] 다음 장면, q 끝내기 ", "end": "[Enter] 시연 끝내기 ",
           "restart": "\n[Enter] 같은 포트에서 echo_server 재시작 ",
           "full": "리스닝 소켓 :{port}: listen(fd, 0), accept하지 않는 연결 하나",
           "failed": "demo: 장면 실패", "with": "옵션:",
           "wire_head": "$ {cmd}   (TCP 옵션은 뺐음)\n첫 열: 앞 패킷과의 시간 간격, "
                        "Flags: S SYN, . ACK, P push(데이터), F FIN, R RST",
           "no_capture": "(캡처 없음: {why})",
           "attach": "시연이 tmux 세션 {session}에서 실행 중입니다. 들어가려면: tmux attach -t {session}",
           "no_tcpdump": "tcpdump가 설치되어 있지 않습니다(make deps가 설치함)",
           "not_root": "패킷 캡처에는 root 권한이 필요합니다(lo에서 tcpdump)",
           "cases": {"neither option": "둘 다 없음", "SO_REUSEADDR alone": "SO_REUSEADDR만",
                     "SO_REUSEPORT alone": "SO_REUSEPORT만"}},
}
LANGS = ("en", "ko")


def demo_lang():
    """DEMO_LANG=en|ko, else the locale (LC_ALL, then LC_MESSAGES, then LANG): ko* is Korean."""
    lang = os.environ.get("DEMO_LANG", "").strip().lower()
    if lang:
        if lang not in LANGS:
            raise SystemExit(f"DEMO_LANG must be en or ko, not {lang!r}")
        return lang
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(var, "")
        if value:
            return "ko" if value.lower().startswith("ko") else "en"
    return "en"


def scene_text(n, lang):
    """(title, narration) of scene n (1-based) in lang; the narration ends with what to look for
    in the wire pane."""
    title, text = SCENES[n - 1][lang]
    return title, f"{text} {WIRE[n - 1][lang]}"


def check_texts():
    """Every scene has a title and a narration in every language; the Korean ones are Korean and
    use the chapter's terms. Returns a list of problems."""
    problems = []
    for n, scene in enumerate(SCENES, 1):
        for lang in LANGS:
            title, text = scene.get(lang, ("", ""))
            if not title.strip() or not text.strip():
                problems.append(f"scene {n}: no {lang} title or narration")
            elif lang == "ko":
                if not re.search(r"[\uac00-\ud7a3]", title + text):
                    problems.append(f"scene {n}: the Korean text has no Hangul")
                for wrong, right in (("논블로킹", "비블로킹"), ("듣기 소켓", "리스닝 소켓")):
                    if wrong in title + text:
                        problems.append(f"scene {n}: '{wrong}' (the chapter says '{right}')")
    if len(WIRE) != len(SCENES):
        problems.append(f"{len(WIRE)} wire-pane notes for {len(SCENES)} scenes")
    for n, note in enumerate(WIRE, 1):
        for lang in LANGS:
            if not note.get(lang, "").strip():
                problems.append(f"scene {n}: no {lang} note on the wire pane")
    for lang in LANGS:
        if set(TITLES[lang]) != set(TITLES["en"]):
            problems.append(f"pane titles: {lang} lacks {sorted(set(TITLES['en']) - set(TITLES[lang]))}")
        if set(UI[lang]) != set(UI["en"]):
            problems.append(f"UI strings: {lang} lacks {sorted(set(UI['en']) - set(UI[lang]))}")
    return problems


def bins(impl):
    return os.path.join(ROOT, "build", impl)


# ---------------------------------------------------------------- shared helpers

def wait_until(pred, timeout=5.0, step=0.05):
    end = time.time() + timeout
    while True:
        v = pred()
        if v or time.time() > end:
            return v
        time.sleep(step)


def ss(port, listening=False):
    """Lines of `ss -tan` (or -tln) for sockets on PORT, either end."""
    flt = f"( sport = :{port} or dport = :{port} )"
    out = subprocess.run(["ss", "-Htln" if listening else "-Htan", flt], capture_output=True,
                         text=True, timeout=10).stdout
    return [" ".join(line.split()) for line in out.splitlines() if line.strip()]


def children(pid):
    """(pid, state) of every process whose parent is pid."""
    kids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            stat = open(f"/proc/{d}/stat").read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == pid:
            kids.append((int(d), fields[0]))
    return kids


# ---------------------------------------------------------------- the wire pane

def tcpdump_cmd(ports):
    """tcpdump as the wire pane runs it: loopback, numeric (-nn), a line per packet as it comes
    (-l), and first the time since the previous packet (-ttt), so the gaps between retransmitted
    SYNs read directly."""
    return ["tcpdump", "-i", "lo", "-nn", "-l", "-ttt", " or ".join(f"port {p}" for p in ports)]


def wire_unavailable(lang="en"):
    """Why this process cannot capture (None when it can): tcpdump missing, or not root."""
    if subprocess.run(["sh", "-c", "command -v tcpdump"], capture_output=True).returncode != 0:
        return UI[lang]["no_tcpdump"]
    if os.geteuid() != 0:
        return UI[lang]["not_root"]
    return None


OPTIONS = re.compile(r", options \[[^\]]*\]")


def pane_line(raw):
    """A tcpdump line as the wire pane shows it: the TCP options left out (they make a line about
    170 characters long and say nothing the demo needs); the rest as tcpdump printed it."""
    return OPTIONS.sub("", raw.rstrip("\n")).strip()


PACKET = re.compile(r"IP [\d.]+\.(\d+) > [\d.]+\.(\d+): Flags \[([^\]]*)\]")


class Wire:
    """tcpdump on one port while a scene runs: the lines the wire pane would show for it."""

    def __init__(self, port):
        self.port, self.lines = port, []
        self.p = subprocess.Popen(tcpdump_cmd([port]), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        ready = ""
        end = time.time() + 10
        while "listening on" not in ready and time.time() < end:   # tcpdump's readiness line
            r, _, _ = select.select([self.p.stderr], [], [], 0.5)
            if r:
                chunk = os.read(self.p.stderr.fileno(), 4096)   # raw: no buffer hides a line
                if not chunk:
                    break
                ready += chunk.decode(errors="replace")
        if "listening on" not in ready:
            self.p.kill()
            raise Failed(f"tcpdump did not start: {ready.strip()!r}")
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.p.stdout:
            self.lines.append(line)

    def stop(self):
        """Sends a UDP datagram to the port as an end mark (lo delivers in order), waits until
        tcpdump has printed it, stops tcpdump; returns the pane's lines before the mark."""
        mark = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        mark.sendto(b"end of scene", ("127.0.0.1", self.port))
        mark.close()
        tag = f"> 127.0.0.1.{self.port}: UDP"
        seen = wait_until(lambda: any(tag in line for line in list(self.lines)), timeout=10)
        self.p.terminate()
        self.p.wait(timeout=10)
        self.reader.join(timeout=10)
        expect(seen, "tcpdump never printed the end-of-scene mark")
        lines = list(self.lines)
        return [pane_line(line) for line in lines[:next(i for i, x in enumerate(lines) if tag in x)]]


def connections(lines, port):
    """The TCP packets of the lines, per connection (the other end's port), in order:
    {peer port: [(direction 'c>s' or 's>c', flags)]}, the server being the one on PORT."""
    conns = {}
    for line in lines:
        m = PACKET.search(line)
        if not m:
            continue
        src, dst, flags = int(m.group(1)), int(m.group(2)), m.group(3)
        if dst == port:
            conns.setdefault(src, []).append(("c>s", flags))
        elif src == port:
            conns.setdefault(dst, []).append(("s>c", flags))
    return conns


def handshake_ok(conn):
    return conn[:3] == [("c>s", "S"), ("s>c", "S."), ("c>s", ".")]


def first_fin(conn):
    return next((d for d, f in conn if "F" in f), None)


def has_rst(conn):
    return any("R" in f for _, f in conn)


# The reuse options a restarting server could set: (label, SO_REUSEADDR, SO_REUSEPORT).
REUSE_CASES = [("neither option", 0, 0), ("SO_REUSEADDR alone", 1, 0), ("SO_REUSEPORT alone", 0, 1)]


def bind_with(port, reuseaddr, reuseport):
    """What a server setting these two options would get from bind: 'ok' or the errno name."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, reuseaddr)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, reuseport)
        s.bind(("127.0.0.1", port))
        return "ok"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))
    finally:
        s.close()


def full_backlog_listener(port=0, before_filler=None):
    """listen(fd, 0) plus one connection nobody accepts: later SYNs are dropped.
    before_filler(port) runs between listen and the filler's connect (demo-check's capture)."""
    lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lst.bind(("127.0.0.1", port))
    lst.listen(0)
    if before_filler:
        before_filler(lst.getsockname()[1])
    filler = socket.create_connection(lst.getsockname(), timeout=2)
    return lst, filler


def start_http_server(port, docroot):
    p = subprocess.Popen([sys.executable, "-u", "-m", "http.server", "--bind", "127.0.0.1", str(port)],
                         cwd=docroot, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         start_new_session=True)
    m = re.search(r"port (\d+)", p.stdout.readline().decode())
    if not m:
        p.kill()
        raise RuntimeError("python3 -m http.server did not start")
    return p, int(m.group(1))


def make_docroot(tmp):
    d = os.path.join(tmp, "www")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "index.html"), "w") as f:
        f.write("<h1>hello from the 7.1.3 demo</h1>\n")
    return d


# ---------------------------------------------------------------- headless check

class Failed(Exception):
    pass


def expect(cond, what):
    if not cond:
        raise Failed(what)


class Check:
    def __init__(self, impl, tmp):
        self.impl, self.tmp, self.bin = impl, tmp, bins(impl)
        self.server, self.port, self.procs, self.capture = None, None, [], []
        self.env = dict(os.environ, TRACE="1")
        self.wire, self.wire_skip = None, wire_unavailable()

    def wire_begin(self, port):
        """Starts capturing the scene's port, as the wire pane would (unless capture is impossible)."""
        if not self.wire_skip:
            self.wire = Wire(port)

    def wire_end(self, judge):
        """Stops the capture, shows the pane's lines, and judges them: judge(lines, port)."""
        if self.wire_skip:
            self.say(f"wire pane: not checked ({self.wire_skip})")
            return
        port = self.wire.port
        lines, self.wire = self.wire.stop(), None
        self.say(f"wire pane ($ {' '.join(tcpdump_cmd([port])[:-1])} 'port {port}'):\n"
                 + ("\n".join(f"  {line}" for line in lines) if lines else "  (no packets)"))
        judge(lines, port)

    def say(self, line):
        self.capture.append(line)

    def start_server(self, port):
        err = open(os.path.join(self.tmp, f"{self.impl}-server-{time.time_ns()}.err"), "wb")
        p = subprocess.Popen([os.path.join(self.bin, "echo_server"), str(port)],
                             stdout=subprocess.PIPE, stderr=err, env=self.env,
                             start_new_session=True)
        self.procs.append(p)
        line = p.stdout.readline().decode().strip()
        m = re.search(r":(\d+)$", line)
        expect(m, f"echo_server printed no listening line ({line!r})")
        self.say(f"$ TRACE=1 echo_server {port}\n{line}")
        return p, int(m.group(1)), err.name

    def client(self, *args):
        p = subprocess.Popen([os.path.join(self.bin, "tcp_client"), *args, "127.0.0.1", str(self.port)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             start_new_session=True)
        self.procs.append(p)
        return p

    def echo(self, p, text):
        p.stdin.write(text.encode())
        p.stdin.flush()
        got = b""
        end = time.time() + 5
        while not got.endswith(b"\n") and time.time() < end:
            r, _, _ = select.select([p.stdout], [], [], 0.2)
            if r:
                chunk = os.read(p.stdout.fileno(), 4096)
                if not chunk:
                    break
                got += chunk
        expect(got.decode() == text, f"client echo: sent {text!r}, got {got!r}")

    def tree(self):
        kids = children(self.server.pid)
        return kids, [f"  {self.server.pid} echo_server", *[f"   \\_ {k} (state {s})" for k, s in kids]]

    # scene 1
    def scene1(self):
        self.server, self.port, self.err = self.start_server(0)
        self.wire_begin(self.port)
        trace = wait_until(lambda: "[step 5]" in open(self.err).read() and open(self.err).read())
        expect(trace, "no TRACE narration of steps 1-5")
        for step in ("[step 1] socket() -> fd", "[step 2] setsockopt(SO_REUSEADDR), setsockopt(SO_REUSEPORT)",
                     "[step 4] bind 127.0.0.1:0 -> 0", "[step 5] listen(backlog 128) -> 0"):
            expect(step in trace, f"narration lacks {step!r}")
        self.say(trace.rstrip())
        lines = ss(self.port, listening=True)
        self.say(f"$ ss -tln 'sport = :{self.port}'\n" + "\n".join(lines))
        expect(len(lines) == 1 and lines[0].split()[0] == "LISTEN", f"ss: no LISTEN socket: {lines}")
        expect(lines[0].split()[2] == "128", f"ss: Send-Q (the backlog) is not 128: {lines[0]}")
        self.wire_end(lambda pkts, port: expect(not pkts, "wire: packets while only listening"))

    # scene 2
    def scene2(self):
        self.wire_begin(self.port)
        self.c1, self.c2 = self.client(), self.client()
        self.echo(self.c1, "hello from client 1\n")
        self.echo(self.c2, "hello from client 2\n")
        self.say("client 1: hello from client 1 -> echoed\nclient 2: hello from client 2 -> echoed")
        kids = wait_until(lambda: len(children(self.server.pid)) == 2 and children(self.server.pid))
        _, tree = self.tree()
        self.say("process tree:\n" + "\n".join(tree))
        expect(kids and len(kids) == 2, f"expected 2 children, got {children(self.server.pid)}")
        lines = ss(self.port)
        self.say(f"$ ss -tan (port {self.port})\n" + "\n".join(lines))
        estab = [line for line in lines if line.startswith("ESTAB")]
        expect(len(estab) == 4, f"expected 4 ESTAB lines (2 connections x 2 ends), got {len(estab)}")

        def judge(pkts, port):
            conns = connections(pkts, port)
            expect(len(conns) == 2, f"wire: {len(conns)} connections, not 2")
            for conn in conns.values():
                expect(handshake_ok(conn), f"wire: the handshake is not [S], [S.], [.]: {conn[:3]}")
                for d in ("c>s", "s>c"):
                    expect(any(x == d and "P" in f for x, f in conn), f"wire: no data [P.] {d}")
                expect(first_fin(conn) is None and not has_rst(conn), "wire: FIN or RST in an open session")
        self.wire_end(judge)

    # scene 3
    def scene3(self):
        self.wire_begin(self.port)
        for c in (self.c1, self.c2):
            c.stdin.close()
        for n, c in enumerate((self.c1, self.c2), 1):
            rc = c.wait(timeout=10)
            expect(rc == 0, f"client {n} exited {rc}")
        self.say("client 1, client 2: Ctrl-D -> exit 0")
        gone = wait_until(lambda: children(self.server.pid) == [])
        _, tree = self.tree()
        self.say("process tree:\n" + "\n".join(tree))
        expect(gone, f"children left: {children(self.server.pid)}")  # none, zombies included
        lines = ss(self.port)
        self.say(f"$ ss -tan (port {self.port})\n" + "\n".join(lines))
        tw = [line for line in lines if line.startswith("TIME-WAIT") and line.split()[4].endswith(f":{self.port}")]
        expect(len(tw) >= 2, f"expected the clients' TIME-WAIT (peer :{self.port}), got {lines}")

        def judge(pkts, port):
            conns = connections(pkts, port)
            expect(len(conns) == 2, f"wire: {len(conns)} connections, not 2")
            for conn in conns.values():
                expect(first_fin(conn) == "c>s", "wire: the first FIN is not the client's")
                expect(any(d == "s>c" and "F" in f for d, f in conn), "wire: no FIN from the server")
                expect(not has_rst(conn), "wire: an RST where both sides close with FIN")
        self.wire_end(judge)

    # scene 4
    def scene4(self):
        self.wire_begin(self.port)
        c3 = self.client()
        self.echo(c3, "still here\n")
        wait_until(lambda: len(children(self.server.pid)) == 1)
        os.killpg(self.server.pid, signal.SIGINT)
        self.server.wait(timeout=10)
        rc = c3.wait(timeout=10)
        self.say(f"Ctrl-C on the server (client 3 connected): server exit {self.server.returncode}, "
                 f"client 3 exit {rc}")
        lines = wait_until(lambda: [line for line in ss(self.port) if line.startswith("TIME-WAIT")
                                    and line.split()[3].endswith(f":{self.port}")])
        self.say(f"$ ss -tan (port {self.port})\n" + "\n".join(ss(self.port)))
        expect(lines, "no TIME-WAIT on the server's port after the kill")
        for label, addr, port_opt in REUSE_CASES:
            res = bind_with(self.port, addr, port_opt)
            self.say(f"bind 127.0.0.1:{self.port} with {label} -> {res}")
            want = "ok" if addr or port_opt else "EADDRINUSE"
            expect(res == want, f"bind with {label} gave {res}, not {want}")
        self.server, port, self.err = self.start_server(self.port)
        expect(port == self.port, f"restarted on {port}, not {self.port}")
        c4 = self.client()
        self.echo(c4, "after the restart\n")
        c4.stdin.close()
        expect(c4.wait(timeout=10) == 0, "client after restart failed")
        self.say("echo_server (SO_REUSEADDR and SO_REUSEPORT) -> listening at once, echo works")

        def judge(pkts, port):
            conns = list(connections(pkts, port).values())
            expect(len(conns) == 2, f"wire: {len(conns)} connections, not 2 (client 3, client 4)")
            before, after = conns
            expect(handshake_ok(before) and handshake_ok(after), "wire: a handshake is not [S], [S.], [.]")
            expect(first_fin(before) == "s>c", "wire: after the kill the first FIN is not the server's")
            expect(first_fin(after) == "c>s", "wire: after the restart the first FIN is not the client's")
            expect(not has_rst(before) and not has_rst(after), "wire: an RST")
        self.wire_end(judge)

    # scene 5
    def scene5(self):
        lst, filler = full_backlog_listener(before_filler=self.wire_begin)
        port = lst.getsockname()[1]
        try:
            t0 = time.time()
            runs = {mode: subprocess.Popen([os.path.join(self.bin, "tcp_client"), *args, "127.0.0.1",
                                            str(port)], stdin=subprocess.DEVNULL,
                                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                    for mode, args in (("blocking", []), ("-n 300", ["-n", "300"]))}
            done = {}
            while len(done) < len(runs) and time.time() - t0 < 20:
                for mode, p in runs.items():
                    if mode not in done and p.poll() is not None:
                        done[mode] = time.time() - t0
                time.sleep(0.02)
            for mode, p in runs.items():
                _, err = p.communicate(timeout=20)
                took = done.get(mode, time.time() - t0)
                err = err.decode().strip()
                self.say(f"$ tcp_client {'-n 300 ' if mode != 'blocking' else ''}127.0.0.1 {port}  "
                         f"# full backlog\n{err}\n(exit {p.returncode}, {took:.1f} s)")
                expect(p.returncode == 1, f"{mode}: exit {p.returncode}")
                expect("connect: Connection timed out" in err, f"{mode}: stderr {err!r}")
                lo, hi = (4.5, 8.0) if mode == "blocking" else (0.2, 2.5)
                expect(lo <= took <= hi, f"{mode}: gave up after {took:.1f} s, expected {lo}-{hi}")

            def judge(pkts, port):
                conns = list(connections(pkts, port).values())
                expect(len(conns) == 3, f"wire: {len(conns)} connections, not 3 (the queued one, 2 clients)")
                filler, *clients = conns
                expect(filler == [("c>s", "S"), ("s>c", "S."), ("c>s", ".")],
                       f"wire: the queued connection is not just its handshake: {filler}")
                for conn in clients:
                    expect(all(x == ("c>s", "S") for x in conn),
                           f"wire: a client to the full backlog got an answer or sent more than SYNs: {conn}")
                expect(max(len(c) for c in clients) >= 2, "wire: no SYN retransmitted in 5 s")
            self.wire_end(judge)
        finally:
            filler.close()
            lst.close()

    # scene 6
    def scene6(self):
        http, port = start_http_server(0, make_docroot(self.tmp))
        try:
            self.wire_begin(port)
            p = subprocess.run([os.path.join(self.bin, "http_get"), "127.0.0.1", str(port), "/index.html"],
                               capture_output=True, timeout=20)

            def judge(pkts, port):
                conns = list(connections(pkts, port).values())
                expect(len(conns) == 1, f"wire: {len(conns)} connections, not 1")
                conn = conns[0]
                expect(handshake_ok(conn), f"wire: the handshake is not [S], [S.], [.]: {conn[:3]}")
                for d in ("c>s", "s>c"):
                    expect(any(x == d and "P" in f for x, f in conn), f"wire: no data [P.] {d}")
                expect(first_fin(conn) == "s>c", "wire: the first FIN is not the server's")
                expect(not has_rst(conn), "wire: an RST")
            self.wire_end(judge)
        finally:
            os.killpg(http.pid, signal.SIGTERM)
            http.wait()
        out = p.stdout.decode(errors="replace")
        self.say(f"$ http_get 127.0.0.1 {port} /index.html\n" + "\n".join(out.splitlines()[:2]) + "\n...\n"
                 f"{out.strip().splitlines()[-1] if out.strip() else ''}\n(exit {p.returncode})")
        expect(p.returncode == 0, f"http_get exit {p.returncode}: {p.stderr.decode()}")
        expect(out.startswith("HTTP Response:\nHTTP/1.0 200 OK"), f"no 200 OK: {out[:80]!r}")
        expect("hello from the 7.1.3 demo" in out, "body missing")

    def cleanup(self):
        if self.wire is not None and self.wire.p.poll() is None:
            self.wire.p.kill()
            self.wire.p.wait()
        for p in self.procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()


def check(impls, lang):
    problems = check_texts()
    for p in problems:
        print(f"demo_check: narration: {p}")
    ok = not problems
    print(f"demo_check: narration in {', '.join(LANGS)} for each of the {len(SCENES)} scenes: "
          f"{'ok' if ok else 'FAILED'}; showing {lang} (DEMO_LANG=en|ko)")
    why = wire_unavailable()
    print("demo_check: wire pane: " + (f"SKIPPED, not checked ({why})" if why else
                                       "each scene's packets captured with tcpdump and checked"))
    for impl in impls:
        for prog in ("echo_server", "tcp_client", "http_get"):
            if not os.access(os.path.join(bins(impl), prog), os.X_OK):
                raise SystemExit(f"demo_check: build/{impl}/{prog} missing: run make first")
        with tempfile.TemporaryDirectory(prefix="demo_check.") as tmp:
            c = Check(impl, tmp)
            try:
                for n in range(1, len(SCENES) + 1):
                    title, _ = scene_text(n, lang)
                    c.capture = []
                    try:
                        getattr(c, f"scene{n}")()
                        verdict = "ok"
                    except (Failed, subprocess.TimeoutExpired, OSError, RuntimeError) as e:
                        verdict, ok = f"FAILED: {e}", False
                    print(f"--- [{impl}] scene {n}: {title}: {verdict}")
                    for line in "\n".join(c.capture).splitlines():
                        print(f"    {line}")
                    if verdict != "ok" and n <= 4:
                        break  # scenes 1-4 build on each other
            finally:
                c.cleanup()
    print(f"demo_check: {'ok' if ok else 'FAILED'}")
    return 0 if ok else 1


# ---------------------------------------------------------------- interactive (tmux)

def tmux(*args, check=True):
    return subprocess.run(["tmux", *args], check=check, capture_output=True, text=True).stdout


def interactive(impl, port):
    if subprocess.run(["sh", "-c", "command -v tmux"], capture_output=True).returncode != 0:
        raise SystemExit("make demo needs tmux (not installed by make: apt-get install tmux)")
    if ss(port, listening=True):
        raise SystemExit(f"port {port} is in use: make demo DEMO_PORT=N")
    session = f"tcp-demo-{port}"
    me = os.path.abspath(__file__)
    lang = demo_lang()
    tmux("kill-session", "-t", session, check=False)
    tmux("new-session", "-d", "-s", session, "-x", "200", "-y", "50",
         f"{shlex.quote(sys.executable)} {shlex.quote(me)} narrate {impl} {port} {lang}")
    narrator = tmux("display-message", "-p", "-t", session, "#{pane_id}").strip()

    def split(target, how, *cmd):
        return tmux("split-window", how, "-P", "-F", "#{pane_id}", "-t", target, "-c", ROOT,
                    *cmd).strip()

    watch = os.path.join(ROOT, "tests/demo/watch.sh")
    # the wire pane first, the window's full width at the bottom (a tcpdump line is ~110 columns)
    panes = {"wire": split(narrator, "-v", "-f", "-l", "14",
                           f"{shlex.quote(sys.executable)} {shlex.quote(me)} wirepane {port} {lang}")}
    panes["server"] = split(narrator, "-h")
    panes["client1"] = split(panes["server"], "-v")
    panes["client2"] = split(panes["client1"], "-h")
    panes["tree"] = split(narrator, "-v", f"{watch} tree {port} {lang}")
    panes["sockets"] = split(panes["tree"], "-v", f"{watch} sockets {port} {lang}")
    for name, pid in panes.items():
        tmux("select-pane", "-t", pid, "-T", TITLES[lang][name])
        tmux("set-option", "-t", session, f"@{name}", pid)
    tmux("select-pane", "-t", narrator, "-T", TITLES[lang]["narrator"])
    tmux("set-option", "-t", session, "pane-border-status", "top", check=False)
    tmux("set-option", "-t", session, "@ready", "1")
    tmux("select-pane", "-t", narrator)
    # Inside tmux, switch this client to the demo; outside, attach this terminal. Without a
    # client or a terminal (a script, a detached tmux) the demo still runs: say how to get in.
    if os.environ.get("TMUX"):
        if subprocess.run(["tmux", "switch-client", "-t", session],
                          capture_output=True).returncode == 0:
            return 0
    elif sys.stdin.isatty() and sys.stdout.isatty():
        os.execvp("tmux", ["tmux", "attach", "-t", session])
    print(UI[lang]["attach"].format(session=session))
    return 0


def wire_pane(port, lang):
    """The wire pane: tcpdump on PORT..PORT+2, each line as pane_line shows it, until killed."""
    cmd = tcpdump_cmd([port, port + 1, port + 2])
    print(UI[lang]["wire_head"].format(cmd=" ".join(cmd[:-1]) + f" '{cmd[-1]}'"), flush=True)
    why = wire_unavailable(lang)
    if why:
        print(UI[lang]["no_capture"].format(why=why), flush=True)
        while True:
            signal.pause()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        for line in p.stdout:
            print(pane_line(line), flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        p.terminate()
        p.wait()


def wrap(text, width):
    """Text broken between words into lines of at most WIDTH terminal columns (a Hangul syllable
    takes two: East Asian Width W or F)."""
    def cols(s):
        return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in s)
    lines, line = [], ""
    for word in text.split():
        if line and cols(line) + 1 + cols(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return "\n".join(lines + [line])


def narrate(impl, port, lang):
    session = f"tcp-demo-{port}"
    ui = UI[lang]
    b = os.path.relpath(bins(impl), ROOT)

    def opt(name):
        return tmux("show-options", "-v", "-t", session, f"@{name}", check=False).strip()

    wait_until(lambda: opt("ready") == "1", timeout=10)
    # The window takes the size of the terminal that attaches: wrap the first scene only then.
    wait_until(lambda: tmux("list-clients", "-t", session, check=False).strip(),
               timeout=600, step=0.2)
    time.sleep(0.2)  # the attaching client's resize
    pane = {1: opt("server"), 2: opt("client1"), 3: opt("client2")}

    def keys(n, *k):
        tmux("send-keys", "-t", pane[n], *k)

    tmp = tempfile.mkdtemp(prefix="tcp-demo.")
    held = []
    try:
        for n in range(1, len(SCENES) + 1):
            title, text = scene_text(n, lang)
            print(f"\n=== {ui['scene']} {n}/{len(SCENES)}: {title} ===\n")
            print(wrap(text, max(40, shutil.get_terminal_size().columns - 1)) + "\n")
            if n == 1:
                keys(1, f"TRACE=1 {b}/echo_server {port}", "Enter")
                wait_until(lambda: ss(port, listening=True))
                print("$ ss -tln sport = :%d" % port)
                print("\n".join(ss(port, listening=True)))
            elif n == 2:
                for n_client in (2, 3):
                    keys(n_client, f"TRACE=1 {b}/tcp_client 127.0.0.1 {port}", "Enter")
                time.sleep(0.5)
                keys(2, "hello from client 1", "Enter")
                keys(3, "hello from client 2", "Enter")
            elif n == 3:
                keys(2, "C-d")
                keys(3, "C-d")
            elif n == 4:
                keys(2, f"{b}/tcp_client 127.0.0.1 {port}", "Enter")
                time.sleep(0.5)
                keys(2, "still here", "Enter")
                time.sleep(0.5)
                keys(1, "C-c")
                time.sleep(0.5)
                for label, addr, port_opt in REUSE_CASES:
                    print(f"bind 127.0.0.1:{port} {ui['with']} {ui['cases'][label]} -> "
                          f"{bind_with(port, addr, port_opt)}")
                input(ui["restart"])
                keys(1, f"TRACE=1 {b}/echo_server {port}", "Enter")
            elif n == 5:
                lst, filler = full_backlog_listener(port + 1)
                held += [lst, filler]
                print(ui["full"].format(port=port + 1))
                keys(2, "clear", "Enter")
                keys(3, "clear", "Enter")
                keys(2, f"time {b}/tcp_client 127.0.0.1 {port + 1}", "Enter")
                keys(3, f"time {b}/tcp_client -n 1000 127.0.0.1 {port + 1}", "Enter")
            elif n == 6:
                http, hp = start_http_server(port + 2, make_docroot(tmp))
                held.append(http)
                keys(2, "clear", "Enter")
                keys(2, f"{b}/http_get 127.0.0.1 {hp} /index.html", "Enter")
            prompt = ui["next"] if n < len(SCENES) else ui["end"]
            if input(prompt).strip().lower() == "q":
                break
    except EOFError:  # Ctrl-D at a prompt: the end of the demo, as q is
        pass
    except Exception as e:  # keep the panes up so the lecturer can see what happened
        print(f"\n{ui['failed']}: {e!r}")
        try:
            input(ui["end"])
        except EOFError:
            pass
    finally:
        for h in held:
            if isinstance(h, subprocess.Popen):
                os.killpg(h.pid, signal.SIGTERM)
            else:
                h.close()
        tmux("kill-session", "-t", session, check=False)


def main(argv):
    mode = argv[0] if argv else "check"
    if mode == "check":
        which = argv[1] if len(argv) > 1 else os.environ.get("DEMO_IMPL", "both")
        return check(["c", "rust"] if which == "both" else [which], demo_lang())
    if mode == "wirepane":                      # wirepane PORT LANG (the tmux pane's command)
        return wire_pane(int(argv[1]) if len(argv) > 1 else 7007,
                         argv[2] if len(argv) > 2 and argv[2] in LANGS else demo_lang())
    impl = argv[1] if len(argv) > 1 else "rust"
    port = int(argv[2]) if len(argv) > 2 else 7007
    if mode == "tmux":
        return interactive(impl, port)
    if mode == "narrate":
        lang = argv[3] if len(argv) > 3 and argv[3] in LANGS else demo_lang()
        return narrate(impl, port, lang)
    raise SystemExit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
