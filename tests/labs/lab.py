#!/usr/bin/env python3
"""The labs: the student writes each chapter function, in C or in Rust, in the real file, and
the project's own tests judge it step by step.

    lab.py list                        the 14 labs in order, each one's state, what to run next
    lab.py start FUNCTION c|rust       the function's body becomes a skeleton (its steps'
                                       comments and a TODO each), in c_reference/ or src/
    lab.py check FUNCTION c|rust       build, run the function's twin tests and scenarios, compare
                                       its system calls with the reference's: a line per step,
                                       and a hint for the first that fails; exit 0 when all pass
    lab.py watch FUNCTION c|rust       check again each time the file is saved
    lab.py solution FUNCTION c|rust    the reference back in the file; the attempt kept aside
    lab.py reset                       `solution` for every lab in progress
    lab.py prove [--only c|rust]       for every lab: the skeleton fails its check, the reference
                                       passes it, the working tree is left as found (make test)
    lab.py validate                    the registry against the sources and the docs (seconds)
    lab.py skeleton FUNCTION c|rust    print the skeleton of the function (nothing is written)

The registry is tests/labs/labs.toml; checks and verdicts are in check.py, skeletons and
progress in labs.py. The student's progress, the reference copies and the attempts are in
build/labs/ (make clean keeps it); builds and traces in build/lab-work/.
python3 (3.11+) standard library only.
"""
import argparse
import concurrent.futures
import hashlib
import os
import re
import shutil
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check  # noqa: E402
import labs  # noqa: E402
import tree  # noqa: E402
import variants  # noqa: E402
from labs import LANGS  # noqa: E402

ROOT = tree.ROOT


def usage_lang(lang):
    if lang not in LANGS:
        raise SystemExit("LANG must be c or rust, not '%s'" % lang)


def rel(path):
    return os.path.relpath(path, ROOT)


# ------------------------------------------------------------------------------------------
# list
# ------------------------------------------------------------------------------------------

def lab_state(lab, lang, entry):
    """(state, notes) of one lab now: `done` only while the student's code in the tree passes
    its check as it is now (the last check passed on this very text)."""
    first = entry.get("first_passed") or entry.get("done")
    notes = []
    if entry.get("in_tree"):
        last = entry.get("last_check") or {}
        try:
            digest = function_digest(lab, lang, tree.read(lab.file(lang)))
        except labs.Stale:
            digest = None
        if last.get("passed") and last.get("digest") == digest:
            st = "done"
        elif last and last.get("digest") != digest:
            st = "in progress"
            notes.append("edited since the last check (%s: %s)" % (last["when"],
                                                                  last["summary"]))
        else:
            st = "in progress"
            if last:
                notes.append("last check %s: %s" % (last["when"], last["summary"]))
        if first:
            notes.append("first passed %s" % first)
        return st, notes
    if first:
        return "passed", ["first passed %s; the reference is back in the file" % first]
    if entry.get("solution_shown"):
        return "solution", ["solution shown %s" % entry["solution_shown"]]
    return "not started", notes


def cmd_list(all_labs):
    state = labs.recover(labs.load_state(), all_labs)
    core = labs.core()
    print("Labs: write each chapter function yourself; the same tests judge it (docs/labs.md).")
    print("핵심 과정 / core track: the three labs marked * (in this order); the others go "
          "further (더 깊이).\n")
    print("  %-2s  %-2s %-26s %-5s %-12s %s" % ("#", "", "function", "lang", "state", ""))
    n, current = 0, None
    rows = []
    for lab in all_labs:
        for lang in LANGS:
            n += 1
            e = state["labs"].get(lab.key(lang), {})
            st, notes = lab_state(lab, lang, e)
            if e.get("in_tree"):
                notes.insert(0, "your code is in %s" % lab.file(lang))
                if e.get("recovered"):
                    notes.append("its record was lost: the reference is git's committed version")
                if st != "done":
                    current = current or (lab, lang)
            elif os.path.exists(labs.attempt_path(lab, lang)):
                notes.append("attempt kept in %s" % rel(labs.attempt_path(lab, lang)))
            mark = "*%d" % (core.index((lab.function, lang)) + 1) \
                if (lab.function, lang) in core else ""
            rows.append((lab, lang, st))
            print("  %-2d  %-2s %-26s %-5s %-12s %s" % (n, mark, lab.function, LANGS[lang], st,
                                                       "; ".join(notes)))
    print()
    nxt = next(((lab, lang) for function, lang in core for lab, l2, st in rows
                if lab.function == function and l2 == lang and st in ("not started",)), None) \
        or next(((lab, lang) for lab, lang, st in rows if st == "not started"), None)
    if current:
        lab, lang = current
        print("next: edit %s, then   make lab-check LAB=%s LANG=%s   (or make lab-watch ...)" % (
            lab.file(lang), lab.function, lang))
        print("      make lab-solution LAB=%s LANG=%s puts the reference back, your attempt kept"
              % (lab.function, lang))
    elif nxt:
        lab, lang = nxt
        print("next: make lab-start LAB=%s LANG=%s   (%s)" % (lab.function, lang,
                                                          lab.teaches["en"]))
        print("      다음: %s" % lab.teaches["ko"])
    else:
        print("every lab is done.")
    return 0


# ------------------------------------------------------------------------------------------
# start, solution, reset
# ------------------------------------------------------------------------------------------

def cmd_start(all_labs, lab, lang):
    state = labs.load_state()
    key, path = lab.key(lang), lab.file(lang)
    entry = state["labs"].get(key, {})
    if entry.get("in_tree"):
        print("lab %s (%s) is already in progress: your code is in %s.\n"
              "  make lab-check LAB=%s LANG=%s, or make lab-solution LAB=%s LANG=%s to put the "
              "reference back" % (lab.function, LANGS[lang], path, lab.function, lang,
                                  lab.function, lang))
        return 1
    current = tree.read(path)
    if labs.TODO in labs.function_text(lab, lang, current):
        print("%s: %s already holds a lab skeleton, but no lab is recorded in progress "
              "(build/labs/ was removed?).\n  git checkout %s restores the committed version."
              % (path, lab.function, path))
        return 1
    reference = labs.reference_text(path, state)
    head = committed(path)
    if not any(v["file"] == path for v in labs.in_progress(state).values()) and \
            head is not None and \
            labs.function_text(lab, lang, head) != labs.function_text(lab, lang, current):
        print("%s: %s differs from the committed version, and make lab-start would take your "
              "edit for the reference.\n  Copy your function aside, git checkout %s, make "
              "lab-start LAB=%s LANG=%s, then paste your code into the skeleton." % (
                  path, lab.function, path, lab.function, lang))
        return 1
    if labs.function_text(lab, lang, reference) != labs.function_text(lab, lang, current):
        print("%s: %s differs from its reference copy (%s); restore it first." % (
            path, lab.function, rel(labs.reference_copy(path))))
        return 1
    skel = labs.function_text(lab, lang, labs.skeleton(lab, lang, reference))
    # The reference copy first, then the record, then the file: a crash at any point leaves
    # either the untouched file or the skeleton with its reference kept.
    kept = labs.reference_copy(path)
    if not any(v["file"] == path for v in labs.in_progress(state).values()):
        os.makedirs(os.path.dirname(kept), exist_ok=True)
        tree.write_atomically(kept, current)
    entry.update({"file": path, "in_tree": True, "started": labs.now()})
    entry.pop("last_check", None)
    state["labs"][key] = entry
    labs.save_state(state)
    tree.write_atomically(os.path.join(ROOT, path), labs.with_function(lab, lang, current, skel))
    print("lab %s (%s) started: %s now holds its skeleton, %d steps, a TODO(lab) each." % (
        lab.function, LANGS[lang], path, len(lab.steps)))
    print("  it teaches: %s" % lab.teaches["en"])
    print("  배우는 것:  %s" % lab.teaches["ko"])
    print("next: write the steps, then   make lab-check LAB=%s LANG=%s   (make lab-watch LAB=%s "
          "LANG=%s checks on every save)" % (lab.function, lang, lab.function, lang))
    print("      the reference is kept in %s; make lab-solution LAB=%s LANG=%s puts it back" % (
        rel(kept), lab.function, lang))
    return 0


def keep_attempt(lab, lang, text):
    """Saves the file as it is now; an earlier attempt with other content is renamed, never
    overwritten. Returns the path."""
    path = labs.attempt_path(lab, lang)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            old = f.read()
        if old != text:
            stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(os.path.getmtime(path)))
            os.replace(path, "%s.%s" % (path, stamp))
    tree.write_atomically(path, text)
    return path


def cmd_solution(all_labs, lab, lang, quiet=False):
    state = labs.load_state()
    key, path = lab.key(lang), lab.file(lang)
    entry = state["labs"].get(key, {})
    current = tree.read(path)
    if not entry.get("in_tree"):
        if labs.TODO in labs.function_text(lab, lang, current):
            entry.update({"file": path, "in_tree": True})  # record lost: git has the reference
            state["labs"][key] = entry
        else:
            if not quiet:
                print("lab %s (%s) is not in progress: %s holds the reference." % (
                    lab.function, LANGS[lang], path))
            return 0
    attempt = keep_attempt(lab, lang, current)
    reference = labs.reference_text(path, state)
    others = [k for k, v in labs.in_progress(state).items() if v["file"] == path and k != key]
    if others:
        new = labs.with_function(lab, lang, current, labs.function_text(lab, lang, reference))
    else:
        new = reference
    tree.write_atomically(os.path.join(ROOT, path), new)
    entry["in_tree"] = False
    entry["solution_shown"] = labs.now()
    state["labs"][key] = entry
    labs.save_state(state)
    if not others and os.path.exists(labs.reference_copy(path)):
        os.remove(labs.reference_copy(path))
        d = os.path.dirname(labs.reference_copy(path))
        while d != labs.STATE_DIR and not os.listdir(d):
            os.rmdir(d)
            d = os.path.dirname(d)
    print("lab %s (%s): the reference is back in %s; your attempt is kept in %s" % (
        lab.function, LANGS[lang], path, rel(attempt)))
    return 0


def cmd_reset(all_labs):
    state = labs.load_state()
    keys = list(labs.in_progress(state))
    for lab in all_labs:  # a skeleton whose record was lost
        for lang in LANGS:
            if lab.key(lang) not in keys and \
                    labs.TODO in labs.function_text(lab, lang, tree.read(lab.file(lang))):
                keys.append(lab.key(lang))
    if not keys:
        print("no lab in progress: the working tree holds the reference.")
        return 0
    for key in keys:
        function, lang = key.rsplit(".", 1)
        cmd_solution(all_labs, labs.find(all_labs, function), lang)
    return 0


# ------------------------------------------------------------------------------------------
# check, watch
# ------------------------------------------------------------------------------------------

def build_both(student, student_files, ref, lang, programs=True):
    """Builds the student's programs and twins and the reference's suite, at once. Returns
    (twins binary, programs' directory, seconds) or raises tree.BuildError. The programs come
    first: make and cargo build print the compiler's own messages, the student's to read."""
    started = time.monotonic()
    student.sync(student_files)
    ref.sync()
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        # The reference's programs (C: make, seconds; Rust: a build of its own) beside the
        # student's builds, which share one cargo target: programs, twin tests, the suite.
        ref_progs = pool.submit(ref.programs, lang)
        progs = student.programs(lang) if programs else None
        twins = student.twins()
        ref.set_suite(student.suite())
        ref_progs.result()
    return twins, progs, time.monotonic() - started


def compiler_errors(text, limit=40):
    """The errors of a failed build, each with the lines the compiler shows under it (source
    line, caret), paths relative to the tree; warnings left out."""
    text = re.sub(r"\S*/build/lab-work/[^/]+/tree/(tests/twins/\.\./\.\./)?", "", text)
    blocks, cur = [], []
    for line in text.splitlines():
        if not line.strip() or re.match(r"^(\S+:\d+:\d+: (error|warning)|error|warning)", line):
            if cur:
                blocks.append(cur)
            cur = [line] if line.strip() else []
        else:
            cur.append(line)
    if cur:
        blocks.append(cur)
    keep = [b for b in blocks if re.match(r"^(\S+:\d+:\d+: error|error(\[|:))", b[0])
            and not b[0].startswith(("error: could not compile", "error occurred in cc-rs"))]
    lines = [l for b in keep for l in b + [""]] or text.splitlines()[-limit:]
    if len(lines) > limit:
        lines = lines[:limit] + ["... (%d more lines)" % (len(lines) - limit)]
    return "\n".join(lines).rstrip()


def function_digest(lab, lang, text):
    return hashlib.sha256(labs.function_text(lab, lang, text).encode()).hexdigest()[:16]


def committed(path):
    """The committed version of a file (git show HEAD:path), or None."""
    r = tree.run(["git", "show", "HEAD:%s" % path], ROOT)
    return r.stdout if r.returncode == 0 else None


def cmd_check(all_labs, lab, lang):
    check.set_subreaper()
    state = labs.recover(labs.load_state(), all_labs)
    key, path = lab.key(lang), lab.file(lang)
    entry = state["labs"].get(key, {})
    mine = entry.get("in_tree")
    reference_files = labs.reference_tree(all_labs, state)
    student_files = labs.student_tree(all_labs, state, lab, lang)
    if mine:
        print("lab %s (%s): your code in %s" % (lab.function, LANGS[lang], path))
    else:
        head = committed(path)
        now_text = tree.read(path)
        edited = head is not None and \
            labs.function_text(lab, lang, head) != labs.function_text(lab, lang, now_text)
        if edited:
            print("lab %s (%s): %s was edited without make lab-start, so your version is judged "
                  "against the committed reference (git show HEAD:%s); your progress is not "
                  "recorded.\n  To record it: copy your function aside, git checkout %s, make "
                  "lab-start LAB=%s LANG=%s, and paste it into the skeleton."
                  % (lab.function, LANGS[lang], path, path, path, lab.function, lang))
            reference_files[path] = head
            student_files[path] = now_text
        else:
            print("lab %s (%s): not started, so this checks the reference in %s" % (
                lab.function, LANGS[lang], path))
    ref = check.Reference(reference_files)
    student = check.Student("student")
    started = time.monotonic()
    try:
        twins_bin, programs, build_s = build_both(student, student_files, ref, lang)
    except tree.BuildError as e:
        print("  the build fails, so no step can be judged yet:")
        print(check.indent(compiler_errors(str(e)), "    "))
        for s in lab.steps:
            print("  %-4s  %s / %s" % (" -- ", s.ko, s.en))
        if mine:
            entry["last_check"] = {"when": labs.now(), "summary": "does not build",
                                   "passed": False,
                                   "digest": function_digest(lab, lang, tree.read(path))}
            state["labs"][key] = entry
            labs.save_state(state)
        return 1
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=check.JOBS) as pool:
        outcomes, trace_ok, diffs, errors = check.run_checks(lab, lang, twins_bin, programs,
                                                             ref, pool)
    for s, why in errors.items():
        print("  the reference itself fails %s, so its calls cannot be compared:\n%s" % (
            s, check.indent(why, "    ")))
    verdict = check.Verdict(lab, outcomes, trace_ok, diffs)
    print(check.report(lab, lang, verdict, time.monotonic() - t0, build_s))
    print("(%.1f s in all)" % (time.monotonic() - started))
    passed_now = verdict.passed() and not errors
    if mine:
        state = labs.load_state()
        entry = state["labs"].get(key, entry)
        passed = sum(1 for s in lab.steps if verdict.state[s.id] == "pass")
        entry["last_check"] = {"when": labs.now(), "summary": "%d/%d steps pass" % (
            passed, len(lab.steps)), "passed": passed_now,
            "digest": function_digest(lab, lang, student_files[path])}
        if passed_now:
            entry.setdefault("first_passed", entry.pop("done", None) or labs.now())
        state["labs"][key] = entry
        labs.save_state(state)
    return 0 if passed_now else 1


def cmd_watch(all_labs, lab, lang):
    path = os.path.join(ROOT, lab.file(lang))

    def digest():
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()
    print("watching %s: a check on every save; Ctrl-C to stop" % lab.file(lang))
    last = None
    try:
        while True:
            now = digest()
            if now != last:
                last = now
                print("\n" + "=" * 78 + "\n" + time.strftime("%H:%M:%S"))
                cmd_check(all_labs, lab, lang)
                print("\nwaiting for %s to change (Ctrl-C to stop)" % lab.file(lang))
            time.sleep(0.5)
    except KeyboardInterrupt:
        print()
        return 0


# ------------------------------------------------------------------------------------------
# prove, validate
# ------------------------------------------------------------------------------------------

def working_tree_snapshot():
    """The content of every file git knows or would add: the proof must leave it as found."""
    out = {}
    for rel_path in tree.tracked_files(ROOT):
        with open(os.path.join(ROOT, rel_path), "rb") as f:
            out[rel_path] = hashlib.sha256(f.read()).hexdigest()
    return out


PROVE_JOBS = 4      # variants judged at once
PROVE_CHECKS = 8    # test processes at once, over all of them


def expectation(lab, lang, variant, wrong):
    """What a variant's check must show: the reference passes; the skeleton fails at a step
    with a hint; a wrong answer fails, its first failing step is its own, and no step fails
    but its own and those it names in `also`."""
    if variant == "ref":
        return "passes"
    if variant == variants.SKELETON:
        return "fails, at a step with its hint"
    return "fails at %s" % wrong.step


def judge_variant(lab, lang, variant, wrong, verdict, outcomes, errors):
    """None when the variant's check shows what it must, else what it shows instead."""
    failing = [s for s in lab.steps if verdict.state[s.id] == "FAIL"]
    first = verdict.first_failing()
    if errors:
        return "the reference fails %s" % ", ".join(errors)
    if variant == "ref":
        if verdict.passed():
            return None
        bad = [o.check.label() for o in outcomes if not o.passed] + \
            ["calls differ in %s" % d.scenario for ds in verdict.diffs.values() for d in ds] + \
            ["%s" % d.show().strip() for d in verdict.other]
        return "FAILS: " + "; ".join(bad)
    if verdict.passed():
        return "PASSES every check"
    if first is None:
        return "fails, but no step: only calls no step names differ"
    if not first.hint_for(lang, "en") or not first.hint_for(lang, "ko"):
        return "fails at %s, which has no hint" % first.id
    if variant == variants.SKELETON:
        return None
    allowed = {wrong.step} | set(wrong.also)
    if first.id != wrong.step:
        return "fails at %s first, not at %s" % (first.id, wrong.step)
    extra = [s.id for s in failing if s.id not in allowed]
    if extra:
        return "fails at %s, and at %s too" % (wrong.step, ", ".join(extra))
    return None


def cmd_prove(all_labs, langs, only_lab=None):
    """Every lab in every language: the reference passes its whole check, the skeleton fails,
    and every wrong answer of tests/labs/wrong.toml fails at its own step, all built once per
    language in one variant tree (tests/labs/variants.py)."""
    started = time.monotonic()
    check.set_subreaper()
    before = working_tree_snapshot()
    problems = validate(all_labs)
    selftest = check.cleanup_selftest()
    print("labs-check: no process outlives a check: %s" % (selftest or "proved (an orphan left "
          "by a finished test and a test past its deadline: killed and reaped)"), flush=True)
    if selftest:
        problems.append(selftest)
    state = labs.load_state()
    wrongs = variants.load()
    base = labs.reference_tree(all_labs, state)
    files = variants.variant_tree(all_labs, base, wrongs)
    ref = check.Reference(files, "variants")
    try:
        t = time.monotonic()
        ref.sync()
        with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
            jobs = [pool.submit(ref.twins), pool.submit(ref.suite)] + \
                [pool.submit(ref.programs, lang) for lang in langs]
            twins_bin = jobs[0].result()
            for j in jobs[1:]:
                j.result()
    except tree.BuildError as e:
        print("the variant tree does not build:\n%s" % compiler_errors(str(e)))
        return 1
    print("labs-check: built the variants of %d labs (%d wrong answers) in %.0f s" % (
        len(all_labs), len(wrongs), time.monotonic() - t), flush=True)
    todo = []
    for lab in all_labs:
        if only_lab and lab.function not in only_lab.split(","):
            continue
        for lang in langs:
            todo.append((lab, lang, "ref", None))
            todo.append((lab, lang, variants.SKELETON, None))
            for w in wrongs:
                if w.lab == lab.function and w.lang == lang:
                    todo.append((lab, lang, str(w.number), w))
    results = []
    lock = threading.Lock()
    checks_pool = concurrent.futures.ThreadPoolExecutor(max_workers=PROVE_CHECKS)
    # The reference's traces first, once per language, before the variants compare with them.
    t = time.monotonic()
    for lang in langs:
        scenarios = sorted({c.name for lab in all_labs for c in lab.scenarios()})
        _, futures, errs = check.reference_traces(check.Runner(), ref, lang, scenarios,
                                                  checks_pool)
        for f in futures:
            f.result()
        for s_name, why in errs.items():
            problems.append("the reference fails %s (%s): %s" % (s_name, LANGS[lang], why))
    print("labs-check: the reference's traces in %.0f s" % (time.monotonic() - t), flush=True)

    def one(job):
        lab, lang, variant, wrong = job
        t0 = time.monotonic()
        env = {variants.VARIANT_ENV: variants.variant_name(lab.function, variant)}
        mine = os.path.join(check.WORK, "traces", "prove-%s-%s-%s" % (lab.function, lang,
                                                                       variant))
        outcomes, trace_ok, diffs, errors = check.run_checks(
            lab, lang, twins_bin, ref.programs(lang), ref, checks_pool, env=env,
            mine_dir=mine, record=False)
        shutil.rmtree(mine, ignore_errors=True)
        verdict = check.Verdict(lab, outcomes, trace_ok, diffs)
        wrong_why = judge_variant(lab, lang, variant, wrong, verdict, outcomes, errors)
        first = verdict.first_failing()
        name = "reference" if variant == "ref" else variant if variant == variants.SKELETON \
            else "wrong #%s" % variant
        line = "  %-4s %-24s %-4s %-10s %s%s (%.1f s)" % (
            "ok" if wrong_why is None else "BAD", lab.function, LANGS[lang], name,
            "" if wrong is None else wrong.what + ": ",
            ("passes" if verdict.passed() else "fails at %s" % (first.id if first else "?"))
            if wrong_why is None else wrong_why + "; expected: " +
            expectation(lab, lang, variant, wrong), time.monotonic() - t0)
        with lock:
            print(line, flush=True)
            results.append((job, wrong_why, verdict))
            if wrong_why is not None:
                said = ["%s: %s" % (o.check.label(), "\n      ".join(
                    o.message.strip().splitlines()[:check.MESSAGE_LINES]) or "(no message)")
                    for o in outcomes if o.passed is False]
                for st in lab.steps:
                    if verdict.state[st.id] != "FAIL":
                        continue
                    said.append("evidence for %s: %s" % (st.id, "; ".join(
                        ["calls differ in %s" % d.scenario for d in verdict.diffs.get(st.id, [])] +
                        ["%s %s" % (o.check.label(), "(named)" if st.id in verdict.direct
                                    else "(default)") for o in verdict.blamed.get(st.id, [])])))
                problems.append("%s %s %s: %s%s" % (lab.function, LANGS[lang], name, wrong_why,
                                                    "".join("\n    " + m for m in said)))
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=PROVE_JOBS) as pool:
            # Slow ones first: the references (every check runs to its end).
            for f in [pool.submit(one, j) for j in sorted(todo, key=lambda j: j[2] != "ref")]:
                f.result()
    finally:
        checks_pool.shutdown()
    after = working_tree_snapshot()
    if after != before:
        changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        problems.append("the working tree changed: %s" % ", ".join(changed))
    strays = stray_processes((ref.root, ref.target))
    if strays:
        problems.append("processes left running after the checks: %s" % ", ".join(strays))
    for p in problems:
        print("problem: " + p)
    nwrong = {lang: sum(1 for w in wrongs if w.lang == lang) for lang in langs}
    covered = {lang: len({(w.lab, w.step) for w in wrongs if w.lang == lang}) for lang in langs}
    print("labs-check: %d labs (%s); wrong answers: %s; steps: %d; working tree %s; "
          "stray processes: %d; %d problem%s; %.0f s" % (
              len(all_labs) * len(langs), " and ".join(LANGS[l] for l in langs),
              ", ".join("%d in %s covering %d steps" % (nwrong[l], LANGS[l], covered[l])
                        for l in langs),
              sum(len(l.steps) for l in all_labs), "unchanged" if after == before else "CHANGED",
              len(strays), len(problems), "" if len(problems) == 1 else "s",
              time.monotonic() - started))
    return 1 if problems else 0


def stray_processes(roots):
    """Processes still running from the programs or tests built under `roots` (a server child
    that never exited)."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            exe = os.readlink("/proc/%s/exe" % name)
            with open("/proc/%s/stat" % name) as f:
                zombie = f.read().rsplit(")", 1)[1].split()[0] == "Z"
        except OSError:
            continue
        if exe.startswith(tuple(r + os.sep for r in roots)) and not zombie:
            out.append("%s (%s)" % (name, os.path.relpath(exe, ROOT)))
    return out


def validate(all_labs):
    """Static checks of the registry; a list of problems."""
    problems = []
    with open(os.path.join(ROOT, "docs", "pitfalls.md"), encoding="utf-8") as f:
        pitfalls = {int(m) for m in re.findall(r"^## (\d+)\. ", f.read(), re.M)}
    walk = check.headings(check.WALK_EN)
    twins_src = tree.read("tests/twins/tests/twins.rs")
    twins = set(re.findall(r"^\s*(\w+),?$", "\n".join(
        re.findall(r"twin_test!\(([^)]*)\)", twins_src)), re.M))
    suite_src = "".join(tree.read(os.path.join("tests", "suite", f))
                        for f in os.listdir(os.path.join(ROOT, "tests", "suite")))
    state = labs.load_state()
    for lab in all_labs:
        where = "lab %s" % lab.function
        for lang in LANGS:
            text = labs.reference_text(lab.file(lang), state)
            try:
                labs.step_comments(lab, lang, text)
                labs.skeleton(lab, lang, text)
            except (labs.Stale, ValueError) as e:
                problems.append("%s: %s" % (where, e))
        ids = [s.id for s in lab.steps]
        if len(set(ids)) != len(ids):
            problems.append("%s: a step id is used twice" % where)
        chapter_code = "".join(tree.read(os.path.join("c_reference", "chapter", f))
                               for f in os.listdir(os.path.join(ROOT, "c_reference", "chapter")))
        for s in lab.steps:
            if s.chapter and "// " + s.chapter not in chapter_code:
                problems.append("%s step %s: the chapter heading %r is not in "
                                "c_reference/chapter/" % (where, s.id, s.chapter))
            for words in ("en", "ko"):
                if not s.hint.get(words, "").strip():
                    problems.append("%s step %s: no %s hint" % (where, s.id, words))
            if any(k not in ("en", "ko", "c_en", "c_ko", "rust_en", "rust_ko") for k in s.hint):
                problems.append("%s step %s: unknown hint key" % (where, s.id))
            if not s.man:
                problems.append("%s step %s: no man page" % (where, s.id))
            refs = s.walkthrough if isinstance(s.walkthrough, list) else [s.walkthrough]
            for ref in refs:
                if not isinstance(ref, str) or check.walkthrough_section(ref) is None:
                    problems.append("%s step %s: no single section '%s' in the book's pages (docs/core/) "
                                    "(write 'N / HEADING' for the one in section N)" % (
                                        where, s.id, ref))
            if len(walk) != len(check.headings(check.WALK_KO)):
                problems.append("docs/ko/core/ has not the sections of docs/core/")
            if s.pitfall is not None and s.pitfall not in pitfalls:
                problems.append("%s step %s: no pitfall %d in docs/pitfalls.md" % (
                    where, s.id, s.pitfall))
            for p in s.trace + s.args:
                try:
                    check.pattern(p)
                except re.error as e:
                    problems.append("%s step %s: pattern %r: %s" % (where, s.id, p, e))
            for p in s.args:
                if check.pattern(p)[1].groups != 1:
                    problems.append("%s step %s: args pattern %r needs one group" % (
                        where, s.id, p))
            if not any(s.id in c.steps for c in lab.checks):
                problems.append("%s step %s: no check exercises it" % (where, s.id))
        for c in lab.checks:
            for sid in c.steps:
                if sid not in ids:
                    problems.append("%s: %s names no step '%s'" % (where, c.label(), sid))
            if c.kind == "twin" and c.name not in twins:
                problems.append("%s: no twin test %s in tests/twins/tests/twins.rs" % (
                    where, c.name))
            if c.kind == "suite" and '"%s"' % c.name not in suite_src:
                problems.append("%s: no scenario %s in tests/suite" % (where, c.name))
        if not lab.scenarios() or not lab.twins():
            problems.append("%s: needs twin tests and scenarios" % where)
        if lab.process is not None and lab.process not in ids:
            problems.append("%s: process = '%s' names no step" % (where, lab.process))
        for c in lab.checks:
            for rx, sid in c.blame:
                if sid not in c.steps:
                    problems.append("%s: %s blames step '%s', not one of its steps" % (
                        where, c.label(), sid))
    problems.extend(validate_docs(all_labs, state))
    try:
        texts = {lab.file(lang): labs.reference_text(lab.file(lang), state)
                 for lab in all_labs for lang in LANGS}
        problems.extend(variants.validate(all_labs, variants.load(), texts))
    except (KeyError, ValueError) as e:
        problems.append("tests/labs/wrong.toml: %s" % e)
    return problems


DOCS = ("docs/labs.md", "docs/ko/labs.md")
SKELETON_MARK = re.compile(r"^<!-- skeleton: (\w+) (c|rust) -->\n```\w*\n(.*?)\n```$", re.M | re.S)


def validate_docs(all_labs, state):
    """docs/labs.md and its Korean twin: each lab in the table, every skeleton they show
    (marked `<!-- skeleton: FUNCTION LANG -->`) equal to what make lab-start writes."""
    problems = []
    for doc in DOCS:
        text = tree.read(doc)
        shown = SKELETON_MARK.findall(text)
        if not shown:
            problems.append("%s shows no skeleton (<!-- skeleton: FUNCTION LANG --> and a block)" % doc)
        for function, lang, body in shown:
            lab = labs.find(all_labs, function)
            ref = labs.reference_text(lab.file(lang), state)
            try:
                want = labs.function_text(lab, lang, labs.skeleton(lab, lang, ref))
            except labs.Stale:
                continue  # reported with the lab
            if body != want:
                problems.append("%s: the skeleton of %s (%s) differs from what make lab-start "
                                "writes (python3 tests/labs/lab.py skeleton %s %s)" % (
                                    doc, function, LANGS[lang], function, lang))
        rows = re.findall(r"^\| \d+ \| `(\w+)` \|", text, re.M)
        if rows != [lab.function for lab in all_labs]:
            problems.append("%s: the table of labs lists %s, not the labs of labs.toml in order"
                            % (doc, rows))
    return problems


def cmd_validate(all_labs):
    problems = validate(all_labs)
    for p in problems:
        print("problem: " + p)
    print("labs-validate: %d labs, %d steps, %d checks; %d problem%s" % (
        len(all_labs) * len(LANGS), sum(len(l.steps) for l in all_labs),
        sum(len(l.checks) for l in all_labs), len(problems), "" if len(problems) == 1 else "s"))
    return 1 if problems else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list")
    for name in ("start", "check", "watch", "solution", "skeleton"):
        p = sub.add_parser(name)
        p.add_argument("function")
        p.add_argument("lang")
    sub.add_parser("reset")
    p = sub.add_parser("prove")
    p.add_argument("--only", choices=list(LANGS))
    p.add_argument("--lab", help="prove these labs only (functions, comma-separated)")
    sub.add_parser("validate")
    args = ap.parse_args()
    all_labs = labs.load()
    if args.cmd == "list":
        return cmd_list(all_labs)
    if args.cmd == "reset":
        return cmd_reset(all_labs)
    if args.cmd == "prove":
        return cmd_prove(all_labs, [args.only] if args.only else list(LANGS), args.lab)
    if args.cmd == "validate":
        return cmd_validate(all_labs)
    if not args.function:
        raise SystemExit("LAB is missing: make lab lists the labs")
    lab = labs.find(all_labs, args.function)
    usage_lang(args.lang)
    if args.cmd == "start":
        return cmd_start(all_labs, lab, args.lang)
    if args.cmd == "check":
        return cmd_check(all_labs, lab, args.lang)
    if args.cmd == "watch":
        return cmd_watch(all_labs, lab, args.lang)
    if args.cmd == "solution":
        return cmd_solution(all_labs, lab, args.lang)
    text = labs.reference_text(lab.file(args.lang), labs.load_state())
    print(labs.function_text(lab, args.lang, labs.skeleton(lab, args.lang, text)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
