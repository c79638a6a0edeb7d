#!/usr/bin/env python3
"""The run page (docs/run.md, docs/ko/run.md) against a live run: its commands work with gcc and
make alone, and every output block it shows (```text) is what the commands print.

Steps, as the page has them: `make c chapter` with PATH=/usr/bin:/bin (no cargo in it);
`TRACE=1 build/c/echo_server 0`; `ss -tln`; a `build/c/tcp_client` that sends `hello` and reads
the echo; `ss -tanp` during the session; end of stdin (Ctrl-D) and the server's last lines;
`ss -tano` (TIME-WAIT); `TRACE=1 build/c/tcp_client -n 1000`; the server stopped, then a refused
connect; `build/chapter/echo_server 0` on a terminal (a pty); `inet_pton` of 999.1.1.1 by the
chapter's client and ours. The optional HTTP step (python3's http.server) is not run.

The page's blocks and the live output are compared after normalising what differs between runs:
the server's port, the client's port, pids, the TIME-WAIT timer's seconds, runs of spaces. Lines
whose order is up to the scheduler (the parent's fork line and the child's first line; ss's rows)
are compared as sets. Both pages must show the same blocks. Loopback only, kernel-chosen ports.

Usage: tests/docs/run_page.py   (python3 standard library; about 3 s after the build)
"""
import os
import pty
import re
import select
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PAGES = ("docs/run.md", "docs/ko/run.md")
ENV = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp"), "LANG": "C.UTF-8"}
DEADLINE = 10  # seconds to wait for a line the programs print at once


def blocks(page):
    text = open(os.path.join(ROOT, page), encoding="utf-8").read()
    return [b.strip("\n").split("\n") for b in re.findall(r"^```text\n(.*?)^```", text, re.M | re.S)]


def normalise(lines, server_port, client_port):
    out = []
    for line in lines:
        if server_port:
            line = re.sub(rf"(?<=[:(]){server_port}\b", "PORT", line)
        if client_port:
            line = re.sub(rf"(?<=:){client_port}\b", "CPORT", line)
        line = re.sub(r"pid=\d+", "pid=PID", line)
        line = re.sub(r"child \d+", "child PID", line)
        # ss prints the time left as "1min", "58sec", "9.684ms" (9.684 s) or "632ms": all seen
        # here, sampling one TIME-WAIT socket once a second for its 60 s.
        line = re.sub(r"timewait,(?:[0-9.]+(?:min|sec|ms))+", "timewait,Nsec", line)
        out.append(" ".join(line.split()))
    return out


class Lines:
    """Lines from a pipe, read as they come, with a deadline (no sleeps)."""

    def __init__(self, stream):
        self.stream, self.buf, self.lines = stream, b"", []

    def until(self, pattern, what):
        end = time.monotonic() + DEADLINE
        start = len(self.lines)
        while not any(re.search(pattern, l) for l in self.lines[start:]):
            left = end - time.monotonic()
            if left <= 0 or not select.select([self.stream], [], [], left)[0]:
                raise SystemExit(f"run_page: no line matching {pattern!r} ({what}); got {self.lines[start:]}")
            chunk = os.read(self.stream.fileno(), 4096)
            if not chunk:
                raise SystemExit(f"run_page: end of output before {pattern!r} ({what}); got {self.lines[start:]}")
            self.buf += chunk
            *done, self.buf = self.buf.split(b"\n")
            self.lines += [d.decode() for d in done]
        return self.lines[start:]


def run(cmd, **kw):
    return subprocess.run(cmd, cwd=ROOT, env=dict(ENV, **kw.pop("env", {})), capture_output=True,
                          text=True, timeout=60, **kw)


def main():
    pages = [blocks(p) for p in PAGES]
    if pages[0] != pages[1]:
        print("run_page: docs/run.md and docs/ko/run.md show different output blocks")
        return 1
    doc = pages[0]
    if len(doc) != 10:
        print(f"run_page: docs/run.md has {len(doc)} output blocks, this check knows 10")
        return 1
    doc_port = re.search(r"listening on 127\.0\.0\.1:(\d+)", "\n".join(doc[0])).group(1)
    doc_cport = re.search(r"from 127\.0\.0\.1:(\d+)", "\n".join(doc[2])).group(1)
    live = []

    build = run(["make", "c", "chapter"])
    if build.returncode != 0:
        print(f"run_page: make c chapter with PATH=/usr/bin:/bin failed:\n{build.stdout}{build.stderr}")
        return 1

    server = subprocess.Popen(["build/c/echo_server", "0"], cwd=ROOT, env=dict(ENV, TRACE="1"),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = Lines(server.stdout)
    try:
        live.append(out.until(r"TCP server listening on", "server start"))
        port = re.search(r":(\d+)$", live[0][-1]).group(1)
        live.append(run(["ss", "-tln", f"sport = :{port}"]).stdout.strip("\n").split("\n"))

        client = subprocess.Popen(["build/c/tcp_client", "127.0.0.1", port], cwd=ROOT, env=ENV,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        client.stdin.write(b"hello\n")
        client.stdin.flush()
        echo = Lines(client.stdout).until(r"^hello$", "the echo")
        # The parent's "[step 7]" and the child's first line may come in either order; step 8
        # narrates only EOF, so the session block ends with whichever comes last.
        session = out.until(r"Client connected|\[step 7\]", "the server's session")
        if not any("Client connected" in l for l in session):
            session += out.until(r"Client connected", "the child's first line")
        elif not any("[step 7]" in l for l in session):
            session += out.until(r"\[step 7\]", "the parent's fork line")
        live.append(session)
        cport = re.search(r"from 127\.0\.0\.1:(\d+)", "\n".join(session)).group(1)
        live.append(run(["ss", "-tanp", f"sport = :{port} or dport = :{port}"]).stdout.strip("\n").split("\n"))
        client.stdin.close()  # Ctrl-D
        client.wait(timeout=DEADLINE)
        live.append(out.until(r"connection closed", "the end of the session"))
        live.append(run(["ss", "-tano", f"sport = :{port} or dport = :{port}"]).stdout.strip("\n").split("\n"))
        nb = run(["build/c/tcp_client", "-n", "1000", "127.0.0.1", port], env={"TRACE": "1"}, input="")
        live.append(nb.stderr.strip("\n").split("\n"))
        if echo != ["hello"] or client.returncode != 0 or nb.returncode != 0:
            print(f"run_page: the client: echo {echo}, exit {client.returncode}, -n exit {nb.returncode}")
            return 1
    finally:
        server.terminate()  # the page stops it with Ctrl-C (SIGINT); SIGTERM ends it the same way
        server.wait(timeout=DEADLINE)

    refused = run(["build/c/tcp_client", "127.0.0.1", port], input="")
    live.append(refused.stderr.strip("\n").split("\n"))
    if refused.returncode != 1:
        print(f"run_page: refused connect exited {refused.returncode}, the page says 1")
        return 1

    # The chapter's server on a terminal: stdout line-buffered, as a student sees it.
    master, slave = pty.openpty()
    chapter = subprocess.Popen(["build/chapter/echo_server", "0"], cwd=ROOT, env=ENV, stdout=slave,
                               stderr=slave, stdin=subprocess.DEVNULL)
    os.close(slave)
    with os.fdopen(master, "rb", buffering=0) as tty:
        try:
            live.append(Lines(tty).until(r"TCP server listening", "the chapter's server")[-1:])
        finally:
            chapter.terminate()
            chapter.wait(timeout=DEADLINE)
    bad = [run([prog, "999.1.1.1", "80"]) for prog in ("build/chapter/tcp_client", "build/c/tcp_client")]
    live.append([b.stderr.strip("\n") for b in bad])
    if [b.returncode for b in bad] != [1, 1]:
        print(f"run_page: 999.1.1.1 exits {[b.returncode for b in bad]}, the page says 1 and 1")
        return 1

    unordered = {2, 3, 5}  # fork line against the child's first line; ss's rows
    problems = 0
    for i, (d, l) in enumerate(zip(doc, live)):
        dn, ln = normalise(d, doc_port, doc_cport), normalise(l, port, cport)
        same = sorted(dn) == sorted(ln) if i in unordered else dn == ln
        if not same:
            problems += 1
            print(f"run_page: output block {i + 1} of docs/run.md differs from the live run:")
            print("  page: " + "\n        ".join(dn))
            print("  live: " + "\n        ".join(ln))
    print(f"run_page: {len(doc)} output blocks of the run page, both languages: "
          f"{'as the live run printed them' if not problems else f'{problems} differ'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
