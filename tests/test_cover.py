"""`klpmc coverage`: the functions and branch arcs of a model's own file that a check never ran."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import toys

from klpmc import cli
from klpmc.cover import format_coverage, measure
from klpmc.engine import check


def test_measure_a_toy_file() -> None:
    path = Path(toys.__file__).resolve()
    result, report = measure(path, lambda: check(toys.Graph("a b", "a c"), []))
    assert result.stats.states == 3
    names = {f.name for f in report.functions}
    assert {"Graph.__init__", "Graph.next_steps", "Counters.next_steps", "Inc.__str__"} <= names
    never = {f.name for f in report.never_called}
    assert {"Counters.__init__", "Counters.next_steps", "Counters.command", "Inc.__str__"} <= never
    assert "Graph.next_steps" not in never and "Visit.as_json" in never
    source = path.read_text().splitlines()
    def_line = next(i for i, x in enumerate(source, 1) if "def __init__(self, *paths" in x)
    if_line = next(i for i, x in enumerate(source, 1) if "if y not in self.edges" in x)
    init = next(f for f in report.functions if f.name == "Graph.__init__")
    assert init.ran and init.line == def_line
    # no edge is given twice, so `if y not in self.edges...` never goes back to the loop
    assert (if_line, if_line - 1) in init.missed_arcs
    text = format_coverage(report, "toys", "tests/toys.py")
    assert text[0] == "toys" and text[1].startswith("never called (")
    assert f"      {if_line}->{if_line - 1}        if y not in self.edges.setdefault(x, []):" in text
    assert text[-1].endswith("branch arcs never taken") and " functions of tests/toys.py ran; " in text[-1]


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.run(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_coverage_of_a_model_preset(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "coverage", "poc-series", "--preset", "drop")
    assert code == 0 and err == ""
    assert out.startswith("coverage of models/poc_series.py by poc-series, preset drop (848 states)\n")
    never = out.split("never called (", 1)[1].split("branches never taken", 1)[0]
    assert "klp_force_transition" in never and "force_store" in never  # drop has no force
    assert "klp_enable_patch" not in never
    code, out, _ = _run(capsys, "coverage", "poc-series", "--all-presets")
    assert code == 0 and "presets small (60 states), drop (848 states)" in out
    assert "klp_force_transition" not in out.split("branches never taken", 1)[0]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["coverage", "v1", "--preset", "nope"], "klpmc: unknown preset 'nope' for model 'v1'"),
        (["coverage", "v1", "--preset", "small", "--config", "x.toml"], "klpmc: --preset/--all-presets, --config"),
        (["coverage", "v1", "--all-presets", "--scope", "patches=1"], "klpmc: --preset/--all-presets, --config"),
        (["coverage", "v1", "--config", "missing.toml"], "klpmc: no such configuration file: missing.toml"),
    ],
)
def test_coverage_bad_input(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    code, out, err = _run(capsys, *argv)
    assert code == 2 and out == "" and err.startswith(message) and err.count("\n") == 1, err


def test_coverage_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "coverage", "poc-series", "--preset", "drop", "--preset", "small", "--json")
    obj = json.loads(out)
    assert code == 0 and obj["model"] == "poc-series" and obj["file"] == "models/poc_series.py"
    assert [r["preset"] for r in obj["runs"]] == ["drop", "small"]
    assert "klp_force_transition" in {f["function"] for f in obj["never_called"]}
    assert obj["functions"] > obj["ran"] > 0
    arcs = [arc for f in obj["branches_never_taken"] for arc in f["arcs"]]
    assert arcs and all(isinstance(a, int) and (b is None or isinstance(b, int)) for a, b in arcs)


def test_coverage_of_a_scope(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "coverage", "v1", "--scope", "patches=1,states=1")
    assert code == 0
    heading = r"coverage of models/v1\.py by v1, scope patches=1,states=1 \(\d+ configurations, [\d,]+ states\)\n"
    assert re.match(heading, out)
