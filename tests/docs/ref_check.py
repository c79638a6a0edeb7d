#!/usr/bin/env python3
"""Reference check for the docs: every name a document cites must exist, and every English
document and its Korean translation must cite the same names under the same headings.

Documents: README.md and the book's pages, docs/**/*.md and docs/ko/**/*.md (or the files given). What is checked:

* tests: a suite scenario (`echo_server::bad_addr_999_1_1_1`, also with `{0,1,2}` or `*`), a
  stress scenario (`faults::accept_emfile_nofile4_exits_1`), a twin test (a code span that
  starts with a chapter function's name and an underscore, e.g.
  `create_tcp_server_keeps_errno_across_the_first_perror_of_a_process`), a unit test
  (`util::tests::NAME`) or a Python test (`test_NAME` in a code span). The names come from
  the sources: the scenario tables of tests/suite/*.rs and tests/stress/*.rs, the
  `twin_test!` lists of tests/twins/tests/*.rs, the `#[test]` functions of src/, the `def
  test_*` of tests/**/*.py. `--verify-lists` also compares them with the test binaries'
  `--list` (builds them with cargo; not part of make docs-check).
* make targets: every `make ...` in a code span or a code block names a target `make -n`
  accepts (variables `N=2` and options are skipped).
* files: a link, or a path in code whose first component is one of the repository's
  (`c_reference/`, `src/`, `tests/`, `docs/`, `mk/`, `benches/`, `Makefile`, ...), or a bare
  source file name (`server.c`), must exist (build outputs under build/ and target/ are not
  checked); nothing may point outside the repository (a folder beside it, `/work`, a link above the
  root).
* terms: the Korean documents use the chapter's own words (비블로킹, not 논블로킹; 리스닝 소켓,
  not 듣기 소켓), except inside a quotation of the chapter ("...").
* tables: every row of a Markdown table has as many cells as its header, and no row stands
  outside a table (a header and a |---| line above it).
* pairs: for each docs/X.md with a docs/ko/X.md (X may be in a folder: core/create_tcp_server.md,
  reference/helpers.md, ...), the two must have the same number of headings at each level, the same numbered
  sections, and cite the same tests, make targets, files (a link to the other language's
  version excepted, docs/ko/Y.md counted as docs/Y.md), deviation numbers (`fix #N`,
  "deviation N", "차이점 N", table rows numbered in their first cell) and pitfall numbers
  ("pitfall N", "함정 N", `make pitfall N=k`).

Before the documents, a self-test runs the check on a made-up pair of documents with one broken
reference of each kind (written to build/ref-check-self-test/) and fails if any goes unreported.

Usage: tests/docs/ref_check.py [--verify-lists] [FILE.md ...]
python3 standard library only; runs in well under a second (one `make -n` per target).
Exit 0 when every reference resolves and every pair agrees, 1 otherwise.
"""
import fnmatch
import glob
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Paths under these first components are build outputs (git-ignored): not checked.
OUTPUT_DIRS = {"build", "target"}
# Paths that look like ours but name another project's file (PostgreSQL's source tree).
EXTERNAL_PREFIXES = ("src/backend/",)
# Bare file names that count as references to our files.
SOURCE_EXT = (".c", ".h", ".rs", ".py", ".sh", ".mk", ".toml", ".md", ".svg")


# ---------------------------------------------------------------- what exists

def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def repo_files():
    """Tracked files (and untracked, not ignored ones: a new doc counts before its commit)."""
    try:
        out = subprocess.run(["git", "-C", ROOT, "ls-files", "-co", "--exclude-standard"],
                             capture_output=True, text=True, check=True).stdout.split("\n")
        files = {f for f in out if f and os.path.exists(os.path.join(ROOT, f))}
    except (OSError, subprocess.CalledProcessError):
        files = set()
        for d, dirs, names in os.walk(ROOT):
            dirs[:] = [x for x in dirs if x not in OUTPUT_DIRS and not x.startswith(".")]
            files |= {os.path.relpath(os.path.join(d, n), ROOT) for n in names}
    return files


class Names:
    """Every test, target and file the docs may cite."""

    def __init__(self):
        self.files = repo_files()
        self.dirs = {os.path.dirname(f) for f in self.files}
        for d in list(self.dirs):
            while d:
                d = os.path.dirname(d)
                self.dirs.add(d)
        self.top = {f.split("/")[0] for f in self.files} - OUTPUT_DIRS
        self.basenames = {os.path.basename(f) for f in self.files}
        # "name" in a scenario tuple: ("echo_server::x", f) or (\n "echo_server::x",\n f,\n),
        # line comments allowed before the name
        tuple_name = re.compile(r'\(\s*(?://[^\n]*\n\s*)*"([a-z0-9_]+::[a-z0-9_]+)"\s*,')
        self.suite = self._grep("tests/suite/*.rs", tuple_name)
        self.stress = self._grep("tests/stress/*.rs", tuple_name)
        self.twins = set()
        for path in glob.glob(os.path.join(ROOT, "tests/twins/tests/*.rs")):
            code = re.sub(r"//[^\n]*", "", read(path))
            for block in re.findall(r"twin_test!\s*\(([^)]*)\)", code):
                self.twins |= set(re.findall(r"\w+", block))
        self.units = set()
        for path in glob.glob(os.path.join(ROOT, "src/**/*.rs"), recursive=True):
            self.units |= set(re.findall(r"#\[test\]\s*(?:#\[[^\]]*\]\s*)*fn\s+(\w+)", read(path)))
        self.pytests = set()
        for path in glob.glob(os.path.join(ROOT, "tests/**/*.py"), recursive=True):
            self.pytests |= set(re.findall(r"^\s*def\s+(test_\w+)\s*\(", read(path), re.M))
        self.scenario_prefixes = {n.split("::")[0] for n in self.suite | self.stress}
        # The chapter functions (and helpers) that twin tests are named after.
        funcs = set()
        for path in glob.glob(os.path.join(ROOT, "src/*.rs")):
            funcs |= set(re.findall(r"pub (?:unsafe )?fn\s+(\w+)", read(path)))
        self.twin_prefixes = sorted({f for f in funcs if any(t.startswith(f + "_") for t in self.twins)},
                                    key=len, reverse=True)
        self._targets = {}
        cargo = read(os.path.join(ROOT, "Cargo.toml"))
        self.cargo_tests = set(re.findall(r'\[\[test\]\]\s*name\s*=\s*"([^"]+)"', cargo))
        self.packages = set()
        for path in [os.path.join(ROOT, "Cargo.toml")] + glob.glob(os.path.join(ROOT, "tests/*/Cargo.toml")):
            m = re.search(r'\[package\][^\[]*?name\s*=\s*"([^"]+)"', read(path))
            if m:
                self.packages.add(m.group(1))

    @staticmethod
    def _grep(pattern, regex):
        found = set()
        for path in glob.glob(os.path.join(ROOT, pattern)):
            found |= set(regex.findall(read(path)))
        return found

    def target_exists(self, target):
        if target not in self._targets:
            try:
                r = subprocess.run(["make", "-n", "--no-print-directory", "-C", ROOT, target],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                   timeout=30)
                self._targets[target] = r.returncode == 0 or "No rule to make target" not in r.stderr
            except (OSError, subprocess.TimeoutExpired):
                self._targets[target] = True  # cannot tell: do not accuse
        return self._targets[target]


# ---------------------------------------------------------------- reading a document

FENCE = re.compile(r"^\s*(```+|~~~+)")
HEADING = re.compile(r"^(#{1,6})\s+(.*)$")


def slug(title):
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to '-'."""
    title = re.sub(r"`", "", title).strip().lower()
    return re.sub(r"\s", "-", re.sub(r"[^\w\- ]", "", title))


_anchors = {}


def anchors(rel):
    if rel not in _anchors:
        _anchors[rel] = {slug(t) for _, t, _ in Doc(rel).headings}
    return _anchors[rel]


def expand_braces(s):
    m = re.search(r"\{([^{}]*)\}", s)
    if not m:
        return [s]
    return [x for alt in m.group(1).split(",") for x in expand_braces(s[:m.start()] + alt + s[m.end():])]


class Doc:
    """A document split into prose lines and code (inline spans, fenced and indented blocks)."""

    def __init__(self, rel):
        self.rel = rel
        self.text = read(os.path.join(ROOT, rel))
        self.lines = self.text.split("\n")
        self.headings = []        # (level, title, line number)
        self.code = []            # (line number, code text)
        self.prose = []           # (line number, text without code spans)
        fence = None
        prev_blank = True
        for no, line in enumerate(self.lines, 1):
            f = FENCE.match(line)
            if fence:
                if f and f.group(1)[0] == fence[0] and len(f.group(1)) >= len(fence):
                    fence = None
                else:
                    self.code.append((no, line))
                continue
            if f:
                fence = f.group(1)
                continue
            if line.startswith("    ") and prev_blank and not line.lstrip().startswith(("-", "*", "|")):
                self.code.append((no, line))  # indented code block (after a blank line)
                continue
            prev_blank = (line.strip() == "") or (prev_blank and line.startswith("    "))
            h = HEADING.match(line)
            if h:
                self.headings.append((len(h.group(1)), h.group(2).strip(), no))
            spans = re.findall(r"(`+)(.+?)\1", line)
            for _, span in spans:
                self.code.append((no, span))
            self.prose.append((no, re.sub(r"(`+)(.+?)\1", " ", line)))

    def all_text(self):
        return [(no, line) for no, line in enumerate(self.lines, 1)]


# ---------------------------------------------------------------- citations

class Cites:
    """What one document cites: kind -> {name: first line}."""

    def __init__(self):
        self.by_kind = {}

    def add(self, kind, name, no):
        self.by_kind.setdefault(kind, {}).setdefault(name, no)

    def get(self, kind):
        return self.by_kind.get(kind, {})


NUM = r"#?(\d+[a-z]?)"
NUM_LIST = NUM + r"((?:\s*(?:,|and|or|/|와|과|및|,\s*and)\s*#?\d+[a-z]?)*)"
DEVIATION_WORDS = re.compile(r"(?:\b[Dd]eviations?|차이점|\bfix)\s*(?:rows?\s*)?" + NUM_LIST)
PITFALL_WORDS = re.compile(r"(?:\b[Pp]itfalls?|함정|pitfalls\.md`?\s*§?)\s*" + NUM_LIST)


# Korean terms the chapter does not use, and the chapter's own (outside quotations of the chapter).
KO_TERMS = (("논블로킹", "비블로킹"), ("듣기 소켓", "리스닝 소켓"))


def numbers(m):
    return [m.group(1)] + re.findall(r"\d+[a-z]?", m.group(2) or "")


def cells(line):
    """The cells of a Markdown table row (an escaped \\| stays inside its cell)."""
    return len(re.split(r"(?<!\\)\|", line.strip().strip("|"))) if line.strip() != "|" else 0


def check_tables(doc, problem):
    """Each table: a header, a |---| line, then rows of the header's width, with no gap."""
    in_code = {no for no, _ in doc.code if _ == doc.lines[no - 1]}
    width = None
    for no, line in enumerate(doc.lines, 1):
        if no in in_code or not line.lstrip().startswith("|"):
            width = None
            continue
        if width is None:
            nxt = doc.lines[no] if no < len(doc.lines) else ""
            if not re.fullmatch(r"\s*\|(\s*:?-+:?\s*\|)+\s*", nxt):
                problem(no, "a table row outside a table (no header and |---| line above it)")
                width = cells(line)
                continue
            width = cells(line)
            if cells(nxt) != width:
                problem(no + 1, f"the |---| line has {cells(nxt)} cells, the header {width}")
            continue
        if re.fullmatch(r"\s*\|(\s*:?-+:?\s*\|)+\s*", line):
            continue
        if cells(line) != width:
            problem(no, f"a table row of {cells(line)} cells in a table of {width} columns")


def collect(doc, names, problems):
    cites = Cites()

    def problem(no, msg):
        problems.append(f"{doc.rel}:{no}: {msg}")

    check_tables(doc, problem)
    if re.search(r"(^|/)docs/ko/", doc.rel):
        for no, line in doc.all_text():
            unquoted = re.sub(r'"[^"]*"|“[^”]*”', "", line)  # the chapter's own words may be quoted
            for wrong, right in KO_TERMS:
                if wrong in unquoted:
                    problem(no, f"'{wrong}': the chapter says '{right}'")

    everything = doc.all_text()
    scen = re.compile(r"(?<![\w:/.-])(\*|[a-z_0-9]+)::((?:[A-Za-z0-9_*]|\{[^{}]*\})+)(?:::([a-z]+))?")
    for no, line in everything:
        for m in scen.finditer(line):
            prefix, rest = m.group(1), m.group(2)
            if prefix != "*" and prefix not in names.scenario_prefixes or not rest:
                continue
            pattern_names = expand_braces(f"{prefix}::{rest}")
            for pat in pattern_names:
                pat = pat.rstrip("*") + "*" if pat.endswith("_*") else pat
                hits = [n for n in names.suite | names.stress if fnmatch.fnmatchcase(n, pat)]
                if not hits:
                    problem(no, f"cites the test '{pat}', which no suite or stress scenario matches")
                for h in hits:
                    cites.add("test", h, no)
        for m in re.finditer(r"\b(\w+)::tests::(\w+)", line):
            if m.group(2) not in names.units:
                problem(no, f"cites the unit test '{m.group(0)}', which does not exist")
            cites.add("test", m.group(2), no)

    twin_lines = set()
    twin_re = re.compile(r"^(?:" + "|".join(map(re.escape, names.twin_prefixes)) + r")_[A-Za-z0-9_*{},]+(?:::(?:c|rust))?$") \
        if names.twin_prefixes else None
    for no, span in doc.code:
        for token in re.split(r"[\s()\[\],;`'\"]+", span):
            if twin_re and twin_re.match(token):
                token = re.sub(r"::(c|rust)$", "", token)
                twin_lines.add(no)
                for pat in expand_braces(token):
                    hits = [n for n in names.twins if fnmatch.fnmatchcase(n, pat)]
                    if not hits:
                        problem(no, f"cites the twin test '{pat}', which does not exist "
                                    "(cargo test --release -p tcp-chapter-twins -- --list)")
                    for h in hits:
                        cites.add("test", h, no)
            elif re.fullmatch(r"test_\w+", token):
                if token not in names.pytests:
                    problem(no, f"cites the Python test '{token}', which does not exist")
                cites.add("test", token, no)

    # make targets, in code only
    make_re = re.compile(r"(?:^\s*|(?:[;&|(,]|\$ )\s*)make\s+([^;&|)`\n#,]*)")
    for no, span in doc.code:
        for m in make_re.finditer(span):
            for tok in m.group(1).split():
                if "=" in tok or tok.startswith("-"):
                    continue
                if re.search(r"[<>$*{}\[\]'\"]", tok) or tok in {"...", "…"}:
                    break
                if not re.fullmatch(r"[a-z][a-z0-9_.-]*", tok):
                    break
                if not names.target_exists(tok):
                    problem(no, f"cites 'make {tok}', which is not a make target (make -n {tok})")
                cites.add("make", tok, no)

    # cargo test commands: the test target, the package, the test named after `--`
    paragraphs = {}
    para = 0
    for no, line in everything:
        para += not line.strip()
        paragraphs[no] = para
    twin_paras = {paragraphs[n] for n in twin_lines}
    cargo_re = re.compile(r"cargo test((?:\s+[^\s`]+)*)")
    for no, span in doc.code:
        for m in cargo_re.finditer(span):
            args = m.group(1).split()
            named = args[args.index("--") + 1:] if "--" in args else []
            opts = args[:args.index("--")] if "--" in args else args
            for flag, known, what in (("--test", names.cargo_tests, "test target"),
                                      ("-p", names.packages, "package")):
                if flag in opts and opts.index(flag) + 1 < len(opts):
                    value = opts[opts.index(flag) + 1]
                    if value not in known:
                        problem(no, f"'cargo test {flag} {value}': no such {what} ({', '.join(sorted(known))})")
            pool = names.suite if "suite" in opts else names.stress if "stress" in opts else \
                names.twins if "tcp-chapter-twins" in opts else names.units if "--lib" in opts else None
            for name in named:
                if name.startswith("-") or not re.fullmatch(r"[a-z0-9_:]+", name) or pool is None:
                    continue
                if not any(n == name or name in n for n in pool):
                    problem(no, f"'cargo test ... -- {name}': no test of that target matches it")
            if "--lib" in opts and paragraphs.get(no) in twin_paras:
                problem(no, "'cargo test --lib' next to a twin test: twin tests are in "
                            "tests/twins (cargo test -p tcp-chapter-twins), not unit tests")

    # files: links, and paths in code
    base = os.path.dirname(doc.rel)
    for no, line in everything:
        for m in re.finditer(r"(?<![\w.])(?:\.\./)*(?:\.\./shared|shared/chapter)|(?<![\w.~])/work(?:/|\b)", line):
            problem(no, f"points outside the repository ('{m.group(0)}'): name the chapter by its title")
        for m in re.finditer(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", line):
            target = m.group(1)
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            path = target.split("#")[0]
            full = os.path.normpath(os.path.join(base, path))
            if full.startswith(".."):
                problem(no, f"links outside the repository ('{target}')")
                continue
            if full not in names.files and full not in names.dirs:
                problem(no, f"links to '{target}', which does not exist ({full})")
            elif "#" in target and full.endswith(".md"):
                anchor = target.split("#", 1)[1]
                if anchor not in anchors(full):
                    problem(no, f"links to '{target}', but {full} has no heading with that anchor")
            cites.add("file", full, no)
    for no, span in doc.code:
        for tok in re.split(r"[\s()\[\],;`'\"=<>|&:]+", span):
            tok = tok.rstrip(".")
            if not tok or tok.startswith(("http", "-", "/")):
                continue
            first = tok.split("/")[0]
            if "/" in tok and first in names.top:
                if tok.startswith(EXTERNAL_PREFIXES):
                    continue
                for pat in expand_braces(tok.rstrip("/")):
                    if "*" in pat:
                        hits = [f for f in names.files | names.dirs if fnmatch.fnmatchcase(f, pat)]
                    else:
                        hits = [pat] if pat in names.files or pat in names.dirs else []
                    if not hits:
                        problem(no, f"names the file '{pat}', which is not in the repository")
                    cites.add("file", pat, no)
            elif "/" not in tok and tok.endswith(SOURCE_EXT) and re.fullmatch(r"[\w-]+\.[a-z]+", tok) \
                    and f"<{tok}>" not in span:
                if tok in names.files:
                    cites.add("file", tok, no)
                elif tok not in names.basenames:
                    problem(no, f"names the file '{tok}', which is not in the repository")

    # deviation and pitfall numbers (prose and code: `fix #N` is code), across line breaks
    for regex, kind in ((DEVIATION_WORDS, "deviation"), (PITFALL_WORDS, "pitfall")):
        for m in regex.finditer(doc.text):
            no = doc.text.count("\n", 0, m.start()) + 1
            for n in numbers(m):
                cites.add(kind, n, no)
    for no, line in everything:
        for m in re.finditer(r"make pitfall N=(\d+)", line):
            cites.add("pitfall", m.group(1), no)
        for m in re.finditer(r"docs/pitfalls\.md`?\s*#(\d+)", line):
            cites.add("pitfall", m.group(1), no)
        for m in re.finditer(r"docs/deviations\.md`?\s*#(\d+[a-z]?)", line):
            cites.add("deviation", m.group(1), no)
        row = re.match(r"^\|\s*(\d+[a-z]?)\s*\|", line)
        if row:
            cites.add("row", row.group(1), no)
    return cites


# ---------------------------------------------------------------- pairs

def counterpart_free(files):
    """A cited file, as the other language would cite it: docs/ko/Y.md counts as docs/Y.md, and
    an image NAME.ko.svg as NAME.en.svg."""
    out = {}
    for f, no in files.items():
        f = re.sub(r"^docs/ko/", "docs/", f)
        f = re.sub(r"\.(?:ko|en)\.(svg|png)$", r".\1", f)  # img/NAME.ko.svg is img/NAME.en.svg's twin
        out.setdefault(f, no)
    return out


def compare_pair(en, ko, cites, docs, problems):
    de, dk = docs[en], docs[ko]
    for level in range(1, 7):
        ne = [h for h in de.headings if h[0] == level]
        nk = [h for h in dk.headings if h[0] == level]
        if len(ne) != len(nk):
            problems.append(f"{en} and {ko}: {len(ne)} headings of level {level} in English, "
                            f"{len(nk)} in Korean")
    num = re.compile(r"^(\d+[a-z]?)\.\s")
    se = [num.match(t).group(1) for _, t, _ in de.headings if num.match(t)]
    sk = [num.match(t).group(1) for _, t, _ in dk.headings if num.match(t)]
    if se != sk:
        problems.append(f"{en} and {ko}: numbered sections differ: {se} against {sk}")
    ce, ck = cites[en], cites[ko]
    for kind in ("test", "make", "file", "deviation", "pitfall", "row"):
        a, b = ce.get(kind), ck.get(kind)
        if kind == "file":
            a = {k: v for k, v in counterpart_free(a).items() if k != en}
            b = {k: v for k, v in counterpart_free(b).items() if k != en}
        for name in sorted(set(a) - set(b)):
            problems.append(f"{ko}: does not cite the {kind} '{name}' that {en}:{a[name]} cites")
        for name in sorted(set(b) - set(a)):
            problems.append(f"{en}: does not cite the {kind} '{name}' that {ko}:{b[name]} cites")


def default_docs():
    pages = sorted(glob.glob("docs/**/*.md", root_dir=ROOT, recursive=True))
    docs = ["README.md"] + [p for p in pages if not p.startswith("docs/ko/")] \
        + [p for p in pages if p.startswith("docs/ko/")]
    return [d for d in docs if os.path.exists(os.path.join(ROOT, d))]


def verify_lists(names):
    """The names parsed from the sources against the test binaries' own --list."""
    def listed(args):
        out = subprocess.run(["cargo", "test", "--release", "-q", *args, "--", "--list"],
                             cwd=ROOT, capture_output=True, text=True, check=True).stdout
        return {re.sub(r"^\[[^\]]*\]\s*", "", line).rsplit(": ", 1)[0] for line in out.splitlines()
                if line.endswith(": test")}

    strip = (lambda s: {re.sub(r"::(c|rust|chapter)$", "", n) for n in s})
    bad = []
    for what, args, have in (("suite", ["--test", "suite"], names.suite),
                             ("stress", ["--test", "stress"], names.stress),
                             ("twins", ["-p", "tcp-chapter-twins"], names.twins)):
        real = strip(listed(args))
        if real != have:
            bad.append(f"{what}: parsed {sorted(have - real)} not listed, listed {sorted(real - have)} not parsed")
    real_units = {n.rsplit("::", 1)[-1] for n in listed(["--lib", "--bins"])}
    if real_units != names.units:
        bad.append(f"unit tests: parsed {sorted(names.units ^ real_units)} differ from --list")
    return bad


SELF_TEST_EN = """# Self test

## 1. One
`echo_server::no_such_scenario`, `create_tcp_server_no_such_twin`, `make no-such-target`,
`tests/no/such/file.py`, [a link](../../../../../outside.md), see /work/elsewhere, deviation #6, pitfall 2.
`cargo test --release --test no_such_target -- NAME`. The twin test
`create_tcp_server_also_missing` runs with `cargo test --release --lib`.

| a | b |
|---|---|
| 1 | 2 | 3 |

| 7 | orphan row |

## 2. Two
`echo_server::bad_addr_999_1_1_1`, `make test`, `tests/pitfalls/pitfalls.toml`.
In a list: echo_server::echo_1b_via_socat, and echo_server::fd{0,1}_closed_at_start_*.
"""
SELF_TEST_KO = """# 자체 시험

## 1. 하나
논블로킹 소켓, `echo_server::bad_addr_999_1_1_1`, 차이점 #7, 함정 2.
"""
SELF_TEST_EXPECT = (
    "'echo_server::no_such_scenario', which no suite",
    "twin test 'create_tcp_server_no_such_twin'",
    "'make no-such-target'",
    "'tests/no/such/file.py'",
    "links outside the repository",
    "points outside the repository",
    "'cargo test --test no_such_target'",
    "'cargo test --lib' next to a twin test",
    "a table row of 3 cells in a table of 2 columns",
    "a table row outside a table",
    "'논블로킹'",
    "1 in Korean",
    "numbered sections differ",
    "does not cite the make 'test'",
    "does not cite the deviation '6'",
    "does not cite the deviation '7'",
)


# Good references in the made-up documents: no problem may name them.
SELF_TEST_GOOD = ("bad_addr_999_1_1_1", "echo_1b_via_socat", "closed_at_start", "pitfalls.toml",
                  "make test'")


def self_test(names):
    """The check must catch one of each broken reference in a made-up pair of documents."""
    base = os.path.join("build", "ref-check-self-test")
    en, ko = f"{base}/docs/x.md", f"{base}/docs/ko/x.md"
    for rel, text in ((en, SELF_TEST_EN), (ko, SELF_TEST_KO)):
        os.makedirs(os.path.dirname(os.path.join(ROOT, rel)), exist_ok=True)
        with open(os.path.join(ROOT, rel), "w", encoding="utf-8") as f:
            f.write(text)
    problems, docs, cites = [], {en: Doc(en), ko: Doc(ko)}, {}
    for rel in (en, ko):
        cites[rel] = collect(docs[rel], names, problems)
    compare_pair(en, ko, cites, docs, problems)
    missed = [e for e in SELF_TEST_EXPECT if not any(e in p for p in problems)]
    wrong = [p for p in problems if any(g in p for g in SELF_TEST_GOOD) and "does not cite" not in p]
    return [f"self-test: the check did not report {m!r}" for m in missed] + \
        [f"self-test: the check reported a good reference: {w}" for w in wrong] + \
        ([f"self-test: it reported: {p}" for p in problems] if missed or wrong else [])


def main(argv):
    names = Names()
    failed = self_test(names)
    if failed:
        for f in failed:
            print(f"ref_check: {f}")
        return 1
    if "--verify-lists" in argv:
        bad = verify_lists(names)
        for b in bad:
            print(f"ref_check: {b}")
        print(f"ref_check: names from the sources {'differ from' if bad else 'equal'} the test binaries' --list "
              f"({len(names.suite)} suite, {len(names.stress)} stress scenarios, {len(names.twins)} twin tests, "
              f"{len(names.units)} unit tests)")
        argv = [a for a in argv if a != "--verify-lists"]
        if bad:
            return 1
    rels = [os.path.relpath(os.path.abspath(a), ROOT) for a in argv] or default_docs()
    problems, docs, cites = [], {}, {}
    for rel in rels:
        docs[rel] = Doc(rel)
        cites[rel] = collect(docs[rel], names, problems)
    pairs = 0
    for rel in rels:
        m = re.fullmatch(r"docs/(?!ko/)(.+\.md)", rel)
        if m and f"docs/ko/{m.group(1)}" in docs:
            compare_pair(rel, f"docs/ko/{m.group(1)}", cites, docs, problems)
            pairs += 1
    for p in problems:
        print(p)
    n = sum(len(v) for c in cites.values() for v in c.by_kind.values())
    print(f"ref_check: {len(rels)} documents, {pairs} English/Korean pairs, {n} references: "
          f"{'ok' if not problems else f'{len(problems)} problems'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
