"""The klpmc command on a toy ModelDef injected into the registry: exit codes, text, JSON, --out."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from toys import Counters, Graph

from klpmc import cli, registry
from klpmc.engine import Model
from klpmc.props import Property, always, sometimes, step
from klpmc.registry import ConfigError, ExpectedVerdict, ModelDef, Preset

ROOT = Path(__file__).resolve().parent.parent

CATALOGUE: tuple[Property, ...] = (
    always("sum-below-5", "the counters add up to less than 5", lambda s: sum(s) < 5),
    sometimes("all-at-2", "every counter reaches 2 at once", lambda s: all(v == 2 for v in s)),
    step("one-at-a-time", "a step changes one counter", lambda b, _l, _g, a: sum(map(int.__ne__, b, a)) < 2),
    always("not-at-z", "the walk never reaches z", lambda s: s != "z"),
)


def build(config: dict[str, Any]) -> Model:
    if "paths" in config:
        return Graph(*config["paths"])
    return Counters(config["k"], config["m"])


def load_config(path: Path) -> tuple[dict[str, Any], list[str]]:
    data = registry.load_toml(path)
    if not isinstance(data.get("k"), int) or not isinstance(data.get("m"), int):
        raise ConfigError(f"{path}: k and m must be integers")
    return {"k": data["k"], "m": data["m"]}, [f"read {path.name}"]


def scope(spec: str) -> list[tuple[str, Any]]:
    try:
        ms = [int(x) for x in spec.removeprefix("m=").split(",")]
    except ValueError:
        raise ConfigError(f"bad scope {spec!r}; a scope looks like m=2,3") from None
    return [(f"m{m}", {"k": 2, "m": m}) for m in ms]


def replay(path: Path, check: bool) -> tuple[list[str], bool]:
    produced = ["inc 0", "inc 1"]
    expected = path.read_text().splitlines()
    if not check:
        return produced, True
    if produced == expected:
        return produced, True
    return ["--- expected", "+++ produced", "-" + expected[0], "+" + produced[0]], False


TOY = ModelDef(
    name="toy",
    summary="two counters",
    build=build,
    presets={
        "small": Preset("two counters mod 3", {"k": 2, "m": 3}),
        "bad": Preset("two counters mod 4: the sum reaches 6", {"k": 2, "m": 4}),
        "wrong": Preset("as bad, with a wrong manifest", {"k": 2, "m": 4}),
        "walk": Preset("a walk that reaches z", {"paths": ("a b z", "a z")}),
    },
    default_preset="small",
    expected={
        "bad": {"sum-below-5": ExpectedVerdict("violated", "2 + 3 = 5")},
        "m4": {"sum-below-5": ExpectedVerdict("violated", "2 + 3 = 5")},
        "walk": {
            "sum-below-5": ExpectedVerdict("holds", "not about walks"),
            "not-at-z": ExpectedVerdict("violated", "a z is a path"),
        },
    },
    properties=("sum-below-5", "all-at-2", "one-at-a-time"),
    load_config=load_config,
    scope=scope,
    replay=replay,
)
PLAIN = ModelDef(name="plain", summary="no extras", build=build,
                 presets={"one": Preset("one counter", {"k": 1, "m": 2})}, default_preset="one")


@pytest.fixture(autouse=True)
def toy_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    models = {"toy": TOY, "plain": PLAIN}
    monkeypatch.setattr(registry, "all_models", lambda: dict(models))
    monkeypatch.setattr(registry, "catalogue", lambda: {p.name: p for p in CATALOGUE})

    def get_model(name: str) -> ModelDef:
        if name not in models:
            raise registry.UnknownNameError(f"unknown model {name!r}; models: {', '.join(models)}")
        return models[name]

    monkeypatch.setattr(registry, "get_model", get_model)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.run(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_check_default_preset_passes(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "check", "toy")
    assert code == 0, out + err
    assert "toy (preset small)" in out
    for line in ("sum-below-5    always", "all-at-2       sometimes  reachable", "one-at-a-time  step"):
        assert line in out
    assert "9 states, 18 transitions, depth 4" in out
    assert "UNEXPECTED" not in out and err == ""


def test_expected_violation_shows_trace_and_passes(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "check", "toy", "--preset", "bad")
    assert code == 0
    assert "sum-below-5 (always) violated: the counters add up to less than 5" in out
    assert "expected violated: 2 + 3 = 5" in out
    # numbered steps: the command a person types, the label as a comment, then the log indented
    assert "  1  % inc 0    # inc(0)\n         counter 0 is now 1\n" in out
    assert "  5  % inc 1    # inc(1)" in out


def test_unexpected_verdict_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "check", "toy", "--preset", "wrong")
    assert code == 1
    assert "sum-below-5    always     violated   holds      UNEXPECTED" in out


def test_json_fields(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "check", "toy", "--preset", "walk", "--property", "not-at-z", "--json")
    assert code == 0
    obj = json.loads(out)
    for key in ("model", "preset", "states", "transitions", "depth", "seconds", "complete", "peak_memory"):
        assert key in obj
    assert (obj["model"], obj["preset"], obj["states"], obj["complete"]) == ("toy", "walk", 3, True)
    [prop] = obj["properties"]
    assert {k: prop[k] for k in ("name", "kind", "verdict", "expected", "reason")} == {
        "name": "not-at-z", "kind": "always", "verdict": "violated", "expected": "violated",
        "reason": "a z is a path",
    }
    assert prop["trace"] == [
        {"action": "a->z", "command": None, "log": ["go from a to z"], "events": [{"visit": "z"}]}
    ]


def test_json_trace_commands(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "check", "toy", "--preset", "bad", "--json")
    assert code == 0
    props = {p["name"]: p for p in json.loads(out)["properties"]}
    assert props["sum-below-5"]["trace"][0] == {
        "action": "inc(0)", "command": "inc 0", "log": ["counter 0 is now 1"], "events": [],
    }
    assert props["all-at-2"]["trace"] is not None and props["one-at-a-time"]["trace"] is None


def test_out_writes_trace_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(capsys, "check", "toy", "--preset", "bad", "--out", str(tmp_path / "o"), "--json")
    assert code == 0
    steps = json.loads((tmp_path / "o" / "sum-below-5" / "trace.json").read_text())
    assert steps == json.loads(out)["properties"][0]["trace"]
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["sum-below-5"]


def test_bounded_run_is_undetermined_and_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "check", "toy", "--max-states", "4", "--json")
    assert code == 1
    obj = json.loads(out)
    assert obj["complete"] is False and obj["stop_reason"] == "max_states" and obj["states"] == 4
    assert {p["verdict"] for p in obj["properties"]} == {"undetermined"}
    code, out, _ = run(capsys, "check", "toy", "--max-depth", "1")
    assert code == 1 and "INCOMPLETE (max_depth)" in out


def test_stop_on_violation(capsys: pytest.CaptureFixture[str]) -> None:
    """What the run did not settle is undetermined, not UNEXPECTED; the exit code follows the violation."""
    code, out, _ = run(capsys, "check", "toy", "--preset", "bad", "--stop-on-violation", "--json")
    obj = json.loads(out)
    assert code == 0 and obj["stop_reason"] == "stop_on_violation" and obj["ok"] is True
    verdicts = {p["name"]: (p["verdict"], p["ok"]) for p in obj["properties"]}
    assert verdicts["sum-below-5"] == ("violated", True)
    assert verdicts["one-at-a-time"] == ("undetermined", True)
    code, out, _ = run(capsys, "check", "toy", "--preset", "bad", "--stop-on-violation")
    assert code == 0 and "UNEXPECTED" not in out
    assert "one-at-a-time  step       undetermined  holds      not settled: stopped at a violation" in out
    code, out, _ = run(capsys, "check", "toy", "--preset", "wrong", "--stop-on-violation")
    assert code == 1 and "sum-below-5    always     violated      holds      UNEXPECTED" in out


def test_config_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    good = tmp_path / "c.toml"
    good.write_text("k = 2\nm = 3\n")
    code, out, _ = run(capsys, "check", "toy", "--config", str(good))
    assert code == 0 and f"toy (config {good})" in out and "note: read c.toml" in out
    # a configuration outside the manifest expects every always-property to hold
    good.write_text("k = 2\nm = 4\n")
    code, out, _ = run(capsys, "check", "toy", "--config", str(good), "--json")
    assert code == 1
    assert json.loads(out)["properties"][0]["expected"] == "holds"


def test_scope_reports_each_configuration_and_a_total(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "check", "toy", "--scope", "m=3,4")
    assert code == 0, out
    assert "scope m=3,4: 2 configurations, 2 as expected, 0 not; 25 states" in out
    assert [line.split()[0] for line in out.splitlines()[:2]] == ["m3", "m4"]
    # m2 never reaches (2, 2): off the presets a reachability guard informs, it does not fail the run
    code, out, _ = run(capsys, "check", "toy", "--scope", "m=2,3", "--json")
    obj = json.loads(out)
    assert code == 0 and obj["ok"] is True
    (m2,) = [c for c in obj["configurations"] if c["scope"] == "m2"]
    (guard,) = [p for p in m2["properties"] if p["name"] == "all-at-2"]
    assert guard["verdict"] == "unreachable" and guard["ok"] is True
    code, out, _ = run(capsys, "check", "toy", "--scope", "m=5", "--json")
    obj = json.loads(out)
    assert code == 1 and obj["ok"] is False
    assert obj["scope"] == "m=5" and obj["configurations"][0]["scope"] == "m5"
    assert obj["configurations"][0]["properties"][0]["verdict"] == "violated"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["check", "nope"], "klpmc: unknown model 'nope'; models: toy, plain"),
        (["check", "toy", "--preset", "big"], "klpmc: unknown preset 'big' for model 'toy'; presets: small"),
        (["check", "toy", "--property", "x"], "klpmc: unknown property 'x'; properties of toy: sum-below-5"),
        (["check", "toy", "--bogus"], "klpmc: no such option: --bogus; options of check: --preset, --config"),
        (["check", "toy", "--max-states", "many"], "klpmc: Invalid value for '--max-states'"),
        (["check", "toy", "--preset", "bad", "--scope", "m=2"], "klpmc: --preset, --config and --scope"),
        (["check", "toy", "--scope", "m=x"], "klpmc: bad scope 'm=x'; a scope looks like m=2,3"),
        (["check", "toy", "--config", "missing.toml"], "klpmc: no such configuration file: missing.toml"),
        (["check", "plain", "--scope", "m=2"], "klpmc: model 'plain' has no --scope; presets: one"),
        (["check"], "klpmc: Missing argument 'MODEL'. Models: toy, plain"),
        (["frob"], "klpmc: No such command 'frob'. Commands: build, check, "),
        (["replay", "plain", "x.txt"], "klpmc: model 'plain' has no replay harness; models with one: toy"),
        (["replay", "toy", "missing.txt"], "klpmc: no such scenario file: missing.txt"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert err.startswith(message), err
    assert err.count("\n") == 1 and "Traceback" not in err and out == ""


def test_malformed_toml_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("k = = 2\n")
    code, _, err = run(capsys, "check", "toy", "--config", str(bad))
    assert code == 2 and err.startswith(f"klpmc: {bad}: malformed TOML: ") and err.count("\n") == 1
    bad.write_text('k = "two"\nm = 3\n')
    code, _, err = run(capsys, "check", "toy", "--config", str(bad))
    assert (code, err) == (2, f"klpmc: {bad}: k and m must be integers\n")


def test_replay(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    scenario = tmp_path / "s.txt"
    scenario.write_text("inc 0\ninc 1\n")
    assert run(capsys, "replay", "toy", str(scenario)) == (0, "inc 0\ninc 1\n", "")
    assert run(capsys, "replay", "toy", str(scenario), "--check") == (
        0, f"{scenario}: matches the expected log, 2 lines\n", "")
    scenario.write_text("inc 9\ninc 1\n")
    code, out, _ = run(capsys, "replay", "toy", str(scenario), "--check")
    assert code == 1 and out == ("--- expected\n+++ produced\n-inc 9\n+inc 0\n"
                                 f"{scenario}: differs from the expected log at line 1: expected 'inc 9', "
                                 "toy printed 'inc 0'\n")


def test_list(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "list")
    assert code == 0
    assert "  toy      two counters\n    small  two counters mod 3 (default)\n" in out
    assert "  one-at-a-time  step       a step changes one counter\n" in out


def test_progress_display_only_after_a_second(capsys: pytest.CaptureFixture[str]) -> None:
    shown: list[str] = []

    class Bar:
        def set_description_str(self, text: str, refresh: bool) -> None:
            shown.append(text)

        def close(self) -> None:
            pass

    display = cli.ProgressDisplay(enabled=True)
    from klpmc.engine import Progress

    display(Progress(100, 200, 3, 0.5))
    assert display.bar is None  # too early
    display.bar = Bar()
    display(Progress(100, 200, 3, 1.5))
    display(Progress(300, 600, 4, 2.5))
    assert shown == [
        "100 states, 200 transitions, depth 3, 67 states/s, 2 s",
        "300 states, 600 transitions, depth 4, 120 states/s, 2 s",
    ]
    display.close()
    quiet = cli.ProgressDisplay(enabled=False)
    quiet(Progress(100, 200, 3, 5.0))
    assert quiet.bar is None


def test_model_discovery(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.undo()  # the real registry functions, on a package made here
    pkg_dir = tmp_path / "fake_models"
    pkg_dir.mkdir()
    (pkg_dir / "_vocab.py").write_text("raise RuntimeError('never imported')\n")
    (pkg_dir / "helpers.py").write_text("X = 1\n")
    (pkg_dir / "broken.py").write_text("import no_such_module_here\n")
    (pkg_dir / "toy_two.py").write_text(
        "from test_cli import TOY\nimport dataclasses\nMODEL = dataclasses.replace(TOY, name='toy-two')\n"
    )
    pkg = ModuleType(registry.MODELS_PACKAGE)
    pkg.__path__ = [str(pkg_dir)]
    monkeypatch.setitem(sys.modules, registry.MODELS_PACKAGE, pkg)
    before = set(sys.modules)
    try:
        _check_discovery()
    finally:  # the fake package's modules leave sys.modules with it
        for name in set(sys.modules) - before:
            del sys.modules[name]
        registry._broken.clear()


def _check_discovery() -> None:
    models = registry.all_models()
    assert list(models) == ["toy-two"]
    assert "klpmc.models.broken" in registry.broken_modules()
    assert "no_such_module_here" in registry.broken_modules()["klpmc.models.broken"]
    assert registry.get_model("toy-two").name == "toy-two"  # found by its module toy_two
    with pytest.raises(registry.UnknownNameError, match="unknown model 'toy'; models: toy-two"):
        registry.get_model("toy")
    with pytest.raises(registry.InputError, match=r"models.broken failed to import \(ModuleNotFoundError"):
        registry.get_model("broken")


def test_python_m_klpmc_runs_the_cli() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "klpmc", "--version"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.startswith("klpmc, version ")


def test_trace_without_commands_shows_labels(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "check", "toy", "--preset", "walk", "--property", "not-at-z")
    assert code == 0
    assert "\n  1  a->z\n         go from a to z\n\n" in out  # events are for --json only
    assert "3 states, 3 transitions, depth 1" in out and ", complete" in out


def test_ctrl_c_ends_a_whole_scope(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from klpmc.commands import common

    real_check = common.check

    def interrupted(model: Model, props: Any, **kwargs: Any) -> Any:
        def stop(_: Any) -> None:
            raise KeyboardInterrupt

        return real_check(model, props, **{**kwargs, "progress": stop})

    monkeypatch.setattr(common, "check", interrupted)
    code, out, _ = run(capsys, "check", "toy", "--scope", "m=3,4")
    assert code == 130
    assert "scope m=3,4: 1 configuration, 0 as expected, 0 not, 1 interrupted" in out
    assert "interrupted: 1 configuration never ran" in out
    assert "INCOMPLETE (interrupted)  interrupted: 0 of 3 properties settled" in out
    assert "UNEXPECTED" not in out
