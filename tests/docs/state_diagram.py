#!/usr/bin/env python3
"""Draws the TCP state diagram of docs/tcp-states.md: docs/img/tcp-states.en.svg and
docs/img/tcp-states.ko.svg (`make state-diagram`; `--check` fails when the committed files
differ from what this script draws).

The eleven states and the transitions of RFC 9293 §3.3.2 (Figure 5), with the system calls of
the chapter's code that cause them, plus the RST the figure leaves out (close() with unread data:
RFC 2525 §2.17, Linux's __tcp_close) and the SYN retransmissions of a connect that gets no
answer (after 1, 1, 1, 1, 1, then 2, 4 ... s: tcp_syn_linear_timeouts = 4 since Linux 6.7,
Documentation/networking/ip-sysctl.rst; five gaps of 1.00-1.03 s in make demo here). The paths
of the wire lessons a (echo_session), b (close_unread_rst), d (full_backlog)
and e (server_first) are drawn in colour beside the edges they take (`make wire LESSON=name`).

Text stays text (<text>, no paths), so the Korean needs a CJK font where it is shown
(fonts-noto-cjk on Debian). python3 standard library only.
"""
import math
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "docs", "img")

W, H = 1240, 1110
BOX_W, BOX_H = 176, 50

# state: (x, y) of the box centre, the name `ss -tan` prints (tests/claims/tcp_states.py)
STATES = {
    "CLOSED": ((600, 84), "—"),
    "LISTEN": ((300, 224), "LISTEN"),
    "SYN-SENT": ((900, 224), "SYN-SENT"),
    "SYN-RECEIVED": ((300, 374), "SYN-RECV"),
    "ESTABLISHED": ((600, 494), "ESTAB"),
    "FIN-WAIT-1": ((300, 634), "FIN-WAIT-1"),
    "CLOSE-WAIT": ((900, 634), "CLOSE-WAIT"),
    "FIN-WAIT-2": ((160, 784), "FIN-WAIT-2"),
    "CLOSING": ((440, 784), "CLOSING"),
    "LAST-ACK": ((900, 784), "LAST-ACK"),
    "TIME-WAIT": ((300, 924), "TIME-WAIT"),
    "CLOSED ": ((900, 924), "—"),          # the same state, drawn again at the bottom
}

LESSONS = {
    "a": ("#1f6fd1", "echo_session"),
    "b": ("#d62728", "close_unread_rst"),
    "d": ("#e08a00", "full_backlog"),
    "e": ("#2a9d3a", "server_first"),
}

# (from, to, bend, English label, Korean label, lessons, (t, dx, dy, anchor), dashed).
# bend: the control point's distance from the chord's middle, to the left of the direction of
# travel (0: straight). The label sits at the curve's point t, moved by (dx, dy); "\n" breaks it.
EDGES = [
    ("CLOSED", "LISTEN", 0, "listen()", "listen()", "abe", (0.5, 12, 22, "start"), False),
    ("CLOSED", "SYN-SENT", 0, "connect(): snd SYN", "connect(): SYN 보냄", "abde", (0.5, -14, 22, "end"),
     False),
    ("LISTEN", "SYN-RECEIVED", 0, "rcv SYN /\nsnd SYN-ACK", "SYN 받음 /\nSYN-ACK 보냄", "abe",
     (0.5, -16, -4, "end"), False),
    ("SYN-RECEIVED", "LISTEN", 0, "", "", "", (0.5, 0, 0, "start"), True),   # beside the one above
    ("LISTEN", "CLOSED", -60, "close()", "close()", "", (0.5, -10, 0, "end"), True),
    ("SYN-SENT", "SYN-RECEIVED", 0, "rcv SYN / snd SYN-ACK (simultaneous open)",
     "SYN 받음 / SYN-ACK 보냄 (동시 열기)", "", (0.42, 0, -12, "middle"), True),
    ("SYN-SENT", "ESTABLISHED", 0, "rcv SYN-ACK / snd ACK", "SYN-ACK 받음 / ACK 보냄", "abe",
     (0.5, 18, 6, "start"), False),
    ("SYN-RECEIVED", "ESTABLISHED", 0, "rcv ACK\n(into the accept queue)", "ACK 받음\n(accept 큐로)",
     "abe", (0.45, -14, 28, "end"), False),
    ("SYN-SENT", "CLOSED", 70, "close(); SYN retries spent (ETIMEDOUT);\nrcv RST (ECONNREFUSED)",
     "close(); SYN 재전송 소진(ETIMEDOUT);\nRST 받음(ECONNREFUSED)", "d", (0.5, 22, -10, "start"), False),
    ("SYN-RECEIVED", "FIN-WAIT-1", 70, "close() / snd FIN", "close() / FIN 보냄", "", (0.5, -12, 0, "end"),
     True),
    ("ESTABLISHED", "FIN-WAIT-1", 0, "close() or shutdown(SHUT_WR)\n/ snd FIN",
     "close() 또는 shutdown(SHUT_WR)\n/ FIN 보냄", "ae", (0.5, -18, -16, "end"), False),
    ("ESTABLISHED", "CLOSE-WAIT", 0, "rcv FIN / snd ACK\n(recv() returns 0)",
     "FIN 받음 / ACK 보냄\n(recv()가 0을 돌려줌)", "ae", (0.5, 18, -16, "start"), False),
    ("FIN-WAIT-1", "FIN-WAIT-2", 0, "rcv ACK of FIN", "FIN의 ACK 받음", "ae", (0.5, -14, 0, "end"), False),
    ("FIN-WAIT-1", "CLOSING", 0, "rcv FIN / snd ACK", "FIN 받음 / ACK 보냄", "", (0.5, 12, -4, "start"),
     True),
    ("FIN-WAIT-2", "TIME-WAIT", 0, "rcv FIN / snd ACK", "FIN 받음 / ACK 보냄", "ae", (0.5, -14, 4, "end"),
     False),
    ("CLOSING", "TIME-WAIT", 0, "rcv ACK of FIN", "FIN의 ACK 받음", "", (0.5, 12, 6, "start"), True),
    ("CLOSE-WAIT", "LAST-ACK", 0, "close() / snd FIN", "close() / FIN 보냄", "ae", (0.5, 16, 0, "start"),
     False),
    ("LAST-ACK", "CLOSED ", 0, "rcv ACK of FIN", "FIN의 ACK 받음", "ae", (0.5, 16, 0, "start"), False),
    ("TIME-WAIT", "CLOSED ", 0, "2 MSL (Linux: 60 s)", "2 MSL (Linux: 60초)", "ae", (0.5, 0, -16, "middle"),
     False),
    ("ESTABLISHED", "CLOSED ", 0, "close() with unread data\n/ snd RST;\nthe peer: rcv RST",
     "읽지 않은 데이터가 남은\nclose() / RST 보냄;\n상대: RST 받음", "b", (0.66, -34, -10, "end"), False),
]

TEXT = {
    "en": {
        "title": "TCP states (RFC 9293 §3.3.2) and the system calls of the chapter's code",
        "ss": "ss -tan: {}",
        "rst": "rcv RST",
        "retry": "no SYN-ACK: resend SYN\n(after 1, 1, 1, 1, 1, then 2, 4 ... s)",
        "legend": "Wire lessons (make wire LESSON=name), drawn beside the edges they take:",
        "lesson": {
            "a": "a echo_session: client CLOSED→SYN-SENT→ESTABLISHED→FIN-WAIT-1→FIN-WAIT-2→TIME-WAIT; "
                 "server child →CLOSE-WAIT→LAST-ACK→CLOSED",
            "b": "b close_unread_rst: close() with unread data: RST, no FIN; both ends ESTABLISHED→CLOSED",
            "d": "d full_backlog: the client stays in SYN-SENT (SYN resent, no SYN-ACK), close() after 5 s",
            "e": "e server_first: as a with the roles swapped: the server closes first and keeps TIME-WAIT",
        },
        "key": "snd: sends, rcv: receives. Dashed: transitions the chapter's programs rarely take. "
               "CLOSED is drawn twice (top and bottom).",
    },
    "ko": {
        "title": "TCP 상태(RFC 9293 §3.3.2)와 챕터 코드의 시스템 콜",
        "ss": "ss -tan: {}",
        "rst": "RST 받음",
        "retry": "SYN-ACK 없음: SYN 재전송\n(1, 1, 1, 1, 1초, 그다음 2, 4초 ... 뒤)",
        "legend": "패킷 실습(make wire LESSON=이름): 실습마다 지나는 전이 옆에 색 선으로 표시",
        "lesson": {
            "a": "a echo_session: 클라이언트 CLOSED→SYN-SENT→ESTABLISHED→FIN-WAIT-1→FIN-WAIT-2→TIME-WAIT, "
                 "서버 자식 →CLOSE-WAIT→LAST-ACK→CLOSED",
            "b": "b close_unread_rst: 읽지 않은 데이터가 남은 close(): FIN 없이 RST, 양쪽 모두 ESTABLISHED→CLOSED",
            "d": "d full_backlog: 클라이언트가 SYN-SENT에 머무름(SYN 재전송, SYN-ACK 없음), 5초 뒤 close()",
            "e": "e server_first: a와 역할이 반대: 서버가 먼저 닫고 TIME-WAIT가 서버에 남음",
        },
        "key": "점선: 챕터의 프로그램이 거의 지나지 않는 전이. CLOSED는 위와 아래에 두 번 그렸습니다.",
    },
}

FONT = "'Noto Sans CJK KR', 'Noto Sans KR', 'Noto Sans', 'DejaVu Sans', sans-serif"


def esc(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(centre, toward):
    """The point where the segment from a box's centre toward a point leaves the box."""
    (cx, cy), (tx, ty) = centre, toward
    dx, dy = tx - cx, ty - cy
    if dx == 0 and dy == 0:
        return centre
    sx = (BOX_W / 2 + 3) / abs(dx) if dx else math.inf
    sy = (BOX_H / 2 + 3) / abs(dy) if dy else math.inf
    s = min(sx, sy)
    return cx + dx * s, cy + dy * s


def geometry(a, b, bend):
    """Start, control and end points of the quadratic curve from state a to state b."""
    (ax, ay), (bx, by) = STATES[a][0], STATES[b][0]
    mx, my = (ax + bx) / 2, (ay + by) / 2
    length = math.hypot(bx - ax, by - ay)
    nx, ny = (ay - by) / length, (bx - ax) / length      # left of the direction of travel
    c = (mx + nx * bend, my + ny * bend)
    return clip((ax, ay), c), c, clip((bx, by), c), (nx, ny)


def point(p0, c, p2, t):
    return ((1 - t) ** 2 * p0[0] + 2 * (1 - t) * t * c[0] + t * t * p2[0],
            (1 - t) ** 2 * p0[1] + 2 * (1 - t) * t * c[1] + t * t * p2[1])


def path_d(p0, c, p2, off=(0, 0)):
    ox, oy = off
    return (f"M{p0[0] + ox:.1f},{p0[1] + oy:.1f} Q{c[0] + ox:.1f},{c[1] + oy:.1f} "
            f"{p2[0] + ox:.1f},{p2[1] + oy:.1f}")


def text(x, y, s, size=13, anchor="middle", weight="normal", fill="#222", halo=True):
    h = ' stroke="#fff" stroke-width="4" paint-order="stroke" stroke-linejoin="round"' if halo else ""
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
            f'font-weight="{weight}" fill="{fill}"{h}>{esc(s)}</text>')


def draw(lang):
    t = TEXT[lang]
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
           f'font-family="{FONT}" lang="{lang}">',
           f'<title>{esc(t["title"])}</title>',
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" '
           'markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#333"/>'
           '</marker></defs>',
           f'<rect width="{W}" height="{H}" fill="#fff"/>',
           text(W / 2, 28, t["title"], size=18, weight="bold")]
    labels = []
    # lesson colours under the edges, then the edges, then the labels, then the boxes
    for a, b, bend, en, ko, lessons, _, dashed in EDGES:
        p0, c, p2, (nx, ny) = geometry(a, b, bend)
        k = len(lessons)
        for i, les in enumerate(lessons):
            off = (i - (k - 1) / 2) * 7 if k > 1 else 7
            out.append(f'<path d="{path_d(p0, c, p2, (nx * off, ny * off))}" '
                       f'fill="none" stroke="{LESSONS[les][0]}" stroke-width="5" stroke-opacity="0.85" '
                       'stroke-linecap="round"/>')
    for a, b, bend, en, ko, lessons, (lt, ldx, ldy, anchor), dashed in EDGES:
        p0, c, p2, _ = geometry(a, b, bend)
        if (a, b) == ("SYN-RECEIVED", "LISTEN"):
            # drawn as a second, dashed line beside LISTEN -> SYN-RECEIVED
            p0, c, p2 = (p0[0] + 44, p0[1]), (c[0] + 44, c[1]), (p2[0] + 44, p2[1])
            labels.append(text(p0[0] + 8, (p0[1] + p2[1]) / 2 + 4, t["rst"], size=13, anchor="start"))
        dash = ' stroke-dasharray="6 4"' if dashed else ""
        out.append(f'<path d="{path_d(p0, c, p2)}" fill="none" stroke="#333" stroke-width="1.6"{dash} '
                   'marker-end="url(#arrow)"/>')
        label = en if lang == "en" else ko
        if label:
            x, y = point(p0, c, p2, lt)
            lines = label.split("\n")
            y0 = y + ldy + 4 - (len(lines) - 1) * 8
            for i, line in enumerate(lines):
                labels.append(text(x + ldx, y0 + i * 16, line, size=13, anchor=anchor))
    # the SYN retransmissions of a connect with no answer: a loop on SYN-SENT
    (sx, sy) = STATES["SYN-SENT"][0]
    x0, y0 = sx + BOX_W / 2, sy - 10
    out.append(f'<path d="M{x0 + 7},{y0 - 7} C{x0 + 70},{y0 - 60} {x0 + 70},{y0 + 80} {x0 + 7},{y0 + 27}" '
               f'fill="none" stroke="{LESSONS["d"][0]}" stroke-width="5" stroke-opacity="0.85"/>')
    out.append(f'<path d="M{x0},{y0} C{x0 + 60},{y0 - 50} {x0 + 60},{y0 + 70} {x0},{y0 + 20}" '
               'fill="none" stroke="#333" stroke-width="1.6" marker-end="url(#arrow)"/>')
    for i, line in enumerate(t["retry"].split("\n")):
        labels.append(text(x0 + 12, y0 + 72 + i * 16, line, size=13, anchor="start"))
    out += labels
    for name, ((x, y), ssname) in STATES.items():
        name = name.strip()
        out.append(f'<rect x="{x - BOX_W / 2}" y="{y - BOX_H / 2}" width="{BOX_W}" height="{BOX_H}" rx="9" '
                   'fill="#f4f6fa" stroke="#333" stroke-width="1.6"/>')
        out.append(text(x, y - 1, name, size=16, weight="bold", halo=False))
        out.append(text(x, y + 17, t["ss"].format(ssname), size=11, fill="#555", halo=False))
    # legend
    y = 990
    out.append(text(40, y, t["legend"], size=14, anchor="start", weight="bold", halo=False))
    for les, (colour, _) in LESSONS.items():
        y += 22
        out.append(f'<line x1="40" y1="{y - 5}" x2="80" y2="{y - 5}" stroke="{colour}" stroke-width="5"/>')
        out.append(text(90, y, t["lesson"][les], size=13, anchor="start", halo=False))
    out.append(text(W - 20, H - 8, t["key"], size=11, anchor="end", fill="#555", halo=False))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main(argv):
    check = "--check" in argv
    stale = []
    for lang in ("en", "ko"):
        path = os.path.join(OUT, f"tcp-states.{lang}.svg")
        svg = draw(lang)
        if check:
            try:
                with open(path, encoding="utf-8") as f:
                    if f.read() != svg:
                        stale.append(path)
            except OSError:
                stale.append(path)
        else:
            os.makedirs(OUT, exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(svg)
            print(f"wrote {os.path.relpath(path, ROOT)}")
    if stale:
        print("state_diagram: out of date (make state-diagram): "
              + ", ".join(os.path.relpath(p, ROOT) for p in stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
