"""`klpmc confirm DIR`: run each counterexample that ``--emit-selftest`` wrote on a real kernel under qemu.

A counterexample directory (``DIR/<rule>/`` or ``DIR/<configuration>/<rule>/``) holds its selftest script
``test-klpmc-<rule>.sh``, the module sources under ``test_modules/`` and ``klpmc.json`` (the model, the rule,
the modules, the steps and the log klpmc predicts). The modules are built against the kernel's headers,
the script runs unchanged in the guest with klpmc's functions.sh, and the kernel log of its test (between
start_test and check_result, filtered as the selftests filter it) is compared with the predicted log.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from klpmc.model import InputError

from .guest import GuestTest
from .kbuild import BuildError, build_modules, selftest_sources
from .kernel import Headers, Kernel
from .vm import Outcome, run_tests

MAINLINE_APIS = ("mainline", "upstream")
REQUIRED = ("model", "rule", "modules", "expected_log")
KILLED = 137                  # the guest's timeout -s KILL ended the script


@dataclass
class Counterexample:
    """One directory written by --emit-selftest."""

    dir: Path
    name: str                     # its path under DIR, e.g. small/objects-cleaned-before-free
    meta: dict[str, Any]
    script: Path | None


@dataclass
class Verdict:
    """What the real kernel made of one counterexample."""

    cx: Counterexample
    status: str                   # confirmed, differs, could not run, not expressible
    detail: list[str] = field(default_factory=list)
    got: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def as_json(self) -> dict[str, Any]:
        """The verdict as --json prints it."""
        return {"counterexample": self.cx.name, "rule": self.cx.meta.get("rule"),
                "model": self.cx.meta.get("model"), "status": self.status, "detail": self.detail,
                "expected_log": self.cx.meta.get("expected_log"), "kernel_log": self.got,
                "seconds": round(self.seconds, 3)}


def find_counterexamples(root: Path) -> list[Counterexample]:
    """Every counterexample under ROOT (each directory with a klpmc.json), in path order."""
    if not root.is_dir():
        raise InputError(f"no such directory: {root} (the DIR that `klpmc check ... --emit-selftest DIR` wrote)")
    found = []
    for meta_path in sorted(root.rglob("klpmc.json")):
        d = meta_path.parent
        name = str(d.relative_to(root)) if d != root else d.name
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError) as e:
            raise InputError(f"{meta_path}: not readable JSON ({e})") from None
        if not isinstance(meta, dict):
            raise InputError(f"{meta_path}: not a JSON object")
        missing = [k for k in REQUIRED if k not in meta]
        if missing:
            raise InputError(f"{meta_path}: no {', '.join(missing)}; --emit-selftest writes {', '.join(REQUIRED)}")
        if not isinstance(meta["expected_log"], list) or not isinstance(meta["modules"], dict):
            raise InputError(f"{meta_path}: expected_log must be a list of lines and modules an object")
        scripts = sorted(d.glob("test-klpmc-*.sh"))
        found.append(Counterexample(d, name, meta, scripts[0] if scripts else None))
    if not found:
        raise InputError(f"no counterexample under {root}: no klpmc.json (write them with "
                         "`klpmc check MODEL --emit-selftest DIR`)")
    return found


def _sources(cx: Counterexample, stock: bool) -> dict[str, str] | str:
    """{module: C source} of a counterexample, or why there is none to build.

    A module is its directory's ``test_modules/<name>.c``, or (``in_tree``) one of the selftest modules of
    the kernel tree, which for the default kernel are linux-source-6.12's.
    """
    out = {}
    tree: dict[str, str] | None = None
    for name, info in cx.meta["modules"].items():
        info = info if isinstance(info, dict) else {}
        if info.get("in_tree"):
            if not stock:
                return (f"module {name} is the tree's own selftest module; klpmc builds those from "
                        "linux-source-6.12 only, for Debian's kernel")
            tree = selftest_sources() if tree is None else tree
            if name not in tree:
                return f"module {name} is not among linux-source-6.12's selftest modules"
            out[name] = tree[name]
            continue
        src = info.get("source")
        if src is None:
            return f"no source for module {name}: {cx.meta.get('sources_missing') or 'klpmc.json names none'}"
        path = cx.dir / src
        if not path.is_file():
            raise InputError(f"{cx.dir / 'klpmc.json'}: module {name}: no source {path}")
        out[name] = path.read_text()
    return out


def first_difference(expected: list[str], got: list[str]) -> list[str]:
    """The first line where the two logs part, side by side, after the last common lines."""
    i = 0
    while i < len(expected) and i < len(got) and expected[i] == got[i]:
        i += 1
    width = max((len(x) for x in expected[max(0, i - 3):i + 3]), default=0)
    width = min(max(width, len("predicted (klpmc)")), 72)
    rows = [f"first difference at line {i + 1}:", f"    {'predicted (klpmc)'.ljust(width)}  | real kernel"]
    for j in range(max(0, i - 3), i):
        rows.append(f"    {expected[j].ljust(width)}  | {got[j]}")
    for j in range(i, min(i + 4, max(len(expected), len(got)))):
        e = expected[j] if j < len(expected) else "(end of log)"
        g = got[j] if j < len(got) else "(end of log)"
        mark = "!" if e != g else " "
        rows.append(f"  {mark} {e.ljust(width)}  | {g}")
    return rows


def _judge(cx: Counterexample, o: Outcome, timeout: int) -> Verdict:
    expected = [str(x) for x in cx.meta["expected_log"]]
    if not o.ran:
        return Verdict(cx, "could not run", [o.reason, *o.notes, *(f"console: {c}" for c in o.console)],
                       seconds=o.seconds)
    if o.rc == KILLED:
        partial = [ln for s in o.segments for ln in s.log]
        return Verdict(cx, "could not run", [f"the test did not finish within --timeout {timeout} s",
                                             *first_difference(expected, partial)], got=partial,
                       seconds=o.seconds)
    if not o.segments:
        return Verdict(cx, "could not run", ["the script never reached check_result "
                                             f"(exit {o.rc})", *o.notes], got=o.log, seconds=o.seconds)
    got = [ln for s in o.segments for ln in s.log]
    notes: list[str] = []
    script_text = [ln for s in o.segments for ln in (s.expected or [])]
    if script_text and script_text != expected:
        notes.append("note: the script's check_result text is not klpmc.json's expected_log")
    if not all(s.complete for s in o.segments):
        notes.append("note: the script ended before its check_result")
    if o.rc not in (0, None):
        notes.append(f"note: the script exited with {o.rc}: {'; '.join(o.notes[-2:])}")
    if got == expected:
        return Verdict(cx, "confirmed", notes, got=got, seconds=o.seconds)
    return Verdict(cx, "differs", first_difference(expected, got) + notes, got=got, seconds=o.seconds)


def confirm(root: Path, kernel: Kernel, headers: Headers, *, jobs: int, timeout: int, stock: bool) -> list[Verdict]:
    """Run every counterexample under ROOT on KERNEL (STOCK: the default Debian image, mainline API only)."""
    cxs = find_counterexamples(root)
    verdicts: dict[str, Verdict] = {}
    tests: list[GuestTest] = []
    owner: dict[str, Counterexample] = {}
    for i, cx in enumerate(cxs):
        meta = cx.meta
        if meta.get("expressible") is False:
            verdicts[cx.name] = Verdict(cx, "not expressible", [str(meta.get("why_not") or "no reason given")])
            continue
        api = meta.get("api")
        if stock and api not in (None, *MAINLINE_APIS):
            verdicts[cx.name] = Verdict(cx, "could not run", [
                f"its modules use the {api} API, which Debian's {kernel.release} does not have; "
                "pass --kernel-image (and --headers) of a kernel built with it"])
            continue
        if cx.script is None:
            raise InputError(f"{cx.dir}: no test-klpmc-*.sh script beside klpmc.json")
        sources = _sources(cx, stock)
        if isinstance(sources, str):
            verdicts[cx.name] = Verdict(cx, "could not run", [sources])
            continue
        try:
            kos = build_modules(headers, sources)
        except BuildError as e:
            verdicts[cx.name] = Verdict(cx, "could not run", [str(e)])
            continue
        tid = f"c{i:03d}"
        owner[tid] = cx
        tests.append(GuestTest(tid, cx.script.name, cx.script.read_text(), kos))
    if tests:
        for tid, o in run_tests(kernel, tests, jobs=jobs, timeout=timeout).items():
            verdicts[owner[tid].name] = _judge(owner[tid], o, timeout)
    return [verdicts[cx.name] for cx in cxs]


def format_verdicts(verdicts: list[Verdict], kernel: Kernel) -> list[str]:
    """The text `klpmc confirm` prints: one line per counterexample, details indented, then the totals."""
    out = [f"confirm on {kernel.release} ({kernel.image}), qemu TCG:"]
    width = max(len(v.cx.name) for v in verdicts)
    for v in verdicts:
        rule = v.cx.meta.get("rule", "?")
        took = f"  ({v.seconds:.1f} s boot)" if v.seconds else ""
        out.append(f"  {v.status:<16} {v.cx.name.ljust(width)}  {v.cx.meta.get('model')}: {rule}{took}")
        out += [f"      {d}" for d in v.detail]
    counts = {s: sum(v.status == s for v in verdicts)
              for s in ("confirmed", "differs", "could not run", "not expressible")}
    out.append(f"{len(verdicts)} counterexamples: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    return out


__all__ = ["Counterexample", "Verdict", "confirm", "find_counterexamples", "first_difference", "format_verdicts"]
