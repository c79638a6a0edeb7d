#!/usr/bin/env python3
"""Quoted-code check for the docs: every fenced block preceded by a marker

    <!-- quote: c_reference/server.c:42-47 -->

must equal lines 42..47 (1-based, inclusive) of that file, byte for byte; and every ```c or
```rust block must carry such a marker, so no quote can drift unchecked. On a mismatch the
report says where the quoted text is now, when it is still in the file. The English and the
Korean walkthrough must quote the same ranges in the same order, under the same number of
section headings (they are translations of each other).

Usage: tests/docs/quote_check.py [DOC.md ...]   (default: docs/walkthrough.md docs/ko/walkthrough.md)
       tests/docs/quote_check.py --fill DOC.md  (authoring aid: rewrite each quoted block from
                                                 its range; review the diff before committing)
python3 standard library only. Exit 0 when every quote matches, 1 otherwise.
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_DOCS = ["docs/walkthrough.md", "docs/ko/walkthrough.md"]
MARKER = re.compile(r"^<!-- quote: (\S+):(\d+)-(\d+) -->\s*$")
FENCE = re.compile(r"^(```+|~~~+)\s*(\w*)\s*$")


def blocks(lines):
    """Yields (marker match or None, fence line index, language, body line indices)."""
    i, pending = 0, None
    while i < len(lines):
        m = MARKER.match(lines[i])
        if m:
            pending = (m, i)
            i += 1
            continue
        f = FENCE.match(lines[i])
        if f:
            start, fence, lang = i, f.group(1), f.group(2)
            i += 1
            body = []
            while i < len(lines) and lines[i].rstrip() != fence:
                body.append(i)
                i += 1
            marker = pending[0] if pending and pending[1] == start - 1 else None
            yield marker, start, lang, body
            pending = None
        elif lines[i].strip():
            pending = None
        i += 1


def source_lines(path, cache={}):
    if path not in cache:
        full = os.path.join(ROOT, path)
        cache[path] = open(full, encoding="utf-8").read().split("\n") if os.path.isfile(full) else None
    return cache[path]


def find(src, quoted):
    n = len(quoted)
    return [k + 1 for k in range(len(src) - n + 1) if src[k:k + n] == quoted]


def check(doc, fill=False):
    text = open(os.path.join(ROOT, doc), encoding="utf-8").read()
    lines = text.split("\n")
    errors, out, replaced, count = [], list(lines), {}, 0
    for marker, start, lang, body in blocks(lines):
        where = f"{doc}:{start + 1}"
        if marker is None:
            if lang in ("c", "rust"):
                errors.append(f"{where}: ```{lang} block without a <!-- quote: PATH:A-B --> marker")
            continue
        count += 1
        path, a, b = marker.group(1), int(marker.group(2)), int(marker.group(3))
        src = source_lines(path)
        if src is None:
            errors.append(f"{where}: {path}: no such file")
            continue
        if not 1 <= a <= b <= len(src):
            errors.append(f"{where}: {path}:{a}-{b} is outside the file ({len(src)} lines)")
            continue
        want = src[a - 1:b]
        got = [lines[k] for k in body]
        if fill:
            replaced[start] = (body, want)
        elif got != want:
            now = find(src, got)
            hint = (f"; the quoted text is now at {path}:{now[0]}-{now[0] + len(got) - 1}"
                    if now else "; the quoted text is no longer in the file")
            errors.append(f"{where}: block differs from {path}:{a}-{b}{hint}")
    if fill:
        for start in sorted(replaced, reverse=True):
            body, want = replaced[start]
            out[start + 1:start + 1 + len(body)] = want
        with open(os.path.join(ROOT, doc), "w", encoding="utf-8") as f:
            f.write("\n".join(out))
    if count == 0:
        errors.append(f"{doc}: no quoted blocks found")
    return count, errors


def skeleton(doc):
    """The quoted ranges and the number of headings per level: equal in both languages."""
    text = open(os.path.join(ROOT, doc), encoding="utf-8").read()
    quotes = [m.groups() for m in (MARKER.match(l) for l in text.split("\n")) if m]
    heads = [len(m.group(1)) for m in re.finditer(r"^(#+) ", text, re.M)]
    return quotes, heads


def main(argv):
    fill = "--fill" in argv
    docs = [a for a in argv if a != "--fill"] or DEFAULT_DOCS
    total, errors = 0, []
    for doc in docs:
        n, errs = check(doc, fill)
        total += n
        errors += errs
    en, ko = DEFAULT_DOCS
    if en in docs and ko in docs:
        (qe, he), (qk, hk) = skeleton(en), skeleton(ko)
        if qe != qk:
            first = next((i for i, (a, b) in enumerate(zip(qe, qk)) if a != b), min(len(qe), len(qk)))
            errors.append(f"{en} and {ko} quote different ranges (first difference: quote #{first + 1})")
        if he != hk:
            errors.append(f"{en} and {ko} differ in their section headings ({len(he)} vs {len(hk)})")
    for e in errors:
        print(e)
    print(f"quote_check: {total} quoted blocks in {len(docs)} files, "
          f"{'ok' if not errors else f'{len(errors)} problems'}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
