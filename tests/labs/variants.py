"""The labs' own wrong answers (tests/labs/wrong.toml), and one tree that holds them all.

A wrong answer is a student's plausible mistake in one step of one lab: the reference function
with a few edits (`find` -> `replace`, each `find` found exactly once in the function), and the
step its check must name as the first that fails. `make labs-check` proves every one of them,
and every skeleton, and the reference, in one build per language: the variant tree keeps each
lab function's reference under a new name, adds each wrong answer and the skeleton as a copy of
the function under a name of its own, and makes the function itself a dispatcher that runs the
copy named by the environment variable VARIANT_ENV (`FUNCTION/N`), the reference when it is
unset. The twin tests' child roles and the suite's programs inherit the environment, so one
twins binary, one suite and one set of programs per language run every variant.

python3 (3.11+) standard library only.
"""
import os
import re
import tomllib

import labs
import source

WRONG = os.path.join(labs.ROOT, "tests", "labs", "wrong.toml")
VARIANT_ENV = "TCP_CHAPTER_LAB_VARIANT"
SKELETON = "skeleton"


class Wrong:
    def __init__(self, d, number):
        self.number = number
        self.lab = d["lab"]
        self.lang = d["lang"]
        self.step = d["step"]
        self.what = d["what"]
        self.edits = [(e["find"], e["replace"], e.get("nth")) for e in d["edit"]]
        # Steps that may fail too (a later step that the same mistake breaks on its own).
        self.also = d.get("also", [])

    def label(self):
        return "%s %s #%d (%s): %s" % (self.lab, labs.LANGS[self.lang], self.number, self.step,
                                       self.what)


def load(all_labs=None):
    with open(WRONG, "rb") as f:
        data = tomllib.load(f)
    out = []
    count = {}
    for d in data["wrong"]:
        key = (d["lab"], d["lang"])
        count[key] = count.get(key, 0) + 1
        out.append(Wrong(d, count[key]))
    return out


def apply(w, function):
    """The function's text (the reference) with the wrong answer's edits; Stale unless each
    `find` occurs exactly once (or, with `nth = N`, at least N times: the Nth is edited)."""
    for find, replace, nth in w.edits:
        n = function.count(find)
        if (nth is None and n != 1) or (nth is not None and n < nth):
            raise source.Stale("wrong answer %s: %r occurs %d times in the reference function" % (
                w.label(), find, n))
        at = -1
        for _ in range(nth or 1):
            at = function.index(find, at + 1)
        function = function[:at] + replace + function[at + len(find):]
    return function


def validate(all_labs, wrongs, texts):
    """Problems: unknown labs or steps, stale edits, steps without a wrong answer."""
    problems = []
    by_name = {lab.function: lab for lab in all_labs}
    for w in wrongs:
        lab = by_name.get(w.lab)
        if lab is None or w.lang not in labs.LANGS:
            problems.append("wrong answer %s: no such lab" % w.label())
            continue
        ids = [s.id for s in lab.steps]
        for s in [w.step] + w.also:
            if s not in ids:
                problems.append("wrong answer %s: no step '%s'" % (w.label(), s))
        try:
            ref = labs.function_text(lab, w.lang, texts[lab.file(w.lang)])
            if apply(w, ref) == ref:
                problems.append("wrong answer %s changes nothing" % w.label())
        except source.Stale as e:
            problems.append(str(e))
    for lab in all_labs:
        for lang in labs.LANGS:
            have = {w.step for w in wrongs if w.lab == lab.function and w.lang == lang}
            for s in lab.steps:
                if s.id not in have:
                    problems.append("lab %s (%s): step %s has no wrong answer in wrong.toml" % (
                        lab.function, labs.LANGS[lang], s.id))
    return problems


def variant_name(function, n):
    return "%s/%s" % (function, n)


def _renamed(lab, lang, function, suffix):
    """`function` (a whole function's text) under the name FUNCTION__lab_SUFFIX, private."""
    start = lab.start(lang)
    assert function.startswith(start)
    name = lab.function + "__lab_" + suffix
    if lang == "c":
        head = "static " + start.replace(lab.function + "(", name + "(")
        return head + function[len(start):]
    head = "#[allow(non_snake_case, unused, clippy::all)]\n" + \
        re.sub(r"^pub ", "", start).replace(lab.function + "(", name + "(")
    return head + function[len(start):]


def _dispatcher(lab, lang, text, variants):
    """The function itself: runs the copy the environment names, else the reference."""
    span = source.function_span(text, lab.start(lang))
    a, _ = source.body_span(text, lab.start(lang))
    signature = text[span[0]:a - 1].rstrip()
    args = ", ".join(labs.parameters(text, span[0], lang))
    returns = bool(re.search(r"^int |-> c_int", signature))
    ref = lab.function + "__lab_ref"
    if lang == "c":
        lines = [signature, "{", '    const char *lab_variant = getenv("%s");' % VARIANT_ENV]
        for n in variants:
            call = "%s__lab_%s(%s)" % (lab.function, n, args)
            lines.append('    if (lab_variant && strcmp(lab_variant, "%s") == 0) {' %
                         variant_name(lab.function, n))
            lines.append("        %s;" % ("return " + call if returns else call))
            if not returns:
                lines.append("        return;")
            lines.append("    }")
        lines.append("    %s%s(%s);" % ("return " if returns else "", ref, args))
        lines.append("}")
        return "\n".join(lines)
    lines = [signature + " {", "    match std::env::var(\"%s\").as_deref() {" % VARIANT_ENV]
    for n in variants:
        lines.append('        Ok("%s") => {' % variant_name(lab.function, n))
        lines.append("            // SAFETY: the caller upholds this function's contract.")
        lines.append("            unsafe { %s__lab_%s(%s) }" % (lab.function, n, args))
        lines.append("        }")
    lines.append("        _ => {")
    lines.append("            // SAFETY: the caller upholds this function's contract.")
    lines.append("            unsafe { %s(%s) }" % (ref, args))
    lines.append("        }")
    lines.append("    }")
    lines.append("}")
    return "\n".join(lines)


def variant_file(all_labs, lang, path, text, wrongs):
    """The source file `text` with every lab function of `lang` in it turned into a dispatcher
    over its reference, its skeleton and its wrong answers."""
    original = text
    for lab in all_labs:
        if lab.file(lang) != path:
            continue
        ref = labs.function_text(lab, lang, original)
        skel = labs.function_text(lab, lang, labs.skeleton(lab, lang, original))
        copies = [("ref", ref), (SKELETON, skel)]
        for w in wrongs:
            if w.lab == lab.function and w.lang == lang:
                copies.append((str(w.number), apply(w, ref)))
        renamed = [_renamed(lab, lang, f, n) for n, f in copies]
        dispatch = _dispatcher(lab, lang, text, [n for n, _ in copies if n != "ref"])
        if lang == "c":
            new = "\n\n".join(renamed) + "\n\n#include <stdlib.h>\n#include <string.h>\n\n" + \
                dispatch
        else:
            new = dispatch + "\n\n" + "\n\n".join(renamed)
        a, b = source.function_span(text, lab.start(lang))
        text = text[:a] + new + text[b:]
    return text


def variant_tree(all_labs, base, wrongs):
    """{path: text}: `base` ({path: text} of the reference's files, others read from the
    working tree) with every lab function of both languages made a dispatcher."""
    files = {}
    for lab in all_labs:
        for lang in labs.LANGS:
            path = lab.file(lang)
            if path not in files:
                files[path] = base.get(path) or labs.tree.read(path)
    for path in list(files):
        for lang in labs.LANGS:
            files[path] = variant_file(all_labs, lang, path, files[path], wrongs)
    return files
