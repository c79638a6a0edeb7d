"""The labs' registry (tests/labs/labs.toml), the skeletons made from the reference code, and
the student's progress.

A skeleton is the reference function with its body replaced: the signature and the doc comment
above it stay, and so does each step's comment (the ones tests/labs/labs.toml names), each
followed by a TODO line; every other line of the body goes. So that the file still compiles
(C: -std=c11 -Wall -Wextra -Werror; Rust: the workspace), the skeleton ends by naming the
parameters and the file's private helpers that only this function used (C `(void)name;`, Rust
`let _ = name;`) and by failing as the function fails: errno ENOSYS and -1 where it returns an
int, nothing where it returns nothing.

python3 (3.11+, tomllib) standard library only.
"""
import json
import os
import re
import sys
import time
import tomllib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "tooling"))
import source  # noqa: E402
import tree  # noqa: E402
from source import Stale  # noqa: E402

ROOT = tree.ROOT
REGISTRY = os.path.join(ROOT, "tests", "labs", "labs.toml")
LANGS = {"c": "C", "rust": "Rust"}
TODO = "TODO(lab)"

# What the student keeps: build/labs/ (make clean leaves it alone). Build trees, traces: elsewhere.
STATE_DIR = os.path.join(ROOT, "build", "labs")
STATE_FILE = os.path.join(STATE_DIR, "progress.json")
WORK = os.path.join(ROOT, "build", "lab-work")


class Step:
    def __init__(self, d, number):
        self.id = d["id"]
        self.number = number
        self.en = d["en"]
        self.ko = d["ko"]
        self.comments = d.get("comments", [])
        self.chapter = d.get("chapter")
        self.man = d.get("man", [])
        self.walkthrough = d.get("walkthrough")
        self.pitfall = d.get("pitfall")
        self.trace = d.get("trace", [])
        self.args = d.get("args", [])
        self.hint = d.get("hint", {})

    def hint_for(self, lang, words):
        """The hint in `words` (en or ko), with the language-only part when there is one."""
        text = self.hint.get(words, "")
        extra = self.hint.get("%s_%s" % (lang, words))
        return text + (" " + extra if extra else "")


class Check:
    def __init__(self, d):
        if ("twin" in d) == ("suite" in d):
            raise ValueError("a [[lab.check]] is either twin = ... or suite = ...: %r" % d)
        self.kind = "twin" if "twin" in d else "suite"
        self.name = d.get("twin") or d.get("suite")
        self.steps = d["steps"]
        # What its failure message says about the step: [(regex, step id)], first match wins.
        self.blame = [(re.compile(b["match"]), b["step"]) for b in d.get("blame", [])]

    def label(self):
        return "%s %s" % (self.kind, self.name)


class Lab:
    def __init__(self, d):
        self.function = d["function"]
        self.where = {"c": d["c"], "rust": d["rust"]}
        self.programs = d["programs"]
        self.teaches = d["teaches"]
        self.steps = [Step(s, i + 1) for i, s in enumerate(d["step"])]
        self.checks = [Check(c) for c in d["check"]]
        # [[lab.blame]]: rules for every check of the lab that exercises the rule's step.
        for b in d.get("blame", []):
            for c in self.checks:
                if b["step"] in c.steps:
                    c.blame.append((re.compile(b["match"]), b["step"]))
        # The step blamed for how a process of its programs ends (exit status, a stray stderr
        # line, a call on a closed fd), when the calls themselves do not differ.
        self.process = d.get("process")

    def file(self, lang):
        return self.where[lang]["file"]

    def start(self, lang):
        return self.where[lang]["start"]

    def step(self, sid):
        return next(s for s in self.steps if s.id == sid)

    def key(self, lang):
        return "%s.%s" % (self.function, lang)

    def twins(self):
        return [c for c in self.checks if c.kind == "twin"]

    def scenarios(self):
        return [c for c in self.checks if c.kind == "suite"]


def load():
    with open(REGISTRY, "rb") as f:
        return [Lab(d) for d in tomllib.load(f)["lab"]]


def core():
    """The core track: [(function, lang)] in order (labs.toml `core`)."""
    with open(REGISTRY, "rb") as f:
        return [tuple(x.split()) for x in tomllib.load(f).get("core", [])]


def find(labs, function):
    for lab in labs:
        if lab.function == function:
            return lab
    raise SystemExit("no lab '%s'; the labs are: %s" % (function, ", ".join(l.function for l in labs)))


# ------------------------------------------------------------------------------------------
# Comments of a function body
# ------------------------------------------------------------------------------------------

class Comment:
    """A comment that stands on lines of its own: its lines (as in the source) and its text
    (the first line, after the opener)."""

    def __init__(self, lines, text):
        self.lines = lines
        self.text = text


def body_comments(body, lang):
    """The comments of `body` (a function body's text) that stand on lines of their own, at
    any depth, in order. A C comment runs to its `*/`; a Rust one over the `//` lines that
    follow it, up to a `// SAFETY:` line (which belongs to the code below it)."""
    lines = body.split("\n")
    out, i = [], 0
    while i < len(lines):
        s = lines[i].strip()
        if lang == "c" and s.startswith("/*"):
            j = i
            while "*/" not in lines[j]:
                j += 1
            if lines[j].rstrip().endswith("*/"):
                out.append(Comment(lines[i:j + 1], s[2:].strip()))
            i = j + 1
            continue
        if lang == "rust" and s.startswith("//") and not s.startswith(("///", "//!")) \
                and not s.startswith("// SAFETY:"):
            j = i + 1
            while j < len(lines):
                t = lines[j].strip()
                if not t.startswith("//") or t.startswith(("///", "// SAFETY:")):
                    break
                j += 1
            out.append(Comment(lines[i:j], s[2:].strip()))
            i = j
            continue
        i += 1
    return out


def step_comments(lab, lang, text):
    """{step id: [Comment]} for the function in `text`; Stale unless each marker of
    labs.toml starts exactly one comment, in the steps' order, and every comment that starts
    with "Step " belongs to a step."""
    a, b = source.body_span(text, lab.start(lang))
    comments = body_comments(text[a:b], lang)
    found, order = {}, []
    for step in lab.steps:
        found[step.id] = []
        for marker in step.comments:
            hits = [c for c in comments if c.text.startswith(marker)]
            if len(hits) != 1:
                raise Stale("%s %s: the comment starting %r occurs %d times in %s" % (
                    LANGS[lang], lab.function, marker, len(hits), lab.file(lang)))
            found[step.id].append(hits[0])
            order.append(comments.index(hits[0]))
    if order != sorted(order):
        raise Stale("%s %s: the step comments are not in the order of labs.toml" % (
            LANGS[lang], lab.function))
    claimed = {id(c) for cs in found.values() for c in cs}
    for c in comments:
        if c.text.startswith("Step") and id(c) not in claimed:
            raise Stale("%s %s: the comment %r is a step that no step of labs.toml names" % (
                LANGS[lang], lab.function, c.text))
    return found


# ------------------------------------------------------------------------------------------
# Skeletons
# ------------------------------------------------------------------------------------------

def parameters(text, begin, lang):
    """The parameter names of the function whose definition starts at `begin`."""
    i = text.index("(", begin)
    depth, j = 0, i
    while True:
        if text[j] == "(":
            depth += 1
        elif text[j] == ")":
            depth -= 1
            if depth == 0:
                break
        j += 1
    names = []
    for p in text[i + 1:j].split(","):
        p = p.strip()
        if not p or p == "void":
            continue
        if lang == "c":
            names.append(re.findall(r"\w+", p)[-1])
        else:
            names.append(p.split(":")[0].strip())
    return names


def private_items(text, lang):
    """{name: (begin, end)} of the file's private functions (C `static`, Rust without `pub`),
    and Rust's private consts, with their spans."""
    items = {}
    if lang == "c":
        rx = re.compile(r"^static\s[^;=(]*?\b(\w+)\(", re.M)
    else:
        rx = re.compile(r"^(?:unsafe |const )?fn (\w+)\(|^const (\w+):", re.M)
    for m in rx.finditer(text):
        name = m.group(1) or (m.group(2) if lang == "rust" else None)
        if lang == "rust" and m.group(2):
            end = text.index(";", m.end()) + 1
        else:
            _, end = source.function_span(text, text[m.start():text.index("(", m.start()) + 1])
        items[name] = (m.start(), end)
    return items


def helpers_only_used_by(text, lang, span):
    """Private items that the function in `span` uses and nothing else in the file does: the
    skeleton must still name them, or the compiler reports them unused."""
    a, b = span
    out = []
    # The book's `ANCHOR: name` comments name functions without using them: blank them out
    # (same length, so the spans still hold).
    code = re.sub(r"^[ \t]*(?://|/\*)[ \t]*ANCHOR(?:_END)?:.*$", lambda m: " " * len(m.group(0)),
                  text, flags=re.M)
    for name, (ia, ib) in private_items(text, lang).items():
        word = re.compile(r"\b%s\b" % re.escape(name))
        inside = len(word.findall(code[a:b]))
        elsewhere = len(word.findall(code[:min(a, ia)] + code[max(b, ib):])) + \
            len(word.findall(code[ib:a] if ib <= a else code[b:ia]))
        if inside and not elsewhere:
            out.append(name)
    return sorted(out)


def skeleton(lab, lang, text):
    """The file `text` with the lab's function body replaced by its skeleton."""
    span = source.function_span(text, lab.start(lang))
    a, b = source.body_span(text, lab.start(lang))
    returns_int = bool(re.search(r"^int |-> c_int", text[span[0]:a]))
    found = step_comments(lab, lang, text)
    ind = "    "
    out = []
    for step in lab.steps:
        if step.chapter:
            out.append(ind + ("/* 챕터: %s */" % step.chapter if lang == "c" else
                              "// 챕터: %s" % step.chapter))
        for c in found[step.id]:
            base = len(c.lines[0]) - len(c.lines[0].lstrip())
            for line in c.lines:
                cut = line[:base].strip() == "" and line[base:] or line.lstrip()
                out.append(ind + cut.rstrip())
        man = ", ".join("man %s %s" % (m[m.index("(") + 1:-1], m[:m.index("(")]) for m in step.man)
        todo = "%s: your code for this step (%s)" % (TODO, man) if man else \
            "%s: your code for this step" % TODO
        out.append(ind + ("/* %s */" % todo if lang == "c" else "// %s" % todo))
        out.append("")
    names = parameters(text, span[0], lang) + helpers_only_used_by(text, lang, span)
    if names or returns_int:
        why = "returns its own result" if returns_int else "uses what they name"
        note = "%s: delete the lines below once your code %s." % (TODO, why)
        out.append(ind + ("/* %s */" % note if lang == "c" else "// %s" % note))
        if lang == "c":
            out.extend(ind + "(void)%s;" % n for n in names)
            if returns_int:
                out.extend([ind + "errno = ENOSYS;", ind + "return -1;"])
        else:
            out.extend(ind + "let _ = %s;" % n for n in names)
            if returns_int:
                out.extend([ind + "errno::set_errno(errno::Errno(libc::ENOSYS));", ind + "-1"])
    while out and out[-1] == "":
        out.pop()
    return text[:a] + "\n" + "\n".join(out) + "\n" + text[b:]


def function_text(lab, lang, text):
    a, b = source.function_span(text, lab.start(lang))
    return text[a:b]


def with_function(lab, lang, text, function):
    """`text` with the lab's function replaced by `function` (a function's whole text)."""
    a, b = source.function_span(text, lab.start(lang))
    return text[:a] + function + text[b:]


# ------------------------------------------------------------------------------------------
# Progress, the reference copies and the attempts (build/labs/, kept by make clean)
# ------------------------------------------------------------------------------------------

def load_state():
    try:
        with open(STATE_FILE, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return {"labs": {}}


def save_state(state):
    os.makedirs(STATE_DIR, exist_ok=True)
    tree.write_atomically(STATE_FILE, json.dumps(state, indent=1, sort_keys=True) + "\n")


def recover(state, all_labs):
    """Marks as in progress each lab whose function holds a skeleton's TODO(lab) lines with no
    record of it (build/labs/ removed): its reference is then git's committed version."""
    for lab in all_labs:
        for lang in LANGS:
            entry = state["labs"].setdefault(lab.key(lang), {})
            if not entry.get("in_tree") and \
                    TODO in function_text(lab, lang, tree.read(lab.file(lang))):
                entry.update({"file": lab.file(lang), "in_tree": True, "recovered": now()})
    state["labs"] = {k: v for k, v in state["labs"].items() if v}
    return state


def reference_copy(path):
    """Where the reference of a source file is kept while a lab in it is in progress."""
    return os.path.join(STATE_DIR, "reference", path)


def attempt_path(lab, lang):
    return os.path.join(STATE_DIR, "%s.%s.attempt" % (lab.function, lang))


def in_progress(state):
    """{lab key: entry} of the labs whose function in the working tree is the student's."""
    return {k: v for k, v in state["labs"].items() if v.get("in_tree")}


def reference_text(path, state):
    """The reference content of a source file: its kept copy while a lab in it is in progress
    (made when the first such lab started), else the working tree's file."""
    kept = reference_copy(path)
    if any(v["file"] == path for v in in_progress(state).values()) and os.path.exists(kept):
        with open(kept, encoding="utf-8") as f:
            return f.read()
    if any(v["file"] == path for v in in_progress(state).values()):
        # The copy is gone (build/labs removed by hand): git's committed version.
        r = tree.run(["git", "show", "HEAD:%s" % path], ROOT)
        if r.returncode == 0:
            return r.stdout
    return tree.read(path)


def reference_tree(labs, state, root=ROOT):
    """{path: text}: every file that holds a lab in progress, as it was before the first of
    them started (its reference copy)."""
    return {entry["file"]: reference_text(entry["file"], state)
            for entry in in_progress(state).values()}


def student_tree(labs, state, lab, lang, root=ROOT):
    """{path: text}: the reference tree, except the file of `lab` in `lang` as the student has
    it now (helpers the student added included), with any other lab in progress in that same
    file put back to its reference."""
    files = reference_tree(labs, state, root)
    key, path = lab.key(lang), lab.file(lang)
    if key in in_progress(state):
        text = tree.read(path, root)
        reference = files[path]
        for other, entry in in_progress(state).items():
            function, other_lang = other.rsplit(".", 1)
            if other != key and entry["file"] == path:
                o = find(labs, function)
                text = with_function(o, other_lang, text, function_text(o, other_lang, reference))
        files[path] = text
    return files


def now():
    return time.strftime("%Y-%m-%d %H:%M")
