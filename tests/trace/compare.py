#!/usr/bin/env python3
"""Pairs the C and Rust syscall traces of each scenario and compares them.

DIR holds files `<scenario>.<impl>.<program>.<seq>.trace`, written by the suite when run with
SUITE_STRACE_DIR=DIR. The C and Rust traces of the same scenario, program and seq are
normalised (normalise.py) and compared process by process. A scenario is `same` when every
pair is equal. For one that differs, both normalised sequences are printed side by side
with the first difference marked `>>`.

Usage: compare.py DIR [--json] [--quiet]
  --json   one JSON object {scenario: "same"|"differs"|"allowlisted"} on stdout instead
  exit status 1 if any scenario differs (allowlisted ones do not count), 2 on bad usage.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import normalise  # noqa: E402

# Scenarios whose traces stay timing-dependent after normalisation, with the reason.
# Keep this as short as possible: first try to normalise.
ALLOWLIST = {
}


def collect(d):
    """-> {scenario: {(program, seq): {impl: path}}}"""
    out = {}
    for f in sorted(os.listdir(d)):
        if not f.endswith(".trace"):
            continue
        parts = f[: -len(".trace")].rsplit(".", 3)
        if len(parts) != 4:
            continue
        scenario, impl, prog, seq = parts
        out.setdefault(scenario, {}).setdefault((prog, int(seq)), {})[impl] = os.path.join(d, f)
    return out


def load(path):
    with open(path, errors="replace") as fh:
        return normalise.normalise(fh.read())


def side_by_side(a, b, diff, width=70):
    rows = []
    for p in range(max(len(a), len(b))):
        pa = a[p] if p < len(a) else []
        pb = b[p] if p < len(b) else []
        rows.append("  -- %s%s" % (normalise.process_label(p), " (C killed)" * normalise.killed(pa)
                                   + " (Rust killed)" * normalise.killed(pb)))
        if p >= len(a) or p >= len(b):
            rows.append(">> (process missing in %s)" % ("C" if p >= len(a) else "Rust"))
        for i in range(max(len(pa), len(pb))):
            left = pa[i] if i < len(pa) else ""
            right = pb[i] if i < len(pb) else ""
            mark = ">>" if diff == (p, i) else ("  " if left == right else " ~")
            cut = lambda s: s if len(s) <= width else s[: width - 3] + "..."
            rows.append("%s %-*s | %s" % (mark, width, cut(left), cut(right)))
    return "\n".join(rows)


def compare_scenario(runs):
    """-> (same?, report text for the differing pairs)"""
    reports = []
    for (prog, seq), impls in sorted(runs.items()):
        c, r = impls.get("c"), impls.get("rust")
        if c is None or r is None:
            reports.append("%s #%d: only the %s run was traced" % (prog, seq, "C" if c else "Rust"))
            continue
        a, b = load(c), load(r)
        diff = normalise.first_difference(a, b)
        if diff is not None:
            reports.append("%s #%d: first difference in %s, line %d\n%-73s | %s\n%s" % (
                prog, seq, normalise.process_label(diff[0]), diff[1] + 1,
                "   C", "Rust", side_by_side(a, b, diff)))
    return not reports, "\n".join(reports)


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--")]
    if len(args) != 1 or not os.path.isdir(args[0]):
        print(__doc__, file=sys.stderr)
        return 2
    as_json = "--json" in argv
    verdicts, differ = {}, 0
    for scenario, runs in sorted(collect(args[0]).items()):
        same, report = compare_scenario(runs)
        if same:
            verdicts[scenario] = "same"
        elif scenario in ALLOWLIST:
            verdicts[scenario] = "allowlisted"
        else:
            verdicts[scenario] = "differs"
            differ += 1
        if as_json:
            continue
        note = " (allowlisted: %s)" % ALLOWLIST[scenario] if verdicts[scenario] == "allowlisted" else ""
        print("%-66s %s%s" % (scenario, verdicts[scenario], note))
        if not same and "--quiet" not in argv:
            print("\n".join("    " + line for line in report.splitlines()))
    if as_json:
        print(json.dumps(verdicts, indent=1))
    else:
        n = len(verdicts)
        allowed = sum(v == "allowlisted" for v in verdicts.values())
        print("%d scenarios traced, %d same, %d differ, %d allowlisted" % (
            n, n - differ - allowed, differ, allowed))
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
