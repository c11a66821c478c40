"""Fuzz the command line: configurations, scope specs, scenario files, traces and flags, valid or not.

Every input gives exit 0 or 1 (a run), or 2 with one line ``klpmc: ...``; never a traceback, never the
internal-error exit (3), never a hang (an alarm ends an example past `HANG` seconds). CI runs a few hundred
examples; ``KLPMC_FUZZ_EXAMPLES=3000`` runs more, and ``KLPMC_FUZZ_REPORT=FILE`` writes the figures of the
run (inputs, exit codes, errors by kind, the slowest example) as JSON.

The kernel model (the livepatch core's C) takes seconds to set up in a process: it is fuzzed in its
argument handling only (what is refused before it is built).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from klpmc.cli import run

EXAMPLES = int(os.environ.get("KLPMC_FUZZ_EXAMPLES", "300"))
REPORT = os.environ.get("KLPMC_FUZZ_REPORT")
HANG = 60.0         # seconds: an example that takes longer is a hang

MODELS = ["upstream", "poc", "poc-series", "v1", "refcount", "replace-set"]
PRESETS = ["small", "drop", "modules", "block", "kselftest", "selftest", "state", "sets", "nope", ""]
PROPERTIES = ["one-transition", "state-lifecycle", "no-hang", "reach-state-shared", "no-such-rule", ""]
MODULES = ["test_klp_callbacks_demo", "test_klp_callbacks_demo2", "test_klp_callbacks_mod", "test_klp_callbacks_busy",
           "test_klp_livepatch", "test_klp_atomic_replace", "nope"]


class Hang(BaseException):
    """An example ran past `HANG` seconds (a BaseException: the CLI's safety net must not swallow it)."""


@contextlib.contextmanager
def alarm(seconds: float) -> Iterator[None]:
    def ring(signum: int, frame: Any) -> None:
        raise Hang(f"no answer in {seconds:.0f} s")

    old = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


# -- TOML ---------------------------------------------------------------------------------------------------


def toml_string(s: str) -> str:
    """A TOML basic string: quote, backslash and control characters escaped, the rest as it is."""
    out = []
    for c in s:
        if c in '"\\':
            out.append("\\" + c)
        elif c < " " or c == "\x7f":
            out.append(f"\\u{ord(c):04x}")
        elif 0xD800 <= ord(c) <= 0xDFFF:      # a lone surrogate is no character TOML (or UTF-8) can hold
            out.append("\\ufffd")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return toml_string(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{toml_string(k)} = {toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(v)


def toml_text(data: dict[str, Any]) -> str:
    lines = []
    for key, value in data.items():
        if isinstance(value, list) and value and all(isinstance(x, dict) for x in value):
            for table in value:
                lines.append(f"[[{key}]]")
                lines += [f"{toml_string(k)} = {toml_value(v)}" for k, v in table.items()]
        elif isinstance(value, dict):
            lines.append(f"[{key}]")
            lines += [f"{toml_string(k)} = {toml_value(v)}" for k, v in value.items()]
        else:
            lines.insert(0, f"{toml_string(key)} = {toml_value(value)}")
    return "\n".join(lines) + "\n"


weird_names = st.one_of(st.sampled_from(["vmlinux", "x", "", "-P", "P\n1", "mod-a", "P" * 60]), st.text(max_size=6))
names = st.one_of(*[st.sampled_from(["P1", "P2", "P3"])] * 4, weird_names)
scalars = st.one_of(st.booleans(), st.integers(-3, 5), weird_names)


def mostly(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Usually a value of the right shape, now and then a scalar of any type."""
    return st.one_of(*[good] * 5, scalars)


state = st.fixed_dictionaries(
    {"id": mostly(st.integers(-1, 3))},
    optional={"version": mostly(st.integers(0, 3)), "block_disable": st.booleans(), "is_shadow": st.booleans(),
              "typo": scalars})
patch = st.fixed_dictionaries(
    {"name": names},
    optional={"replace": mostly(st.booleans()),
              "objects": mostly(st.lists(st.sampled_from(["vmlinux", "vmlinux", "mod_a", "mod_b", ""]), min_size=1,
                                         max_size=2, unique=True)),
              "states": mostly(st.lists(state, max_size=2)),
              "callbacks": st.lists(st.sampled_from(["setup", "enable", "disable", "release", "pre_patch", "frob"]),
                                    max_size=4),
              "replace_set": mostly(st.integers(0, 2))})
flags = st.dictionaries(st.sampled_from(["setup", "pre_patch", "patch_object", "module_coming", "reverse", "force",
                                         "reload", "frob"]), mostly(st.booleans()), max_size=3)
config = st.fixed_dictionaries(
    {"patch": st.lists(patch, min_size=1, max_size=3)},
    optional={"module": st.lists(st.fixed_dictionaries({"name": st.one_of(
        *[st.sampled_from(["mod_a", "mod_b"])] * 4, weird_names)}), max_size=2),
        "faults": flags, "actions": flags, "name": mostly(st.just("c"))})


@st.composite
def config_text(draw: st.DrawFn) -> tuple[bytes, str]:
    """A configuration file and its size: mostly TOML of the right shape and small, sometimes big (a run
    must be bounded: each state has a step per patch and the rules read every patch), huge (a run must be
    refused), nested, or not TOML at all."""
    kind = draw(st.sampled_from(["shaped"] * 6 + ["big", "huge", "nested", "junk", "bom", "empty"]))
    if kind == "shaped":
        return toml_text(draw(config)).encode("utf-8", "surrogatepass"), "small"
    if kind in ("big", "huge"):
        n = draw(st.integers(6, 40) if kind == "big" else st.integers(200, 3000))
        shared = draw(st.booleans())
        return "".join(f'[[patch]]\nname = "P{i}"\n' + ("states = [{ id = 1 }]\n" if shared else "")
                       for i in range(n)).encode(), kind
    if kind == "nested":
        depth = draw(st.integers(1, 3000))
        return ("x = " + "[" * depth + "]" * depth + "\n").encode(), "small"
    if kind == "bom":
        return b"\xef\xbb\xbf" + toml_text(draw(config)).encode("utf-8", "surrogatepass"), "small"
    if kind == "empty":
        return b"", "small"
    return draw(st.binary(max_size=64)), "small"


# -- scenarios and traces -----------------------------------------------------------------------------------


param = st.one_of(st.sampled_from(["pre_patch_ret=0", "pre_patch_ret=-19", "pre_patch_ret=abc", "pre_patch_ret=",
                                   "pre_patch_ret", "pre_patch_ret=5", "block_transition=1", "block_transition=x",
                                   "replace=1", "x=y"]), st.text(max_size=5))
command = st.one_of(
    st.builds(lambda m, ps: f"% insmod test_modules/{m}.ko {' '.join(ps)}".rstrip(), st.sampled_from(MODULES),
              st.lists(param, max_size=2)),
    st.builds(lambda m: f"% rmmod {m}", st.sampled_from(MODULES)),
    st.builds(lambda v, m, a: f"% echo {v} > /sys/kernel/livepatch/{m}/{a}", st.sampled_from(["0", "1", "abc", ""]),
              st.sampled_from(MODULES), st.sampled_from(["enabled", "force", "transition"])),
    st.builds(lambda m, v: f"% echo {v} > /sys/module/{m}/parameters/pre_patch_ret", st.sampled_from(MODULES),
              st.sampled_from(["0", "-19", "x"])),
    st.builds(lambda t: "% " + t, st.text(max_size=12)),
    st.text(max_size=20),
    st.just("livepatch: enabling patch 'test_klp_callbacks_demo'"),
)


@st.composite
def scenario_text(draw: st.DrawFn) -> bytes:
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=64))
    lines = draw(st.lists(command, max_size=6))
    if draw(st.booleans()):
        lines.insert(0, "# ---- expected log")
    return ("\n".join(lines) + "\n").encode()


action = st.one_of(st.sampled_from(["klp_enable_patch(P1)", "klp_try_complete_transition()", "enabled_store(P1, 0)",
                                    "klp_enable_patch(P2)", "frob()", ""]), st.text(max_size=10))


@st.composite
def trace_text(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["steps", "steps", "object", "junk"]))
    steps = draw(st.lists(st.one_of(
        st.fixed_dictionaries({"action": action}, optional={"log": st.lists(st.text(max_size=8), max_size=2)}),
        st.dictionaries(st.text(max_size=4), scalars, max_size=2)), max_size=4))
    if kind == "steps":
        return json.dumps(steps).encode()
    if kind == "object":
        return json.dumps({"trace": steps}).encode()
    return draw(st.binary(max_size=40))


# -- command lines ------------------------------------------------------------------------------------------


def opt(name: str, values: st.SearchStrategy[Any]) -> st.SearchStrategy[list[str]]:
    return st.one_of(st.just([]), values.map(lambda v: [name, str(v)]))


numbers = st.one_of(st.integers(-2, 40), st.sampled_from(["x", "1e3", "", "99999999999999999999"]))
seconds = st.one_of(st.sampled_from(["nan", "inf", "-1", "0", "x", "0.5", "1", "1e400"]), st.floats(0.001, 2))
scope_spec = st.one_of(
    st.sampled_from(["patches=1", "patches=2,states=1", "patches=1,states=0", "", ",", " , ", "patches=²",
                     "patches=0", "patches=5", "states=4", "patches=2,patches=1", "patches", "frob=1",
                     "patches=-1", "patches=\u0661", "states=1,patches=1"]),
    st.text(alphabet="patches=,0123456789² ", max_size=14))
model = st.one_of(*[st.sampled_from(MODELS)] * 4, st.sampled_from(["nope", "", "-x"]))
flag = st.sampled_from(["--json", "-q", "--stop-on-violation", "--vacuity", "--bogus", "-h"])


@st.composite
def argv(draw: st.DrawFn, tmp: Path) -> list[str]:
    """A command line; files it names are written under ``tmp`` first."""
    what = draw(st.sampled_from(["check-config", "check-config", "check-preset", "check-scope", "graph", "diff",
                                 "replay", "replay", "trace", "prove", "coverage", "kernel", "list", "report"]))
    size = "small"
    if what in ("check-config", "graph", "diff", "prove", "coverage"):
        cfg = tmp / "c.toml"
        text, size = draw(config_text())
        cfg.write_bytes(text)
    most = {"small": 300, "big": 20, "huge": 0}[size]
    bound = opt("--max-states", st.integers(1, max(most, 1))) if most else st.just([])
    # prove reads the relation off every state and coverage traces every line: always bounded unless huge
    bounded = st.integers(1, max(most, 1)).map(lambda n: ["--max-states", str(n)]) if most else st.just([])
    if what == "check-config":
        line = ["check", draw(model), "--config", str(cfg)]
        line += draw(bound) + draw(opt("--max-depth", numbers)) + draw(opt("--property", st.sampled_from(PROPERTIES)))
        line += draw(st.lists(flag, max_size=2)) + draw(opt("--timeout", seconds))
        line += draw(opt("--out", st.sampled_from([str(tmp / "out"), "", "/dev/null", str(cfg / "x"), "/proc/k"])))
    elif what == "check-preset":
        line = ["check", draw(st.sampled_from(MODELS)), "--preset", draw(st.sampled_from(PRESETS)), "--max-states",
                str(draw(st.integers(1, 400))), *draw(st.lists(flag, max_size=2))]
    elif what == "check-scope":
        line = ["check", draw(model), "--scope", draw(scope_spec), "--max-states", "50", "-q"]
    elif what == "graph":
        line = ["graph", draw(model), draw(st.sampled_from(["--config", "--preset"]))]
        line += [str(cfg) if line[-1] == "--config" else draw(st.sampled_from(PRESETS))]
        line += ["--out", draw(st.sampled_from([str(tmp / "g"), "", "/dev/null"])), *draw(bound)]
        line += draw(opt("--json", st.just("")))[:1]
    elif what == "diff":
        line = ["diff", draw(model), draw(model), "--config", str(cfg), *draw(bound),
                *draw(st.lists(st.sampled_from(["--json", "-q", "--bogus"]), max_size=1))]
    elif what == "replay":
        files = []
        for i in range(draw(st.integers(1, 2))):
            path = tmp / f"s{i}.txt"
            path.write_bytes(draw(scenario_text()))
            files.append(str(path))
        line = ["replay", draw(st.sampled_from([*MODELS, "nope"])), *files]
        line += draw(st.lists(st.sampled_from(["--check", "--json"]), max_size=2, unique=True))
    elif what == "trace":
        path = tmp / "trace.json"
        path.write_bytes(draw(trace_text()))
        line = ["replay", draw(st.sampled_from(MODELS)), "--trace", str(path)]
        line += draw(st.lists(st.sampled_from(["--check", "--json"]), max_size=2, unique=True))
        line += draw(opt("--preset", st.sampled_from(PRESETS)))
    elif what == "prove":
        line = ["prove", draw(st.sampled_from(MODELS)), "--config", str(cfg), "--method", "bmc", "--max-depth", "2",
                "--timeout", draw(st.sampled_from(["1", "nan", "x"])), *draw(bounded), "--no-vacuity"]
        line += draw(opt("--property", st.sampled_from(PROPERTIES)))
    elif what == "coverage":
        line = ["coverage", draw(st.sampled_from(MODELS)), "--config", str(cfg), *draw(bounded),
                *draw(st.lists(st.sampled_from(["--json", "-q"]), max_size=1))]
    elif what == "kernel":      # the kernel's C is slow to set up: only what is refused before it is built
        line = ["check", "kernel", *draw(st.sampled_from([
            ["--preset", "nope"], ["--scope", draw(scope_spec) + "x"], ["--max-states", "0"], ["--timeout", "nan"],
            ["--property", "no-such-rule"], ["--kernel", str(tmp / "no-tree")], ["--port", "x"],
            ["--config", str(tmp / "missing.toml")], ["--out", "/dev/null"]]))]
    elif what == "list":
        line = ["list", *draw(st.lists(st.sampled_from(["--json", "--bogus"]), max_size=1))]
    else:
        path = tmp / "result.json"
        path.write_bytes(draw(trace_text()))
        line = ["report", str(path), "--no-graph", "--html", str(tmp / "r.html")]
    return line


# -- the test -----------------------------------------------------------------------------------------------


FIGURES: dict[str, Any] = {"inputs": 0, "exit": Counter(), "errors": Counter(), "slowest": (0.0, [])}


def kind_of(message: str, tmp: Path) -> str:
    """An error message without its particulars: what kind of error it is."""
    text = message.removeprefix("klpmc: ").replace(str(tmp), "<tmp>")
    text = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", text)
    text = re.sub(r"<tmp>[^\s:;,)]*|/[\w./-]+", "<path>", text)
    text = re.sub(r"\d[\d,.e+]*", "N", text)
    return " ".join(text.split()[:7])


def _report() -> None:
    if REPORT:
        slowest = FIGURES["slowest"]
        Path(REPORT).write_text(json.dumps({
            "inputs": FIGURES["inputs"], "exit_codes": dict(FIGURES["exit"]),
            "errors_by_kind": dict(FIGURES["errors"].most_common()),
            "slowest_seconds": round(slowest[0], 2), "slowest_argv": slowest[1]}, indent=1) + "\n")


@settings(max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES <= 300,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
@given(data=st.data())
def test_no_input_gives_a_traceback_or_a_hang(data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        line = data.draw(argv(tmp))
        out_err = []
        t0 = time.perf_counter()
        with alarm(HANG), contextlib.redirect_stdout(_Sink(out_err, "out")), \
                contextlib.redirect_stderr(_Sink(out_err, "err")):
            code = run(line)
        seconds = time.perf_counter() - t0
        err = "".join(text for where, text in out_err if where == "err")
        FIGURES["inputs"] += 1
        FIGURES["exit"][code] += 1
        if seconds > FIGURES["slowest"][0]:
            FIGURES["slowest"] = (seconds, [a.replace(str(tmp), "<tmp>") for a in line])
        assert "Traceback" not in err, (line, err)
        assert code in (0, 1, 2), (line, code, err)
        if code == 2:
            lines = [x for x in err.splitlines() if x.startswith("klpmc: ") and "warning" not in x]
            assert len(lines) == 1 and err.count("\n") == 1, (line, err)
            FIGURES["errors"][kind_of(lines[0], tmp)] += 1
        _report()


class _Sink:
    """A text stream that keeps what was written, and to which stream."""

    def __init__(self, into: list[tuple[str, str]], where: str) -> None:
        self.into, self.where = into, where

    def write(self, text: str | bytes) -> int:
        self.into.append((self.where, text.decode(errors="replace") if isinstance(text, bytes) else text))
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


@pytest.fixture(autouse=True, scope="module")
def _cwd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Relative paths a command writes land in a scratch folder."""
    old = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("fuzz"))
    yield
    os.chdir(old)
