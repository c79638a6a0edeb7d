#!/usr/bin/env python3
"""The lecture demo of chapter 7.1.3: six scenes, in tmux (`make demo`) or headless with checks
(`make demo-check`). Both modes run the same scenes with the same narration.

  tests/demo/demo.py tmux [c|rust] [PORT]   interactive: tmux panes for the server, two clients,
                                            the server's process tree and the socket table; a
                                            key (Enter) per scene. PORT defaults to 7007 (and
                                            PORT+1, PORT+2 for scenes 5 and 6).
  tests/demo/demo.py check [c|rust|both]    headless: every scene on kernel-chosen ports,
                                            asserting what it must show; prints a text capture
                                            of each scene. Exit 0 when every scene passed
                                            and every scene has its narration in English
                                            and in Korean.

The narration and the scene titles are in English or Korean: DEMO_LANG=en|ko, or, without it,
the locale (LC_ALL, LC_MESSAGES, LANG) starting with "ko" picks Korean.

Needs only what `make` needs plus tmux (interactive mode only) and ss (iproute2); installs
nothing. Loopback only. python3 standard library only.
"""
import errno
import os
import re
import select
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time

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
               "프로세스 트리에는 부모와 자식 둘이 보이고, ss에는 연결 둘이 양쪽 끝에서 하나씩 "
               "보입니다(ESTAB 두 줄씩)."),
    },
    {
        "en": ("Clients leave, children reaped",
               "Ctrl-D half-closes each client (shutdown SHUT_WR). The child reads EOF, closes (step 9) "
               "and exits; SA_NOCLDWAIT lets the kernel reap it: no zombie (no STAT Z). The side that sent "
               "FIN first, the client, keeps the connection in TIME-WAIT."),
        "ko": ("클라이언트가 떠나고 자식은 자동 회수",
               "Ctrl-D는 클라이언트마다 한쪽 방향을 닫습니다(shutdown SHUT_WR). 자식은 EOF를 읽고 "
               "소켓을 닫은 뒤(9단계) 끝납니다. SA_NOCLDWAIT 덕분에 커널이 자식을 자동 회수하므로 좀비가 "
               "없습니다(STAT Z 없음). FIN을 먼저 보낸 쪽, 곧 클라이언트가 연결을 TIME-WAIT에 "
               "남깁니다."),
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
               "클라이언트가 연결된 채로 Ctrl-C가 서버와 그 자식을 죽입니다. 이번에는 서버 쪽이 먼저 "
               "닫았으므로 TIME-WAIT가 서버의 포트에 남습니다(Linux에서 60초). Linux는 새 소켓과 "
               "옛 소켓이 SO_REUSEADDR를 함께 가지거나 SO_REUSEPORT를 함께 가지면 새 소켓이 그 포트에 "
               "바인드하게 해 줍니다(echo_server는 둘 다 설정했음). 옵션이 둘 다 없으면 EADDRINUSE, 하나만 "
               "있어도 바인드되고, 둘 다 가진 echo_server는 곧바로 재시작합니다. 서버에서 둘 중 하나를 "
               "지워도 여기서는 달라지는 것이 없습니다."),
    },
    {
        "en": ("Connect to a port whose backlog is full",
               "A listener with listen(fd, 0) and one connection nobody accepts: the kernel drops further "
               "SYNs. The blocking client gives up after SO_SNDTIMEO (5 s), the non-blocking one after its "
               "select() timeout; both say 'connect: Connection timed out'."),
        "ko": ("백로그가 가득 찬 포트에 연결",
               "listen(fd, 0)에 아무도 accept하지 않는 연결 하나가 걸린 리스닝 소켓: 커널은 그 뒤의 "
               "SYN을 버립니다. 블로킹 클라이언트는 SO_SNDTIMEO(5초) 뒤에, 비블로킹 클라이언트는 "
               "select() 타임아웃 뒤에 포기하며, 둘 다 'connect: Connection timed out'이라고 말합니다."),
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

# What the interactive narrator prints besides the scenes.
UI = {
    "en": {"scene": "scene", "next": "[Enter] next scene, q quits ", "end": "[Enter] end the demo ",
           "restart": "\n[Enter] restart echo_server on the same port ",
           "full": "listener on :{port}: listen(fd, 0), one connection never accepted",
           "failed": "demo: scene failed", "with": "with",
           "cases": {"neither option": "neither option", "SO_REUSEADDR alone": "SO_REUSEADDR alone",
                     "SO_REUSEPORT alone": "SO_REUSEPORT alone"}},
    "ko": {"scene": "장면", "next": "[Enter] 다음 장면, q 끝내기 ", "end": "[Enter] 시연 끝내기 ",
           "restart": "\n[Enter] 같은 포트에서 echo_server 재시작 ",
           "full": "리스닝 소켓 :{port}: listen(fd, 0), accept하지 않는 연결 하나",
           "failed": "demo: 장면 실패", "with": "옵션:",
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
    """(title, narration) of scene n (1-based) in lang."""
    return SCENES[n - 1][lang]


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
    for lang in LANGS:
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


def full_backlog_listener(port=0):
    """listen(fd, 0) plus one connection nobody accepts: later SYNs are dropped."""
    lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lst.bind(("127.0.0.1", port))
    lst.listen(0)
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
        trace = wait_until(lambda: "[step 5]" in open(self.err).read() and open(self.err).read())
        expect(trace, "no TRACE narration of steps 1-5")
        for step in ("[step 1] socket() -> fd", "[step 2] setsockopt(SO_REUSEADDR) -> 0",
                     "[step 4] bind 127.0.0.1:0 -> 0", "[step 5] listen(backlog 128) -> 0"):
            expect(step in trace, f"narration lacks {step!r}")
        self.say(trace.rstrip())
        lines = ss(self.port, listening=True)
        self.say(f"$ ss -tln 'sport = :{self.port}'\n" + "\n".join(lines))
        expect(len(lines) == 1 and lines[0].split()[0] == "LISTEN", f"ss: no LISTEN socket: {lines}")
        expect(lines[0].split()[2] == "128", f"ss: Send-Q (the backlog) is not 128: {lines[0]}")

    # scene 2
    def scene2(self):
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

    # scene 3
    def scene3(self):
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

    # scene 4
    def scene4(self):
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

    # scene 5
    def scene5(self):
        lst, filler = full_backlog_listener()
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
        finally:
            filler.close()
            lst.close()

    # scene 6
    def scene6(self):
        http, port = start_http_server(0, make_docroot(self.tmp))
        try:
            p = subprocess.run([os.path.join(self.bin, "http_get"), "127.0.0.1", str(port), "/index.html"],
                               capture_output=True, timeout=20)
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
    tmux("kill-session", "-t", session, check=False)
    tmux("new-session", "-d", "-s", session, "-x", "200", "-y", "50",
         f"{shlex.quote(sys.executable)} {shlex.quote(me)} narrate {impl} {port} {demo_lang()}")
    narrator = tmux("display-message", "-p", "-t", session, "#{pane_id}").strip()

    def split(target, how, *cmd):
        return tmux("split-window", how, "-P", "-F", "#{pane_id}", "-t", target, "-c", ROOT,
                    *cmd).strip()

    watch = os.path.join(ROOT, "tests/demo/watch.sh")
    panes = {"server": split(narrator, "-h")}
    panes["client1"] = split(panes["server"], "-v")
    panes["client2"] = split(panes["client1"], "-h")
    panes["tree"] = split(narrator, "-v", f"{watch} tree {port}")
    panes["sockets"] = split(panes["tree"], "-v", f"{watch} sockets {port}")
    for name, pid in panes.items():
        tmux("select-pane", "-t", pid, "-T", name)
        tmux("set-option", "-t", session, f"@{name}", pid)
    tmux("select-pane", "-t", narrator, "-T", "narrator")
    tmux("set-option", "-t", session, "pane-border-status", "top", check=False)
    tmux("set-option", "-t", session, "@ready", "1")
    tmux("select-pane", "-t", narrator)
    if os.environ.get("TMUX"):
        tmux("switch-client", "-t", session)
    else:
        os.execvp("tmux", ["tmux", "attach", "-t", session])


def narrate(impl, port, lang):
    session = f"tcp-demo-{port}"
    ui = UI[lang]
    b = os.path.relpath(bins(impl), ROOT)

    def opt(name):
        return tmux("show-options", "-v", "-t", session, f"@{name}", check=False).strip()

    wait_until(lambda: opt("ready") == "1", timeout=10)
    pane = {1: opt("server"), 2: opt("client1"), 3: opt("client2")}

    def keys(n, *k):
        tmux("send-keys", "-t", pane[n], *k)

    tmp = tempfile.mkdtemp(prefix="tcp-demo.")
    held = []
    try:
        for n in range(1, len(SCENES) + 1):
            title, text = scene_text(n, lang)
            print(f"\n=== {ui['scene']} {n}/{len(SCENES)}: {title} ===\n")
            print(text + "\n")
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
    except Exception as e:  # keep the panes up so the lecturer can see what happened
        print(f"\n{ui['failed']}: {e!r}")
        input(ui["end"])
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
