#!/usr/bin/env python3
"""Normalise an `strace -f` log to the system calls the chapter is about.

Input: the text of `strace -f -qq -o FILE prog args` (one file per program run; every line
starts with a pid). Output: one list of normalised lines per process, the first process
first, then its children in fork order (depth first). C and Rust runs of the same scenario
are equal when these lists are equal, process by process (interleaving across processes
depends on timing, so it is never compared).

What is kept (everything else is dropped, which removes the dynamic loader and the
language runtime's own calls such as getrandom, sigaltstack, /proc/self/maps reads):
  socket, setsockopt, getsockopt, bind, listen, accept/accept4, connect, getsockname,
  select/pselect6/poll, fcntl, shutdown, recv*/send*/read/write and close on sockets,
  fork/vfork/clone/clone3 (shown as `fork()`), rt_sigaction for SIGPIPE and SIGCHLD, and
  the start-up check of fds 0-2 (see "std fds").
Sockets are fds returned by socket()/accept() of AF_INET/AF_INET6 SOCK_STREAM (and dup of
those); getaddrinfo's own sockets (AF_UNIX to nscd, netlink, UDP DNS) are not, so their
traffic is dropped. Calls that never return (killed) or are restarted by the kernel
(ERESTART*, EINTR) are dropped, as are signal-delivery lines.

What is normalised:
  fds          sock0, sock1, ... by first appearance (inherited by forked children);
               non-socket fds in poll sets stay numbers (0 = stdin); select's nfds -> N
  ports        htons(0) stays (kernel-chosen), any other port -> htons(PORT)
  pids         fork() = CHILDn, in fork order
  addresses    pointers -> 0xADDR; sockaddrs written back by accept -> {...}
  buffers      contents and lengths of data calls; results > 0 -> N
  timing       select's "left" time and poll's revents dropped; the timeout of a select
               or poll that waits for an interrupted connect (EINTR) -> {time left}; a run of two or more
               poll/select/recv/send/shutdown calls (a data loop whose length depends on
               timing) collapses to one `loop {...}` line listing its distinct calls;
               ECONNRESET/EPIPE from a data call -> one `peer gone` line
  runtime      Rust std's start-up (its SIGPIPE reset, before its SIGSEGV/SIGBUS
               stack-overflow handlers) is dropped: in the first process, kept calls before
               the last runtime marker are removed, except the std fds check below
  std fds      KEPT and compared: the check that fds 0-2 are open (poll of fds 0-2 with
               timeout 0, its result reduced to the fds with POLLNVAL, or fcntl(F_GETFD)
               of each when that poll fails) and the
               open("/dev/null")/dup that fill a closed one, in the first process before
               main. Rust's runtime makes these calls before main, the C's main makes them
               first (open_standard_fds): a program that lost them differs
  rt_sigaction only the new action: handler, mask, flags without SA_RESTORER

Usage: normalise.py TRACE [--annotate]   prints the normalised processes.
"""

import re
import sys

LINE_RE = re.compile(r"^(\d+)\s+(.*)$")
CALL_RE = re.compile(r"^([a-z_0-9]+)\((.*)\)\s+=\s+(.*)$")
DATA_CALLS = {"recv", "recvfrom", "recvmsg", "recvmmsg", "send", "sendto", "sendmsg",
              "sendmmsg", "read", "write", "readv", "writev"}
FORK_CALLS = {"fork", "vfork", "clone", "clone3"}
SOCKET_CALLS = {"setsockopt", "getsockopt", "bind", "listen", "connect", "getsockname",
                "shutdown", "fcntl", "close"}
WAIT_CALLS = {"poll", "select", "pselect6", "ppoll"}
LOOP_KINDS = WAIT_CALLS | DATA_CALLS | {"shutdown"}
KEPT_SIGNALS = ("SIGPIPE", "SIGCHLD")
STD_FDS_POLL = "[{fd=0, events=0}, {fd=1, events=0}, {fd=2, events=0}]"
STD_FDS = "stdfds"  # the kind of a start-up line that checks or fills fds 0-2


def split_args(s):
    """Splits a strace argument list at top-level commas."""
    out, depth, cur, quote, esc = [], 0, [], False, False
    for ch in s:
        if quote:
            cur.append(ch)
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                quote = False
            continue
        if ch == '"':
            quote = True
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
            continue
        cur.append(ch)
    if cur or out:
        out.append("".join(cur).strip())
    return out


def parse(text):
    """strace -f text -> (events, first pid): events are (pid, name, args, result) in file
    order, unfinished/resumed pairs joined; exits/signals dropped."""
    pending, events, first = {}, [], None
    for raw in text.splitlines():
        m = LINE_RE.match(raw)
        if not m:
            continue
        pid, rest = int(m.group(1)), m.group(2)
        if first is None:
            first = pid
        if rest.startswith("+++ killed by"):
            events.append((pid, "killed", "", ""))
            continue
        if rest.startswith(("---", "+++")):
            continue
        if rest.endswith("<unfinished ...>"):
            pending[pid] = rest[: -len("<unfinished ...>")].rstrip()
            if re.match(r"^(clone3?|v?fork)\(", rest):
                # the child may run before the parent's clone returns: its fds are the
                # parent's as they are now
                events.append((pid, "fork-start", "", ""))
            continue
        r = re.match(r"^<\.\.\. [a-z_0-9]+ resumed>(.*)$", rest)
        if r:
            rest = pending.pop(pid, "") + r.group(1)
        if rest.endswith("<unfinished ...>)") or re.search(r"= \?( <unavailable>)?$", rest):
            continue  # never returned (killed, exit_group)
        c = CALL_RE.match(rest)
        if c:
            events.append((pid, c.group(1), c.group(2), c.group(3)))
    return events, first


def result_value(res):
    m = re.match(r"^(-?\d+|0x[0-9a-f]+)", res)
    if not m:
        return None
    return int(m.group(1), 0)


class Namer:
    """Names sockets sock0, sock1, ... in order of creation across the whole trace."""

    def __init__(self):
        self.count = 0

    def new(self):
        name = "sock%d" % self.count
        self.count += 1
        return name


def norm_addr(s):
    s = re.sub(r"htons\(([1-9]\d*)\)", "htons(PORT)", s)
    s = re.sub(r"0x[0-9a-f]+", "0xADDR", s)
    return s


def strip_errmsg(res):
    return re.sub(r" \([^()]*\)$", "", res.strip())


def norm_result(res):
    res = strip_errmsg(res)
    return res


def fd_arg(fds, a):
    try:
        return fds.get(int(a))
    except ValueError:
        return None


def norm_pollfds(fds, a):
    def one(m):
        fd = int(m.group(1))
        return "fd=%s" % fds.get(fd, fd)
    return re.sub(r"fd=(-?\d+)", one, a)


def norm_fdset(fds, a):
    return re.sub(r"\d+", lambda m: fds.get(int(m.group(0)), m.group(0)), a)


def rt_sigaction_line(args):
    sig, new = args[0], args[1]
    if new == "NULL":
        return "rt_sigaction(%s, NULL)" % sig
    h = re.search(r"sa_handler=([^,}]+)", new)
    mask = re.search(r"sa_mask=(\[[^\]]*\])", new)
    flags = re.search(r"sa_flags=([^,}]+)", new)
    fl = [f for f in (flags.group(1).split("|") if flags else []) if f != "SA_RESTORER"]
    handler = h.group(1) if h else "?"
    if handler.startswith("0x"):
        handler = "HANDLER"
    return "rt_sigaction(%s, {%s, %s, %s})" % (sig, handler, mask.group(1) if mask else "[]",
                                                "|".join(fl) or "0")


def std_fds_result(res):
    """The start-up poll's answer, reduced to what it is for: which of fds 0-2 are closed
    (POLLNVAL). POLLHUP/POLLERR on a pipe depend on whether the other end has closed yet."""
    if res.strip().startswith("-1"):
        return norm_result(res)
    closed = [fd for fd, ev in re.findall(r"\{fd=(\d+), revents=([^}]*)\}", res) if "POLLNVAL" in ev]
    return "POLLNVAL on [%s]" % ", ".join(closed)


def is_runtime_marker(name, args):
    """Rust std start-up: the stack-overflow guard (sigaltstack, SIGSEGV/SIGBUS handlers)."""
    if name == "sigaltstack":
        return bool(args) and args[0] != "NULL" and "SS_DISABLE" not in args[0]
    return name == "rt_sigaction" and args and args[0] in ("SIGSEGV", "SIGBUS")


def normalise_events(events, first):
    """-> ordered list of (pid, [lines]) : first process, then children in fork order."""
    namer = Namer()
    fdmaps = {first: {}}
    lines = {first: []}  # pid -> list of (kind, text, loopable)
    children = {first: []}
    markers = {}  # first-process index after the last runtime marker before main
    seen_main = False
    parent_of = {}
    for pid, name, a, res in events:
        if name in FORK_CALLS and "CLONE_THREAD" not in a:
            v = result_value(res)
            if v is not None and v > 0:
                parent_of[v] = pid
    snapshot, killed = {}, set()
    devnull, fallback = set(), False  # fds opened on /dev/null at start-up; poll failed
    interrupted = set()  # sockets whose blocking connect() a signal interrupted
    for pid, name, a, res in events:
        if name == "fork-start":
            snapshot[pid] = dict(fdmaps.get(pid, {}))
            continue
        if name == "killed":
            killed.add(pid)
            continue
        if pid not in fdmaps and pid in parent_of:
            parent = parent_of[pid]
            fdmaps[pid] = dict(snapshot.get(parent, fdmaps.get(parent, {})))
        fds = fdmaps.setdefault(pid, {})
        out = lines.setdefault(pid, [])
        children.setdefault(pid, [])
        args = split_args(a)
        val = result_value(res)
        err = res.strip().startswith("-1") or res.strip().startswith("?")
        if "ERESTART" in res or re.match(r"^-1 EINTR", res.strip()):
            if name == "connect" and fd_arg(fds, args[0]):
                interrupted.add(fds[int(args[0])])
            continue
        if pid == first and not seen_main and is_runtime_marker(name, args):
            markers[pid] = len(out)
            continue
        text = None
        loop = False
        startup = pid == first and not seen_main
        if startup and name in ("poll", "ppoll") and args and args[0] == STD_FDS_POLL:
            out.append((STD_FDS, "%s(%s) = %s" % (name, ", ".join(args), std_fds_result(res)),
                        False))
            fallback = err
            continue
        if startup and name == "fcntl" and fallback and args[0] in ("0", "1", "2") \
                and args[1:2] == ["F_GETFD"]:
            out.append((STD_FDS, "fcntl(%s, F_GETFD) = %s" % (args[0], norm_result(res)), False))
            continue
        if startup and name in ("open", "openat") and '"/dev/null"' in args \
                and "O_RDWR" in args[-1]:
            if val in (0, 1, 2) or err:
                devnull.add(val)
                out.append((STD_FDS, "open(\"/dev/null\", O_RDWR) = %s" % norm_result(res),
                            False))
                continue
        if startup and name == "dup" and args[0] in map(str, devnull):
            out.append((STD_FDS, "dup(%s) = %s" % (args[0], norm_result(res)), False))
            continue
        if name == "socket":
            if ("AF_INET" in args[0]) and "SOCK_STREAM" in args[1] and not err:
                fds[val] = namer.new()
                text = "socket(%s) = %s" % (", ".join(args), fds[val])
            elif ("AF_INET" in args[0]) and "SOCK_STREAM" in args[1]:
                text = "socket(%s) = %s" % (", ".join(args), norm_result(res))
        elif name in ("accept", "accept4"):
            s = fd_arg(fds, args[0])
            if s:
                rest = ["NULL" if x == "NULL" else "{...}" if x.startswith("{") or x.startswith("0x")
                        else "[...]" if x.startswith("[") else x for x in args[1:]]
                if not err:
                    fds[val] = namer.new()
                    r = fds[val]
                else:
                    r = norm_result(res)
                text = "%s(%s) = %s" % (name, ", ".join([s] + rest), r)
        elif name in ("dup", "dup2", "dup3") or (name == "fcntl" and len(args) > 1
                                                   and args[1].startswith("F_DUPFD")):
            s = fd_arg(fds, args[0])
            if s and not err:
                fds[val] = s
                text = "%s(%s) = %s" % (name, ", ".join([s] + args[1:2] if name == "fcntl" else [s]), s)
            elif not err and val in fds:
                del fds[val]
        elif name in FORK_CALLS:
            if not err:
                if "CLONE_THREAD" in a:
                    text = "clone(thread)"
                else:
                    if val not in fdmaps:
                        fdmaps[val] = dict(snapshot.pop(pid, fds))
                    snapshot.pop(pid, None)
                    lines.setdefault(val, [])
                    children[pid].append(val)
                    children.setdefault(val, [])
                    text = "fork() = CHILD%d" % len(children[pid])
        elif name == "rt_sigaction":
            if args and args[0] in KEPT_SIGNALS:
                text = rt_sigaction_line(args)
        elif name in ("poll", "ppoll"):
            if any(fd_arg(fds, x) for x in re.findall(r"fd=(-?\d+)", args[0])):
                if args[0] == "[{fd=0, events=0}, {fd=1, events=0}, {fd=2, events=0}]":
                    continue
                shown = [norm_pollfds(fds, args[0])] + args[1:]
                if len(shown) > 2 and interrupted & set(re.findall(r"sock\d+", shown[0])):
                    shown[2] = "{time left}"  # ms until the interrupted connect's deadline
                text = "%s(%s) = %s" % (name, ", ".join(shown),
                                        "N" if val and val > 0 else norm_result(res).split(" ")[0])
                loop = True
            elif args and args[0] == "[{fd=0, events=0}, {fd=1, events=0}, {fd=2, events=0}]":
                continue
        elif name in ("select", "pselect6"):
            if any(fd_arg(fds, x) for x in re.findall(r"\d+", " ".join(args[1:4]))):
                shown = ["N"] + [norm_fdset(fds, x) for x in args[1:4]] + args[4:]
                if len(shown) > 4 and interrupted & set(re.findall(r"sock\d+", " ".join(shown[1:4]))):
                    shown[4] = "{time left}"  # until the interrupted connect's deadline
                r = norm_result(res).split(" ")[0]
                text = "%s(%s) = %s" % (name, ", ".join(shown), r)
                loop = True
        elif name in DATA_CALLS:
            s = fd_arg(fds, args[0])
            if s:
                flags = []
                if name in ("recvfrom", "sendto", "recv", "send") and len(args) > 3:
                    flags = [args[3]]
                elif name in ("recvmsg", "sendmsg") and len(args) > 2:
                    flags = [args[2]]
                call = "%s(%s)" % (name, ", ".join([s] + flags))
                r = norm_result(res)
                if val is not None and val > 0:
                    text, loop = call + " = N", True
                elif r.startswith("-1 EAGAIN"):
                    text, loop = call + " = -1 EAGAIN", True
                elif re.match(r"^-1 (ECONNRESET|EPIPE)", r):
                    text = "recv/send(%s) = -1 ECONNRESET|EPIPE (peer gone)" % s
                else:
                    text = "%s = %s" % (call, r)
        elif name in SOCKET_CALLS:
            s = fd_arg(fds, args[0]) if args else None
            if s:
                shown = [s] + [norm_addr(x) for x in args[1:]]
                if name == "getsockopt" or name == "fcntl":
                    r = strip_errmsg(res)
                    r = re.sub(r"^(0x[0-9a-f]+|\d+) \(flags ([^)]*)\)", r"\2", res.strip())
                else:
                    r = norm_result(res)
                text = "%s(%s) = %s" % (name, ", ".join(shown), r)
                if name == "shutdown":
                    loop = True
                if name == "close" and not err:
                    del fds[int(args[0])]
            elif name == "close" and args:
                try:
                    fds.pop(int(args[0]), None)
                except ValueError:
                    pass
        if text is None:
            # any other fd-returning call reusing a tracked number: no longer a socket
            if name in ("openat", "open", "pipe2", "eventfd2", "epoll_create1") and val in fds:
                del fds[val]
            continue
        if name == "socket" or name in ("accept", "accept4", "connect", "bind"):
            if pid == first:
                seen_main = True
        out.append((name, text, loop))
    if first in markers:
        m = markers[first]
        lines[first] = [e for e in lines[first][:m] if e[0] == STD_FDS] + lines[first][m:]
    order = []

    def walk(p):
        order.append(p)
        for c in children.get(p, []):
            walk(c)
    walk(first)
    return [(p, Proc(collapse(lines[p]), p in killed)) for p in order]


class Proc(list):
    """A process's normalised lines; `killed`: it died of a signal (the suite kills servers
    with SIGKILL when a scenario ends), so where its sequence stops depends on timing."""

    def __init__(self, lines, killed=False):
        super().__init__(lines)
        self.killed = killed


def loop_item(name, text):
    """The short form of a call inside a collapsed loop: name, socket, flags."""
    if name in ("poll", "ppoll", "select", "pselect6"):
        socks = sorted(set(re.findall(r"sock\d+", text)))
        return "%s(%s)" % (name, ", ".join(socks))
    return text.split(" = ")[0] + (" = EAGAIN" if text.endswith("EAGAIN") else "")


def collapse(entries):
    """Runs of >= 2 loop-able calls -> one `loop {...}` line (distinct calls, sorted)."""
    out, run = [], []

    def flush():
        if len(run) == 1:
            out.append(run[0][1])
        elif run:
            items = sorted({loop_item(n, t) for n, t, _ in run})
            out.append("loop {%s}" % "; ".join(items))
        run.clear()
    for e in entries:
        if e[2]:
            run.append(e)
        else:
            flush()
            out.append(e[1])
    flush()
    return out


def normalise(text):
    """strace -f text -> list of processes, each a list of normalised lines."""
    events, first = parse(text)
    if first is None:
        return []
    return [ls for _, ls in normalise_events(events, first)]


def killed(p):
    return getattr(p, "killed", False)


def loop_calls(line):
    """The calls of a line: those of a collapsed `loop {...}`, else the line's own call."""
    m = re.match(r"^loop \{(.*)\}$", line)
    return set(m.group(1).split("; ")) if m else {line.split(" = ")[0]}


def cut_short(last, other):
    """Whether `last`, the last line of a process killed by a signal, is the start of
    `other`: a loop it did not live to repeat (`recvfrom(sock1, 0) = N` where the other run
    went on to `loop {recvfrom(sock1, 0); sendto(sock1, MSG_NOSIGNAL)}`)."""
    return other.startswith("loop {") and loop_calls(last) <= loop_calls(other)


def first_difference(a, b):
    """None if equal, else (process index, line index) of the first difference.

    A process killed by a signal may stop early: its sequence need only be a prefix of the
    other's (its last line may be the first calls of a loop the other run went on with), and
    processes it had no time to fork may be missing. Processes that exited on their own are
    compared in full."""
    for p in range(max(len(a), len(b))):
        pa = a[p] if p < len(a) else None
        pb = b[p] if p < len(b) else None
        if pa is None or pb is None:
            shorter = a if pa is None else b
            if any(killed(q) for q in shorter):
                continue
            return (p, 0)
        for i in range(max(len(pa), len(pb))):
            if i >= len(pa) and killed(pa) or i >= len(pb) and killed(pb):
                break
            if i < len(pa) and i < len(pb) and pa[i] != pb[i] and (
                    i == len(pa) - 1 and killed(pa) and cut_short(pa[i], pb[i]) or
                    i == len(pb) - 1 and killed(pb) and cut_short(pb[i], pa[i])):
                break
            if i >= len(pa) or i >= len(pb) or pa[i] != pb[i]:
                return (p, i)
    return None


def process_label(i, proc=None):
    label = "process 0 (the program)" if i == 0 else "process %d (child %d in fork order)" % (i, i)
    return label + (", killed: its end depends on timing" if killed(proc) else "")


# Chapter steps, for `make trace` (a lecture tool): first matching pattern wins.
STEPS = [
    (r"^poll\(\[\{fd=0, events=0\}", "fds 0-2 open? (POLLNVAL = closed; Rust: std before main)"),
    (r"^(open\(\"/dev/null|dup\()", "a closed fd 0-2 now points at /dev/null"),
    (r"^rt_sigaction\(SIGPIPE", "SIGPIPE ignored: a closed peer gives EPIPE, not death"),
    (r"^rt_sigaction\(SIGCHLD", "SIGCHLD with SA_NOCLDWAIT: no zombies"),
    (r"^socket\(.*SOCK_NONBLOCK", "nonblocking step 1: socket(SOCK_NONBLOCK)"),
    (r"^socket\(", "step 1: socket"),
    (r"^setsockopt\(.*SO_REUSE", "step 2: setsockopt (reuse address/port)"),
    (r"^setsockopt\(.*TIMEO", "connect step 3: send/receive timeouts"),
    (r"^setsockopt\(", "setsockopt"),
    (r"^bind\(", "step 4: bind"),
    (r"^listen\(", "step 5: listen"),
    (r"^getsockname\(", "read back the bound address (port 0 -> real port)"),
    (r"^accept", "step 6: accept"),
    (r"^fork\(", "step 7: fork, one process per client"),
    (r"^connect\(.*EINPROGRESS", "nonblocking step 3-4: connect -> EINPROGRESS"),
    (r"^connect\(", "connect step 4: connect (three-way handshake)"),
    (r"^(select|pselect6)\(", "nonblocking step 7: select for writability"),
    (r"^getsockopt\(.*SO_ERROR", "nonblocking step 8: SO_ERROR holds the result"),
    (r"^fcntl\(.*F_SETFL", "nonblocking step 9: back to blocking mode"),
    (r"^fcntl\(", "fcntl: read the file status flags"),
    (r"^loop \{.*(recv|send)", "step 8: recv/send loop (length depends on timing)"),
    (r"^loop", "wait loop"),
    (r"^(recv\w*|read)\(.*= 0$", "step 8: recv -> 0, the peer sent FIN"),
    (r"^(recv\w*|send\w*|read|write)\(", "step 8: recv/send"),
    (r"^recv/send", "step 8: error, the peer reset the connection"),
    (r"^shutdown\(", "half-close: shutdown(SHUT_WR) sends FIN"),
    (r"^close\(", "close: the fd goes (step 9 when it ends a session)"),
]


def annotate(line, child=False):
    for pat, step in STEPS:
        if re.search(pat, line):
            return "%-72s # %s" % (line, step)
    return line


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 2
    text = open(argv[1], errors="replace").read()
    procs = normalise(text)
    for i, p in enumerate(procs):
        print("== %s" % process_label(i, p))
        for line in p:
            print("  " + (annotate(line, i > 0) if "--annotate" in argv else line))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
