"""Finding a function in a C or Rust source file of this project by the text its definition
starts with (e.g. `int create_tcp_server(` or `pub unsafe fn create_tcp_server(`), up to its
closing brace: the first line after it that is a lone `}` (both languages keep the body's
closing brace in column 0, and no other line of a body is a lone `}` there).

Used by tests/pitfalls/pitfall.py (an edit `within` a function) and tests/labs/lab.py (the
function a lab replaces). python3 standard library only.
"""
import re


class Stale(Exception):
    """A text that should occur exactly once in a source and does not."""


def function_span(text, start_anchor):
    """(begin, end) of the function starting at `start_anchor`, up to its closing lone '}'
    (end is just after that brace)."""
    begin = text.find(start_anchor)
    if begin < 0 or text.find(start_anchor, begin + 1) >= 0:
        raise Stale("function start %r found %d times" % (start_anchor, text.count(start_anchor)))
    m = re.compile(r"^}\s*$", re.M).search(text, begin)
    if not m:
        raise Stale("no closing '}' after %r" % start_anchor)
    end = m.start() + 1
    return begin, end


def body_span(text, start_anchor):
    """(open, close) of the function's body: just after the '{' that ends its signature, and
    at the closing '}'. The signature ends at the first '{' after its parameter list's ')'."""
    begin, end = function_span(text, start_anchor)
    i = text.index("(", begin)
    depth = 0
    while True:
        c = text[i]
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                break
        i += 1
    open_brace = text.index("{", i)
    return open_brace + 1, end - 1
