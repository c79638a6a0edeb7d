#!/usr/bin/env python3
"""The chapter's code as printed (c_reference/chapter/) against ours (c_reference/), function by
function, as a unified diff of the code alone; each hunk is labelled with the row(s) of
docs/deviations.md that explain it.

Both sides are compared as code, not as text: comments are dropped, each statement is put on
a line of its own and re-indented, so a statement we merely re-wrapped is not a difference.
Two things are left out of every hunk and said once at the top: `perror_keep_errno` is shown
as `perror` (deviation #21, in every function) and `TRACE(...)` narration lines (#37).

A hunk is labelled by the `fix #N` tags of the comments on or just above the lines it adds or
changes in ours (c_reference/*.c). A hunk without a tag, a tag that is not a row of
docs/deviations.md, or a function whose Rust twin (src/*.rs) carries other tags than its C,
is reported and the exit status is 1: every difference from the chapter is a documented
deviation, in both languages.

Usage: chapter_diff.py [--check] [FUNCTION ...]   (--check: only the verdict, no diff)
python3 standard library only.
"""
import difflib
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUST_FILES = {"server.c": "src/server.rs", "client.c": "src/client.rs", "http.c": "src/http.rs"}
FUNCTIONS = [  # the chapter's functions, in the chapter's order, and where each lives
    ("setup_signal_handlers", "server.c"),
    ("create_tcp_server", "server.c"),
    ("handle_client", "server.c"),
    ("tcp_server_loop", "server.c"),
    ("tcp_client_connect", "client.c"),
    ("tcp_connect_nonblocking", "client.c"),
    ("simple_http_client", "http.c"),
]
TAG = re.compile(r"fix ((?:#\d+[a-z]?(?:, )?)+)")


def function_lines(path, name):
    """[(line number, text)] of function `name` in `path`, from its signature to its '}'."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    start = None
    for i, line in enumerate(lines):
        if re.match(r"^[A-Za-z].*\b%s\(" % re.escape(name), line) and not line.rstrip().endswith(";"):
            start = i
            break
    if start is None:
        raise SystemExit("%s: no function %s" % (path, name))
    for j in range(start, len(lines)):
        if lines[j].startswith("}"):
            return [(k + 1, lines[k]) for k in range(start, j + 1)]
    raise SystemExit("%s: %s has no closing brace" % (path, name))


def strip_comments(numbered):
    """The same lines without comments (// and /* */), string literals kept intact."""
    out, in_block = [], False
    for no, text in numbered:
        res, i, in_str = [], 0, None
        while i < len(text):
            c = text[i]
            if in_block:
                if text.startswith("*/", i):
                    in_block, i = False, i + 2
                else:
                    i += 1
                continue
            if in_str:
                res.append(c)
                if c == "\\" and i + 1 < len(text):
                    res.append(text[i + 1])
                    i += 2
                    continue
                if c == in_str:
                    in_str = None
                i += 1
                continue
            if c in "\"'":
                in_str = c
            elif text.startswith("//", i):
                break
            elif text.startswith("/*", i):
                in_block, i = True, i + 2
                continue
            res.append(c)
            i += 1
        out.append((no, "".join(res)))
    return out


def statements(numbered):
    """Splits code into statements: [(first line, last line, text)], whitespace collapsed."""
    out, cur, first, depth = [], [], None, 0
    in_str = None

    def flush(last):
        nonlocal cur, first
        text = re.sub(r"\s+", " ", "".join(cur)).strip()
        if text:
            out.append((first, last, text))
        cur, first = [], None

    for no, text in numbered:
        for i, c in enumerate(text):
            if first is None and not c.isspace():
                first = no
            cur.append(c)
            if in_str:
                if c == in_str and text[i - 1] != "\\":
                    in_str = None
                continue
            if c in "\"'":
                in_str = c
            elif c == "(" or (c == "{" and "".join(cur[:-1]).rstrip().endswith("=")):
                depth += 1  # an initializer's braces are not a block
            elif c == ")" or (c == "}" and depth > 0):
                depth -= 1
            elif depth == 0 and c in ";{}":
                if c == "}" and len(cur) > 1:  # "} else {" stays one line with its brace
                    cur.pop()
                    flush(no)
                    first = no
                    cur.append(c)
                flush(no)
        cur.append(" ")
    flush(numbered[-1][0] if numbered else 0)
    return merge_else(out)


def merge_else(stmts):
    """Joins `}` with a following `else ...{` so both styles of else read the same."""
    out = []
    for s in stmts:
        if out and out[-1][2] == "}" and s[2].startswith("else"):
            first = out.pop()[0]
            out.append((first, s[1], "} " + s[2]))
        else:
            out.append(s)
    return out


def normalise(text):
    text = re.sub(r"\bperror_keep_errno\(", "perror(", text)
    text = re.sub(r"\s*,\s*}", " }", text)            # trailing comma in an initializer
    text = re.sub(r"\(\s+", "(", text)
    text = re.sub(r"\s+\)", ")", text)
    text = re.sub(r"\s*,\s*", ", ", text)
    text = re.sub(r"^#\s*", "#", text)
    return text


def code_lines(numbered):
    """Normalised, re-indented statements: [(first, last, text)], TRACE lines dropped."""
    stmts, depth, out = statements(strip_comments(numbered)), 0, []
    for first, last, text in stmts:
        text = normalise(text)
        # a preprocessor line ends at its newline, not at ; { }: split it off
        while text.startswith("#"):
            m = re.match(r"(#ifdef \w+|#endif) ?(.*)$", text)
            if not m:
                break
            out.append((first, first, "    " * depth + m.group(1)))
            text = m.group(2)
        if not text:
            continue
        if "TRACE(" in text or "traced_echo" in text:  # the narration and its flag (#37)
            continue
        if text.startswith("}"):
            depth = max(depth - 1, 0)
        out.append((first, last, "    " * depth + text))
        if text.endswith("{"):
            depth += 1
        # an else that only narrated (its TRACE dropped) is no difference
        if text.strip() == "}" and out[-2][2].strip() == "} else {":
            del out[-2]
    return out


def tags_near(path, first, last):
    """The fix tags in our source on lines first-3 .. last (comments above a change count)."""
    found = []
    with open(path, encoding="utf-8") as f:
        numbered = list(enumerate(f.read().split("\n"), start=1))
    for no, text in numbered:
        if first - 3 <= no <= last:
            for group in TAG.findall(text):
                for t in re.findall(r"#(\d+[a-z]?)", group):
                    if t not in found:
                        found.append(t)
    return found


def tags_of_function(path, start_re):
    """The fix tags in a function (from the line matching start_re to its lone '}') and in
    the comment block right above it."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    start = next((i for i, l in enumerate(lines) if re.match(start_re, l)), None)
    if start is None:
        raise SystemExit("%s: no line matching %s" % (path, start_re))
    begin = start
    while begin > 0 and re.match(r"^\s*(///|//|/\*|\*)", lines[begin - 1]):
        begin -= 1
    end = next(i for i in range(start, len(lines)) if lines[i].startswith("}"))
    found = set()
    for text in lines[begin:end + 1]:
        for group in TAG.findall(text):
            found.update(re.findall(r"#(\d+[a-z]?)", group))
    return found


def twin_tags(name, file):
    """A problem when the C and the Rust of a function do not carry the same fix tags."""
    c = tags_of_function(os.path.join(ROOT, "c_reference", file),
                         r"^[A-Za-z].*\b%s\((?!.*;\s*$)" % name)
    rust = tags_of_function(os.path.join(ROOT, RUST_FILES[file]),
                            r"^pub unsafe fn %s\(" % name)
    if c == rust:
        return []
    return ["%s: fix tags differ between C (%s) and Rust (%s)" % (
        name, ", ".join("#" + t for t in sorted(c)) or "none",
        ", ".join("#" + t for t in sorted(rust)) or "none")]


def deviation_rows():
    rows = set()
    with open(os.path.join(ROOT, "docs", "deviations.md"), encoding="utf-8") as f:
        for line in f:
            m = re.match(r"^\|\s*(\d+[a-z]?)\s*\|", line)
            if m:
                rows.add(m.group(1))
    return rows


def diff_function(name, file, show, rows):
    chapter_src = function_lines(os.path.join(ROOT, "c_reference", "chapter", file), name)
    ours_src = function_lines(os.path.join(ROOT, "c_reference", file), name)
    a, b = code_lines(chapter_src), code_lines(ours_src)
    sm = difflib.SequenceMatcher(a=[t for _, _, t in a], b=[t for _, _, t in b], autojunk=False)
    problems, hunks = [], 0
    for group in sm.get_grouped_opcodes(1):
        hunks += 1
        changed = [(j1, j2) for tag, i1, i2, j1, j2 in group if tag != "equal"]
        lo = min((j1 for j1, j2 in changed), default=0)
        hi = max((j2 for j1, j2 in changed), default=0)
        if hi > lo:
            span = (b[lo][0], b[hi - 1][1])
        else:  # a pure deletion: look around where it was
            k = min(lo, len(b) - 1)
            span = (b[max(k - 1, 0)][0], b[k][1])
        tags = tags_near(os.path.join(ROOT, "c_reference", file), *span)
        unknown = [t for t in tags if t not in rows]
        where = "c_reference/%s:%d-%d" % (file, span[0], span[1])
        if not tags:
            label = "NOT EXPLAINED: no 'fix #N' tag at %s" % where
            problems.append("%s: hunk at %s has no 'fix #N' tag" % (name, where))
        else:
            ordered = sorted(tags, key=lambda t: (int(re.match(r"\d+", t).group()), t))
            label = "deviation " + ", ".join("#" + t for t in ordered) + " (%s)" % where
        if unknown:
            problems.append("%s: tag(s) %s at %s are not rows of docs/deviations.md" % (
                name, ", ".join("#" + t for t in unknown), where))
        if show:
            i1, i2 = group[0][1], group[-1][2]
            j1, j2 = group[0][3], group[-1][4]
            print("@@ -%d,%d +%d,%d @@ %s: %s" % (i1 + 1, i2 - i1, j1 + 1, j2 - j1, name, label))
            for tag, x1, x2, y1, y2 in group:
                if tag == "equal":
                    for _, _, t in a[x1:x2]:
                        print("  " + t)
                    continue
                for _, _, t in a[x1:x2]:
                    print("- " + t)
                for _, _, t in b[y1:y2]:
                    print("+ " + t)
    return hunks, problems


def main():
    args = [x for x in sys.argv[1:] if not x.startswith("--")]
    check = "--check" in sys.argv
    wanted = [f for f in FUNCTIONS if not args or f[0] in args]
    if args and len(wanted) != len(args):
        raise SystemExit("functions: " + " ".join(f for f, _ in FUNCTIONS))
    rows = deviation_rows()
    if not check:
        print("--- c_reference/chapter/ (the chapter's code as printed)")
        print("+++ c_reference/ (ours)")
        print("Code only: comments dropped, one statement per line. Everywhere, and not shown:")
        print("perror_keep_errno() is shown as perror() (#21); TRACE() narration is left out (#37).")
    total, problems = 0, []
    for name, file in wanted:
        if not check:
            print("\n==== %s (c_reference/chapter/%s -> c_reference/%s)" % (name, file, file))
        hunks, probs = diff_function(name, file, not check, rows)
        probs += twin_tags(name, file)
        if not check and hunks == 0:
            print("(same code)")
        total += hunks
        problems += probs
    print("\nchapter-diff: %d functions, %d hunks; %d problem%s (a hunk no row of "
          "docs/deviations.md explains, or C and Rust tagged differently)" % (
              len(wanted), total, len(problems), "" if len(problems) == 1 else "s"))
    for p in problems:
        print("  " + p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
