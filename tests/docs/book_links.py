#!/usr/bin/env python3
"""After mdbook build (make book): the links of the built pages that leave their language's book.

The sources link as the repository lays them out: docs/X.md to ko/X.md (its Korean version) and
to ../c_reference/server.c, docs/ko/X.md to ../X.md and ../../src/server.rs. mdBook keeps such a
link as written (a .md one becomes .html), so in build/book/en/X.html `ko/X.html` and
`../c_reference/server.c` point at nothing. Each such link is resolved here as in the sources and
rewritten to the built page (build/book/ko/X.html, build/book/en/X.html) or, for a file of the
repository, to that file in the working tree (the book is opened from the clone, file://).

Usage: tests/docs/book_links.py BOOK_DIR   (python3 standard library only)
"""
import html
import os
import re
import sys
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SRC = {"en": os.path.join(ROOT, "docs"), "ko": os.path.join(ROOT, "docs", "ko")}
ATTR = re.compile(r'(\s(?:href|src)=")([^"#?]*)([?#][^"]*)?(")')


def built_for(source, book):
    """The built file for a source path of docs/, or None when it is not part of the book."""
    rel_ko = os.path.relpath(source, SRC["ko"])
    if not rel_ko.startswith(".."):
        lang, rel = "ko", rel_ko
    else:
        rel_en = os.path.relpath(source, SRC["en"])
        if rel_en.startswith(".."):
            return None
        lang, rel = "en", rel_en
    base, ext = os.path.splitext(rel)
    for cand in ([base + ".html"] if ext in (".md", ".html") else []) + [rel]:
        for where in (os.path.join(book, lang, cand), os.path.join(book, cand)):
            if os.path.exists(where):
                return where
    return None


def fix_page(page, lang, book):
    rel_page = os.path.relpath(page, os.path.join(book, lang))
    if rel_page == "print.html":  # mdBook writes the print page's links relative to the root
        rel_page = "index.html"
    src_dir = os.path.dirname(os.path.join(SRC[lang], rel_page))
    out_dir = os.path.dirname(page)
    text = open(page, encoding="utf-8").read()
    changed = 0

    def repl(m):
        nonlocal changed
        target = html.unescape(m.group(2))
        if not target or re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith("/"):
            return m.group(0)
        path = urllib.parse.unquote(target)
        if os.path.exists(os.path.normpath(os.path.join(out_dir, path))):
            return m.group(0)
        source = os.path.normpath(os.path.join(src_dir, path))
        new = built_for(source, book)
        if new is None:
            if source.endswith(".html") and os.path.exists(source[:-5] + ".md"):
                source = source[:-5] + ".md"
            if not os.path.exists(source) or os.path.relpath(source, ROOT).startswith(".."):
                return m.group(0)  # broken in the sources too: the browser check reports it
            new = source
        changed += 1
        return m.group(1) + urllib.parse.quote(os.path.relpath(new, out_dir)) + (m.group(3) or "") + m.group(4)

    text = ATTR.sub(repl, text)
    if changed:
        with open(page, "w", encoding="utf-8") as f:
            f.write(text)
    return changed


def main(argv):
    book = os.path.abspath(argv[0])
    total = 0
    for lang in ("en", "ko"):
        for dirpath, _, names in os.walk(os.path.join(book, lang)):
            for n in names:
                if n.endswith(".html"):
                    total += fix_page(os.path.join(dirpath, n), lang, book)
    print(f"book_links: {total} links rewritten to the other language's pages or the repository's files")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
