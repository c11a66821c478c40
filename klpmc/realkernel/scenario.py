"""Selftest scenario files run on the real kernel: each ``% `` command becomes a command of the guest's
functions.sh, with the waiting rule of klpmc's model harness (``models/_harness.py``), and the kernel's
log is compared with the file's expected log as ``klpmc replay --check`` compares a model's.
"""

from __future__ import annotations

import difflib
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from klpmc.model import InputError, read_text

from .guest import GuestTest
from .kbuild import build_modules, selftest_sources
from .kernel import Headers
from .vm import Outcome

MARKER = "# ---- expected log"
GREP_LINE = re.compile(r"^\S+: this has been live patched$")
KNOWN = ("insmod test_modules/M.ko [P=V...], rmmod M, echo V > /sys/kernel/livepatch/M/{enabled,force}, "
         "echo V > /sys/module/M/parameters/P")


def read_expected(path: Path) -> list[str]:
    """The expected-log lines of a scenario file (after the marker line if there is one)."""
    lines = read_text(path, "scenario file").splitlines()
    for i, line in enumerate(lines):
        if line.startswith(MARKER):
            return lines[i + 1:]
    return [line for line in lines if not line.startswith("#")]


@dataclass
class Scenario:
    """A scenario file made into a guest script, with the modules it loads."""

    path: Path
    expected: list[str]
    script: str
    modules: list[str]


def _command(cmd: str, path: Path) -> tuple[str, str | None]:
    """(the guest's command for one '% ' line, the module it loads or None)."""
    try:
        argv = shlex.split(cmd)
    except ValueError as e:
        raise InputError(f"{path}: cannot parse '% {cmd}': {e}") from None
    tool = argv[0] if argv else ""
    if tool == "insmod" and len(argv) >= 2:
        m = re.fullmatch(r"test_modules/([A-Za-z0-9_]+)\.ko", argv[1])
        if m is None:
            raise InputError(f"{path}: insmod of '{argv[1]}': modules are test_modules/NAME.ko")
        return "klpmc_insmod " + shlex.join(argv[1:]), m.group(1)
    if tool == "rmmod" and len(argv) == 2:
        return f"klpmc_rmmod {shlex.quote(argv[1])}", None
    if tool == "echo" and len(argv) == 4 and argv[2] == ">":
        target = argv[3]
        if re.fullmatch(r"/sys/kernel/livepatch/\w+/(enabled|force)|/sys/module/\w+/parameters/\w+", target):
            return f"klpmc_write {shlex.quote(argv[1])} {shlex.quote(target)}", None
    raise InputError(f"{path}: the real-kernel harness cannot run '% {cmd}'; it runs: {KNOWN}")


def read_scenario(path: Path) -> Scenario:
    """The guest script of a scenario file: setup_config, start_test, its commands, check_result."""
    expected = read_expected(path)
    lines = [". ./functions.sh", "setup_config", f"start_test {shlex.quote(path.stem)}"]
    modules: list[str] = []
    prev_grep = False
    for line in expected:
        if line.startswith("% "):
            cmd, mod = _command(line[2:], path)
            lines.append(cmd)
            if mod is not None and mod not in modules:
                modules.append(mod)
            prev_grep = False
        elif GREP_LINE.match(line):
            if not prev_grep:
                lines.append("klpmc_grep_live_patched")
            prev_grep = True
        else:
            prev_grep = False
    if not any(ln.startswith("% ") for ln in expected):
        raise InputError(f"{path}: no '% ' command in the expected log; is it a scenario file?")
    lines.append("check_result")
    return Scenario(path, expected, "\n".join(lines) + "\n", modules)


def guest_tests(paths: list[Path], headers: Headers) -> tuple[list[Scenario], list[GuestTest]]:
    """The scenarios and their guest tests, with the selftest modules they load built against HEADERS."""
    scenarios = [read_scenario(p) for p in paths]
    sources = selftest_sources()
    unknown = sorted({m for s in scenarios for m in s.modules if m not in sources})
    if unknown:
        raise InputError(f"unknown test module {', '.join(unknown)}; modules: {', '.join(sorted(sources))}")
    kos = build_modules(headers, sources)
    tests = [GuestTest(f"s{i:03d}", "run.sh", s.script, {m: kos[m] for m in s.modules})
             for i, s in enumerate(scenarios)]
    return scenarios, tests


def compare(expected: list[str], outcome: Outcome, label: str) -> tuple[bool, list[str]]:
    """(matches, the lines to print): the kernel's log when it matches, a unified diff when not."""
    if not outcome.ran:
        return False, describe_failure(outcome)
    got = outcome.segments[0].log if outcome.segments else outcome.log
    if got == expected:
        return True, got
    diff = list(difflib.unified_diff(expected, got, "expected", label, lineterm=""))
    return False, diff + [f"note: {n}" for n in outcome.notes if n]


def describe_failure(outcome: Outcome) -> list[str]:
    """`could not run: why`, the harness's notes and the console's tail."""
    out = [f"could not run: {outcome.reason}"]
    out += [f"  note: {n}" for n in outcome.notes if n]
    if outcome.console:
        out.append("  console (last lines):")
        out += [f"    {ln}" for ln in outcome.console]
    return out


__all__ = ["Scenario", "compare", "describe_failure", "guest_tests", "read_expected", "read_scenario"]
