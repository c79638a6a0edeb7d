"""Judging one lab: the student's function built in a copy of the tree, its twin tests and
suite scenarios run against that build, each scenario under strace and its calls compared
with the reference's, and a verdict per chapter step.

Two copies of the working tree (tests/tooling/tree.py), each with its own cargo target:
  build/lab-work/student    the reference tree with the student's function of this lab in it:
                            its programs and its twin tests are the ones judged; the suite
                            binary is built here once and kept (build/lab-work/suite/) while
                            the suite's own sources are unchanged: it runs the programs of a
                            directory (SUITE_PROGRAMS_DIR), the student's and the reference's
  build/lab-work/reference  every lab function back to the reference (the committed version
                            when the student edited the file without make lab-start): its
                            programs make the reference's traces
The reference's traces are kept (build/lab-work/traces/) under a hash of the reference's
sources, so a check after the first runs each scenario once, for the student only. Each test
process runs in a session of its own; when it ends, everything of that session is killed and
reaped (this process is the subreaper of orphans), so no process outlives a check.

How a step is judged (labs.toml says which calls each step makes, which steps each check can
blame, and which failure messages name a step):
  * calls: in each scenario the student's normalised trace is compared with the reference's
    (tests/trace/normalise.py), process by process; the steps of the calls the two have in
    common (aligned as diff aligns lines) are seen equal, and the call at the first difference
    (a forked child's, when the parent differs too) names the step that differs; how each
    process ended (exit status, stderr lines that are none of the reference's messages, calls
    on a closed fd) is compared too, and laid on the lab's `process` step;
  * checks: a failed check whose message matches one of its blame rules is laid on that step;
    else on the first of its steps whose calls differ or that another failed check names,
    else the first whose calls were not seen equal, else the first it exercises that makes no
    call of its own, else its last;
  * a step fails when a difference or a failed check is laid on it. A step with evidence of
    its own (a difference in a scenario not failed on an earlier step, or a message that names
    it) stays failed; one failed only by default is not judged yet when another step has such
    evidence or an earlier step fails. A step passes when its calls were seen equal or every
    check that exercises it passed; else it is not judged yet.
"""
import concurrent.futures
import difflib
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unicodedata

import labs
import tree

sys.path.insert(0, os.path.join(tree.ROOT, "tests", "trace"))
import normalise  # noqa: E402

WORK = labs.WORK
# A check that waits for something the function never does (a connection, a close) ends at its
# deadline; the reference's slowest check here takes 5.4 s (a 5 s connect timeout), so 12 s is
# more than twice that, and short enough to run on every save. The suite's own deadline (60 s)
# and the twin tests' FAILSAFE (30 s) are for whole runs, too long here.
SUITE_DEADLINE = 12   # seconds per scenario
TWIN_DEADLINE = 12    # seconds per twin test
JOBS = 8              # test processes at once: they mostly wait on sockets and timers
DURATIONS = os.path.join(WORK, "durations.json")  # each check's last run time: slowest first
# The sources whose change changes the reference's traces.
REFERENCE_SOURCES = ("c_reference/", "src/", "tests/suite/", "tests/cprogs/",
                     "tests/pitfalls/pitfalls.toml", "Cargo.toml", "Cargo.lock", "Makefile")


class Outcome:
    """One check's result: passed (None: it could not run), the message, seconds."""

    def __init__(self, check, passed, message="", seconds=0.0):
        self.check = check
        self.passed = passed
        self.message = message
        self.seconds = seconds


# ------------------------------------------------------------------------------------------
# Trees and builds
# ------------------------------------------------------------------------------------------

# Each copy of the tree has a cargo target directory of its own: cargo names a path package's
# artifacts by its path relative to the workspace (twins-<hash> is the same name in every
# copy), so two copies sharing one target would overwrite each other's test binaries.


def programs_of(root, lang, target):
    """The programs of one language built from the tree at `root`."""
    return tree.build_programs(root, lang, target)


class Reference:
    """The reference: a copy of the tree with every lab function put back (its reference copy
    while a lab is in progress, else the committed or working tree's version), and its own
    programs, for its traces. The suite binary runs any implementation's programs from a
    directory, so a student's check builds it once in the student's copy (set_suite) and the
    reference's traces use that one; `make labs-check` builds it here."""

    def __init__(self, files, name="reference"):
        self.files = files
        self.name = name
        self.root = os.path.join(WORK, name, "tree")
        self.target = os.path.join(WORK, name, "target")
        self._suite = None
        self._programs = {}
        self._lock = threading.Lock()

    def sync(self):
        tree.sync(self.root, self.files)

    def set_suite(self, path):
        self._suite = path

    def suite(self):
        with self._lock:
            if self._suite is None:
                self._suite = tree.build_suite(self.root, self.target)
            return self._suite

    def programs(self, lang):
        with self._lock:
            if lang not in self._programs:
                self._programs[lang] = programs_of(self.root, lang, self.target)
            return self._programs[lang]

    def twins(self):
        return tree.build_twins(self.root, self.target)

    def key(self, lang):
        """A hash of the reference's sources: its traces are valid while it holds."""
        h = hashlib.sha256(lang.encode())
        for rel in sorted(tree.tracked_files(tree.ROOT)):
            if rel.startswith(REFERENCE_SOURCES):
                text = self.files.get(rel)
                data = text.encode() if text is not None else \
                    open(os.path.join(tree.ROOT, rel), "rb").read()
                h.update(rel.encode() + b"\0" + hashlib.sha256(data).digest())
        return h.hexdigest()[:16]


class Student:
    """A copy of the tree holding one version of the function under test, and its builds."""

    def __init__(self, name):
        self.name = name
        self.root = os.path.join(WORK, name, "tree")
        self.target = os.path.join(WORK, name, "target")

    def sync(self, files):
        tree.sync(self.root, files)

    def programs(self, lang):
        return programs_of(self.root, lang, self.target)

    def twins(self):
        return tree.build_twins(self.root, self.target)

    def suite(self):
        """The suite binary: built once in this copy and kept (build/lab-work/suite/) while the
        suite's own sources are unchanged. It runs the programs of a directory, so an edit of
        the function does not change it; rebuilt, it would recompile every C program set the
        suite carries (tests/cprogs) after every C edit."""
        h = hashlib.sha256()
        for rel in sorted(tree.tracked_files(tree.ROOT)):
            if rel.startswith(SUITE_SOURCES) and os.path.exists(os.path.join(self.root, rel)):
                with open(os.path.join(self.root, rel), "rb") as f:
                    h.update(rel.encode() + b"\0" + hashlib.sha256(f.read()).digest())
        kept = os.path.join(WORK, "suite", "suite-" + h.hexdigest()[:16])
        if not os.path.exists(kept):
            built = tree.build_suite(self.root, self.target)
            os.makedirs(os.path.dirname(kept), exist_ok=True)
            for old in os.listdir(os.path.dirname(kept)):
                os.remove(os.path.join(os.path.dirname(kept), old))
            shutil.copy2(built, kept + ".tmp")
            os.replace(kept + ".tmp", kept)
        return kept


# What the suite binary is built from, apart from the code under test.
SUITE_SOURCES = ("tests/suite/", "tests/cprogs/", "tests/pitfalls/pitfalls.toml", "Cargo.toml",
                 "Cargo.lock", "build.rs")


# ------------------------------------------------------------------------------------------
# Running tests
# ------------------------------------------------------------------------------------------

ESCAPE = re.compile(r"\\(?:x[0-9a-fA-F]{2}|u\{[0-9a-fA-F]{1,6}\}|[0-7]{3})")
LONG_LINE = 240


def binary_excerpt(tokens):
    """A short hex excerpt of a payload with its length: '<N bytes: 8f 00 12 ... (hex)>';
    `tokens` are two-digit hex strings, '??' for a byte the message had already replaced
    (U+FFFD: not valid UTF-8)."""
    head = " ".join(tokens[:16])
    return "<%d bytes: %s%s>" % (len(tokens), head, " ..." if len(tokens) > 16 else "")


def tidy_line(line):
    """A line of a failure message fit for a terminal: a payload of binary bytes (shown raw,
    as U+FFFD, or as Debug escapes) becomes a short hex excerpt with its length ('??': a byte
    the message had already replaced), and a line longer than LONG_LINE characters is cut,
    with its length said."""
    raw = [c for c in line if (ord(c) < 32 and c not in "\t") or c == "\ufffd"]
    escapes = ESCAPE.findall(line)
    if len(raw) + len(escapes) >= 8:
        firsts = [line.index(raw[0])] if raw else []
        if escapes:
            firsts.append(line.index(escapes[0]))
        start = min(firsts)
        prefix = line[:start][:80]
        tokens, i = [], start
        while i < len(line):
            e = ESCAPE.match(line, i)
            if e:
                tok = e.group(0)
                if tok.startswith("\\x"):
                    tokens.append(tok[2:].lower())
                elif tok.startswith("\\u"):
                    tokens.extend("%02x" % b for b in chr(int(tok[3:-1], 16)).encode("utf-8"))
                else:
                    tokens.append("%02x" % (int(tok[1:], 8) & 0xff))
                i = e.end()
                continue
            c = line[i]
            tokens.extend(["??"] if c == "\ufffd" else ["%02x" % b for b in c.encode("utf-8")])
            i += 1
        return prefix + binary_excerpt(tokens) + " (binary data)"
    if len(line) > LONG_LINE:
        return line[:LONG_LINE] + " ... (%d characters)" % len(line)
    return line


def failure_message(out, limit=25):
    """The part of a libtest run's output that says why its test failed."""
    lines = out.splitlines()
    start = next((i for i, l in enumerate(lines) if l.startswith("---- ")), None)
    if start is None:
        keep = [l for l in lines if l.strip() and not l.startswith(("running ", "test result"))]
    else:
        keep = []
        for l in lines[start + 1:]:
            if l == "failures:":
                break
            if l.startswith("note: run with `RUST_BACKTRACE") or \
                    re.match(r"^thread '.*' \(\d+\) panicked at ", l):
                continue
            keep.append(l)
    while keep and not keep[0].strip():
        keep.pop(0)
    while keep and not keep[-1].strip():
        keep.pop()
    if len(keep) > limit:
        keep = keep[:limit] + ["... (%d more lines)" % (len(keep) - limit)]
    return "\n".join(tidy_line(l) for l in keep)


def set_subreaper():
    """Makes this process the reaper of every orphan among its descendants (prctl(2),
    PR_SET_CHILD_SUBREAPER): a server child left running by a test (it never exits), or the
    stracer that strace -DD detaches, becomes our child instead of init's, so that
    Runner.cleanup can kill and reap it; nothing a check starts outlives the check."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def session_members(sid):
    """The pids of the processes whose session is `sid` (/proc/PID/stat, field 6)."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[3]) == sid and fields[0] != "Z":
            out.append(int(name))
    return out


def reap_orphans(keep=()):
    """Reaps every child of ours that has ended and is not one of `keep` (pids that
    subprocess waits for itself): the orphans a subreaper inherits."""
    me, mine = os.getpid(), os.getsid(0)
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) in keep:
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        # Only orphans of a test's session: the builds this process runs (make, cargo) are in
        # its own session, and subprocess waits for them itself.
        if int(fields[1]) == me and fields[0] == "Z" and int(fields[3]) != mine:
            try:
                os.waitpid(int(name), os.WNOHANG)
            except ChildProcessError:
                pass


class Runner:
    """Runs test processes, each in a session of its own (start_new_session), so that one that
    overruns its deadline, or every one still running when the answer is known, is killed with
    whatever it started. Whatever a test started is killed when the test ends, however it ends:
    the programs the suite starts lead process groups of their own, and strace -DD detaches,
    but all stay in the test's session, so every process of that session is killed, and the
    orphans among them (this process is their subreaper) are reaped."""

    live = set()  # pids of every Runner's running test processes (not to be reaped by others)
    live_lock = threading.Lock()

    def __init__(self):
        self.lock = threading.Lock()
        self.running = set()
        self.stopped = False

    def run(self, cmd, env, deadline):
        """(exit status or None when killed, output, seconds)."""
        full = dict(os.environ)
        full.update(env)
        started = time.monotonic()
        with self.lock:
            if self.stopped:
                return None, "", 0.0
            with Runner.live_lock:
                p = subprocess.Popen(cmd, cwd=tree.ROOT, env=full, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, errors="replace",
                                     start_new_session=True)
                Runner.live.add(p.pid)
            self.running.add(p)
        try:
            out, _ = p.communicate(timeout=deadline)
            status = p.returncode
        except subprocess.TimeoutExpired:
            self.kill(p)
            out, _ = p.communicate()
            status = None
        self.cleanup(p.pid)
        with self.lock:
            self.running.discard(p)
        return status, out, time.monotonic() - started

    @staticmethod
    def cleanup(sid):
        """Kills what is left of the session `sid` (the test process has been waited for):
        the programs first, then, once they are gone, the stracers that traced them (so their
        traces end complete), and reaps the orphans."""
        deadline = time.monotonic() + 3.0
        while True:
            left = session_members(sid)
            tracers = [pid for pid in left if Runner.is_strace(pid)]
            others = [pid for pid in left if pid not in tracers]
            for pid in others if others else (tracers if time.monotonic() > deadline else []):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            with Runner.live_lock:
                reap_orphans(Runner.live)
            if not left:
                break
            time.sleep(0.02)
        with Runner.live_lock:
            Runner.live.discard(sid)

    @staticmethod
    def is_strace(pid):
        try:
            with open("/proc/%d/comm" % pid) as f:
                return f.read().strip() == "strace"
        except OSError:
            return False

    @staticmethod
    def kill(p):
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        for pid in session_members(p.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def stop(self):
        """Kills every process still running; no new one starts."""
        with self.lock:
            self.stopped = True
            for p in self.running:
                self.kill(p)


def cleanup_selftest():
    """Proves Runner's cleanup: a test process that leaves an orphan behind (a background
    process whose parent has gone, as a server child that never exits) and one that overruns
    its deadline leave nothing running and no zombie. Returns a problem, or None."""
    set_subreaper()
    runner = Runner()
    sids = []
    orphan = "(sleep 300 </dev/null >/dev/null 2>&1 &)"
    for cmd, deadline in ((["sh", "-c", orphan + "; echo started"], 10),
                          (["sh", "-c", orphan + "; exec sleep 300"], 1)):
        holder = {}
        real_cleanup = Runner.cleanup

        def spy(sid, real=real_cleanup, holder=holder):
            holder["sid"] = sid
            holder["before"] = len(session_members(sid))
            real(sid)
        Runner.cleanup = staticmethod(spy)
        try:
            runner.run(cmd, {}, deadline)
        finally:
            Runner.cleanup = staticmethod(real_cleanup)
        sids.append((holder.get("sid"), holder.get("before", 0)))
    if sids[0][0] is None or sids[0][1] == 0:
        return "cleanup self-test: the test process left nothing behind to clean up"
    for sid, _ in sids:
        left = session_members(sid)
        if left:
            return "cleanup self-test: processes %s of a finished test still run" % left
    me = os.getpid()
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open("/proc/%s/stat" % name) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == me and fields[0] == "Z" and int(fields[3]) in \
                    [sid for sid, _ in sids]:
                return "cleanup self-test: zombie %s left unreaped" % name
    return None


def run_one(runner, cmd, env, what, deadline):
    """Runs one test process that runs exactly one test: (passed, or None when it could not
    run; the message; seconds)."""
    status, out, seconds = runner.run(cmd, env, deadline)
    if status is None and runner.stopped:
        return None, "stopped: an earlier check already failed", seconds
    if status is None:
        return False, ("no result within %d s: it waits for something the function does not do "
                       "(close its fd? answer? return?)" % deadline), seconds
    if re.search(r"\b1 ignored\b", out):
        return None, "%s was skipped: %s" % (what, failure_message(out) or out[-500:]), seconds
    if not re.search(r"\b1 (passed|failed)\b", out):
        return None, "%s did not run exactly one test:\n%s" % (what, out[-1500:]), seconds
    return status == 0, ("" if status == 0 else failure_message(out)), seconds


def run_twin(runner, twins_bin, name, lang, extra=None):
    env = {"RUST_BACKTRACE": "0"}
    env.update(extra or {})
    return run_one(runner, [twins_bin, "--exact", "%s::%s" % (name, lang), "--test-threads", "1"],
                   env, "twin test %s" % name, TWIN_DEADLINE)


def run_scenario(runner, suite_bin, name, lang, programs=None, strace_dir=None, extra=None):
    env = {"IMPL": lang, "SUITE_DEADLINE_SECS": str(SUITE_DEADLINE)}
    env.update(extra or {})
    if programs:
        env["SUITE_PROGRAMS_DIR"] = programs
    if strace_dir:
        env["SUITE_STRACE_DIR"] = strace_dir
    return run_one(runner, [suite_bin, "--exact", "%s::%s" % (name, lang)], env,
                   "scenario %s" % name, SUITE_DEADLINE + 2)


def trace_files(d, scenario):
    """{(program, seq): path} of a scenario's traces in directory d."""
    out = {}
    if not os.path.isdir(d):
        return out
    prefix = scenario + "."
    for f in os.listdir(d):
        if f.startswith(prefix) and f.endswith(".trace"):
            _, _, prog, seq = f[: -len(".trace")].rsplit(".", 3)
            out[(prog, int(seq))] = os.path.join(d, f)
    return out


def reference_traces(runner, ref, lang, scenarios, pool):
    """Starts the reference's scenarios that have no kept traces yet, on `pool`; returns
    (the traces' directory, the futures, {scenario: why} filled with any the reference itself
    failed, once the futures are done)."""
    d = os.path.join(WORK, "traces", "%s-%s-%s" % (ref.name, lang, ref.key(lang)))
    os.makedirs(d, exist_ok=True)
    for old in os.listdir(os.path.dirname(d)):  # traces of an older reference
        if re.match(r"^%s-%s-[0-9a-f]{16}$" % (ref.name, lang), old) and \
                old != os.path.basename(d):
            shutil.rmtree(os.path.join(os.path.dirname(d), old), ignore_errors=True)
    todo = [s for s in scenarios if not os.path.exists(os.path.join(d, s + ".done"))]
    errors = {}

    def one(s):
        tmp = tempfile.mkdtemp(prefix="tmp-%s-" % lang, dir=os.path.join(WORK, "traces"))
        passed, msg, _ = run_scenario(runner, ref.suite(), s, lang, ref.programs(lang),
                                      strace_dir=tmp)
        if passed:
            for f in os.listdir(tmp):
                os.replace(os.path.join(tmp, f), os.path.join(d, f))
            open(os.path.join(d, s + ".done"), "w").close()
        else:
            errors[s] = msg or "skipped"
        shutil.rmtree(tmp, ignore_errors=True)

    return d, [pool.submit(one, s) for s in todo], errors


# ------------------------------------------------------------------------------------------
# Steps of calls
# ------------------------------------------------------------------------------------------

def pattern(p):
    """A labs.toml call pattern -> (process kind or None, compiled regex)."""
    m = re.match(r"^(main|child):(.*)$", p)
    return (m.group(1), re.compile(m.group(2))) if m else (None, re.compile(p))


def loop_items(line):
    m = re.match(r"^loop \{(.*)\}$", line)
    return m.group(1).split("; ") if m else None


def steps_of(lab, line, kind):
    """The steps whose calls (or call arguments) this normalised line shows."""
    found = []
    items = loop_items(line) or [line]
    for step in lab.steps:
        for p in step.trace + step.args:
            k, rx = pattern(p)
            if (k is None or k == kind) and any(rx.search(i) for i in items):
                found.append(step.id)
                break
    return found


def step_of_difference(lab, ref_line, mine, kind):
    """The step a differing pair of lines (either may be None) belongs to, or None."""
    if ref_line is not None and mine is not None:
        for step in lab.steps:
            for p in step.args:
                k, rx = pattern(p)
                if k is not None and k != kind:
                    continue
                a, b = rx.search(ref_line), rx.search(mine)
                if a and b and a.group(1) != b.group(1):
                    return step.id
        ra, rb = loop_items(ref_line), loop_items(mine)
        if ra is not None or rb is not None:
            ra, rb = ra or [ref_line], rb or [mine]
            differing = [i for i in ra if i not in rb] + [i for i in rb if i not in ra]
            for item in differing:
                for step in lab.steps:
                    for p in step.trace:
                        k, rx = pattern(p)
                        if (k is None or k == kind) and rx.search(item):
                            return step.id
    for line in (ref_line, mine):
        if line is None:
            continue
        for item in loop_items(line) or [line]:
            for step in lab.steps:
                for p in step.trace:
                    k, rx = pattern(p)
                    if (k is None or k == kind) and rx.search(item):
                        return step.id
    return None


class Difference:
    """The first difference of one program run's calls: where, and the two sequences."""

    def __init__(self, scenario, program, ref, mine, at):
        self.scenario, self.program, self.ref, self.mine, self.at = scenario, program, ref, mine, at

    def show(self, width=58, context=3):
        p, i = self.at
        ra = self.ref[p] if p < len(self.ref) else []
        rb = self.mine[p] if p < len(self.mine) else []
        rows = ["    %s in %s, %s:" % (self.program, self.scenario, normalise.process_label(p)),
                "       %-*s | %s" % (width, "reference", "yours")]
        lo, hi = max(0, i - context), min(max(len(ra), len(rb)), i + context + 1)
        if lo > 0:
            rows.append("       %-*s |" % (width, "..."))
        cut = lambda s: s if len(s) <= width else s[: width - 3] + "..."
        for k in range(lo, hi):
            a = ra[k] if k < len(ra) else ("(nothing)" if k == i else "")
            b = rb[k] if k < len(rb) else ("(nothing)" if k == i else "")
            rows.append("    %s %-*s | %s" % (">>" if k == i else "  ", width, cut(a), cut(b)))
        if p >= len(self.mine):
            rows.append("    >> (your run has no such process)")
        elif p >= len(self.ref):
            rows.append("    >> (the reference has no such process)")
        return "\n".join(rows)


STRACE_LINE = re.compile(r"^(\d+)\s+(.*)$")


def unescape(text):
    """An strace string argument ("...\\n...") as text."""
    try:
        return bytes(text, "utf-8").decode("unicode_escape").encode("latin-1").decode(
            "utf-8", "replace")
    except (UnicodeDecodeError, UnicodeEncodeError):
        return text


def process_facts(text):
    """What the normalised trace leaves out about each process of a raw strace -f log:
    {pid: {"exit": code, "killed by SIG..." or None, "stderr": [lines], "ebadf": [calls]}},
    and the first pid (the program's own process)."""
    facts, first = {}, None
    for raw in text.splitlines():
        m = STRACE_LINE.match(raw)
        if not m:
            continue
        pid, rest = int(m.group(1)), m.group(2)
        first = first if first is not None else pid
        f = facts.setdefault(pid, {"exit": None, "stderr": [], "ebadf": []})
        e = re.match(r"^\+\+\+ exited with (\d+) \+\+\+", rest)
        if e:
            f["exit"] = int(e.group(1))
            continue
        k = re.match(r"^\+\+\+ killed by (SIG\w+)", rest)
        if k:
            f["exit"] = "killed by " + k.group(1)
            continue
        w = re.match(r'^write\(2, "((?:[^"\\]|\\.)*)"', rest)
        if w:
            f["stderr"].extend(l for l in unescape(w.group(1)).splitlines() if l.strip())
        b = re.match(r"^(\w+)\((.*)= -1 EBADF", rest)
        if b:
            f["ebadf"].append("%s(%s...) = -1 EBADF" % (b.group(1), b.group(2)[:20]))
    return facts, first


def message_key(line):
    """A stderr line as the program's own message: what comes before its first ': ' (the
    call that failed: 'accept', 'recv'), or the line with its numbers out. A peer's reset
    is seen by whichever of recv and send runs after it arrives (a race the scenario does not
    decide), so those two are one message for it."""
    head, _, rest = line.partition(": ")
    if not rest:
        return re.sub(r"\d+", "N", line)
    if head in ("recv", "send") and rest in ("Connection reset by peer", "Broken pipe"):
        return "recv or send: the peer reset"
    return head


class FactDifference:
    """A difference in how a process of one program run ended or what it said on stderr,
    which the normalised calls do not show: an exit status, a line on stderr that is not one
    of the reference's messages in this scenario, a call on a closed fd (EBADF)."""

    def __init__(self, scenario, program, what):
        self.scenario, self.program, self.what = scenario, program, what

    def show(self, width=58, context=3):
        return "    %s in %s:\n    >> %s" % (self.program, self.scenario, self.what)


def fact_differences(scenario, program, ref_text, mine_text):
    """[FactDifference] of one program run (both raw strace logs)."""
    rf, r0 = process_facts(ref_text)
    mf, m0 = process_facts(mine_text)
    out = []

    def exits(facts, first, child):
        return {f["exit"] for p, f in facts.items() if (p != first) == child and
                f["exit"] is not None and f["exit"] != "killed by SIGKILL"}
    for child, who in ((False, "the program"), (True, "a child process")):
        extra = exits(mf, m0, child) - exits(rf, r0, child)
        ref_exits = exits(rf, r0, child)
        if extra and (child or ref_exits):
            out.append(FactDifference(scenario, program, "%s %s (the reference's: %s)" % (
                who, ", ".join(sorted("exited with status %s" % x if isinstance(x, int) else x
                                      for x in map(str, extra))),
                ", ".join(sorted(str(x) for x in ref_exits)) or "none ends on its own")))
    ref_msgs = {message_key(l) for f in rf.values() for l in f["stderr"]}
    for p, f in mf.items():
        for line in f["stderr"]:
            if message_key(line) not in ref_msgs:
                out.append(FactDifference(scenario, program, "%s wrote \"%s\" on stderr, not one "
                                          "of the reference's messages here" % (
                                              "the program" if p == m0 else "a child process",
                                              line[:100])))
                break
    ref_bad = {c.split("(")[0] for f in rf.values() for c in f["ebadf"]}
    for p, f in mf.items():
        bad = [c for c in f["ebadf"] if c.split("(")[0] not in ref_bad]
        if bad:
            out.append(FactDifference(scenario, program, "%s called %s on a closed fd: %s" % (
                "the program" if p == m0 else "a child process", bad[0].split("(")[0], bad[0])))
    return out


def first_difference(ref, mine):
    """The first difference of two runs (normalise.first_difference), except that when the
    program's own process differs first and a forked child differs too, the child's: its calls
    are few and fixed (close the listening socket, serve, exit), so a child that differs is
    the mistake, and the parent's later accepts differ because of it (a child that goes back
    to accept() takes connections the parent would have had)."""
    at = normalise.first_difference(ref, mine)
    if at is None or at[0] != 0:
        return at
    for p in range(1, min(len(ref), len(mine))):
        d = normalise.first_difference([ref[p]], [mine[p]])
        if d is not None:
            return (p, d[1])
    return at


def compare_traces(lab, scenario, ref_dir, mine_dir):
    """-> (steps seen equal, [(step or None, Difference)]) for one scenario."""
    ok, diffs = set(), []
    ref_files, my_files = trace_files(ref_dir, scenario), trace_files(mine_dir, scenario)
    for key in sorted(set(ref_files) | set(my_files)):
        prog = key[0]
        load = lambda path: normalise.normalise(open(path, errors="replace").read()) if path else []
        ref, mine = load(ref_files.get(key)), load(my_files.get(key))
        at = first_difference(ref, mine)
        mine_prog = prog in lab.programs
        for p, proc in enumerate(ref):
            if not mine_prog or p >= len(mine):
                continue
            kind = "main" if p == 0 else "child"
            # Calls seen equal: aligned, so one missing call does not hide the equal ones after it.
            same = difflib.SequenceMatcher(None, list(proc), list(mine[p]), autojunk=False)
            for block in same.get_matching_blocks():
                for line in proc[block.a:block.a + block.size]:
                    ok.update(steps_of(lab, line, kind))
        if at is not None:
            p, i = at
            kind = "main" if p == 0 else "child"
            r = ref[p][i] if p < len(ref) and i < len(ref[p]) else None
            m = mine[p][i] if p < len(mine) and i < len(mine[p]) else None
            step = step_of_difference(lab, r, m, kind) if mine_prog else None
            diffs.append((step, Difference(scenario, prog, ref, mine, at)))
        elif mine_prog and key in ref_files and key in my_files:
            read = lambda path: open(path, errors="replace").read()
            for d in fact_differences(scenario, prog, read(ref_files[key]), read(my_files[key])):
                diffs.append((lab.process, d))
    return ok, diffs


# ------------------------------------------------------------------------------------------
# Verdicts
# ------------------------------------------------------------------------------------------

class Verdict:
    """Per step: 'pass', 'FAIL' or 'not judged'; the evidence; the pseudo step 'other' for
    differing calls that no step names."""

    def __init__(self, lab, outcomes, trace_ok, diffs):
        self.lab, self.outcomes = lab, outcomes
        order = [s.id for s in lab.steps]
        traced = {s.id for s in lab.steps if s.trace or s.args}
        self.diffs = {}   # step -> [Difference]
        self.other = []   # [Difference]
        by_scenario = {c.name: c for c in lab.checks if c.kind == "suite"}
        for step, d in diffs:
            if step is None:
                steps = by_scenario.get(d.scenario).steps if d.scenario in by_scenario else []
                step = steps[0] if len(steps) == 1 else None
            if step is None:
                self.other.append(d)
            else:
                self.diffs.setdefault(step, []).append(d)
        seen_ok = trace_ok - set(self.diffs)
        self.blamed = {}  # step -> [Outcome]
        # Steps with evidence of their own: calls that differ, or a failure message that names
        # them (a blame rule). A failure laid on a step only by default may be a consequence
        # of an earlier step's mistake.
        self.direct = set()
        culprit_of = {}
        # Failures whose message names a step first (they are evidence), then the others,
        # those that exercise fewer steps first.
        named_step = lambda o: next((sid for rx, sid in o.check.blame
                                     if rx.search(o.message or "")), None)
        failed = sorted([o for o in outcomes if o.passed is False],
                        key=lambda o: (named_step(o) is None, len(o.check.steps)))
        for o in failed:
            steps = sorted(o.check.steps, key=order.index)
            named = next((sid for rx, sid in o.check.blame if rx.search(o.message or "")), None)
            if named:
                culprit = named
                self.direct.add(named)
            elif any(s in self.diffs or s in self.blamed for s in steps):
                culprit = next(s for s in steps if s in self.diffs or s in self.blamed)
            else:
                culprit = next((s for s in steps if s in traced and s not in seen_ok), None) \
                    or next((s for s in steps if s not in traced), None) or steps[-1]
            self.blamed.setdefault(culprit, []).append(o)
            culprit_of[o.check.name] = culprit
        # A difference in calls is evidence of its own step, unless its scenario failed and
        # that failure is laid on an earlier step (the server that should have stopped at
        # bind() went on: the calls after it differ because of the earlier mistake).
        for step, ds in self.diffs.items():
            for d in ds:
                c = culprit_of.get(d.scenario)
                if c is None or order.index(c) >= order.index(step):
                    self.direct.add(step)
        self.state = {}
        for s in order:
            mine = [o for o in outcomes if s in o.check.steps]
            if s in self.diffs or s in self.blamed:
                self.state[s] = "FAIL"
            elif s in seen_ok or (mine and all(o.passed for o in mine)):
                self.state[s] = "pass"
            else:
                self.state[s] = "not judged"
        # A step whose failure has no evidence of its own (only a failed check laid on it by
        # default) is not judged yet when another step has evidence of its own, or when an
        # earlier step fails: that mistake explains it as well (a UDP socket fails every later
        # step's checks; "Connected to" on stdout breaks a scenario that exercises connect()),
        # and a teacher points at the mistake that is there.
        failing = [s for s in order if self.state[s] == "FAIL"]
        for s in failing:
            if s not in self.direct and (self.direct & set(failing) or s != failing[0]):
                self.state[s] = "not judged"
        self.skipped = [o for o in outcomes if o.passed is None]

    def passed(self):
        return all(o.passed for o in self.outcomes) and not self.diffs and not self.other

    def first_failing(self):
        return next((s for s in self.lab.steps if self.state[s.id] == "FAIL"), None)


# ------------------------------------------------------------------------------------------
# The report
# ------------------------------------------------------------------------------------------

# The book's pages a step's "walkthrough" reference may name, in the chapter's order, each with
# the section number the registry's `N / HEADING` form uses: 1 the server, 2 the blocking client,
# 3 the non-blocking client, 5 the HTTP client (resolve_ipv4 is on the helpers' page).
BOOK_PAGES = [("core/setup_signal_handlers.md", "1"), ("core/create_tcp_server.md", "1"),
              ("core/handle_client.md", "1"), ("core/tcp_server_loop.md", "1"),
              ("core/tcp_client_connect.md", "2"), ("core/tcp_connect_nonblocking.md", "3"),
              ("reference/helpers.md", "5"), ("core/simple_http_client.md", "5")]
WALK_EN, WALK_KO = "en", "ko"


def headings(lang):
    """[(section number, heading, page)] of the book's pages (docs/, or docs/ko/ for "ko"): each
    page's title and its `##` headings, in order."""
    out = []
    for page, section in BOOK_PAGES:
        path = os.path.join(tree.ROOT, "docs", *(["ko"] if lang == "ko" else []), page)
        with open(path, encoding="utf-8") as f:
            for line in f:
                m = re.match(r"^#{1,2} (.*)$", line)
                if m:
                    out.append((section, m.group(1).strip(), page))
    return out


def walkthrough_section(ref):
    """The index of a labs.toml walkthrough reference among the English pages' headings:
    `HEADING`, which must be unique, or `N / HEADING` in section N; None if absent."""
    section, _, heading = ref.rpartition(" / ")
    hits = [i for i, (n, h, _) in enumerate(headings(WALK_EN))
            if h == heading and (not section or n == section)]
    return hits[0] if len(hits) == 1 else None


def walkthrough_refs(step):
    """[(English heading, its page, Korean heading or None)] of a step."""
    refs = step.walkthrough if isinstance(step.walkthrough, list) else [step.walkthrough]
    en, ko = headings(WALK_EN), headings(WALK_KO)
    out = []
    for ref in refs:
        i = walkthrough_section(ref)
        if i is not None:
            out.append((en[i][1], en[i][2], ko[i][1] if len(ko) == len(en) else None))
    return out


def plain(heading):
    return heading.replace("`", "")


def read_more(step):
    lines = []
    if step.man:
        lines.append("man:      " + ", ".join("man %s %s" % (m[m.index("(") + 1:-1], m[:m.index("(")])
                                             for m in step.man))
    refs = walkthrough_refs(step)
    if refs:
        if all(ko for _, _, ko in refs):
            lines.append("읽을 곳:  " + "; ".join(
                "docs/ko/%s, \"%s\"" % (page, plain(ko)) for _, page, ko in refs))
        lines.append("read:     " + "; ".join(
            "docs/%s, \"%s\"" % (page, plain(en)) for en, page, _ in refs))
    if step.pitfall:
        lines.append("pitfall:  docs/pitfalls.md #%d (make pitfall N=%d)" % (step.pitfall, step.pitfall))
    return lines


def display_width(text):
    """Columns `text` takes on a terminal: East Asian wide and full-width characters (Hangul)
    take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def terminal_width():
    """The terminal's width (COLUMNS, else the terminal's own, else 100), at least 60."""
    return max(60, shutil.get_terminal_size((100, 24)).columns)


def wrap(label, text, width=None):
    """`label` then `text`, wrapped at spaces to the terminal's width (Korean counted in
    columns), the lines after the first indented under the text."""
    width = width or terminal_width()
    if display_width(label + text) <= width:
        return (label + text).rstrip()
    pad = " " * display_width(label)
    lines, cur = [], label
    for word in text.split(" "):
        if cur.strip() and display_width(cur) + 1 + display_width(word) > width and \
                cur != label:
            lines.append(cur.rstrip())
            cur = pad + word
        else:
            cur = cur + ("" if cur == label or cur.endswith(" ") else " ") + word
    lines.append(cur.rstrip())
    return "\n".join(lines)


def indent(text, by="      "):
    return "\n".join(by + l for l in text.splitlines())


SHOWN_FAILURES = 3  # failed checks shown in full under the first failing step
MESSAGE_LINES = 8   # lines of each one's message


def report(lab, lang, verdict, seconds, build_seconds):
    out = []
    mark = {"pass": "pass", "FAIL": "FAIL", "not judged": " -- "}
    for s in lab.steps:
        st = verdict.state[s.id]
        note = "" if st != "not judged" else "   (not judged yet: an earlier step fails)"
        out.append("  %-4s  %s / %s%s" % (mark[st], s.ko, s.en, note))
    if verdict.other and verdict.first_failing() is None:
        # Beside a failing step, a difference no step names is most often a consequence of it.
        out.append("  FAIL  다른 호출 / calls no step names (a close() on an error path, or what the "
                   "caller does with the result)")
    n = len(verdict.outcomes)
    good = sum(1 for o in verdict.outcomes if o.passed)
    ndiff = sum(len(v) for v in verdict.diffs.values()) + len(verdict.other)
    step = verdict.first_failing()
    if step is not None:
        out.append("")
        out.append("first failing step: %s / %s" % (step.ko, step.en))
        blamed = verdict.blamed.get(step.id, [])
        for o in blamed[:SHOWN_FAILURES]:
            out.append("  failed: %s" % o.check.label())
            if o.message:
                lines = o.message.splitlines()
                more = len(lines) - MESSAGE_LINES
                for l in lines[:MESSAGE_LINES]:
                    lead = len(l) - len(l.lstrip(" "))
                    out.append(wrap("      " + " " * lead, l.lstrip(" ")))
                if more > 0:
                    out.append("      ... (%d more lines)" % more)
        if len(blamed) > SHOWN_FAILURES:
            out.append("  failed too: " + ", ".join(o.check.label() for o in blamed[SHOWN_FAILURES:]))
        for d in verdict.diffs.get(step.id, [])[:1]:
            out.append("  system calls differ from the reference's:")
            out.append(d.show())
        out.append(wrap("  힌트:     ", step.hint_for(lang, "ko")))
        out.append(wrap("  hint:     ", step.hint_for(lang, "en")))
        for l in read_more(step):
            label, text = re.match(r"^(.*?:\s+)(.*)$", l).groups()
            out.append(wrap("  " + label, text))
    elif verdict.other:
        out.append("")
        out.append("calls that no step names differ from the reference's:")
        out.append(verdict.other[0].show())
    for o in verdict.skipped:
        out.append("  could not run: %s: %s" % (o.check.label(), o.message.splitlines()[0] if o.message else ""))
    out.append("")
    out.append("%s %s: %d/%d checks passed, %d trace difference%s; %s (build %.1f s, checks %.1f s)" % (
        lab.function, labs.LANGS[lang], good, n, ndiff, "" if ndiff == 1 else "s",
        "ALL STEPS PASS" if verdict.passed() else "not yet", build_seconds, seconds))
    return "\n".join(out)


# ------------------------------------------------------------------------------------------
# One check
# ------------------------------------------------------------------------------------------

def duration_key(lab, lang, c):
    return "%s %s %s" % (lab.key(lang), c.kind, c.name)


def load_durations():
    try:
        with open(DURATIONS, encoding="utf-8") as f:
            return json.load(f)
    except (FileNotFoundError, ValueError):
        return {}


_durations_lock = threading.Lock()


def save_durations(new):
    with _durations_lock:
        known = load_durations()
        known.update(new)
        os.makedirs(WORK, exist_ok=True)
        tree.write_atomically(DURATIONS, json.dumps(known, indent=0, sort_keys=True))


def run_checks(lab, lang, twins_bin, programs, ref, pool, traces=True, stop_early=False,
               env=None, mine_dir=None, record=True):
    """Runs the lab's twin tests and scenarios against the student's build (twins_bin, the
    programs' directory); returns (outcomes, steps seen equal, differences, {scenario: why}
    for scenarios the reference itself failed). With stop_early: no traces, and as soon as one
    check fails the others are stopped (their outcome is None). `env` is given to every test
    process (and so to the programs and child roles it starts); the student's traces go to
    `mine_dir`; `record` keeps each check's time for the order of the next run."""
    runner = Runner()
    mine_dir = mine_dir or os.path.join(WORK, "traces", "student-%s" % lab.key(lang))
    shutil.rmtree(mine_dir, ignore_errors=True)
    os.makedirs(mine_dir)
    traces = traces and not stop_early

    def one(c):
        if c.kind == "twin":
            passed, msg, sec = run_twin(runner, twins_bin, c.name, lang, env)
        else:
            passed, msg, sec = run_scenario(runner, ref.suite(), c.name, lang, programs,
                                            mine_dir if traces else None, env)
        if passed is False and stop_early:
            runner.stop()
        return Outcome(c, passed, msg, sec)

    ref_dir, ref_futures, errors = reference_traces(
        runner, ref, lang, [c.name for c in lab.scenarios()], pool) if traces else (None, [], {})
    # The slowest checks (last time) first, so the pool's tail is short ones.
    known = load_durations()
    order = sorted(lab.checks, key=lambda c: -known.get(duration_key(lab, lang, c), 0.0))
    if stop_early:  # the twin tests first: they fail fastest
        order = lab.twins() + lab.scenarios()
    futures = {pool.submit(one, c): c for c in order}
    try:
        by_check = {futures[f]: f.result() for f in concurrent.futures.as_completed(futures)}
    except KeyboardInterrupt:  # Ctrl-C in make lab-watch: no test process outlives it
        runner.stop()
        raise
    outcomes = [by_check[c] for c in lab.checks]
    if record and not stop_early:
        save_durations({duration_key(lab, lang, o.check): o.seconds for o in outcomes})
    for f in ref_futures:
        f.result()
    trace_ok, diffs = set(), []
    if traces:
        for c in lab.scenarios():
            if c.name in errors:
                continue
            ok, d = compare_traces(lab, c.name, ref_dir, mine_dir)
            trace_ok |= ok
            diffs.extend(d)
    return outcomes, trace_ok, diffs, errors
