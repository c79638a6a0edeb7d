#!/usr/bin/env python3
"""make compare-twins: runs the function-level twin tests (tests/twins) and prints one row per
twin test, test | C | Rust, in the style of the suite's `make compare` table, ending with
`N twin tests, N same, M differ`. Coloured on a terminal, plain otherwise.

Each twin test `NAME` is the pair of libtest tests `NAME::c` and `NAME::rust` (see the
twin_test! macro in tests/twins/tests/twins.rs). Exit 1 when a row differs, a run failed or
is missing, or no twin test ran (e.g. the build failed: cargo's output is shown then).

Usage: compare.py                 runs `cargo test --release -p tcp-chapter-twins`
       compare.py --self-check    the parser and the table on canned results
"""
import os
import re
import subprocess
import sys
import tempfile

# The results are read from libtest's --logfile (one "ok NAME" / "failed NAME" / "ignored
# NAME" line per test), not from its stdout: there, a result line is written in pieces and
# the chapter functions' own printf/perror lines can land between "test NAME ... " and "ok".
LOG_LINE = re.compile(r"^(ok|failed|ignored) (\S+)::(c|rust)$")
RESULTS = {"ok": "ok", "failed": "FAILED", "ignored": "ignored"}


def parse(log):
    """{name: {"c": "ok"|"FAILED"|"ignored", "rust": ...}}, sorted by name."""
    rows = {}
    for line in log.splitlines():
        m = LOG_LINE.match(line.strip())
        if m:
            rows.setdefault(m.group(2), {})[m.group(3)] = RESULTS[m.group(1)]
    return dict(sorted(rows.items()))


def cell(result):
    if result == "ok":
        return "pass", "32"
    if result is None:
        return "-", "31;1"
    return ("FAIL" if result == "FAILED" else result), "31;1"


def render(rows, color):
    """The table and the summary line; also returns (differ, failed) counts."""
    def paint(text, width, code):
        padded = text.ljust(width)
        return f"\x1b[{code}m{padded}\x1b[0m" if color and code else padded

    table = []
    differ = failed = 0
    for name, r in rows.items():
        c, rust = r.get("c"), r.get("rust")
        differs = c != rust
        differ += differs
        failed += (c != "ok") or (rust != "ok")
        label = f"{name}  <- differs" if differs else name
        table.append(((label, "33;1" if differs else None), cell(c), cell(rust)))
    titles = ("twin test", "C", "Rust")
    widths = [max([len(t)] + [len(row[i][0]) for row in table]) for i, t in enumerate(titles)]
    out = [" | ".join(t.ljust(w) for t, w in zip(titles, widths)).rstrip()]
    out.append("-|-".join("-" * w for w in widths))
    for row in table:
        out.append(" | ".join(paint(t, w, code) for (t, code), w in zip(row, widths)).rstrip())
    n = len(rows)
    summary = f"{n} twin tests, {n - differ} same, {differ} differ"
    if failed:
        summary += f" ({failed} with a failed run)"
    out.append(summary)
    return "\n".join(out), differ, failed


def failures(text):
    """libtest's failure report (the `failures:` section with each failed test's output)."""
    i = text.find("\nfailures:\n")
    return text[i + 1:] if i >= 0 else ""


def self_check():
    canned = "ok b::c\nok a::c\nok a::rust\nfailed b::rust\nok c::c\nok not_a_twin\n"
    rows = parse(canned)
    assert rows == {"a": {"c": "ok", "rust": "ok"}, "b": {"c": "ok", "rust": "FAILED"},
                    "c": {"c": "ok"}}, rows
    table, differ, failed = render(rows, color=False)
    assert (differ, failed) == (2, 2), (differ, failed)
    assert table.splitlines()[-1] == "3 twin tests, 1 same, 2 differ (2 with a failed run)", table
    assert "b  <- differs | pass | FAIL" in table, table
    print("compare.py self-check: ok")


def main(argv):
    if argv[1:] == ["--self-check"]:
        self_check()
        return 0
    cargo = os.environ.get("CARGO", "cargo")
    with tempfile.TemporaryDirectory() as tmp:
        log = os.path.join(tmp, "results")
        proc = subprocess.run([cargo, "test", "--release", "-p", "tcp-chapter-twins", "--test",
                               "twins", "--", "--logfile", log],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        text, rc = proc.stdout.decode("utf-8", errors="replace"), proc.returncode
        rows = parse(open(log, encoding="utf-8").read()) if os.path.exists(log) else {}
    if not rows:
        sys.stdout.write(text)
        print("compare-twins: no twin test ran", file=sys.stderr)
        return 1
    table, differ, failed = render(rows, color=sys.stdout.isatty())
    print(table)
    if failed or rc != 0:
        sys.stdout.write("\n" + failures(text))
    return 1 if differ or failed or rc != 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
