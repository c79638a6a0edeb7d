#!/usr/bin/env python3
"""Chapter coverage of the walkthrough: every line of the chapter's code as printed
(c_reference/chapter/server.c, client.c, http.c) that is code, not a comment or a blank line,
must lie inside some quoted range (<!-- quote: c_reference/chapter/FILE:A-B -->) of
docs/walkthrough.md, so that no line of the chapter goes unexplained. The Korean walkthrough
quotes the same ranges (quote_check.py enforces that), so it is covered too.

Exempt: the two lines we added above the chapter's code, `#define _GNU_SOURCE` and
`#include "chapter.h"` (docs/deviations.md #1, #2; each file's header comment says so).

Usage: tests/docs/chapter_coverage.py [DOC.md]   (default: docs/walkthrough.md)
python3 standard library only. Exit 0 when every chapter line is quoted, 1 otherwise.
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHAPTER = ["c_reference/chapter/server.c", "c_reference/chapter/client.c",
           "c_reference/chapter/http.c"]
ADDED = {"#define _GNU_SOURCE", '#include "chapter.h"'}
MARKER = re.compile(r"^<!-- quote: (\S+):(\d+)-(\d+) -->\s*$", re.M)


def code_lines(path):
    """[(line number, text)] of the lines that hold code: not blank, not only a comment."""
    out, in_block = [], False
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        for no, line in enumerate(f.read().split("\n"), 1):
            s = line.strip()
            if in_block:
                if "*/" in s:
                    in_block = False
                    s = s.split("*/", 1)[1].strip()
                else:
                    continue
            if s.startswith("/*"):
                if "*/" not in s:
                    in_block = True
                    continue
                s = s.split("*/", 1)[1].strip()
            if not s or s.startswith("//") or s in ADDED:
                continue
            out.append((no, line))
    return out


def main(argv):
    doc = argv[0] if argv else "docs/walkthrough.md"
    text = open(os.path.join(ROOT, doc), encoding="utf-8").read()
    quoted = {}
    for path, a, b in MARKER.findall(text):
        quoted.setdefault(path, set()).update(range(int(a), int(b) + 1))
    missing = []
    total = 0
    for path in CHAPTER:
        lines = code_lines(path)
        total += len(lines)
        missing += [f"{path}:{no}: not quoted in {doc}: {text.strip()}"
                    for no, text in lines if no not in quoted.get(path, ())]
    for m in missing:
        print(m)
    print(f"chapter_coverage: {total} lines of the chapter's code, "
          f"{'all quoted' if not missing else f'{len(missing)} not quoted'} in {doc}")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
