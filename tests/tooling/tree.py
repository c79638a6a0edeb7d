"""Copies of the working tree, and the builds made in them, for tools that must never touch the
working tree itself: `make pitfall` (tests/pitfalls/pitfall.py) builds each mutant in one, the
labs (tests/labs/lab.py) build the student's function and the reference in two.

A copy is synced file by file (tracked and untracked files, not ignored ones): a file whose
content did not change keeps its mtime, so make and cargo rebuild only what an edit changed;
a changed file gets a new mtime, newer than any build output made from its old content. Each
copy has a cargo target directory of its own: its programs are named like the working tree's
(target/release/echo_server), and sharing one directory would let a build of the copy replace
the working tree's programs.

python3 (3.11+) standard library only.
"""
import filecmp
import json
import os
import shutil
import subprocess
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROGRAMS = ("echo_server", "tcp_client", "http_get")


def run(cmd, cwd, env=None, timeout=None):
    """subprocess.run with the environment plus `env`, output captured as text."""
    full = dict(os.environ)
    full.update(env or {})
    return subprocess.run(cmd, cwd=cwd, env=full, capture_output=True, text=True,
                          timeout=timeout)


def tracked_files(root=ROOT):
    """The files of the tree at `root` that git knows or would add (not ignored ones)."""
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=root,
                         check=True, capture_output=True).stdout
    return [p for p in out.decode().split("\0") if p and os.path.isfile(os.path.join(root, p))]


def read(rel, root=ROOT):
    with open(os.path.join(root, rel), encoding="utf-8") as f:
        return f.read()


def write_atomically(path, text):
    """Writes `text` to `path` through a temporary file in the same directory and a rename, so
    the file holds either its old or its new content, never a part of either."""
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".", suffix=".tmp",
                               dir=os.path.dirname(path) or ".")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    try:
        mode = os.stat(path).st_mode & 0o777
        os.chmod(tmp, mode)
    except FileNotFoundError:
        pass
    os.replace(tmp, path)


def sync(tree, overrides=None, root=ROOT):
    """Makes `tree` a copy of the working tree at `root` with the files in `overrides`
    ({relative path: text}) replaced; files whose content is unchanged keep their mtime.
    Build outputs (build/, target/) and .git are neither copied nor removed."""
    overrides = overrides or {}
    os.makedirs(tree, exist_ok=True)
    wanted = set(tracked_files(root))
    for rel in wanted:
        src, dst = os.path.join(root, rel), os.path.join(tree, rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if rel in overrides:
            data = overrides[rel].encode()
            if not os.path.exists(dst) or open(dst, "rb").read() != data:
                with open(dst, "wb") as f:
                    f.write(data)
        elif not os.path.exists(dst) or not filecmp.cmp(src, dst, shallow=False):
            shutil.copy2(src, dst)
            os.utime(dst)  # newer than any build output made from the old content
    for dirpath, dirnames, filenames in os.walk(tree):
        rel_dir = os.path.relpath(dirpath, tree)
        if rel_dir == ".":
            dirnames[:] = [d for d in dirnames if d not in ("build", "target", ".git")]
        for name in filenames:
            rel = os.path.normpath(os.path.join(rel_dir, name))
            if rel not in wanted:
                os.remove(os.path.join(dirpath, name))


class BuildError(RuntimeError):
    """A build that failed; the message holds the end of its output."""


def cargo_env(target):
    """The environment that points cargo at a target directory (None: cargo's default)."""
    return {"CARGO_TARGET_DIR": target} if target else {}


def build_programs(tree, lang, target=None, timeout=None):
    """Builds the three programs of one language in `tree` (C: `make c`; Rust: `cargo build
    --release --bins`) and returns the directory that holds them."""
    if lang == "c":
        r = run(["make", "--no-print-directory", "c"], tree, timeout=timeout)
        if r.returncode != 0:
            raise BuildError("make c failed:\n" + (r.stdout + r.stderr)[-4000:])
        return os.path.join(tree, "build", "c")
    r = run(["cargo", "build", "--release", "--bins"], tree, cargo_env(target), timeout=timeout)
    if r.returncode != 0:
        raise BuildError("cargo build failed:\n" + r.stderr[-4000:])
    return os.path.join(target or os.path.join(tree, "target"), "release")


def build_test(tree, args, name, target=None, timeout=None):
    """Builds one cargo test target (`args` select it, e.g. ["-p", "tcp-chapter-twins"] or
    ["--test", "suite"]) in `tree` without running it; returns the path of the executable
    whose target is called `name`."""
    r = run(["cargo", "test", "--release", "--no-run", "--message-format=json"] + args, tree,
            cargo_env(target), timeout=timeout)
    if r.returncode != 0:
        raise BuildError("building the %s tests failed:\n%s" % (name, r.stderr[-4000:]))
    for line in r.stdout.splitlines():
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if msg.get("reason") == "compiler-artifact" and msg.get("executable") and \
                msg["target"]["name"] == name:
            return msg["executable"]
    raise BuildError("no %s executable in cargo's output" % name)


def build_twins(tree, target=None, timeout=None):
    """The twin tests' binary (tests/twins), built in `tree`."""
    return build_test(tree, ["-p", "tcp-chapter-twins"], "twins", target, timeout)


def build_suite(tree, target=None, timeout=None):
    """The black-box suite's binary (tests/suite), built in `tree`."""
    return build_test(tree, ["--test", "suite"], "suite", target, timeout)
