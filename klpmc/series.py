"""A posted series, applied to a kernel tree patch by patch, as a reviewer applies it from the list.

A series is an mbox file, or a folder of them applied in name order (``00-`` the cover letter). Of each
patch only what klpmc builds is applied: the hunks of ``kernel/livepatch``, ``include/linux/livepatch*.h``
and the selftests' test modules' C; the rest (scripts, Makefiles, documentation, samples) is skipped and
listed. Each
patch goes onto a copy of the tree after the one before with GNU ``patch -p1``, which says whether it
applies cleanly, at an offset, with fuzz, or not (its rejected hunks are kept).

``--port RENAMES`` checks a series written for an older base on a newer tree: the file holds ``old new``
pairs, one a line; an identifier pair rewrites the patch's lines (context and new code alike) and a path
pair (both ending in ``/``) the files it names. Mainline's one move the posted series need is built in:
the test modules went from ``lib/livepatch/`` to ``tools/testing/selftests/livepatch/test_modules/``.
What was rewritten is listed in the report: the patch checked is then not the patch as posted.

The trees go to the cache under the hash of the base tree, every patch applied and the renames, so a
second run reuses them.
"""

from __future__ import annotations

import email
import email.policy
import json
import re
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

from klpmc.ktree import HEADERS, TEST_MODULE_DIRS, Tree, cache_dir, digest
from klpmc.model import InputError

CORE_PREFIXES = ("kernel/livepatch/", "include/linux/livepatch")
KEPT_PREFIXES = (*CORE_PREFIXES, *(d + "/" for d in TEST_MODULE_DIRS))
BUILT_IN_MOVES = (("lib/livepatch/", "tools/testing/selftests/livepatch/test_modules/"),)
PATCH_TIMEOUT = 60


@dataclass(frozen=True)
class FileDiff:
    """One file's part of a patch: its path (as the patch names it) and its text from ``diff --git``."""

    path: str
    text: str


@dataclass(frozen=True)
class Mail:
    """One mail of a series: its file, its subject, its files' diffs."""

    file: Path
    subject: str
    files: tuple[FileDiff, ...]

    @property
    def number(self) -> str:
        m = re.match(r"(\d+)", self.file.name)
        return m.group(1) if m else self.file.stem

    @property
    def cover(self) -> bool:
        return not self.files


@dataclass(frozen=True)
class Renames:
    """What ``--port`` rewrites: identifier pairs and path pairs, as the file lists them."""

    source: str
    idents: tuple[tuple[str, str], ...]
    paths: tuple[tuple[str, str], ...]


@dataclass
class Applied:
    """What became of one patch: how it applied, what was skipped and rewritten, the tree after it."""

    number: str
    subject: str
    file: str
    status: str                     # cover, skipped (nothing klpmc builds), clean, offset, fuzz, fails
    tree: Path
    core: bool = False              # it touches kernel/livepatch or include/linux/livepatch*.h
    modules: bool = False           # it touches the selftests' test modules
    files: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    hunks: list[str] = field(default_factory=list)      # patch's own words for each hunk not applied cleanly
    rejects: str = ""
    ported: list[str] = field(default_factory=list)

    def json(self) -> dict[str, object]:
        out = asdict(self)
        out["tree"] = str(self.tree)
        return out


# -- reading --------------------------------------------------------------------------------------

_DIFF = re.compile(r"^diff --git a/(\S+) b/(\S+)$", re.M)


def _body(path: Path) -> tuple[str, str]:
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise InputError(f"cannot read {path}: {e.strerror}") from None
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    subject = " ".join(str(msg.get("Subject", "")).split())
    if msg.is_multipart():
        part = next((p for p in msg.walk() if p.get_content_type() == "text/plain"), None)
        payload = part.get_payload(decode=True) if part is not None else b""
    else:
        payload = msg.get_payload(decode=True)
    text = payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else str(payload or "")
    return subject, text


def read_mail(path: Path) -> Mail:
    """A mail: its subject and the diff of each file it changes (the signature after ``-- `` dropped)."""
    subject, text = _body(path)
    starts = [m.start() for m in _DIFF.finditer(text)]
    files = []
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(text)
        part = text[start:end]
        sig = re.search(r"^-- ?\n", part, re.M)
        if sig is not None and i + 1 == len(starts):
            part = part[:sig.start()]
        m = _DIFF.match(part)
        assert m is not None
        files.append(FileDiff(m.group(2), part if part.endswith("\n") else part + "\n"))
    if not subject and not files:
        raise InputError(f"{path} is not a mail of a posted series: no Subject and no diff")
    return Mail(path, subject, tuple(files))


def read_series(path: Path) -> list[Mail]:
    """The mails of a series: one mbox file, or a folder of them in name order."""
    if not path.exists():
        raise InputError(f"no such series: {path} (an mbox file, or a folder of them)")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix in (".eml", ".mbox", ".patch", ""))
        if not files:
            raise InputError(f"{path} holds no mail (.eml, .mbox or .patch files)")
    else:
        files = [path]
    return [read_mail(f) for f in files]


def read_renames(path: Path) -> Renames:
    """``--port RENAMES``: ``old new`` a line, ``#`` comments; a pair of paths ends both in ``/``."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError as e:
        raise InputError(f"cannot read the renames file {path}: {e.strerror}") from None
    idents, paths = [], []
    for n, line in enumerate(lines, 1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        if len(words) != 2:
            raise InputError(f"{path}:{n}: a rename is two words, 'old new'; got {line.strip()!r}")
        old, new = words
        if old.endswith("/") and new.endswith("/"):
            paths.append((old, new))
        elif re.fullmatch(r"[A-Za-z_]\w*", old) and re.fullmatch(r"[A-Za-z_]\w*", new):
            idents.append((old, new))
        else:
            raise InputError(f"{path}:{n}: {old!r} -> {new!r} is neither two identifiers nor two paths ending in /")
    if not idents and not paths:
        raise InputError(f"{path} lists no rename ('old new', one a line)")
    return Renames(str(path), tuple(idents), tuple(paths))


# -- porting --------------------------------------------------------------------------------------

def _move(path: str, moves: tuple[tuple[str, str], ...]) -> str:
    for old, new in moves:
        if path.startswith(old):
            return new + path[len(old):]
    return path


def port(diff: FileDiff, renames: Renames) -> tuple[FileDiff, list[str]]:
    """The file's diff with the renames applied: paths in its headers, identifiers in its hunk lines."""
    notes: list[str] = []
    moves = (*renames.paths, *BUILT_IN_MOVES)
    path = _move(diff.path, moves)
    text = diff.text
    if path != diff.path:
        text = re.sub(r"(?m)^((?:diff --git a/| b/|--- a/|\+\+\+ b/|rename (?:from|to) ))" + re.escape(diff.path),
                      lambda m: m.group(1) + path, text)
        text = text.replace(f" b/{diff.path}\n", f" b/{path}\n")
        notes.append(f"{diff.path} -> {path}")
    lines = text.split("\n")
    counts: dict[tuple[str, str], int] = {}
    in_hunk = False
    for i, line in enumerate(lines):
        if line.startswith("@@"):
            in_hunk = True
            continue
        if not in_hunk or not line or line[0] not in " +-" or line.startswith(("--- ", "+++ ")):
            continue
        for old, new in renames.idents:
            got, n = re.subn(r"\b" + re.escape(old) + r"\b", new, line)
            if n:
                counts[(old, new)] = counts.get((old, new), 0) + n
                line = got
        lines[i] = line
    for (old, new), n in counts.items():
        notes.append(f"{path}: {old} -> {new} ({n}x)")
    return FileDiff(path, "\n".join(lines)), notes


# -- applying -------------------------------------------------------------------------------------

def _kept(path: str) -> bool:
    """A file klpmc builds: the core and its header, and the test modules' C (not their Makefile)."""
    if path.startswith(CORE_PREFIXES):
        return True
    return path.startswith(KEPT_PREFIXES) and path.endswith((".c", ".h"))


def _tree_files(root: Path) -> list[Path]:
    out = [p for p in (root / "kernel" / "livepatch").rglob("*") if p.is_file()]
    out += [root / "include" / "linux" / h for h in HEADERS if (root / "include" / "linux" / h).is_file()]
    out += sorted((root / "include" / "linux").glob("livepatch*.h"))
    for d in TEST_MODULE_DIRS:
        if (root / d).is_dir():
            out += [p for p in (root / d).rglob("*") if p.is_file()]
    if (root / "Makefile").is_file():
        out.append(root / "Makefile")
    return sorted(set(out))


def _copy_tree(src: Path, dest: Path) -> None:
    """What klpmc reads of a tree, copied (a full kernel tree is far larger than what the core needs)."""
    for f in _tree_files(src):
        target = dest / f.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(f, target)


def _base_key(tree: Tree) -> str:
    return digest(*(f.relative_to(tree.root).as_posix().encode() + b"\0" + f.read_bytes()
                    for f in _tree_files(tree.root)))


_HUNK = re.compile(r"^Hunk #(\d+) (succeeded|FAILED) at (\d+)(?: with fuzz (\d+))?(?: \(offset (-?\d+) lines?\))?")


def _apply(root: Path, text: str) -> tuple[str, list[str], str]:
    """``patch -p1`` in the tree: (clean | offset | fuzz | fails, what it said of each hunk, rejects)."""
    if shutil.which("patch") is None:
        raise InputError("applying a series needs GNU patch: it is not installed (apt-get install patch)")
    rej = root / ".klpmc.rej"
    rej.unlink(missing_ok=True)
    try:
        run = subprocess.run(["patch", "-p1", "-f", "--no-backup-if-mismatch", "-r", str(rej), "-d", str(root)],
                             input=text, capture_output=True, text=True, timeout=PATCH_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise InputError(f"patch did not finish in {PATCH_TIMEOUT} s") from None
    status, notes, current = "clean", [], ""
    missing: str | None = None                   # "can't find file": patch names the file after saying so
    for line in run.stdout.splitlines():
        if line.startswith("patching file "):
            current = line[len("patching file "):].strip("'")
            continue
        if line.startswith("|diff --git a/") and missing is not None:
            notes.append(f"{line.split(' b/', 1)[-1].strip()}: {missing}")
            missing = None
            continue
        m = _HUNK.match(line)
        if m is None:
            if "can't find file" in line:
                missing, status = "no such file in the tree", "fails"
            elif "saving rejects" not in line and ("FAILED" in line or "malformed" in line):
                notes.append(f"{current}: {line.strip()}" if current else line.strip())
                status = "fails"
            continue
        hunk, how, at, fuzz, offset = m.groups()
        if how == "FAILED":
            status = "fails"
            notes.append(f"{current}: hunk #{hunk} FAILED at {at}")
        elif fuzz:
            status = "fuzz" if status != "fails" else status
            notes.append(f"{current}: hunk #{hunk} with fuzz {fuzz} at {at}")
        elif offset:
            status = "offset" if status == "clean" else status
            notes.append(f"{current}: hunk #{hunk} at {at} (offset {offset})")
    if run.returncode and status != "fails":
        status = "fails"
        notes.append((run.stderr or run.stdout).strip().splitlines()[-1] if (run.stderr or run.stdout).strip()
                     else f"patch exited {run.returncode}")
    rejects = rej.read_text(errors="replace") if rej.is_file() else ""
    rej.unlink(missing_ok=True)
    return status, notes, rejects


def apply_series(base: Tree, path: Path, renames: Renames | None = None) -> list[Applied]:
    """Every mail of the series applied in turn onto a copy of the tree; the tree after each (cached)."""
    mails = read_series(path)
    key = digest(Path(__file__).read_bytes(), _base_key(base), renames.source if renames else "",
                 json.dumps([renames.idents, renames.paths]) if renames else "")
    root = cache_dir() / "series"
    prev = base.root
    out: list[Applied] = []
    for mail in mails:
        kept = [f for f in mail.files if _kept(f.path) or (renames is not None and _kept(_move(f.path, (
            *renames.paths, *BUILT_IN_MOVES))))]
        skipped = [f.path for f in mail.files if f not in kept]
        ported: list[str] = []
        if renames is not None:
            done = [port(f, renames) for f in kept]
            kept = [f for f, _ in done]
            ported = [n for _, notes in done for n in notes]
        text = "".join(f.text for f in kept)
        key = digest(key, mail.file.name, text)
        dest = root / key
        record = dest / ".klpmc-applied.json"
        if record.is_file():
            data = json.loads(record.read_text())
            data["tree"] = dest / "tree"
            applied = Applied(**data)
        else:
            tmp = root / (key + ".tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            _copy_tree(prev, tmp / "tree")
            applied = Applied(mail.number, mail.subject, mail.file.name, "cover" if mail.cover else "skipped",
                              dest / "tree", files=[f.path for f in kept], skipped=skipped, ported=ported)
            applied.core = any(f.path.startswith(CORE_PREFIXES) for f in kept)
            applied.modules = any(f.path.startswith(tuple(d + "/" for d in TEST_MODULE_DIRS)) for f in kept)
            if kept:
                applied.status, applied.hunks, applied.rejects = _apply(tmp / "tree", text)
            data = applied.json()
            (tmp / ".klpmc-applied.json").write_text(json.dumps(data))
            shutil.rmtree(dest, ignore_errors=True)
            tmp.rename(dest)
        prev = applied.tree
        out.append(applied)
    if not out:
        raise InputError(f"{path} holds no mail")
    return out


def patched_tree(base: Tree, applied: Applied, series: str, ported: bool) -> Tree:
    """The tree after a patch of the series, as the kernel model opens it, named for the report."""
    origin = f"{base.origin} + {series} up to {applied.number}" + (" (ported)" if ported else "")
    return Tree(applied.tree, origin, base.version)


__all__ = ["Applied", "FileDiff", "Mail", "Renames", "apply_series", "patched_tree", "port", "read_mail",
           "read_renames", "read_series"]
