#!/usr/bin/env python3
"""Chapter coverage of the book: every line of the chapter's code as printed
(c_reference/chapter/server.c, client.c, http.c) that is code, not a comment or a blank line,
must be included by some page of docs/ (`{{#include ../../c_reference/chapter/FILE:ANCHOR}}`,
the lines between `// ANCHOR: NAME` and `// ANCHOR_END: NAME`), so that no line of the chapter
goes unexplained; and every include of the English pages must have its twin in the Korean page
of the same name (the same file and anchor, and the same `{{#step}}` quotes of our code, see
tests/docs/book_steps.py), and every anchor included must exist.

Exempt: the two lines we added above the chapter's code, `#define _GNU_SOURCE` and
`#include "chapter.h"` (docs/deviations.md #1, #2; each file's header comment says so).
Includes of whole functions count too; an anchor's lines are those between its two marks,
other anchors' marks left out (as mdBook leaves them out).

Usage: tests/docs/chapter_coverage.py
python3 standard library only. Exit 0 when every chapter line is included, 1 otherwise.
"""
import glob
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHAPTER = ["c_reference/chapter/server.c", "c_reference/chapter/client.c",
           "c_reference/chapter/http.c"]
ADDED = {"#define _GNU_SOURCE", '#include "chapter.h"'}
INCLUDE = re.compile(r"(?<!\\)\{\{#include\s+([^:}\s]+)(?::([\w-]+))?\s*\}\}")
MARK = re.compile(r"ANCHOR(_END)?:\s*([\w-]+)")
STEP = re.compile(r"(?<!\\)\{\{#step\s+([^}]+?)\s*\}\}")


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


def anchors(path):
    """{name: set of line numbers between its marks}."""
    spans, open_at = {}, {}
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        for no, line in enumerate(f.read().split("\n"), 1):
            m = MARK.search(line)
            if not m:
                continue
            if m.group(1):
                if m.group(2) in open_at:
                    spans[m.group(2)] = set(range(open_at.pop(m.group(2)) + 1, no))
            else:
                open_at[m.group(2)] = no
    return spans


def pages():
    return sorted(glob.glob("docs/**/*.md", root_dir=ROOT, recursive=True))


def includes(page):
    """[(repository path, anchor or None)] of a page's includes."""
    text = open(os.path.join(ROOT, page), encoding="utf-8").read()
    base = os.path.dirname(page)
    return [(os.path.normpath(os.path.join(base, p)), a or None) for p, a in INCLUDE.findall(text)]


def steps(page):
    """The page's {{#step LANG FUNCTION MARKERS}} directives (tests/docs/book_steps.py), in order."""
    return STEP.findall(open(os.path.join(ROOT, page), encoding="utf-8").read())


def main():
    problems, quoted, n_inc = [], {}, 0
    cache = {}
    by_page, steps_of = {}, {}
    for page in pages():
        by_page[page] = includes(page)
        steps_of[page] = steps(page)
        for path, anchor in by_page[page]:
            n_inc += 1
            if not os.path.isfile(os.path.join(ROOT, path)):
                problems.append(f"{page}: includes {path}, which does not exist")
                continue
            if anchor is None:
                continue
            if path not in cache:
                cache[path] = anchors(path)
            if anchor not in cache[path]:
                problems.append(f"{page}: includes {path}:{anchor}, but {path} has no anchor '{anchor}'")
                continue
            quoted.setdefault(path, set()).update(cache[path][anchor])
    for page, incs in by_page.items():
        m = re.fullmatch(r"docs/(?!ko/)(.+\.md)", page)
        if m and f"docs/ko/{m.group(1)}" in by_page:
            ko = f"docs/ko/{m.group(1)}"
            strip = (lambda lst: [(re.sub(r"^docs/ko/", "docs/", p), a) for p, a in lst])
            if strip(incs) != strip(by_page[ko]):
                problems.append(f"{page} and {ko}: the includes differ "
                                f"({len(incs)} in English, {len(by_page[ko])} in Korean, or in another order)")
            if steps_of[page] != steps_of[ko]:
                problems.append(f"{page} and {ko}: the {{{{#step}}}} quotes of our code differ")
    total = 0
    for path in CHAPTER:
        lines = code_lines(path)
        total += len(lines)
        problems += [f"{path}:{no}: included by no page of docs/: {text.strip()}"
                     for no, text in lines if no not in quoted.get(path, ())]
    for p in problems:
        print(p)
    print(f"chapter_coverage: {total} lines of the chapter's code, {n_inc} includes in {len(pages())} pages: "
          f"{'every chapter line included, English and Korean in step' if not problems else f'{len(problems)} problems'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
