#!/usr/bin/env python3
"""TRACE=1 narration check: C and Rust must narrate a fixed session with identical text.

The session, per implementation: echo_server on port 0; one `tcp_client` echo; one
`tcp_client -n 2000` echo; one `http_get` against a local `python3 -m http.server`, and one
with a 900-byte path (its narration line must arrive whole). Every
program runs with TRACE=1; its stderr is kept. fd numbers, ports and pids are replaced with
placeholders, the two transcripts are diffed, and each must hold every chapter step.
A last run without TRACE must print no narration at all (off by default).

Usage: tests/docs/trace_check.py [-v]     (binaries: $C_BIN, $RUST_BIN; default build/c, build/rust)
Loopback only, kernel-chosen ports. Exit 0 when identical, 1 otherwise.
"""
import difflib
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IMPLS = {
    "c": os.environ.get("C_BIN", os.path.join(ROOT, "build/c")),
    "rust": os.environ.get("RUST_BIN", os.path.join(ROOT, "build/rust")),
}
DEADLINE = 20  # seconds for any one program

# Every line the session must narrate at least once (after normalisation).
REQUIRED = [
    "[step 1] socket() -> fd N",
    "[step 2] setsockopt(SO_REUSEADDR), setsockopt(SO_REUSEPORT)",
    "[step 3] sockaddr_in {AF_INET, 127.0.0.1, htons(PORT)}",
    "[step 4] bind 127.0.0.1:PORT -> 0",
    "[step 5] listen(backlog 128) -> 0",
    "[step 6] accept() -> fd N from 127.0.0.1:PORT",
    "[step 7] fork() -> child PID",
    "[step 8] recv() -> 0 (EOF: the peer sent FIN)",
    "[step 9] close(fd N)",
    "[connect step 1] socket() -> fd N",
    "[connect step 4] connect 127.0.0.1:PORT -> 0",
    "[nonblocking step 1] socket(SOCK_NONBLOCK) -> fd N",
    "[nonblocking step 7] select() -> 1 (writable)",
    "[nonblocking step 9] fcntl(F_SETFL, flags & ~O_NONBLOCK) -> 0",
    "[http step 1] resolve_ipv4(127.0.0.1) -> 127.0.0.1",
    "[http step 6] close(fd N)",
]
# A path long enough that its narration line outgrows any small fixed buffer (the C once cut
# lines at 510 bytes): the line must arrive whole, the same in C and Rust.
LONG_PATH = "/" + "a" * 900
NARRATION = re.compile(r"^\[(?:step|connect step|nonblocking step|http step) \d+\] ")


def normalise(text):
    out = []
    for line in text.splitlines():
        line = re.sub(r"\bfd \d+", "fd N", line)
        line = re.sub(r"(\d+\.\d+\.\d+\.\d+):\d+", r"\1:PORT", line)
        line = re.sub(r"htons\(\d+\)", "htons(PORT)", line)
        line = re.sub(r"(tcp_client_connect\([^,]+, )\d+", r"\1PORT", line)
        line = re.sub(r"child \d+", "child PID", line)
        out.append(line)
    return out


def step_no(line):
    m = re.match(r"^\[step (\d+)\]", line)
    return int(m.group(1)) if m else 0


def canonical_server(lines):
    """Parent (steps 6-7) and child (8-9) of one client write concurrently: order each
    client's block by step number (stable), which is the order the chapter gives."""
    blocks, cur = [], []
    for line in lines:
        if line.startswith("[step 6]") and cur:
            blocks.append(cur)
            cur = []
        cur.append(line)
    blocks.append(cur)
    return [line for b in blocks for line in sorted(b, key=step_no)]


def run(argv, stdin_data, env):
    p = subprocess.run(argv, input=stdin_data, capture_output=True, env=env, timeout=DEADLINE)
    return p.returncode, p.stdout, p.stderr.decode(errors="replace")


def wait_for(path, needle, count, timeout=5.0):
    end = time.time() + timeout
    while time.time() < end:
        with open(path, encoding="utf-8", errors="replace") as f:
            if f.read().count(needle) >= count:
                return True
        time.sleep(0.02)
    return False


def start_http_server(docroot):
    p = subprocess.Popen(
        [sys.executable, "-u", "-m", "http.server", "--bind", "127.0.0.1", "0"],
        cwd=docroot, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)
    line = p.stdout.readline().decode()
    m = re.search(r"port (\d+)", line)
    if not m:
        p.kill()
        raise SystemExit(f"trace_check: python http.server did not start: {line!r}")
    return p, int(m.group(1))


def session(name, bindir, http_port, tmp, trace=True):
    env = dict(os.environ)
    env.pop("TRACE", None)
    if trace:
        env["TRACE"] = "1"
    err_path = os.path.join(tmp, f"{name}-server.err")
    with open(err_path, "wb") as err:
        srv = subprocess.Popen([os.path.join(bindir, "echo_server"), "0"], stdout=subprocess.PIPE,
                               stderr=err, env=env, start_new_session=True)
    try:
        first = srv.stdout.readline().decode()
        m = re.search(r":(\d+)$", first.strip())
        if not m:
            raise SystemExit(f"trace_check: {name} echo_server did not start: {first!r}")
        port = m.group(1)
        client = []
        for n, (args, data) in enumerate([([], b"hello\n"), (["-n", "2000"], b"hi\n")], 1):
            rc, out, err = run([os.path.join(bindir, "tcp_client"), *args, "127.0.0.1", port],
                               data, env)
            if rc != 0 or out != data:
                raise SystemExit(f"trace_check: {name} tcp_client {args}: rc {rc}, out {out!r}\n{err}")
            client += normalise(err)
            if trace and not wait_for(err_path, "[step 9]", n):
                raise SystemExit(f"trace_check: {name} server never narrated step 9 for client {n}")
        rc, out, err = run([os.path.join(bindir, "http_get"), "127.0.0.1", str(http_port),
                            "/hello.txt"], None, env)
        if rc != 0 or b"200 OK" not in out:
            raise SystemExit(f"trace_check: {name} http_get: rc {rc}\n{err}")
        client += normalise(err)
        rc, out, err = run([os.path.join(bindir, "http_get"), "127.0.0.1", str(http_port),
                            LONG_PATH], None, env)
        if rc != 0:
            raise SystemExit(f"trace_check: {name} http_get (900-byte path): rc {rc}\n{err[:300]}")
        client += normalise(err)
    finally:
        os.killpg(srv.pid, signal.SIGTERM)
        srv.wait(timeout=DEADLINE)
    with open(err_path, encoding="utf-8", errors="replace") as f:
        server = canonical_server(normalise(f.read()))
    return ["== echo_server stderr =="] + server + ["== clients' stderr =="] + client


def main():
    verbose = "-v" in sys.argv[1:]
    for impl, d in IMPLS.items():
        for prog in ("echo_server", "tcp_client", "http_get"):
            if not os.access(os.path.join(d, prog), os.X_OK):
                raise SystemExit(f"trace_check: {d}/{prog} missing: run make first")
    with tempfile.TemporaryDirectory(prefix="trace_check.") as tmp:
        docroot = os.path.join(tmp, "www")
        os.mkdir(docroot)
        with open(os.path.join(docroot, "hello.txt"), "w") as f:
            f.write("hello from the trace check\n" * 4)
        http, http_port = start_http_server(docroot)
        try:
            got = {impl: session(impl, d, http_port, tmp) for impl, d in IMPLS.items()}
            quiet = {impl: session(impl + "-quiet", d, http_port, tmp, trace=False)
                     for impl, d in IMPLS.items()}
        finally:
            os.killpg(http.pid, signal.SIGTERM)
            http.wait()
    ok = True
    for impl, lines in got.items():
        missing = [r for r in REQUIRED if r not in lines]
        if missing:
            ok = False
            print(f"trace_check: {impl} never narrated: " + "; ".join(missing))
    for impl, lines in got.items():
        head = f"[http step 2] request: GET {LONG_PATH}, "
        if not any(line.startswith(head) and line.endswith(" bytes") for line in lines):
            ok = False
            print(f"trace_check: {impl} cut the narration of a 900-byte path (no whole "
                  f"'[http step 2] request: GET /aaa..., N bytes' line)")
    for impl, lines in quiet.items():
        noisy = [line for line in lines if NARRATION.match(line)]
        if noisy:
            ok = False
            print(f"trace_check: {impl} narrates without TRACE=1: {noisy[0]}")
    if got["c"] != got["rust"]:
        ok = False
        print("trace_check: C and Rust narrate differently (- C, + Rust):")
        sys.stdout.writelines(l + "\n" for l in difflib.unified_diff(
            got["c"], got["rust"], "c", "rust", lineterm="", n=2))
    if verbose or not ok:
        print("\n".join(got["c"]))
    print(f"trace_check: {'ok' if ok else 'FAILED'} "
          f"({len(got['c'])} lines, C and Rust {'identical' if got['c'] == got['rust'] else 'differ'})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
