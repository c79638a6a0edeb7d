#!/usr/bin/env python3
"""valgrind --leak-check=full --error-exitcode=1 --trace-children=yes on the C programs
(build/c) in a few scenarios: an echo session (server + forked child + tcp_client), http_get
against a tiny responder, refused connects, a -n timeout and bad arguments. Every process
(forked server children included) writes its own log; each log must say
'ERROR SUMMARY: 0 errors' and show no definitely/indirectly lost bytes. Exit 1 otherwise."""
import glob, os, re, signal, socket, subprocess, sys, tempfile, threading, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(ROOT, "build", "c")
LOGS = tempfile.mkdtemp(prefix="valgrind-check-")
VG = ["valgrind", "--leak-check=full", "--error-exitcode=1", "--trace-children=yes",
      "--log-file=" + os.path.join(LOGS, "%q{VG_TAG}.%p.log")]
failures = []


def vg(tag, prog, *args, **kw):
    env = dict(os.environ, VG_TAG=tag)
    return subprocess.Popen(VG + [os.path.join(BIN, prog), *args], env=env, **kw)


def closed_port():
    """A port bound by a socket that never listens, held open: a connect to it is refused and
    no other test can take the port meanwhile (as the suite's closed_port)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    return s, s.getsockname()[1]


def expect(tag, p, code, timeout=60):
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill(); failures.append(f"{tag}: hung"); return
    if p.returncode != code:
        failures.append(f"{tag}: exit {p.returncode}, expected {code}: {err!r}")


# 1. echo session: server (and its forked children) and tcp_client under valgrind.
srv = vg("echo_server", "echo_server", "0", stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
line = srv.stdout.readline()
m = re.search(r":(\d+)$", line.strip())
if not m:
    failures.append(f"echo_server: no listening line: {line!r}")
else:
    port = m.group(1)
    data = os.urandom(256 * 1024)
    for i in range(2):
        c = vg(f"tcp_client{i}", "tcp_client", "127.0.0.1", port, stdin=subprocess.PIPE,
               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = c.communicate(data, timeout=60)
        if c.returncode != 0 or out != data:
            failures.append(f"tcp_client echo {i}: exit {c.returncode}, {len(out)} of {len(data)} bytes")
    time.sleep(1.0)  # the children write their leak summaries as they exit
    srv.send_signal(signal.SIGTERM)  # the server never returns on its own; valgrind still reports
    srv.communicate(timeout=30)

# 2. http_get against a one-shot responder.
lst = socket.socket(); lst.bind(("127.0.0.1", 0)); lst.listen(1)
def respond():
    c, _ = lst.accept(); c.recv(4096)
    c.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello"); c.close()
threading.Thread(target=respond, daemon=True).start()
expect("http_get ok", vg("http_get", "http_get", "127.0.0.1", str(lst.getsockname()[1]), "/",
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE), 0)

# 3. refused connects, a -n timeout to a black-hole address in a full queue is not needed:
#    refused covers the error paths; 4. bad arguments.
holder, cp = closed_port()
cp = str(cp)
for tag, prog, args, code in [
    ("refused_client", "tcp_client", ["127.0.0.1", cp], 1),
    ("refused_client_n", "tcp_client", ["-n", "500", "127.0.0.1", cp], 1),
    ("refused_http", "http_get", ["127.0.0.1", cp, "/"], 1),
    ("bad_addr_server", "echo_server", ["0", "localhost"], 1),
    ("bad_addr_client", "tcp_client", ["999.1.1.1", "1"], 1),
    ("bad_args_server", "echo_server", ["70000"], 2),
    ("bad_args_client", "tcp_client", ["-n", "0", "127.0.0.1", "1"], 2),
    ("bad_args_http", "http_get", ["127.0.0.1", "80", "/a b"], 2),
    ("long_path_http", "http_get", ["127.0.0.1", cp, "/" + "a" * 2000], 1),
]:
    expect(tag, vg(tag, prog, *args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                   stderr=subprocess.PIPE), code)

logs = sorted(glob.glob(os.path.join(LOGS, "*.log")))
bad_logs = 0
for log in logs:
    text = open(log, errors="replace").read()
    name = os.path.basename(log)
    errs = re.search(r"ERROR SUMMARY: (\d+) errors", text)
    lost = [m for m in re.findall(r"(definitely|indirectly) lost: ([\d,]+) bytes", text)
            if m[1] != "0"]
    if errs is None:
        failures.append(f"{name}: no ERROR SUMMARY"); bad_logs += 1
    elif errs.group(1) != "0" or lost:
        failures.append(f"{name}: {errs.group(1)} errors, lost {lost}\n{text}"); bad_logs += 1
print(f"valgrind: {len(logs)} process logs (forked children included), {bad_logs} with errors "
      f"or leaks; logs in {LOGS}")
for f in failures:
    print("FAIL:", f)
sys.exit(1 if failures else 0)
