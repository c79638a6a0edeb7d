#!/usr/bin/env python3
"""The wire tests: each lesson of `make wire` run as it is shown, and its point asserted on the
captured packets (parsed by dpkt), the traced calls and the states (tests/wire/wire.py).

    wire_check.py [--only LESSON] [--impl chapter|c|rust|all] [--bin-dir DIR]

One test per lesson and implementation (LESSON::IMPL); the lessons whose both ends are drivers
(nagle_delayed_ack, backlog_queues) run once, as ::driver. Where capture is impossible (not
root, no tcpdump, strace or dpkt) every test is reported ignored with the reason. Prints one
line per test and a closing line "N passed, N failed, N skipped"; exit 1 on any failure.
Timings are measured and shown; the only timing asserts are generous bounds on what the
lesson is about (the 5 s SO_SNDTIMEO, the select timeout, a delayed ACK not sent at once).
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wire  # noqa: E402

PROGRAM_LESSONS = ["echo_session", "close_unread_rst", "closed_port", "full_backlog",
                   "server_first", "nonblocking_connect"]
DRIVER_LESSONS = ["nagle_delayed_ack", "backlog_queues"]


class Fail(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def flags(p):
    return "".join(k for k, v in (("S", p["syn"]), ("A", p["ackf"]), ("F", p["fin"]), ("R", p["rst"])) if v)


def pkt_list(pkts):
    return "; ".join("%d>%d %s len %d" % (p["sport"], p["dport"], flags(p), p["len"]) for p in pkts)


def calls_named(rec, name, role=None):
    return [c for c in rec["calls"] if c["name"] == name and (role is None or c["role"] == role)]


def tw_local_ports(rec):
    return {local for local, _ in rec["tw"]}


# ------------------------------------------------------------------------------------------

def t_echo_session(r, rec):
    """Handshake exactly SYN, SYN-ACK, ACK; data and its echo; FIN both ways, client first (its
    shutdown); no RST; the client, which closed first, ends in TIME-WAIT, the server does not."""
    P = rec["packets"]
    srv = r.server_port
    check(len(P) >= 3, "fewer than 3 packets: %s" % pkt_list(P))
    a, b, c = P[:3]
    cport = a["sport"]
    check(flags(a) == "S" and a["dport"] == srv, "1st packet is not the client's SYN: %s" % pkt_list(P[:3]))
    check(flags(b) == "SA" and b["sport"] == srv, "2nd packet is not the SYN-ACK: %s" % pkt_list(P[:3]))
    check(flags(c) == "A" and c["sport"] == cport and c["len"] == 0,
          "3rd packet is not the bare ACK: %s" % pkt_list(P[:3]))
    check(sum(p["syn"] for p in P) == 2, "more than one SYN each way: %s" % pkt_list(P))
    rst = [p for p in P if p["rst"]]
    check(not rst, "RST on the wire (a clean session has none): %s" % pkt_list(rst))
    fins = [p for p in P if p["fin"]]
    check([f["sport"] for f in fins] == [cport, srv],
          "FINs are not one from the client, then one from the server: %s" % pkt_list(fins))
    check(fins[0]["cause"] is not None and fins[0]["cause"]["name"] == "shutdown",
          "the client's FIN is not sent by its shutdown(SHUT_WR) (the half-close)")
    up = sum(p["len"] for p in P if p["sport"] == cport)
    down = sum(p["len"] for p in P if p["sport"] == srv)
    check(up == 6 and down == 6, "data: %d bytes up, %d echoed (6 and 6 expected)" % (up, down))
    tw = tw_local_ports(rec)
    check(cport in tw, "the client (it closed first) is not in TIME-WAIT: ss showed %s" % sorted(rec["tw"]))
    check(srv not in tw, "the server's side is in TIME-WAIT, yet it closed second")
    check(r.facts.get("client_exit") == 0, "tcp_client exited %s" % r.facts.get("client_exit"))


def t_close_unread_rst(r, rec):
    """The client closes with the echo unread: RST, and no FIN, from its side; the server's
    child reads ECONNRESET."""
    P = rec["packets"]
    srv = r.server_port
    cport = P[0]["sport"]
    mine = [p for p in P if p["sport"] == cport]
    check(any(p["rst"] for p in mine), "no RST from the closing client: %s" % pkt_list(P))
    check(not any(p["fin"] for p in mine), "the closing client sent a FIN: %s" % pkt_list(mine))
    rst = next(p for p in mine if p["rst"])
    check(rst["cause"] is not None and rst["cause"]["name"] == "close",
          "the RST is not sent by the client's close()")
    check(rst.get("unread", 0) > 0, "the client had no unread data when it closed")
    reset = [c for c in rec["calls"] if c["role"].startswith("child") and "ECONNRESET" in c.get("tail", "")]
    check(reset, "the server's child never saw ECONNRESET")
    check(not any(p["rst"] for p in P if p["sport"] == srv), "the server sent an RST too")


def t_closed_port(r, rec):
    """A SYN to a bound port nobody listens on: the kernel answers RST-ACK, no SYN-ACK;
    connect() fails with ECONNREFUSED."""
    P = rec["packets"]
    port = r.server_port
    syns = [p for p in P if p["syn"] and not p["ackf"]]
    check(len(syns) == 1, "%d SYNs (1 expected): %s" % (len(syns), pkt_list(P)))
    check(not any(p["syn"] and p["ackf"] for p in P), "a SYN-ACK came from a closed port")
    rst = [p for p in P if p["rst"] and p["sport"] == port]
    check(len(rst) == 1 and rst[0]["ackf"], "no single RST-ACK from the port: %s" % pkt_list(P))
    conn = calls_named(rec, "connect", "client")
    check(conn and "ECONNREFUSED" in conn[-1]["tail"], "connect() did not fail with ECONNREFUSED")
    check(r.facts.get("client_exit") == 1, "tcp_client exited %s, not 1" % r.facts.get("client_exit"))


def t_full_backlog(r, rec):
    """The accept queue is full: the SYN is dropped, retransmitted by the kernel (at least
    twice in 5 s), never answered; connect() gives up at SO_SNDTIMEO (5 s; bound: 4-9 s)."""
    P = rec["packets"]
    syns = [p for p in P if p["syn"] and not p["ackf"]]
    check(len(syns) >= 2, "%d SYN(s), at least 2 expected: %s" % (len(syns), pkt_list(P)))
    check(len({(p["sport"], p["seq"]) for p in syns}) == 1, "the SYNs are not one connection's retries")
    check(all(p["kind"] == "retrans" for p in syns[1:]), "a repeated SYN was not taken for a retransmission")
    check(not any(p["syn"] and p["ackf"] for p in P), "a SYN-ACK came from the full listener")
    conn = calls_named(rec, "connect", "client")
    check(conn, "no connect() in the client's trace")
    took = conn[-1]["end"] - conn[-1]["start"]
    check(4.0 <= took <= 9.0, "connect() returned after %.1f s, not near the 5 s SO_SNDTIMEO" % took)
    check(r.facts.get("client_exit") == 1, "tcp_client exited %s, not 1" % r.facts.get("client_exit"))
    r.measured = "connect gave up after %.2f s; SYNs at %s s" % (
        took, ", ".join("%.2f" % (p["t"] - syns[0]["t"]) for p in syns))


def t_server_first(r, rec):
    """The server is killed mid-session: the first FIN is the server's (sent by the kernel as
    it closes the dead child's fds), the server's port is left in TIME-WAIT, and a restart
    binds the same port over it."""
    P = rec["packets"]
    srv = r.server_port
    fins = [p for p in P if p["fin"]]
    check(len(fins) == 2 and fins[0]["sport"] == srv, "the first FIN is not the server's: %s" % pkt_list(fins))
    check(fins[0]["cause"] is None, "the server's FIN is tied to a call: a killed process makes none")
    check(not any(p["rst"] for p in P), "RST on the wire: %s" % pkt_list([p for p in P if p["rst"]]))
    check(srv in tw_local_ports(rec), "no TIME-WAIT on the server's port %d: %s" % (srv, sorted(rec["tw"])))
    check(r.facts.get("restart_port") == srv, "the restart did not bind port %d" % srv)
    binds = [c for c in calls_named(rec, "bind", "server (restart)") if c["ret"] == "0"]
    check(binds, "the restarted server's bind() did not succeed")


def t_nonblocking_connect(r, rec):
    """connect() on a non-blocking socket returns EINPROGRESS at once; select() wakes when
    the handshake is done (SO_ERROR 0), or, with no SYN-ACK ever (a full listener), when the
    -n timeout runs out (1.5 s; bound 1-4 s)."""
    P = rec["packets"]
    conns = calls_named(rec, "connect")
    conns = [c for c in conns if c["role"] in ("client", "client 2")]
    check(len(conns) == 2 and all("EINPROGRESS" in c["tail"] for c in conns),
          "connect() did not return EINPROGRESS for both clients")
    sel = [c for c in rec["calls"] if c["name"] in ("select", "pselect6") and c["role"] in ("client", "client 2")]
    first = [c for c in sel if c["role"] == "client"]
    late = [c for c in sel if c["role"] == "client 2"]
    check(first and first[0]["ret"] == "1", "the first client's select() did not report the socket writable")
    so = [c for c in calls_named(rec, "getsockopt", "client") if "SO_ERROR" in c["args"]]
    check(so and "[0]" in so[0]["args"], "SO_ERROR after select() is not 0")
    full = r.full_port
    check(not any(p["syn"] and p["ackf"] and p["sport"] == full for p in P), "the full listener answered a SYN")
    check(late and late[-1]["ret"] == "0", "the second client's select() did not time out")
    took = late[-1]["end"] - late[-1]["start"]
    check(1.0 <= took <= 4.0, "select() timed out after %.2f s, not near 1.5 s" % took)
    check(r.facts.get("late_exit") == 1, "the second tcp_client exited %s, not 1" % r.facts.get("late_exit"))
    synack = [p for p in P if p["syn"] and p["ackf"]]
    ret = conns[0]["until"]
    r.measured = "connect returned EINPROGRESS %s the SYN-ACK; select timed out after %.2f s" % (
        "after" if synack and synack[0]["t"] < ret else "before", took)


def t_nagle_delayed_ack(r, rec):
    """With Nagle, the second small write waits in the kernel until the peer's ACK, and the
    peer delays that ACK (it has nothing to send): the segment is sent by the kernel, not by
    send(), right after a bare ACK that came at least 10 ms after the data it acknowledges
    (the delayed-ACK timer, 40 ms minimum). With TCP_NODELAY every byte leaves in its send()."""
    P = rec["packets"]
    srv = r.server_port
    up = [p for p in P if p["dport"] == srv and p["len"] > 0]
    n = wire.NAGLE_ROUNDS
    check(len(up) == 4 * n, "%d small segments, %d expected: %s" % (len(up), 4 * n, "; ".join(
        "%.1f ms len %d %s" % ((p["t"] - up[0]["t"]) * 1000, p["len"],
                               p["cause"]["name"] if p["cause"] else "kernel") for p in up)))
    nagle, nodelay = up[:2 * n], up[2 * n:]
    held = [p for p in nagle[1::2] if p["cause"] is None]   # the second byte of each round
    check(held, "no second write held back by Nagle (every byte left in its send())")
    stalls = []
    for p in held:
        i = P.index(p)
        ack = P[i - 1]
        check(ack["sport"] == srv and ack["len"] == 0 and ack["ackf"],
              "a held segment was not sent right after the peer's bare ACK")
        data = [q for q in P[:i - 1] if q["dport"] == srv and q["len"] > 0][-1]
        stalls.append(ack["t"] - data["t"])
    check(min(stalls) >= 0.010, "the ACK that released a held segment came after %.1f ms only"
          % (min(stalls) * 1000))
    check(all(p["cause"] is not None for p in nodelay), "with TCP_NODELAY a byte did not leave in its send()")
    r.measured = "delayed ACKs after %s ms" % ", ".join("%.0f" % (s * 1000) for s in stalls)


def t_backlog_queues(r, rec):
    """listen(2): the SYN queue holds 3 half-open connections (SYN-RECV) and then the kernel
    answers with SYN cookies (their ACKs fill the accept queue: Recv-Q 3 over 2); with both
    full, SYNs are dropped and retransmitted, never answered."""
    P = rec["packets"]
    srv = r.server_port
    b = wire.QUEUE_BACKLOG
    ss = r.facts["ss"]
    synrecv = [l for l in ss if l.startswith("SYN-RECV") and ":%d " % srv in l + " "]
    check(len(synrecv) == b + 1, "%d connections in SYN-RECV, %d expected" % (len(synrecv), b + 1))
    lst = [l for l in ss if l.startswith("LISTEN")]
    check(lst and lst[0].split()[1] == str(b + 1) and lst[0].split()[2] == str(b),
          "the listener's accept queue is not full (Recv-Q %d over Send-Q %d): %s" % (b + 1, b, lst))
    cookies = [p for p in P if p["kind"] == "cookie"]
    check(len(cookies) == b + 1, "%d SYN cookies seen on the wire, %d expected" % (len(cookies), b + 1))
    check(r.facts["nstat"]["TcpExtSyncookiesSent"] >= len(cookies), "nstat counted fewer cookies than seen")
    answered = {p["dport"] for p in P if p["syn"] and p["ackf"]}
    dropped = {p["sport"] for p in P if p["syn"] and not p["ackf"]} - answered
    check(len(dropped) == wire.QUEUE_CLIENTS - 2 * (b + 1),
          "%d connects never answered, %d expected" % (len(dropped), wire.QUEUE_CLIENTS - 2 * (b + 1)))
    check(any(p["kind"] == "retrans" and p["sport"] in dropped for p in P), "no dropped SYN was retransmitted")
    check(r.facts["nstat"]["TcpExtListenOverflows"] >= len(dropped), "nstat counted fewer overflows than drops")


TESTS = {name: globals()["t_" + name] for name in wire.LESSON_NAMES}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", choices=wire.LESSON_NAMES)
    ap.add_argument("--impl", default="all", choices=["chapter", "c", "rust", "all"])
    ap.add_argument("--bin-dir")
    args = ap.parse_args()
    impls = ["chapter", "c", "rust"] if args.impl == "all" else [args.impl]
    plan = []
    for lesson in wire.LESSON_NAMES:
        if args.only and lesson != args.only:
            continue
        if lesson in DRIVER_LESSONS:
            plan.append((lesson, "driver"))
        else:
            plan += [(lesson, i) for i in impls]
    why = wire.requirements()
    passed = failed = skipped = 0
    started = time.monotonic()
    for lesson, impl in plan:
        name = "%s::%s" % (lesson, impl)
        if why:
            print("test %s ... ignored (%s)" % (name, why))
            skipped += 1
            continue
        t0 = time.monotonic()
        try:
            r, rec = wire.run_lesson(lesson, "c" if impl == "driver" else impl,
                                     args.bin_dir, lang="en")
            r.measured = ""
            try:
                TESTS[lesson](r, rec)
            except Fail as e:
                if r.capture.dropped:
                    raise Fail("%s (tcpdump reported %d packets dropped by kernel)"
                               % (e, r.capture.dropped))
                raise
            print("test %s ... ok (%.1f s)%s" % (name, time.monotonic() - t0,
                                                 ": " + r.measured if r.measured else ""))
            passed += 1
        except (Fail, RuntimeError, wire.Missing) as e:
            print("test %s ... FAILED (%.1f s): %s" % (name, time.monotonic() - t0, e))
            failed += 1
    print("\nwire-check: %d passed, %d failed%s in %.0f s" % (
        passed, failed, ", %d skipped" % skipped if skipped else "", time.monotonic() - started))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
