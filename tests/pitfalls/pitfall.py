#!/usr/bin/env python3
"""Each pitfall a one-command experiment: our fix undone in a copy of the tree, the tests that
guard it run against that mutant, and what a student should see.

    pitfall.py list                      the pitfalls of docs/pitfalls.md, one line each
    pitfall.py run N [--impl c|rust]     pitfall N's mutants (both languages by default): build
                                         each in build/pitfall/, run its guards, show the failing
                                         test's message and the strace lines that matter
    pitfall.py check [--only c|rust]     every mutant; fails on any survivor, on a stale mutant
                                         (its text no longer in the source) and on a row of
                                         docs/deviations.md said to be guarded that has no mutant
    pitfall.py validate                  only the static part of `check` (fast): registry vs
                                         sources vs docs/deviations.md vs docs/pitfalls.md

The registry is tests/pitfalls/pitfalls.toml. The working tree is never touched: each mutant is
built from a copy (build/pitfall/tree, synced file by file, so cargo and make rebuild only what
the edit changed) with its own cargo target dir (build/pitfall/target). Exit status of `run`:
0 when every guard caught its mutant, 1 when a mutant survived.
python3 (3.11+, for tomllib) standard library only.
"""
import argparse
import concurrent.futures
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
import unicodedata

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "tooling"))
import source  # noqa: E402
import tree  # noqa: E402
from source import Stale  # noqa: E402

ROOT = tree.ROOT
REGISTRY = os.path.join(ROOT, "tests", "pitfalls", "pitfalls.toml")
WORK = os.path.join(ROOT, "build", "pitfall")
TREE = os.path.join(WORK, "tree")
TARGET = os.path.join(WORK, "target")
PROGRAMS = tree.PROGRAMS
LANGS = {"c": "C", "rust": "Rust"}
WIRE_PYTHON = os.environ.get("WIRE_PYTHON", "/usr/bin/python3")  # where apt installs dpkt
GUARD_DEADLINE = 120  # seconds for one guard run (a mutant that hangs is caught by the suite's own deadline)


def student_lang():
    """The demo's rule, from the demo itself: DEMO_LANG=en|ko, else a ko* locale."""
    sys.path.insert(0, os.path.join(ROOT, "tests", "demo"))
    from demo import demo_lang  # noqa: E402 (the demo's module has no side effects on import)
    return demo_lang()


# What `list` and `run` print around the tests' own (English) output, in English and Korean.
TEXT = {
    "en": {"list_head": "Pitfalls of the chapter's code (docs/pitfalls.md); run one with",
           "mutants": "%d mutant%s", "same": "same in Rust by design",
           "chapter_fails": "chapter fails %d scenario%s",
           "no_such": "no pitfall %d; `make pitfall` lists them",
           "pitfall": "pitfall %d: %s", "by_design": "nothing to undo, by design: %s",
           "no_mutant": "no mutant for this pitfall",
           "head": "pitfall %s, %s: %s (mutant %s)", "deviation": "deviation #%s undone",
           "own_line": "the chapter's own line removed", "built": "built in %.1f s (%s)",
           "guard": "guard %s: %s", "caught_by": "FAILED, as it must on this mutant",
           "survived_by": "passed: the mutant survived it",
           "strace": "strace lines that matter (/%s/):", "verdict": "verdict: %s",
           "caught": "caught", "survived": "SURVIVED"},
    "ko": {"list_head": "챕터 코드의 함정(docs/ko/pitfalls.md). 하나를 실행하려면",
           "mutants": "변형 %d개%s", "same": "설계상 같음",
           "chapter_fails": "챕터가 실패하는 시나리오 %d개%s",
           "no_such": "함정 %d번은 없습니다. 목록은 `make pitfall`이 보여 줍니다",
           "pitfall": "함정 %d: %s", "by_design": "설계상 되돌릴 것이 없습니다: %s",
           "no_mutant": "이 함정에는 변형이 없습니다",
           "head": "함정 %s, %s: %s (변형 %s)", "deviation": "차이점 #%s의 수정을 되돌림",
           "own_line": "챕터에 있던 줄을 지움", "built": "빌드 %.1f초 (%s)",
           "guard": "지키는 테스트 %s: %s", "caught_by": "실패. 이 변형에서는 실패해야 맞습니다",
           "survived_by": "통과. 변형이 이 테스트를 빠져나갔습니다",
           "strace": "봐야 할 strace 줄 (/%s/):", "verdict": "판정: %s",
           "caught": "잡힘", "survived": "빠져나감(SURVIVED)"},
}


def korean_titles():
    """{n: title} from the headings of docs/ko/pitfalls.md ("## N. title"), backticks dropped."""
    titles = {}
    with open(os.path.join(ROOT, "docs", "ko", "pitfalls.md"), encoding="utf-8") as f:
        for line in f:
            m = re.match(r"^## (\d+)\. (.+)$", line.rstrip())
            if m:
                titles[int(m.group(1))] = m.group(2).replace("`", "")
    return titles


def pad(text, width):
    """`text` padded to `width` terminal columns (a Hangul syllable takes two)."""
    cols = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
    return text + " " * max(0, width - cols)


def title(p, lang):
    return korean_titles().get(p["n"], p["title"]) if lang == "ko" else p["title"]


def load():
    with open(REGISTRY, "rb") as f:
        pitfalls = tomllib.load(f)["pitfall"]
    for p in pitfalls:
        p.setdefault("mutant", [])
        p.setdefault("equivalent", [])
        p.setdefault("chapter_fails", [])
        p.setdefault("unguarded", [])
    return pitfalls


# ------------------------------------------------------------------------------------------
# Edits
# ------------------------------------------------------------------------------------------

def apply_edit(text, edit):
    """The text with one edit applied; Stale unless its target occurs exactly once."""
    lo, hi = (0, len(text))
    if "within" in edit:
        lo, hi = source.function_span(text, edit["within"])
    region = text[lo:hi]
    where = " in %s" % edit["within"] if "within" in edit else ""
    if "find_re" in edit:
        rx = re.compile(edit["find_re"], re.S)
        hits = list(rx.finditer(region))
        if len(hits) != 1:
            raise Stale("%s: /%s/ matches %d times%s" % (edit["file"], edit["find_re"], len(hits), where))
        new = hits[0].expand(edit["replace"])
        a, b = hits[0].span()
    else:
        n = region.count(edit["find"])
        if n != 1:
            raise Stale("%s: %r found %d times%s" % (edit["file"], edit["find"], n, where))
        a = region.index(edit["find"])
        b = a + len(edit["find"])
        new = edit["replace"]
    return text[: lo + a] + new + text[lo + b:], (region[a:b], new)


def mutated_files(mutant, root=ROOT):
    """{path: mutated text} and the (before, after) pairs, from the sources under `root`."""
    files, pairs = {}, []
    for edit in mutant["edits"]:
        path = edit["file"]
        text = files.get(path)
        if text is None:
            with open(os.path.join(root, path), encoding="utf-8") as f:
                text = f.read()
        text, pair = apply_edit(text, edit)
        files[path] = text
        pairs.append((path, pair))
    return files, pairs


# ------------------------------------------------------------------------------------------
# The tree copy and the builds
# ------------------------------------------------------------------------------------------

def build_mutant(mutant, out_dir):
    """Builds one mutant from TREE into out_dir: the three programs of its language and, when
    a guard is a twin test, the twins binary. Returns the out_dir."""
    files, _ = mutated_files(mutant)
    tree.sync(TREE, files)
    if os.path.isdir(out_dir):
        shutil.rmtree(out_dir)
    os.makedirs(out_dir)
    built = tree.build_programs(TREE, mutant["lang"], TARGET)
    for p in PROGRAMS:
        shutil.copy2(os.path.join(built, p), os.path.join(out_dir, p))
    if any(g.startswith("twins:") for g in mutant["guards"]):
        shutil.copy2(tree.build_twins(TREE, TARGET), os.path.join(out_dir, "twins"))
    return out_dir


_suite_bin = None


def suite_binary():
    """The suite test binary of the working tree (built once)."""
    global _suite_bin
    if _suite_bin is None:
        _suite_bin = tree.build_suite(ROOT)
    return _suite_bin


def run_guard(guard, lang, out_dir, strace_dir=None):
    """Runs one guard against the mutant in out_dir: (failed, output)."""
    kind, name = guard.split(":", 1)
    if kind == "suite":
        env = {"IMPL": lang, "SUITE_PROGRAMS_DIR": out_dir}
        if strace_dir:
            env["SUITE_STRACE_DIR"] = strace_dir
        cmd = [suite_binary(), "--exact", "%s::%s" % (name, lang)]
        if not suite_supports_exact_impl():
            cmd = [suite_binary(), "--exact", name]
    elif kind == "twins":
        env = {"RUST_BACKTRACE": "0"}
        cmd = [os.path.join(out_dir, "twins"), "--exact", "%s::%s" % (name, lang),
               "--test-threads", "1"]
    elif kind == "wire":
        # The lesson of `make wire` run on the mutant's programs, its point asserted on the
        # capture (tests/wire/wire_check.py; root, tcpdump and dpkt, else it runs no test).
        env = {}
        cmd = [WIRE_PYTHON, os.path.join(ROOT, "tests", "wire", "wire_check.py"), "--only", name,
               "--impl", lang, "--bin-dir", out_dir]
    else:
        raise ValueError("guard %r: kind must be suite, twins or wire" % guard)
    try:
        r = tree.run(cmd, ROOT, env, timeout=GUARD_DEADLINE)
    except subprocess.TimeoutExpired:
        return True, "(no result within %d s: the mutant hangs)" % GUARD_DEADLINE
    out = r.stdout + r.stderr
    ran = re.search(r"\b1 (passed|failed)\b", out) or re.search(r"test result: \w+\. [01] passed; [01] failed", out)
    if not ran or re.search(r"\b0 passed; 0 failed", out):
        raise RuntimeError("guard %s did not run exactly one test:\n%s" % (guard, out[-2000:]))
    return r.returncode != 0, out


_exact_impl = None


def suite_supports_exact_impl():
    """Whether suite tests are named SCENARIO::IMPL (the libtest-style harness)."""
    global _exact_impl
    if _exact_impl is None:
        r = tree.run([suite_binary(), "--list"], ROOT, {"IMPL": "c"})
        _exact_impl = bool(re.search(r"^\S+::c: test$", r.stdout, re.M))
    return _exact_impl


# ------------------------------------------------------------------------------------------
# Showing what a student should see
# ------------------------------------------------------------------------------------------

def failure_excerpt(out, limit=30):
    """The part of a test run's output that explains the failure."""
    lines = out.splitlines()
    keep = [l for l in lines if not re.match(r"^(running \d+ tests?|test result:|\s*$|"
                                              r"\d+ passed|failures:$|\s{4}\S+ \[\w+\]$)", l)]
    keep = [l for l in keep if not l.startswith(("warning: ", "   Compiling", "    Finished"))]
    if len(keep) > limit:
        keep = keep[:limit] + ["    ... (%d more lines)" % (len(keep) - limit)]
    return "\n".join("      " + l for l in keep)


def strace_lines(strace_dir, pattern, limit=12):
    rx = re.compile(pattern)
    shown = []
    for name in sorted(os.listdir(strace_dir)):
        with open(os.path.join(strace_dir, name), errors="replace") as f:
            for line in f:
                if rx.search(line):
                    shown.append("      %s: %s" % (name.split(".")[2], line.rstrip()[:150]))
    if len(shown) > limit:
        shown = shown[:limit] + ["      ... (%d more)" % (len(shown) - limit)]
    return "\n".join(shown) or "      (no matching lines)"


def describe_mutant(mutant, pairs, n, lang="en"):
    t = TEXT[lang]
    dev = mutant.get("deviation")
    head = mutant.get("undone") or (t["deviation"] % dev if dev is not None else t["own_line"])
    lines = ["  " + t["head"] % (n, LANGS[mutant["lang"]], head, mutant["id"])]
    for path, (before, after) in pairs:
        lines.append("    %s" % path)
        for l in before.splitlines() or [""]:
            lines.append("      - %s" % l)
        for l in after.splitlines() or [""]:
            lines.append("      + %s" % l)
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------
# Commands
# ------------------------------------------------------------------------------------------

def cmd_list(pitfalls):
    lang = student_lang()
    t = TEXT[lang]
    print(t["list_head"])
    print("  make pitfall N=<number> IMPL=c|rust\n")
    for p in pitfalls:
        langs = []
        for code in LANGS:
            n = sum(1 for m in p["mutant"] if m["lang"] == code)
            eq = any(e["lang"] == code for e in p["equivalent"])
            plural = "" if n == 1 or lang == "ko" else "s"
            langs.append("%s %s" % (LANGS[code], t["mutants"] % (n, plural) if n
                                    else (t["same"] if eq else "-")))
        chapter = len(p["chapter_fails"])
        plural = "" if chapter == 1 or lang == "ko" else "s"
        print("%3d  %s %s; %s" % (p["n"], pad(title(p, lang), 62), ", ".join(langs),
                                  t["chapter_fails"] % (chapter, plural)))
    return 0


def cmd_run(pitfalls, n, langs):
    lang = student_lang()
    t = TEXT[lang]
    matches = [p for p in pitfalls if p["n"] == n]
    if not matches:
        print(t["no_such"] % n)
        return 2
    p = matches[0]
    print(t["pitfall"] % (p["n"], title(p, lang)))
    survived = 0
    for code in langs:
        for e in p["equivalent"]:
            if e["lang"] == code:
                print("\n  %s: %s" % (LANGS[code], t["by_design"] % e["why"]))
        mutants = [m for m in p["mutant"] if m["lang"] == code]
        if not mutants and not any(e["lang"] == code for e in p["equivalent"]):
            print("\n  %s: %s" % (LANGS[code], t["no_mutant"]))
        for m in mutants:
            _, pairs = mutated_files(m)
            print("\n" + describe_mutant(m, pairs, p["n"], lang))
            started = time.monotonic()
            out_dir = build_mutant(m, os.path.join(WORK, "out", m["id"]))
            print("    " + t["built"] % (time.monotonic() - started,
                                         os.path.relpath(out_dir, ROOT)))
            caught = False
            for g in m["guards"]:
                strace_dir = None
                if g.startswith("suite:") and shutil.which("strace") and m.get("strace"):
                    strace_dir = tempfile.mkdtemp(prefix="pitfall-trace-")
                failed, out = run_guard(g, code, out_dir, strace_dir)
                print("    " + t["guard"] % (g, t["caught_by"] if failed else t["survived_by"]))
                if failed:
                    caught = True
                    print(failure_excerpt(out))
                    if strace_dir:
                        print("    " + t["strace"] % m["strace"])
                        print(strace_lines(strace_dir, m["strace"]))
                if strace_dir:
                    shutil.rmtree(strace_dir, ignore_errors=True)
            print("    " + t["verdict"] % (t["caught"] if caught else t["survived"]))
            survived += not caught
    return 1 if survived else 0


def deviation_rows():
    """Rows of docs/deviations.md in tables said to be guarded by a test: {number: text}."""
    rows, guarded = {}, False
    with open(os.path.join(ROOT, "docs", "deviations.md"), encoding="utf-8") as f:
        for line in f:
            if line.startswith("#"):
                guarded = "guarded by a test" in line
            m = re.match(r"^\|\s*(\d+[a-z]?)\s*\|", line)
            if m and guarded:
                rows[m.group(1)] = line.strip()
    return rows


def validate(pitfalls):
    """Static checks; returns a list of problems."""
    problems = []
    with open(os.path.join(ROOT, "docs", "pitfalls.md"), encoding="utf-8") as f:
        doc = f.read()
    titles = {int(m.group(1)): m.group(2).strip() for m in
              re.finditer(r"^## (\d+)\. (.+)$", doc, re.M)}
    ids = set()
    for p in pitfalls:
        if p["n"] not in titles:
            problems.append("pitfall %d is not a section of docs/pitfalls.md" % p["n"])
        for m in p["mutant"]:
            if m["id"] in ids:
                problems.append("mutant id %s used twice" % m["id"])
            ids.add(m["id"])
            if m["lang"] not in LANGS:
                problems.append("mutant %s: lang must be c or rust" % m["id"])
            if not m.get("guards"):
                problems.append("mutant %s has no guards" % m["id"])
            try:
                mutated_files(m)
            except (Stale, OSError) as e:
                problems.append("stale mutant %s: %s" % (m["id"], e))
    for n in titles:
        if n not in {p["n"] for p in pitfalls}:
            problems.append("docs/pitfalls.md section %d has no entry in %s" % (
                n, os.path.relpath(REGISTRY, ROOT)))
    covered = {}
    for p in pitfalls:
        for m in p["mutant"]:
            covered.setdefault(str(m.get("deviation")), set()).add(m["lang"])
        for e in p["equivalent"]:
            covered.setdefault(str(e.get("deviation")), set()).add(e["lang"])
        for u in p["unguarded"]:
            covered.setdefault(str(u["deviation"]), set()).update(LANGS)
    for row, text in deviation_rows().items():
        langs = covered.get(row, set())
        missing = set(LANGS) - langs
        if missing:
            problems.append("docs/deviations.md row %s is said to be guarded but has no mutant "
                            "in %s" % (row, " and ".join(LANGS[l] for l in sorted(missing))))
    return problems


def cmd_check(pitfalls, langs, jobs):
    problems = validate(pitfalls)
    for pr in problems:
        print("problem: " + pr)
    mutants = [m for p in pitfalls for m in p["mutant"] if m["lang"] in langs]
    started = time.monotonic()
    results = {}

    def test(m, out_dir):
        outcome = []
        for g in m["guards"]:
            failed, out = run_guard(g, m["lang"], out_dir)
            outcome.append((g, failed, out))
        return outcome

    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {}
        for m in mutants:  # builds run one at a time in TREE; guards run while the next builds
            try:
                out_dir = build_mutant(m, os.path.join(WORK, "out", m["id"]))
            except (RuntimeError, Stale) as e:  # tree.BuildError is a RuntimeError
                results[m["id"]] = ("error", str(e))
                continue
            futures[pool.submit(test, m, out_dir)] = m
        for fut in concurrent.futures.as_completed(futures):
            m = futures[fut]
            try:
                outcome = fut.result()
            except Exception as e:  # a guard that could not run is a failure of the check
                results[m["id"]] = ("error", str(e))
                continue
            caught = [g for g, failed, _ in outcome if failed]
            missed = [g for g, failed, _ in outcome if not failed]
            results[m["id"]] = ("caught" if caught else "SURVIVED",
                                "caught by %s" % ", ".join(caught) if caught else
                                "no guard failed: %s" % ", ".join(missed))
    by_lang = {l: [0, 0] for l in LANGS}
    for m in mutants:
        verdict, detail = results.get(m["id"], ("error", "not run"))
        by_lang[m["lang"]][0] += 1
        by_lang[m["lang"]][1] += verdict == "caught"
        print("%-16s %-5s %-9s %s" % (m["id"], LANGS[m["lang"]], verdict, detail))
    summary = ", ".join("%s %d/%d caught" % (LANGS[l], c, n) for l, (n, c) in by_lang.items()
                        if l in langs)
    print("\npitfalls-check: %d mutants (%s) in %.0f s; %d problem%s" % (
        len(mutants), summary, time.monotonic() - started, len(problems),
        "" if len(problems) == 1 else "s"))
    bad = problems or any(v[0] != "caught" for v in results.values()) or \
        len(results) != len(mutants)
    return 1 if bad else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list")
    r = sub.add_parser("run")
    r.add_argument("n", type=int)
    r.add_argument("--impl", choices=["c", "rust", "both"], default="both")
    c = sub.add_parser("check")
    c.add_argument("--only", choices=["c", "rust"])
    c.add_argument("--jobs", type=int, default=2)
    sub.add_parser("validate")
    args = ap.parse_args()
    pitfalls = load()
    if args.cmd == "list":
        return cmd_list(pitfalls)
    if args.cmd == "validate":
        problems = validate(pitfalls)
        for pr in problems:
            print("problem: " + pr)
        n = sum(len(p["mutant"]) for p in pitfalls)
        print("pitfalls-validate: %d pitfalls, %d mutants, %d problem%s" % (
            len(pitfalls), n, len(problems), "" if len(problems) == 1 else "s"))
        return 1 if problems else 0
    if args.cmd == "run":
        langs = ["c", "rust"] if args.impl == "both" else [args.impl]
        return cmd_run(pitfalls, args.n, langs)
    langs = [args.only] if args.only else ["c", "rust"]
    return cmd_check(pitfalls, langs, args.jobs)


if __name__ == "__main__":
    sys.exit(main())
