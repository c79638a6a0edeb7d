"""Judging one lab: the student's function built in a copy of the tree, its twin tests and
suite scenarios run against that build, each scenario under strace and its calls compared
with the reference's, and a verdict per chapter step.

Two copies of the working tree (tests/tooling/tree.py), each with its own cargo target:
  build/lab-work/student    the reference tree with the student's function of this lab in it:
                            its programs and its twin tests are the ones judged
  build/lab-work/reference  every lab function back to the reference: its suite binary runs
                            the scenarios (its own programs for the reference's traces, the
                            student's through SUITE_PROGRAMS_DIR). With no lab in progress
                            the working tree itself is the reference, and no copy is made.
The reference's traces are kept (build/lab-work/traces/) under a hash of the reference's
sources, so a check after the first runs each scenario once, for the student only.

How a step is judged (labs.toml says which calls each step makes and which steps each check
exercises):
  * calls: in each scenario the student's normalised trace is compared with the reference's
    (tests/trace/normalise.py), process by process; the steps of the calls the two have in
    common (aligned as diff aligns lines) are seen equal, and the call at the first difference
    names the step that differs;
  * checks: a failed check is laid on one step: the first of its steps whose calls differ,
    else the first whose calls were not seen equal, else the first it exercises that makes no
    call of its own, else its last; a check that also exercises a step another failed check
    or a difference already names is explained by that one;
  * a step fails when a difference or a failed check is laid on it; it passes when its calls
    were seen equal or every check that exercises it passed; else it is not judged yet (an
    earlier step fails first).
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

class Reference:
    """Where the reference is built: the working tree when no lab is in progress, else a copy
    with every lab function put back."""

    def __init__(self, files):
        self.files = files
        if files:
            self.root = os.path.join(WORK, "reference", "tree")
            self.target = os.path.join(WORK, "reference", "target")
        else:
            self.root, self.target = tree.ROOT, None
        self._suite = None

    def sync(self):
        if self.files:
            tree.sync(self.root, self.files)

    def suite(self):
        if self._suite is None:
            self._suite = tree.build_suite(self.root, self.target)
        return self._suite

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
        self.root = os.path.join(WORK, name, "tree")
        self.target = os.path.join(WORK, name, "target")

    def sync(self, files):
        tree.sync(self.root, files)

    def programs(self, lang):
        return tree.build_programs(self.root, lang, self.target)

    def twins(self):
        return tree.build_twins(self.root, self.target)


# ------------------------------------------------------------------------------------------
# Running tests
# ------------------------------------------------------------------------------------------

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
    return "\n".join(keep)


class Runner:
    """Runs test processes, each in a process group of its own, so that one that overruns its
    deadline, or every one still running when the answer is known, is killed with whatever it
    started."""

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
            p = subprocess.Popen(cmd, cwd=tree.ROOT, env=full, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True, errors="replace",
                                 start_new_session=True)
            self.running.add(p)
        try:
            out, _ = p.communicate(timeout=deadline)
            status = p.returncode
        except subprocess.TimeoutExpired:
            self.kill(p)
            out, _ = p.communicate()
            status = None
        with self.lock:
            self.running.discard(p)
        return status, out, time.monotonic() - started

    @staticmethod
    def kill(p):
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def stop(self):
        """Kills every process still running; no new one starts."""
        with self.lock:
            self.stopped = True
            for p in self.running:
                self.kill(p)


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


def run_twin(runner, twins_bin, name, lang):
    return run_one(runner, [twins_bin, "--exact", "%s::%s" % (name, lang), "--test-threads", "1"],
                   {"RUST_BACKTRACE": "0"}, "twin test %s" % name, TWIN_DEADLINE)


def run_scenario(runner, suite_bin, name, lang, programs=None, strace_dir=None):
    env = {"IMPL": lang, "SUITE_DEADLINE_SECS": str(SUITE_DEADLINE)}
    if programs:
        env["SUITE_PROGRAMS_DIR"] = programs
    if strace_dir:
        env["SUITE_STRACE_DIR"] = strace_dir
    return run_one(runner, [suite_bin, "--exact", "%s::%s" % (name, lang)], env,
                   "scenario %s" % name, SUITE_DEADLINE + 10)


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
    d = os.path.join(WORK, "traces", "%s-%s" % (lang, ref.key(lang)))
    os.makedirs(d, exist_ok=True)
    for old in os.listdir(os.path.dirname(d)):  # traces of an older reference
        if re.match(r"^%s-[0-9a-f]{16}$" % lang, old) and old != os.path.basename(d):
            shutil.rmtree(os.path.join(os.path.dirname(d), old), ignore_errors=True)
    todo = [s for s in scenarios if not os.path.exists(os.path.join(d, s + ".done"))]
    errors = {}

    def one(s):
        tmp = tempfile.mkdtemp(prefix="tmp-%s-" % lang, dir=os.path.join(WORK, "traces"))
        passed, msg, _ = run_scenario(runner, ref.suite(), s, lang, strace_dir=tmp)
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


def compare_traces(lab, scenario, ref_dir, mine_dir):
    """-> (steps seen equal, [(step or None, Difference)]) for one scenario."""
    ok, diffs = set(), []
    ref_files, my_files = trace_files(ref_dir, scenario), trace_files(mine_dir, scenario)
    for key in sorted(set(ref_files) | set(my_files)):
        prog = key[0]
        load = lambda path: normalise.normalise(open(path, errors="replace").read()) if path else []
        ref, mine = load(ref_files.get(key)), load(my_files.get(key))
        at = normalise.first_difference(ref, mine)
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
        failed = sorted([o for o in outcomes if o.passed is False],
                        key=lambda o: len(o.check.steps))
        for o in failed:
            steps = sorted(o.check.steps, key=order.index)
            if any(s in self.diffs or s in self.blamed for s in steps):
                culprit = next(s for s in steps if s in self.diffs or s in self.blamed)
            else:
                culprit = next((s for s in steps if s in traced and s not in seen_ok), None) \
                    or next((s for s in steps if s not in traced), None) or steps[-1]
            self.blamed.setdefault(culprit, []).append(o)
        self.state = {}
        for s in order:
            mine = [o for o in outcomes if s in o.check.steps]
            if s in self.diffs or s in self.blamed:
                self.state[s] = "FAIL"
            elif s in seen_ok or (mine and all(o.passed for o in mine)):
                self.state[s] = "pass"
            else:
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
        lines.append("read:     " + "; ".join(
            "docs/%s, \"%s\"" % (page, plain(en)) for en, page, _ in refs))
        if all(ko for _, _, ko in refs):
            lines.append("읽을 곳:  " + "; ".join(
                "docs/ko/%s, \"%s\"" % (page, plain(ko)) for _, page, ko in refs))
    if step.pitfall:
        lines.append("pitfall:  docs/pitfalls.md #%d (make pitfall N=%d)" % (step.pitfall, step.pitfall))
    return lines


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
    if verdict.other:
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
                out.append(indent("\n".join(lines[:MESSAGE_LINES])))
                if more > 0:
                    out.append("      ... (%d more lines)" % more)
        if len(blamed) > SHOWN_FAILURES:
            out.append("  failed too: " + ", ".join(o.check.label() for o in blamed[SHOWN_FAILURES:]))
        for d in verdict.diffs.get(step.id, [])[:1]:
            out.append("  system calls differ from the reference's:")
            out.append(d.show())
        out.append("  hint:     " + step.hint_for(lang, "en"))
        out.append("  힌트:     " + step.hint_for(lang, "ko"))
        out.extend("  " + l for l in read_more(step))
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


def run_checks(lab, lang, twins_bin, programs, ref, pool, traces=True, stop_early=False):
    """Runs the lab's twin tests and scenarios against the student's build (twins_bin, the
    programs' directory); returns (outcomes, steps seen equal, differences, {scenario: why}
    for scenarios the reference itself failed). With stop_early: no traces, and as soon as one
    check fails the others are stopped (their outcome is None)."""
    runner = Runner()
    mine_dir = os.path.join(WORK, "traces", "student-%s" % lab.key(lang))
    shutil.rmtree(mine_dir, ignore_errors=True)
    os.makedirs(mine_dir)
    traces = traces and not stop_early

    def one(c):
        if c.kind == "twin":
            passed, msg, sec = run_twin(runner, twins_bin, c.name, lang)
        else:
            passed, msg, sec = run_scenario(runner, ref.suite(), c.name, lang, programs,
                                            mine_dir if traces else None)
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
    if not stop_early:
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
