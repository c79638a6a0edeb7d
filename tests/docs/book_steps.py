#!/usr/bin/env python3
"""mdBook preprocessor of the book (docs/book.toml, docs/ko/book.toml): our C and Rust of one
chapter step, quoted from the real function, so a step's page can show the chapter's lines, our
C and our Rust side by side without a line range that goes stale and without anchor lines
inside the functions' bodies.

    {{#step c create_tcp_server Step 1:}}            our C of step 1 of create_tcp_server
    {{#step rust create_tcp_server Step 5:|fix #14:}}  two step comments, one after the other
    {{#step c handle_client ^|Who connected:}}       ^: the signature up to the first step

A step is named by a step comment of tests/labs/labs.toml (the text a comment of the body
starts with, e.g. `Step 1:`), found by the labs' own parser (tests/labs/labs.py, which
`make labs-validate` keeps in step with the sources); it runs from that comment to the next
step comment of the function (or the closing brace). A marker that names no comment stops
the build with a message.

Usage: as an mdBook preprocessor (`supports RENDERER` answers yes; otherwise the book's JSON on
stdin, the book on stdout). python3 (3.11+) standard library only.
"""
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "labs"))
import labs  # noqa: E402

DIRECTIVE = re.compile(r"(?<!\\)\{\{#step\s+(c|rust)\s+(\w+)\s+([^}]+?)\s*\}\}")
_cache = {}


def step_lines(lang, function, markers):
    key = (lang, function)
    if key not in _cache:
        lab = labs.find(labs.load(), function)
        path = os.path.join(ROOT, lab.file(lang))
        text = open(path, encoding="utf-8").read()
        begin, _ = labs.source.function_span(text, lab.start(lang))
        a, b = labs.source.body_span(text, lab.start(lang))
        lines = text.split("\n")
        line_of = (lambda offset: text.count("\n", 0, offset))
        first_body = line_of(a)
        comments = [c for cs in labs.step_comments(lab, lang, text).values() for c in cs]
        # each step comment's first line in the file: find its lines in the body, in order
        starts, pos = {}, first_body
        body_lines = lines
        for c in sorted(comments, key=lambda c: _find(body_lines, c.lines, first_body)):
            at = _find(body_lines, c.lines, first_body)
            starts[c.text] = at
        _cache[key] = (lines, line_of(begin), sorted(starts.items(), key=lambda kv: kv[1]), line_of(b))
    lines, sig, starts, close = _cache[key]
    out = []
    for marker in markers.split("|"):
        marker = marker.strip()
        if marker == "^":
            lo, hi = sig, starts[0][1] if starts else close
        else:
            hits = [i for i, (t, _) in enumerate(starts) if t.startswith(marker)]
            if len(hits) != 1:
                raise SystemExit(f"book_steps: {lang} {function}: {len(hits)} step comments start with {marker!r} "
                                 f"(the markers are the comments of tests/labs/labs.toml)")
            i = hits[0]
            lo = starts[i][1]
            hi = starts[i + 1][1] if i + 1 < len(starts) else close + 1
        chunk = lines[lo:hi]
        while chunk and not chunk[-1].strip():
            chunk.pop()
        if out:
            out.append("")
        out += chunk
    return "\n".join(out)


def _find(lines, needle, start):
    for i in range(start, len(lines)):
        if lines[i:i + len(needle)] == needle:
            return i
    raise SystemExit("book_steps: a step comment was not found again in its file")


def rewrite(text):
    return DIRECTIVE.sub(lambda m: step_lines(m.group(1), m.group(2), m.group(3)), text)


def walk(node):
    if isinstance(node, dict):
        ch = node.get("Chapter")
        if isinstance(ch, dict) and isinstance(ch.get("content"), str):
            ch["content"] = rewrite(ch["content"])
        for v in node.values():
            walk(v)
    elif isinstance(node, list):
        for v in node:
            walk(v)


def main(argv):
    if len(argv) > 1 and argv[1] == "supports":
        return 0
    context, book = json.load(sys.stdin)
    walk(book)
    json.dump(book, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
