#!/usr/bin/env python3
"""Draws one echo session as a sequence diagram (SVG) from a real strace of the programs.

Runs `echo_server 0` and one `tcp_client` (stdin "hello\\n"), each under
`strace -f -tt -T -e trace=network,fork,clone,close,read,write`, merges the two traces by time,
keeps the calls on sockets (plus fork/clone and exits), and draws three lanes: client | server
parent | server child, with arrows for what crosses the wire (handshake, data, FIN).

Usage: tests/docs/session_diagram.py [OUT.svg]   (default docs/session.svg; IMPL=c|rust, default c;
       binaries from build/IMPL, or $BIN_DIR). Needs strace. python3 standard library only.
Loopback only, kernel-chosen port.
"""
import html
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IMPL = os.environ.get("IMPL", "c")
BIN = os.environ.get("BIN_DIR", os.path.join(ROOT, "build", IMPL))
STRACE = ["strace", "-f", "-tt", "-T", "-e", "trace=network,fork,clone,close,read,write"]
LINE = re.compile(r"^(\d+)\s+(\d\d):(\d\d):(\d\d\.\d+)\s+(.*)$")
RESULT = re.compile(r"\)\s+=\s+(-?\d+|\?)(?:\s+(E\w+)[^<]*)?(?:\s+<(\d+\.\d+)>)?\s*$")


def parse(path):
    """-> list of dicts: pid, start, end, name, args, ret, err (completed calls and exits)."""
    events, pending = [], {}
    for raw in open(path, encoding="utf-8", errors="replace"):
        m = LINE.match(raw.rstrip("\n"))
        if not m:
            continue
        pid = int(m.group(1))
        t = int(m.group(2)) * 3600 + int(m.group(3)) * 60 + float(m.group(4))
        rest = m.group(5)
        if rest.startswith("+++ exited"):
            events.append(dict(pid=pid, start=t, end=t, name="exit", args="", ret=0, err=None))
            continue
        if rest.startswith("---"):
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
            body, end = args + rm.group(2), t
        else:
            cm = re.match(r"(\w+)\((.*)$", rest)
            if not cm:
                continue
            name, body, start, end = cm.group(1), cm.group(2), t, None
        r = RESULT.search(body)
        if not r or r.group(1) == "?":
            continue
        if end is None:
            end = start + (float(r.group(3)) if r.group(3) else 0.0)
        events.append(dict(pid=pid, start=start, end=end, name=name, args=body[:r.start()],
                           ret=int(r.group(1)), err=r.group(2)))
    return events


BLOCKING = ("accept", "accept4", "recvfrom", "recv", "read", "connect")


def when(e):
    """A blocking call is drawn when it returns (that is when its event happened), any other
    call when it starts."""
    return e["end"] if e["name"] in BLOCKING else e["start"]


def first_arg(args):
    return args.split(",")[0].strip()


def socket_events(events, root_pid):
    """Keeps calls on socket fds (tracked per process), clones and exits; names the lanes."""
    socks = {root_pid: set()}
    kept, child = [], None
    for e in sorted(events, key=when):
        pid, name, ret = e["pid"], e["name"], e["ret"]
        fds = socks.setdefault(pid, set())
        if name in ("clone", "fork", "vfork", "clone3") and ret > 0:
            socks[ret] = set(fds)
            child = child or ret
            kept.append(e)
        elif name == "exit":
            kept.append(e)
        elif name == "socket" and ret >= 0:
            fds.add(ret)
            kept.append(e)
        elif name in ("accept", "accept4") and ret >= 0:
            fds.add(ret)
            kept.append(e)
        elif name == "close":
            fd = int(first_arg(e["args"]))
            if fd in fds:
                fds.discard(fd)
                kept.append(e)
        elif name in ("read", "write", "recvfrom", "sendto", "recv", "send", "recvmsg", "sendmsg",
                      "setsockopt", "getsockopt", "bind", "listen", "connect", "shutdown",
                      "getsockname", "getpeername"):
            try:
                fd = int(first_arg(e["args"]))
            except ValueError:
                continue
            if fd in fds and not (e["err"] == "EAGAIN"):
                kept.append(e)
    return kept, child


STEP = {"socket": "1", "setsockopt": "2", "bind": "4", "listen": "5", "accept": "6",
        "accept4": "6", "clone": "7", "fork": "7", "recvfrom": "8", "sendto": "8", "close": "9"}


def label(e):
    n, a, r = e["name"], e["args"], e["ret"]
    fd = first_arg(a)
    addr = re.search(r'sin_port=htons\((\d+)\), sin_addr=inet_addr\("([\d.]+)"\)', a)
    where = f"{addr.group(2)}:{addr.group(1)}" if addr else ""
    if n == "socket":
        return f"socket(AF_INET, SOCK_STREAM{'|SOCK_NONBLOCK' if 'NONBLOCK' in a else ''}) = {r}"
    if n == "setsockopt":
        opt = re.search(r"SOL_SOCKET, (\w+)", a)
        return f"setsockopt({fd}, {opt.group(1) if opt else '?'}) = {r}"
    if n in ("bind", "connect", "getsockname"):
        return f"{n}({fd}, {where}) = {r}" + (f" {e['err']}" if e["err"] else "")
    if n == "listen":
        return f"listen({a.strip()}) = {r}"
    if n in ("accept", "accept4"):
        return f"accept({fd}) = {r}  [peer {where}]"
    if n in ("clone", "fork", "vfork", "clone3"):
        return f"fork() = {r}  (child)"
    if n in ("recvfrom", "recv", "read"):
        data = re.search(r'^\d+, (".*?")', a)
        return f"recv({fd}) = {r}" + (f"  {data.group(1)}" if data and r > 0 else "  EOF" if r == 0 else "")
    if n in ("sendto", "send", "write"):
        return f"send({fd}, {r} bytes) = {r}"
    if n == "shutdown":
        return f"shutdown({fd}, SHUT_WR) = {r}"
    if n == "close":
        return f"close({fd}) = {r}"
    if n == "exit":
        return "exit"
    return f"{n}({a[:30]}) = {r}"


def arrows(rows, lane_of):
    """(from_row, to_row, text): handshake, each data chunk, each FIN."""
    out = []
    idx = {k: [i for i, e in enumerate(rows) if lane_of(e) == k] for k in ("client", "parent", "child")}
    conn = next((i for i in idx["client"] if rows[i]["name"] == "connect"), None)
    acc = next((i for i in idx["parent"] if rows[i]["name"] in ("accept", "accept4")), None)
    if conn is not None and acc is not None:
        out.append((conn, acc, "SYN, SYN-ACK, ACK"))
    for src, dst in (("client", "child"), ("child", "client")):
        recvs = [i for i in idx[dst] if rows[i]["name"] in ("recvfrom", "recv", "read")]
        data_in = [i for i in recvs if rows[i]["ret"] > 0]
        eof_in = [i for i in recvs if rows[i]["ret"] == 0]
        sends = [i for i in idx[src] if rows[i]["name"] in ("sendto", "send", "write")]
        for s, d in zip(sends, data_in):
            out.append((s, d, f"{rows[s]['ret']} bytes"))
        # The server's FIN comes from the child closing the accepted fd, not from its close
        # of the inherited listening socket (that one sends nothing).
        acc_fd = rows[acc]["ret"] if acc is not None else None
        fin = next((i for i in idx[src] if rows[i]["name"] == "shutdown"
                    or (rows[i]["name"] == "close"
                        and (src == "client" or int(first_arg(rows[i]["args"])) == acc_fd))), None)
        if fin is not None and eof_in:
            out.append((fin, eof_in[0], "FIN"))
    return out


def render(rows, lane_of, t0, impl):
    lanes = {"client": 190, "parent": 520, "child": 850}
    titles = {"client": "client (tcp_client)", "parent": "server parent (echo_server)",
              "child": "server child (fork)"}
    top, rowh, width = 90, 30, 1180
    height = top + rowh * (len(rows) + 1) + 40
    o = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
         f'viewBox="0 0 {width} {height}" font-family="monospace" font-size="12">',
         '<defs><marker id="a" markerWidth="10" markerHeight="8" refX="9" refY="4" orient="auto">'
         '<path d="M0,0 L10,4 L0,8 z" fill="#c0392b"/></marker></defs>',
         f'<rect width="{width}" height="{height}" fill="white"/>',
         f'<text x="10" y="22" font-size="14" font-weight="bold">One echo session, from strace -f '
         f'({html.escape(impl)} build): socket/bind/listen, connect/accept, fork, recv/send, close</text>',
         '<text x="10" y="40" fill="#555">generated by tests/docs/session_diagram.py (make diagram); '
         'left column: ms since the server\'s socket()</text>']
    child_start = next((i for i, e in enumerate(rows) if lane_of(e) == "child"), len(rows))
    for k, x in lanes.items():
        y0 = top - 10 if k != "child" else top + rowh * child_start - 10
        o.append(f'<rect x="{x - 120}" y="{top - 42}" width="240" height="24" rx="4" '
                 f'fill="#eaf2fb" stroke="#2c3e50"/>')
        o.append(f'<text x="{x}" y="{top - 25}" text-anchor="middle" font-weight="bold">'
                 f'{html.escape(titles[k])}</text>')
        o.append(f'<line x1="{x}" y1="{y0}" x2="{x}" y2="{height - 30}" stroke="#95a5a6" '
                 f'stroke-dasharray="4 3"/>')
    ys = [top + rowh * i + 10 for i in range(len(rows))]
    for s, d, text in arrows(rows, lane_of):
        x1, x2 = lanes[lane_of(rows[s])], lanes[lane_of(rows[d])]
        y1, y2 = ys[s], ys[d]
        o.append(f'<line x1="{x1}" y1="{y1}" x2="{x2 - 6 if x2 > x1 else x2 + 6}" y2="{y2}" '
                 f'stroke="#c0392b" stroke-width="1.5" marker-end="url(#a)"/>')
        o.append(f'<text x="{(x1 + x2) / 2}" y="{(y1 + y2) / 2 - 4}" text-anchor="middle" '
                 f'fill="#c0392b">{html.escape(text)}</text>')
    for i, e in enumerate(rows):
        x, y = lanes[lane_of(e)], ys[i]
        step = STEP.get(e["name"])
        if e["name"] == "close" and lane_of(e) != "client":
            # Only the child's close of the accepted fd is step 9; the parent's close of it
            # and the child's close of the listening socket are the two halves of step 7.
            acc_fd = next((r["ret"] for r in rows if r["name"] in ("accept", "accept4")), None)
            is_session_end = lane_of(e) == "child" and int(first_arg(e["args"])) == acc_fd
            step = "9" if is_session_end else "7"
        text = label(e) + (f"   [step {step}]" if step and lane_of(e) != "client" else "")
        o.append(f'<text x="10" y="{y + 4}" fill="#555">{(when(e) - t0) * 1000:8.3f}</text>')
        o.append(f'<circle cx="{x}" cy="{y}" r="4" fill="#2c3e50"/>')
        o.append(f'<text x="{x + 10}" y="{y + 4}">{html.escape(text)}</text>')
    o.append("</svg>")
    return "\n".join(o) + "\n"


def wait_for(path, needle, timeout=10.0):
    end = time.time() + timeout
    while time.time() < end:
        if os.path.exists(path) and needle in open(path, errors="replace").read():
            return True
        time.sleep(0.05)
    return False


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "docs", "session.svg")
    with tempfile.TemporaryDirectory(prefix="session_diagram.") as tmp:
        st, ct = os.path.join(tmp, "server.trace"), os.path.join(tmp, "client.trace")
        srv = subprocess.Popen(STRACE + ["-o", st, os.path.join(BIN, "echo_server"), "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               start_new_session=True)
        try:
            m = re.search(r":(\d+)$", srv.stdout.readline().decode().strip())
            if not m:
                raise SystemExit("session_diagram: echo_server did not start")
            port = m.group(1)
            cli = subprocess.run(STRACE + ["-o", ct, os.path.join(BIN, "tcp_client"), "127.0.0.1", port],
                                 input=b"hello\n", capture_output=True, timeout=20)
            if cli.returncode != 0 or cli.stdout != b"hello\n":
                raise SystemExit(f"session_diagram: tcp_client failed: {cli.stderr.decode()}")
            time.sleep(0.2)
            wait_for(st, "exited with")  # the child has finished and been reaped
        finally:
            os.killpg(srv.pid, signal.SIGTERM)
            srv.wait(timeout=10)
        server, client = parse(st), parse(ct)
    sroot = min(server, key=lambda e: e["start"])["pid"]
    croot = min(client, key=lambda e: e["start"])["pid"]
    srows, child = socket_events(server, sroot)
    crows, _ = socket_events(client, croot)
    rows = sorted(srows + crows, key=when)
    cpids = {e["pid"] for e in crows}
    rows = [e for e in rows if not (e["name"] == "exit" and e["pid"] not in (croot, child))]

    def lane_of(e):
        if e["pid"] in cpids:
            return "client"
        return "child" if e["pid"] == child else "parent"

    rows = [e for e in rows if lane_of(e) != "parent" or e["pid"] == sroot]
    t0 = min(when(e) for e in rows)
    with open(out, "w", encoding="utf-8") as f:
        f.write(render(rows, lane_of, t0, IMPL))
    print(f"session_diagram: {len(rows)} calls drawn into {os.path.relpath(out, ROOT)}")
    for e in rows:
        print(f"  {lane_of(e):6}  {label(e)}")


if __name__ == "__main__":
    main()
