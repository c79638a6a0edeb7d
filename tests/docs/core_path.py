#!/usr/bin/env python3
"""The core path's time: what "여기서 시작: 8-12시간" (docs/ko/start.md, docs/start.md) asks of a
student, computed from the files it links, and a failure above the limit.

The core part of a start page is everything before its "더 깊이" / "Going deeper" heading
(level 2). Each level-3 heading in it is one item of the plan. An item's time is:

* reading, for every file its links name (a relative link; `#anchor` narrows it to that
  section: the heading with that anchor down to the next heading of the same or a higher
  level): Markdown prose in docs/ko/ at `ko_chars_per_minute` characters (spaces included,
  link targets and HTML tags left out), prose elsewhere at `en_words_per_minute` words, code
  (fenced or indented blocks, any non-Markdown file) at `code_lines_per_minute` non-blank
  lines; mdBook's `{{#include path}}`, `path:anchor`, `path:start:end` (and `rustdoc_include`)
  resolved to the lines they pull in, inside a code block as code, outside as Markdown of the
  including page's language;
* doing, stated in tests/docs/core_path.toml: minutes for every page with hands-on work
  (`[pages]`), every `make ...` command the item names in code (`[commands]`), and every lab it
  starts (`make lab-start LAB=name LANG=c`: `[labs]`, writing minutes plus the measured check
  loop: the first check, which builds the tree's copies, then the others, as many as a student
  runs).

Each file, section or included range counts once on the path, wherever it appears again (a
self-check page included at the end of a core page and again in the self-check page). The
start page itself is read too.

Fails (exit 1) on a linked file, anchor, include or include anchor that does not exist, on a
command or lab of the core part without a stated time, on a start page without a core part,
on an item whose heading states a time ("(45분)", "(1 h 40 min)") more than 10 minutes and 20%
away from the computed one (the page must say what the files take), and when a start page's
total is above `limit_hours`. Prints the figure per item and the total.

Usage: tests/docs/core_path.py [START.md ...]   (default: docs/ko/start.md docs/start.md)
python3 standard library only (tomllib: Python 3.11).
"""
import os
import re
import sys
import tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(ROOT, "tests", "docs", "core_path.toml")

FENCE = re.compile(r"^\s*(```+|~~~+)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
INCLUDE = re.compile(r"(?<!\\)\{\{#(?:include|rustdoc_include)\s+([^}\s]+)\s*\}\}")
LINK = re.compile(r"(?<!!)\[([^\]]*)\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
DEEPER = re.compile(r"더 깊이|going deeper", re.I)


# How far an item's stated time may be from the computed one (minutes, or a part of it).
TOLERANCE_MIN = 10
TOLERANCE_PART = 0.2


class PathError(Exception):
    pass


def rel(path):
    return os.path.relpath(path, ROOT)


def read_lines(path, why):
    if not os.path.isfile(path):
        raise PathError(f"{why}: {rel(path)} does not exist")
    with open(path, encoding="utf-8") as f:
        return f.read().split("\n")


def slug(title):
    """mdBook's (and GitHub's) heading id: markup dropped, lower case, spaces to '-'."""
    title = re.sub(r"<[^>]*>|`|\*|\[([^\]]*)\]\([^)]*\)", r"\1", title).strip().lower()
    return re.sub(r"\s", "-", re.sub(r"[^\w\- ]", "", title))


def section(lines, anchor, path):
    """The lines of the section whose heading has this anchor (heading included)."""
    fence = None
    start = level = None
    for i, line in enumerate(lines):
        f = FENCE.match(line)
        if fence:
            if f and f.group(1)[0] == fence[0] and len(f.group(1)) >= len(fence):
                fence = None
            continue
        if f:
            fence = f.group(1)
            continue
        h = HEADING.match(line)
        if not h:
            continue
        if start is not None and len(h.group(1)) <= level:
            return lines[start:i]
        if start is None and slug(h.group(2)) == anchor:
            start, level = i, len(h.group(1))
    if start is None:
        raise PathError(f"{rel(path)} has no heading with the anchor #{anchor}")
    return lines[start:]


def first_include(inc, base, why, tally):
    """The file and lines of an {{#include}} match; the lines only the first time this path
    and anchor are included on the path (a student reads a quote once), else []."""
    spec = inc.group(1)
    ipath, ilines = include_lines(spec, base, why)
    key = ("include", ipath, spec.split(":", 1)[1] if ":" in spec else "")
    if key in tally.seen:
        return ipath, []
    tally.seen.add(key)
    return ipath, ilines


def include_lines(spec, base, why):
    """The lines an mdBook include pulls in: path, path:anchor, path:start:end (1-based)."""
    parts = spec.split(":")
    path = os.path.normpath(os.path.join(base, parts[0]))
    lines = read_lines(path, why)
    if len(parts) == 1:
        out = lines
    elif len(parts) == 2 and not parts[1].isdigit():
        name = parts[1]
        begin = [i for i, l in enumerate(lines) if re.search(rf"ANCHOR:\s*{re.escape(name)}\b", l)]
        end = [i for i, l in enumerate(lines) if re.search(rf"ANCHOR_END:\s*{re.escape(name)}\b", l)]
        if not begin or not end or end[0] < begin[0]:
            raise PathError(f"{why}: {rel(path)} has no ANCHOR {name} ... ANCHOR_END {name}")
        out = lines[begin[0] + 1:end[0]]
    else:
        a = int(parts[1]) if parts[1] else 1
        b = int(parts[2]) if len(parts) > 2 and parts[2] else len(lines)
        if len(parts) == 2:
            b = a
        if not 1 <= a <= b <= len(lines):
            raise PathError(f"{why}: {rel(path)} has {len(lines)} lines, not {a}-{b}")
        out = lines[a - 1:b]
    return path, [l for l in out if not re.search(r"ANCHOR(_END)?:", l)]


class Tally:
    """Characters, words and code lines read, and the files and ranges already counted."""

    def __init__(self, seen):
        self.chars = self.words = self.code = 0
        self.seen = seen
        self.sources = []

    def minutes(self, rates):
        return (self.chars / rates["ko_chars_per_minute"] + self.words / rates["en_words_per_minute"]
                + self.code / rates["code_lines_per_minute"])


def prose_text(line):
    line = re.sub(r"\]\([^)]*\)", "]", line)            # link targets are not read
    line = re.sub(r"<[^>]*>", "", line)                  # nor HTML tags
    line = re.sub(r"^\s*\|?[\s:|-]*\|[\s:|-]*$", "", line)  # a table's |---| line
    line = re.sub(r"^\s*#+\s*|^\s*[-*>]\s+|\*\*|\|", " ", line)
    return line.strip()


def measure_markdown(lines, path, korean, tally, why):
    base = os.path.dirname(path)
    fence = None
    prev_blank = True
    for line in lines:
        f = FENCE.match(line)
        if fence is None and f:
            fence = f.group(1)
            continue
        if fence is not None:
            if f and f.group(1)[0] == fence[0] and len(f.group(1)) >= len(fence):
                fence = None
                continue
            inc = INCLUDE.search(line)
            if inc:
                ipath, ilines = first_include(inc, base, f"{why}, {rel(path)}", tally)
                if ilines:
                    tally.code += sum(1 for l in ilines if l.strip())
            elif line.strip():
                tally.code += 1
            continue
        if line.startswith("    ") and prev_blank and not line.lstrip().startswith(("-", "*", "|")) \
                and line.strip():
            tally.code += 1
            continue
        prev_blank = not line.strip() or (prev_blank and line.startswith("    "))
        inc = INCLUDE.search(line)
        if inc:
            ipath, ilines = first_include(inc, base, f"{why}, {rel(path)}", tally)
            if ilines and ipath.endswith(".md"):
                measure_markdown(ilines, ipath, korean, tally, why)
            elif ilines:
                tally.code += sum(1 for l in ilines if l.strip())
            line = INCLUDE.sub("", line)
        text = prose_text(line)
        if korean:
            tally.chars += len(text)
        else:
            tally.words += len(text.split())


def measure_link(target, start_path, tally, why):
    """Reading one link of the start page: a whole file or one section of it."""
    path_part, _, anchor = target.partition("#")
    path = os.path.normpath(os.path.join(os.path.dirname(start_path), path_part)) if path_part else start_path
    key = ("link", path, anchor)
    whole = ("link", path, "")
    if key in tally.seen or whole in tally.seen:
        return
    lines = read_lines(path, why)
    tally.seen.add(key)
    tally.sources.append(rel(path) + (f"#{anchor}" if anchor else ""))
    if not path.endswith(".md"):
        if anchor:
            raise PathError(f"{why}: an anchor on a file that is not Markdown ({target})")
        tally.code += sum(1 for l in lines if l.strip())
        return
    if anchor:
        lines = section(lines, anchor, path)
    measure_markdown(lines, path, "/ko/" in "/" + rel(path), tally, why)


def parse_start(path):
    """(title, lines of the part before the items, [(item title, lines)]) of the core part."""
    lines = read_lines(path, "start page")
    fence = None
    intro, items, cur = [], [], None
    for line in lines:
        f = FENCE.match(line)
        if f:
            fence = None if fence else f.group(1)
        h = HEADING.match(line) if not fence else None
        if h and len(h.group(1)) == 2 and DEEPER.search(h.group(2)):
            break
        if h and len(h.group(1)) == 3:
            cur = (h.group(2), [])
            items.append(cur)
            continue
        (cur[1] if cur else intro).append(line)
    if not items:
        raise PathError(f"{rel(path)}: no core part (no level-3 item before the '더 깊이' / 'Going deeper' heading)")
    return lines, intro, items


def code_spans(lines):
    out, fence = [], None
    for line in lines:
        f = FENCE.match(line)
        if f:
            fence = None if fence else f.group(1)
            continue
        if fence or line.startswith("    "):
            out.append(line)
        else:
            out += [m.group(2) for m in re.finditer(r"(`+)(.+?)\1", line)]
    return out


def commands(lines):
    """The make commands an item names: 'make c chapter', 'make pitfall N=3', ..."""
    found = []
    for span in code_spans(lines):
        for m in re.finditer(r"(?:^|[;&|(]\s*|\$ )\s*make\s+([^;&|)#`\n]*)", span.strip()):
            cmd = "make " + " ".join(m.group(1).split())
            if cmd not in found:
                found.append(cmd)
    return found


def stated_minutes(title):
    """The time an item's heading states: (45분), (1시간 40분), (45 min), (1 h 40 min)."""
    m = re.search(r"\((?:(\d+)\s*(?:시간|h)\s*)?(?:(\d+)\s*(?:분|min))?\)\s*$", title)
    if not m or not (m.group(1) or m.group(2)):
        return None
    return int(m.group(1) or 0) * 60 + int(m.group(2) or 0)


def fmt(minutes):
    h, m = divmod(round(minutes), 60)
    return f"{h} h {m:02d} min" if h else f"{m} min"


def evaluate(start, data):
    """(number of items, rows (title, minutes, notes), problems, total minutes) of a start page."""
    rates, limit = data["rates"], data["limit_hours"]
    start = os.path.join(ROOT, start) if not os.path.isabs(start) else start
    korean = "/ko/" in "/" + rel(start)
    lines, intro, items = parse_start(start)
    seen = set()
    rows = []
    # the start page itself, read once (its core part)
    t = Tally(seen)
    measure_markdown(intro + [l for _, ls in items for l in ls], start, korean, t, rel(start))
    rows.append((rel(start), t.minutes(rates), [f"read {fmt(t.minutes(rates))}"]))
    problems = []
    for title, body in items:
        why = f"{rel(start)}: '{title}'"
        t = Tally(seen)
        notes = []
        missing = False
        for m in LINK.finditer("\n".join(l for l in body if not FENCE.match(l))):
            target = m.group(2)
            if re.match(r"[a-z]+:", target):
                continue
            try:
                measure_link(target, start, t, why)
            except PathError as e:
                problems.append(str(e))
                missing = True
        read_min = t.minutes(rates)
        if t.sources:
            notes.append(f"read {fmt(read_min)} ({', '.join(t.sources)})")
        doing = 0.0
        for src in t.sources:
            page = re.sub(r"^(.*/)?docs/(ko/)?", "", src.split("#")[0])
            if page in data.get("pages", {}) and ("page", page) not in seen:
                seen.add(("page", page))
                stated = data["pages"][page]
                doing += stated["minutes"]
                notes.append(f"hands-on {fmt(stated['minutes'])} on {page} (stated)")
        for cmd in commands(body):
            lab = re.match(r"make lab-start LAB=(\w+) LANG=(\w+)", cmd)
            if lab:
                name = f"{lab.group(1)}.{lab.group(2)}"
                if name not in data.get("labs", {}):
                    problems.append(f"{why}: the lab {name} has no stated time in {rel(DATA)} [labs]")
                    continue
                L = data["labs"][name]
                first = L.get("first_check_seconds", L["check_seconds"])
                lab_min = L["writing_minutes"] + (first + (L["checks"] - 1) * L["check_seconds"]) / 60
                doing += lab_min
                notes.append(f"lab {name}: writing {L['writing_minutes']} min + first check {first} s + "
                             f"{L['checks'] - 1} checks x {L['check_seconds']} s = {fmt(lab_min)}")
                continue
            if re.match(r"make lab(-check|-watch|-solution)?(\s|$)", cmd):
                continue  # a lab's check loop: counted with its lab-start
            if cmd not in data.get("commands", {}):
                problems.append(f"{why}: '{cmd}' has no stated time in {rel(DATA)} [commands]")
                continue
            minutes = data["commands"][cmd]["minutes"]
            doing += minutes
            notes.append(f"'{cmd}' {fmt(minutes)}")
        rows.append((title, read_min + doing, notes))
        stated = stated_minutes(title)
        computed = read_min + doing
        if missing:
            pass  # the item's figure is incomplete: its missing file is the problem
        elif stated is None:
            problems.append(f"{why}: the heading states no time, e.g. '(45분)' or '(45 min)'")
        elif abs(stated - computed) > max(TOLERANCE_MIN, TOLERANCE_PART * computed):
            problems.append(f"{why}: the heading says {fmt(stated)}, the files it links take "
                            f"{fmt(computed)}: write ({fmt_title(computed, korean)})")
    total = sum(r[1] for r in rows)
    if total > limit * 60:
        problems.append(f"{rel(start)}: the core path takes {fmt(total)}, over {limit} h")
    return len(items), rows, problems, total


def run(start, data):
    limit = data["limit_hours"]
    n, rows, problems, total = evaluate(start, data)
    print(f"core path of {start}: {n} items")
    for title, minutes, notes in rows:
        print(f"  {fmt(minutes):>12}  {title}")
        for n in notes:
            print(f"  {'':>12}    {n}")
    print(f"  {fmt(total):>12}  total (limit {limit} h): {'ok' if not problems else 'FAIL'}")
    for p in problems:
        print(f"core_path: {p}")
    return not problems


def fmt_title(minutes, korean):
    """A time as a heading writes it, rounded to 5 minutes."""
    h, m = divmod(int(5 * round(minutes / 5)), 60)
    if korean:
        return f"{h}시간 {m}분" if h and m else f"{h}시간" if h else f"{m}분"
    return f"{h} h {m} min" if h and m else f"{h} h" if h else f"{m} min"


SELF_TEST_DATA = {
    "limit_hours": 12,
    "rates": {"ko_chars_per_minute": 400, "en_words_per_minute": 200, "code_lines_per_minute": 15},
    "pages": {"a.md": {"minutes": 5}},
    "commands": {"make c chapter": {"minutes": 3}},
    "labs": {"create_tcp_server.c": {"writing_minutes": 10, "checks": 6, "check_seconds": 30}},
}


def self_test():
    """The check on made-up pages: the figure it must compute, and each failure it must report."""
    base = os.path.join(ROOT, "build", "core-path-self-test", "docs")
    files = {
        # 4000 characters of Korean prose (10 min), a code block of 15 lines (1 min), an include
        # by anchor of 30 code lines (2 min), by range of 15 lines (1 min), and a Markdown
        # include of 400 characters (1 min) pulled in twice but counted once
        "ko/a.md": "## 가\n\n" + ("가" * 100 + "\n") * 40 + "\n```c\n" + "x;\n" * 15 + "```\n\n"
                   "```c\n{{#include ../src.c:anc}}\n```\n\n```c\n{{#include ../src.c:40:54}}\n```\n\n"
                   "{{#include part.md}}\n\n{{#include part.md}}\n\n## 둘\n\n" + "나" * 800 + "\n",
        "ko/part.md": "다" * 400 + "\n",
        "src.c": "int a;\n// ANCHOR: anc\n" + "y;\n" * 30 + "// ANCHOR_END: anc\n" + "z;\n" * 30,
        "ko/start.md": "# 시작\n\n### 1. 하나 (20분)\n\n[가](a.md#가) `make c chapter`\n\n"
                       "### 2. 둘 (20분)\n\n[둘](a.md#둘) `make lab-start LAB=create_tcp_server LANG=c`\n\n"
                       "## 더 깊이\n\n[없음](nothing.md)\n",
        "ko/bad.md": "# 나쁨\n\n### 1. 없는 파일 (1분)\n\n[없음](nothing.md)\n\n"
                     "### 2. 없는 앵커 (1분)\n\n[앵커](a.md#없는-절)\n\n"
                     "### 3. 없는 포함 (1분)\n\n[포함](inc.md)\n\n"
                     "### 4. 명령 (1분)\n\n`make no-such-thing`\n\n### 5. 시간 없음\n\n[다](part.md)\n\n"
                     "### 6. 틀린 시간 (3시간)\n\n`make c chapter`\n",
        "ko/inc.md": "```c\n{{#include ../src.c:no_anchor}}\n```\n",
    }
    for name, text in files.items():
        path = os.path.join(base, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    failed = []
    _, rows, problems, _ = evaluate(os.path.join(base, "ko/start.md"), SELF_TEST_DATA)
    # item 1: section #가 = 4000 chars + heading (1) + 400 chars included once, 15 + 30 + 15 code
    # lines, 3 min stated for the command, 5 min stated for a.md
    want1 = (4001 + 400) / 400 + 60 / 15 + 3 + 5
    want2 = (1 + 800) / 400 + 10 + 6 * 30 / 60  # a.md's stated 5 min counted once, in item 1
    got = {r[0]: r[1] for r in rows}
    for title, want in (("1. 하나 (20분)", want1), ("2. 둘 (20분)", want2)):
        if abs(got.get(title, -1) - want) > 0.01:
            failed.append(f"'{title}': computed {got.get(title)} min, expected {want:.2f}")
    if problems:
        failed.append(f"a good page reported: {problems}")
    _, _, problems, _ = evaluate(os.path.join(base, "ko/bad.md"), SELF_TEST_DATA)
    for expect in ("nothing.md does not exist", "no heading with the anchor #없는-절",
                   "no ANCHOR no_anchor", "'make no-such-thing' has no stated time",
                   "'5. 시간 없음': the heading states no time", "the heading says 3 h 00 min"):
        if not any(expect in p for p in problems):
            failed.append(f"not reported: {expect!r} (reported: {problems})")
    over = dict(SELF_TEST_DATA, limit_hours=0.5)
    _, _, problems, _ = evaluate(os.path.join(base, "ko/start.md"), over)
    if not any("over 0.5 h" in p for p in problems):
        failed.append("a path over the limit was not reported")
    return failed


def main(argv):
    failed = self_test()
    if failed:
        for f in failed:
            print(f"core_path: self-test: {f}")
        return 1
    with open(DATA, "rb") as f:
        data = tomllib.load(f)
    starts = argv or ["docs/ko/start.md", "docs/start.md"]
    ok = True
    for s in starts:
        try:
            ok &= run(s, data)
        except PathError as e:
            print(f"core_path: {e}")
            ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
