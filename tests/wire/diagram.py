#!/usr/bin/env python3
"""Sequence diagrams of one echo session drawn from a real capture: the wire lesson
echo_session (tests/wire/wire.py, the same data `make wire LESSON=echo_session` prints) run
once, drawn twice, with English and with Korean glosses.

    diagram.py [--impl c|rust|chapter] [--out DIR]     (default docs/img)

Lifelines: client | server parent | child (from strace -f). One arrow per packet (tcpdump),
labelled with its flags, relative seq/ack and length, and with what sent it; system calls as
boxes on their process's line (a call that waits is drawn when it returns, when its event
happened); each socket's TCP state in the margin of its side (the kernel's tracepoint, and ss
for TIME-WAIT). Rows are in time order, one event each; the left column is the time in ms.
Writes session.en.svg and session.ko.svg. Needs what `make wire` needs (root, tcpdump, strace).
"""
import argparse
import html
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wire  # noqa: E402

TEXT = {
    "en": dict(
        title="One echo session on the wire: tcp_client sends \"hello\", the server echoes it, "
              "the client half-closes",
        sub="drawn by make diagram (tests/wire/diagram.py) from a real capture: strace -f, "
            "tcpdump -i lo, the kernel's state tracepoint; IMPL=%s",
        lanes=("client (tcp_client)", "server parent (echo_server)", "child (fork)"),
        margins=("client's TCP state", "server's TCP state"),
        ms="ms", legend="boxes: system calls; arrows: packets (flags, seq/ack, length) and "
                        "what sent them; margins: states",
        tw="ss: the client's socket in TIME-WAIT (timer %s)"),
    "ko": dict(
        title="패킷으로 본 에코 세션 하나: tcp_client가 \"hello\"를 보내고, 서버가 되돌려 주고, "
              "클라이언트가 반쪽 닫기를 합니다",
        sub="make diagram(tests/wire/diagram.py)이 실제 캡처로 그림: strace -f, tcpdump -i lo, "
            "커널의 상태 트레이스포인트; IMPL=%s",
        lanes=("클라이언트 (tcp_client)", "서버 부모 프로세스 (echo_server)", "자식 프로세스 (fork)"),
        margins=("클라이언트의 TCP 상태", "서버의 TCP 상태"),
        ms="ms", legend="상자: 시스템 콜, 화살표: 패킷(플래그, seq/ack, 길이)과 그 패킷을 보낸 쪽, "
                        "양쪽 여백: 상태",
        tw="ss: 클라이언트 소켓이 TIME-WAIT 상태 (타이머 %s)"),
}
SHOWN = ("socket", "bind", "listen", "accept", "accept4", "connect", "sendto", "recvfrom", "read",
         "shutdown", "close", "clone", "clone3", "fork")
LANE_X = {"client": 390, "server": 690, "child": 950}
MARGIN_X = {"client": 170, "server": 1150}
WIDTH = 1280


def short(c):
    """A call as a box label: name(first arg, ...) = result."""
    args = c["text"].split("(", 1)[1].rsplit(") = ", 1)[0]
    first = args.split(",")[0]
    if c["name"] in ("sendto", "recvfrom", "read"):
        m = re.search(r'"((?:[^"\\]|\\.)*)"', args)
        first += ", " + ('"%s"' % m.group(1) if m else "...")
    elif c["name"] in ("connect", "bind"):
        m = re.search(r"127\.0\.0\.1:\d+", args)
        first += ", " + (m.group(0) if m else "...")
    elif c["name"] == "shutdown":
        first += ", SHUT_WR"
    elif c["name"] == "listen":
        first = args
    elif c["name"] in ("clone", "clone3", "fork"):
        first = ""
    result = c["text"].rsplit(") = ", 1)[1]
    result = re.sub(r"\s*\(.*$", "", result)   # errno's words and poll's details
    return "%s(%s) = %s" % (c["name"], first, result)


def arrow_label(p):
    m = re.search(r"Flags \[([^\]]+)\](?:, seq ([\d:]+))?(?:, ack (\d+))?.*length (\d+)", p["text"])
    if not m:
        return p["text"][:40]
    parts = ["[%s]" % m.group(1)]
    if m.group(2) and (p["syn"] or ":" in m.group(2) or p["fin"]):
        parts.append("seq " + (m.group(2) if not p["syn"] else "ISN"))
    if m.group(3) and not p["syn"]:
        parts.append("ack " + m.group(3))
    if m.group(4) != "0":
        parts.append("len " + m.group(4))
    return " ".join(parts)


def rows_of(r, rec):
    """[(t, kind, data)] in time order: calls (at return if they wait), packets, states."""
    rows = []
    stop = next((t for t, label, _ in rec["snapshots"]), None)
    for c in rec["calls"]:
        if c["name"] not in SHOWN or "ERESTARTSYS" in c.get("tail", ""):
            continue
        t = c["start"]
        if c["name"] in wire.BLOCKING:   # drawn when it returned
            t = wire.returned_at(c, rec["packets"])[0] - 1e-7
        rows.append((t, "call", c))
    for p in rec["packets"]:
        rows.append((p["t"], "packet", p))
    for s in rec["states"]:
        if s["dport"]:
            rows.append((s["t"], "state", s))
    rows.sort(key=lambda x: x[0])
    if stop:
        rows = [x for x in rows if x[0] <= stop]
    return rows


def lane(r, c, child_pids):
    if c["role"] == "client":
        return "client"
    return "child" if c["role"].startswith("child") else "server"


def render(r, rec, lang, impl):
    T = TEXT[lang]
    rows = rows_of(r, rec)
    t0 = rows[0][0]
    top, rowh = 120, 26
    height = top + rowh * len(rows) + 70
    font = "DejaVu Sans Mono, Noto Sans Mono CJK KR, monospace"
    o = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
         'font-family="%s" font-size="12">' % (WIDTH, height, WIDTH, height, font),
         '<defs><marker id="a" markerWidth="10" markerHeight="8" refX="9" refY="4" orient="auto">'
         '<path d="M0,0 L10,4 L0,8 z" fill="#c0392b"/></marker>'
         '<marker id="k" markerWidth="10" markerHeight="8" refX="9" refY="4" orient="auto">'
         '<path d="M0,0 L10,4 L0,8 z" fill="#7f8c8d"/></marker></defs>',
         '<rect width="%d" height="%d" fill="white"/>' % (WIDTH, height),
         '<text x="10" y="22" font-size="14" font-weight="bold">%s</text>' % html.escape(T["title"]),
         '<text x="10" y="40" fill="#555">%s</text>' % html.escape(T["sub"] % impl),
         '<text x="10" y="56" fill="#555">%s</text>' % html.escape(T["legend"])]
    child_row = next((i for i, (_, k, d) in enumerate(rows) if k == "call" and
                      lane(r, d, None) == "child"), len(rows))
    for key, title in zip(("client", "server", "child"), T["lanes"]):
        x = LANE_X[key]
        y0 = top - 10 if key != "child" else top + rowh * child_row - 16
        o.append('<rect x="%d" y="%d" width="230" height="24" rx="4" fill="#eaf2fb" stroke="#2c3e50"/>'
                 % (x - 115, top - 48))
        o.append('<text x="%d" y="%d" text-anchor="middle" font-weight="bold">%s</text>'
                 % (x, top - 31, html.escape(title)))
        o.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#95a5a6" stroke-dasharray="4 3"/>'
                 % (x, y0, x, height - 50))
    for key, title in zip(("client", "server"), T["margins"]):
        o.append('<text x="%d" y="%d" text-anchor="middle" fill="#8e44ad" font-weight="bold">%s</text>'
                 % (MARGIN_X[key], top - 31, html.escape(title)))
    o.append('<text x="10" y="%d" fill="#555">%s</text>' % (top - 12, T["ms"]))
    child_started = False
    for i, (t, kind, d) in enumerate(rows):
        y = top + rowh * i + 6
        o.append('<text x="10" y="%d" fill="#999" font-size="10">%8.2f</text>' % (y + 4, (t - t0) * 1000))
        if kind == "call":
            ln = lane(r, d, None)
            child_started = child_started or ln == "child"
            label = short(d)
            w = 7.2 * len(label) + 12
            x = LANE_X[ln]
            o.append('<rect x="%.0f" y="%d" width="%.0f" height="18" rx="3" fill="#fdf6e3" '
                     'stroke="#2c3e50"/>' % (x - w / 2, y - 12, w))
            o.append('<text x="%d" y="%d" text-anchor="middle">%s</text>' % (x, y + 1, html.escape(label)))
        elif kind == "packet":
            to_server = d["dport"] == r.server_port
            srv_lane = "child" if child_started else "server"
            x1, x2 = (LANE_X["client"], LANE_X[srv_lane]) if to_server else (LANE_X[srv_lane], LANE_X["client"])
            color, mark = ("#c0392b", "a") if d["cause"] is not None else ("#7f8c8d", "k")
            end = x2 - 8 if x2 > x1 else x2 + 8
            o.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="1.6" '
                     'marker-end="url(#%s)"/>' % (x1, y, end, y, color, mark))
            mid = (x1 + x2) / 2
            o.append('<text x="%.0f" y="%d" text-anchor="middle" fill="%s" font-weight="bold">%s</text>'
                     % (mid, y - 4, color, html.escape(arrow_label(d))))
            o.append('<text x="%.0f" y="%d" text-anchor="middle" fill="%s" font-size="10">%s</text>'
                     % (mid, y + 10, color, html.escape(d["gloss"])))
        else:
            key = "server" if d["sport"] == r.server_port else "client"
            text = "%s → %s" % (wire.state_name(d["old"]), wire.state_name(d["shown"]))
            o.append('<text x="%d" y="%d" text-anchor="middle" fill="#8e44ad">%s</text>'
                     % (MARGIN_X[key], y + 4, html.escape(text)))
    tw = [l for _, _, lines in rec["snapshots"] for l in lines if l.startswith("TIME-WAIT")]
    if tw:
        m = re.search(r"timer:\(timewait,([^,]+),", tw[0])
        o.append('<text x="10" y="%d" fill="#8e44ad">%s</text>'
                 % (height - 25, html.escape(T["tw"] % (m.group(1) if m else "?"))))
    o.append("</svg>")
    return "\n".join(o) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--impl", default="c", choices=["chapter", "c", "rust"])
    ap.add_argument("--out", default=os.path.join(wire.ROOT, "docs", "img"))
    args = ap.parse_args()
    try:
        r, rec = wire.run_lesson("echo_session", args.impl, lang="en")
    except wire.Missing as e:
        print(str(e))
        return 1
    os.makedirs(args.out, exist_ok=True)
    for lang in ("en", "ko"):
        wire.attribute(rec["packets"], rec["calls"], lang)
        path = os.path.join(args.out, "session.%s.svg" % lang)
        with open(path, "w", encoding="utf-8") as f:
            f.write(render(r, rec, lang, args.impl))
        print("diagram: %s (%d packets)" % (os.path.relpath(path, wire.ROOT), len(rec["packets"])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
