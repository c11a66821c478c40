"""One vocabulary across subcommands: the same options mean the same, the same exit codes, Ctrl-C settles
what it can and exits 130, traces whose commands run as they are, and a scope that says what it counts."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import click
import pytest

from klpmc.cli import cli, run

ROOT = Path(__file__).resolve().parent.parent


def _options(command: str) -> set[str]:
    cmd = cli.commands[command]
    return {opt for p in cmd.params if isinstance(p, click.Option) for opt in p.opts}


@pytest.mark.parametrize(("command", "wanted"), [
    ("check", {"--json", "-q", "--quiet", "--property", "--scope", "--out", "--max-states", "--preset", "--config"}),
    ("prove", {"--json", "-q", "--quiet", "--property", "--scope", "--max-states", "--preset", "--config"}),
    ("diff", {"--json", "-q", "--quiet", "--property", "--max-states", "--preset", "--config"}),
    ("coverage", {"--json", "-q", "--quiet", "--property", "--scope", "--max-states", "--preset", "--config"}),
    ("graph", {"--json", "--out", "--max-states", "--preset", "--config"}),
    ("conform", {"--json", "-q", "--quiet", "--max-states", "--preset", "--config"}),
    ("replay", {"--json", "--check", "--trace", "--preset", "--config"}),
    ("list", {"--json"}),
])
def test_the_shared_options_are_there(command: str, wanted: set[str]) -> None:
    assert wanted <= _options(command)


def test_the_shared_options_say_the_same(capsys: pytest.CaptureFixture[str]) -> None:
    """--max-states is distinct states in every command that explores."""
    helps = {}
    for name in ("check", "prove", "diff", "coverage", "graph", "conform"):
        [opt] = [p for p in cli.commands[name].params if "--max-states" in getattr(p, "opts", ())]
        helps[name] = opt.help or ""
    assert all("distinct states" in h for h in helps.values()), helps


# -- Ctrl-C: what is settled is shown, exit 130 ---------------------------------------------------------


@pytest.fixture
def ctrl_c_after(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Make the livepatch models raise KeyboardInterrupt (as Ctrl-C does) at the n-th expansion."""
    from klpmc.models._model import KlpModel

    real = KlpModel.next_steps

    def arm(n: int) -> None:
        calls = [0]

        def next_steps(self: KlpModel, state: Any) -> Any:
            calls[0] += 1
            if calls[0] == n:
                raise KeyboardInterrupt
            return real(self, state)

        monkeypatch.setattr(KlpModel, "next_steps", next_steps)
    return arm


@pytest.mark.parametrize(("argv", "shown"), [
    (["check", "upstream", "--preset", "small"], "not settled: interrupted"),
    (["check", "upstream", "--scope", "patches=1,states=1"], "never ran"),
    (["diff", "upstream", "v1", "--preset", "small"], "never ran"),
    (["coverage", "upstream", "--all-presets"], "never ran"),
    (["graph", "upstream", "--preset", "small", "--out", "{tmp}/g"], "PARTIAL (interrupted)"),
    (["prove", "upstream", "--preset", "small"], "interrupted while reading the relation"),
    (["conform", "poc", "--against", "upstream", "--preset", "small"], "INCOMPLETE (interrupted)"),
])
def test_ctrl_c_exits_130_and_shows_what_it_settled(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                    ctrl_c_after: Any, argv: list[str], shown: str) -> None:
    ctrl_c_after(12)
    code = run([a.replace("{tmp}", str(tmp_path)) for a in argv])
    out, err = capsys.readouterr()
    assert code == 130, (out, err)
    assert shown in out + err
    assert "Traceback" not in err


def test_ctrl_c_in_prove_keeps_what_z3_settled(capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from klpmc import prove

    def interrupted(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(prove, "bmc", interrupted)
    code = run(["prove", "upstream", "--preset", "small", "--method", "invariant", "--method", "bmc",
                "--property", "one-transition", "--property", "objects-cleaned-before-free", "--no-vacuity"])
    out = capsys.readouterr().out
    assert code == 130
    assert re.search(r"one-transition +always +holds +proved: invariant +holds +ok", out), out
    assert re.search(r"objects-cleaned-before-free +always +undetermined .* not settled: interrupted", out), out
    assert "INTERRUPTED" in out


def test_diff_stops_at_the_first_ctrl_c(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                        ctrl_c_after: Any) -> None:
    import klpmc.diff

    def never(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the comparison ran after Ctrl-C")

    monkeypatch.setattr(klpmc.diff, "distinguish", never)
    ctrl_c_after(3)
    assert run(["diff", "upstream", "v1", "--json"]) == 130
    obj = json.loads(capsys.readouterr().out)
    assert obj["stop_reason"] == "interrupted" and len(obj["runs"]) == 1
    assert obj["never_ran"] == "v1's run, the comparison"


def test_diff_honours_max_states_from_its_start(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["diff", "upstream", "v1", "--max-states", "7", "--json"]) == 1
    obj = json.loads(capsys.readouterr().out)
    assert obj["states"] == {"a": 7, "b": 7} and obj["complete"] is False


# -- exit codes and what they mean ----------------------------------------------------------------------


def test_coverage_exits_1_when_a_run_is_not_as_expected(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["coverage", "upstream", "--max-states", "5"]) == 1
    assert "INCOMPLETE (max_states)" in capsys.readouterr().out
    assert run(["coverage", "upstream", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True


def test_stop_on_violation_leaves_the_rest_undetermined(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["check", "upstream", "--stop-on-violation"]) == 0
    out = capsys.readouterr().out
    assert "UNEXPECTED" not in out and "undetermined" in out and "not settled: stopped at a violation" in out


def test_a_guard_off_the_presets_informs(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[[patch]]\nname = "P1"\n')
    assert run(["check", "upstream", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"reach-module-in-transition +sometimes +unreachable +any +informs", out), out
    assert "(any: off the presets whether a situation is reachable depends on the configuration" in out


def test_a_scope_says_what_it_counts_and_what_breaks(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["check", "v1", "--scope", "patches=2,states=2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("scope patches=2,states=2 of v1: 112 configurations; each has exactly 2 patches")
    assert "P1r{1,2} is patch P1, an atomic replace (r), holding states 1 and 2" in out[0]
    assert sum("P1r{" in line for line in out) > 1 and out[0].count("P1r{1,2}") == 1
    assert any(re.match(r"P1\{1\} P2r\{\} .* ok, violates .*state-lifecycle.* as recorded", line) for line in out)
    assert any(re.match(r"state-lifecycle +\d+ of 112 configurations: ", line) for line in out)
    assert out[-1].startswith("scope patches=2,states=2: 112 configurations, 112 as expected, 0 not")


# -- traces whose commands run as they are --------------------------------------------------------------


@pytest.mark.parametrize("model_name", ["upstream", "poc", "v1", "refcount"])
def test_every_step_command_runs_as_it_is(model_name: str) -> None:
    """On every step of the modules preset (every kind of fault): no '# ...' in a command, the entry point
    is `action`; a fault of the module being loaded is its `fail=` parameter, another livepatch's is a
    write to its parameter before the step, one inside the kernel has no command: each in `fault`."""
    from klpmc.engine import Visitor, explore
    from klpmc.registry import get_model
    from klpmc.steps import step_json

    mdef = get_model(model_name)
    model = mdef.build(mdef.preset("modules").config)
    kinds: set[str] = set()

    class Steps(Visitor):
        steps = True

        def on_step(self, i: int, before: Any, k: int, label: Any, log: Any, after: Any) -> bool:
            s = step_json(model, type("S", (), {"label": label, "log": log, "state": after})())
            if s["command"] is not None:
                assert "#" not in s["command"] and shlex.split(s["command"])[0] in ("insmod", "rmmod", "echo"), s
            fault = s.get("fault")
            assert (fault is None) == ("fail=" not in s["action"]), s
            if fault is None:
                return False
            if fault["inside_kernel"]:
                assert fault["command"] is None and "fail=" not in (s["command"] or ""), s
                kinds.add("inside the kernel")
            elif s["command"].split()[1].removesuffix(".ko") == fault["patch"]:
                assert s["command"].split()[-1] == f"fail={fault['call']}:{fault['where']}" == \
                    fault["command"].split()[-1], s
                kinds.add("the module's parameter")
            else:
                assert fault["command"] == (f"echo -n {fault['call']}:{fault['where']} > "
                                            f"/sys/module/{fault['patch']}/parameters/fail"), s
                assert "fail=" not in s["command"]
                kinds.add("another module's parameter")
            return False

    explore(model, [Steps()])
    # the series' models have no per-object callbacks: no callback of another livepatch runs at module load
    others = {"another module's parameter"} if model_name in ("upstream", "poc") else set()
    assert kinds == {"inside the kernel", "the module's parameter", *others}


def test_replay_a_json_trace(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "o"
    assert run(["check", "upstream", "--out", str(out), "-q"]) == 0
    capsys.readouterr()
    trace = out / "objects-cleaned-before-free" / "trace.json"
    assert run(["replay", "upstream", "--trace", str(trace), "--check"]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[-1] == f"{trace} on upstream (preset small): matches the trace's log, 4 steps"
    assert "  1  % insmod P1.ko    # klp_enable_patch(P1)" in text
    steps = json.loads(trace.read_text())
    steps[1]["log"] = ["something else"]
    trace.write_text(json.dumps(steps))
    assert run(["replay", "upstream", "--trace", str(trace), "--check"]) == 1
    assert "differs from the trace's log at step 2 (klp_try_complete_transition())" in capsys.readouterr().out
    for text, message in (("[]", "an empty trace"), ("{", "not JSON"), ('[{"x": 1}]', "not a trace"),
                          ('[{"action": "frob(P1)"}]', "does not replay on upstream")):
        trace.write_text(text)
        assert run(["replay", "upstream", "--trace", str(trace)]) == 2
        assert message in capsys.readouterr().err


def test_replay_check_says_in_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    scenario = ROOT / "tests/data/kselftest/test-callbacks__01_target_module_before_livepatch.txt"
    assert run(["replay", "upstream", str(scenario), "--check"]) == 0
    assert capsys.readouterr().out == f"{scenario}: matches the expected log, 24 lines\n"
    changed = tmp_path / "s.txt"
    changed.write_text(scenario.read_text().replace("pre_patch_callback: vmlinux", "pre_patch_callback: vmlinuX"))
    assert run(["replay", "upstream", str(changed), "--check"]) == 1
    last = capsys.readouterr().out.splitlines()[-1]
    assert last == (f"{changed}: differs from the expected log at line 6: expected "
                    "'test_klp_callbacks_demo: pre_patch_callback: vmlinuX', upstream printed "
                    "'test_klp_callbacks_demo: pre_patch_callback: vmlinux'")


# -- README ---------------------------------------------------------------------------------------------


def test_the_readme_says_what_is_true() -> None:
    text = (ROOT / "README.md").read_text()
    for path in re.findall(r"\btests/data/[\w./*-]+", text):
        assert any(ROOT.glob(path.rstrip("."))), path      # a path, or a pattern some file matches
    install = text.index("pip install '.[test]'")
    assert install < text.index("python -m pytest -q"), "install the test extras before running the tests"
