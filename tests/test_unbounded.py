"""klpmc prove MODEL --unbounded: the rules for every stack, or a counterexample replayed in the Python model.

refcount's six rules hold for any number of patches and states; v1's and poc's known bugs come back as
counterexamples whose shortest runs replay in their Python models, where the catalogue rules fail too; a
missing invariant is named with the state it lets through.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

import pytest
from klpmc.models._relational import Relational

from klpmc import cli, registry
from klpmc.unbounded import Outcome, prove_unbounded, relational_of

RULES = ("released-on-leave", "set-up-while-held", "setup-only-when-new", "release-only-when-gone",
         "state-lifecycle", "release-after-setup")


def relational(name: str) -> Relational:
    mdef = registry.get_model(name)
    return relational_of(mdef)


@functools.cache
def outcome(name: str) -> Outcome:
    return prove_unbounded(relational(name), RULES, 60_000, registry.catalogue().get)


def verdicts(o: Outcome) -> dict[str, str]:
    return {f.name: f.verdict for f in o.rules()}


def shape(stack: str | None) -> tuple[object, ...]:
    """A stack's name up to the names of its patches: the sorted patches (replace, states), then the options."""
    assert stack is not None
    patches = sorted(re.findall(r"P\d+(r?)\{([\d,]*)\}", stack))
    return (*patches, stack.partition("(")[2])


def renamed(labels: list[str]) -> list[str]:
    """Labels with the patches named A, B, ... in the order they first appear."""
    names: dict[str, str] = {}
    return [re.sub(r"P\d+", lambda m: names.setdefault(m.group(), "ABCDEFGH"[len(names)]), x) for x in labels]


def finding(o: Outcome, name: str):
    return next(f for f in o.findings if f.name == name)


def test_refcount_rules_hold_for_every_stack() -> None:
    o = outcome("refcount")
    assert verdicts(o) == dict.fromkeys(RULES, "holds")
    assert [f.name for f in o.invariants() if f.verdict != "holds"] == []
    assert o.epr and o.alternations == [("state", "patch")]    # every query decidable


def test_v1_bugs_replay_in_the_python_model() -> None:
    o = outcome("v1")
    assert verdicts(o) == {**dict.fromkeys(RULES, "violated"), "setup-only-when-new": "holds"}
    assert all(f.confirmed for f in o.rules() if f.verdict == "violated")
    lifecycle = finding(o, "state-lifecycle")     # a reversed disable of an older replace (models/v1.py)
    assert shape(lifecycle.stack) == shape("P1r{} P2{1} (reverse)")
    assert renamed([str(s.label) for s in lifecycle.steps]) == [
        "klp_enable_patch(A)", "klp_try_complete_transition()", "klp_enable_patch(B)",
        "klp_try_complete_transition()", "enabled_store(A, 0)", "enabled_store(A, 1)",
        "klp_try_complete_transition()"]
    assert any(re.fullmatch(r"P\d: post_unpatch_callback: state 1", str(x)) for x in lifecycle.steps[-1].log)
    leak = finding(o, "released-on-leave")        # two replaced patches share a state the replace drops
    assert shape(leak.stack) in {shape("P1r{1} P2{1} P3r{}"), shape("P1{1} P2{1} P3r{}")}
    assert len(leak.steps) == 6


def test_poc_bugs_replay_in_the_python_model() -> None:
    o = outcome("poc")
    assert verdicts(o) == {**dict.fromkeys(RULES, "violated"), "setup-only-when-new": "holds",
                           "released-on-leave": "holds"}
    double = finding(o, "state-lifecycle")        # 1/7 releases twice after a failing setup
    assert [str(s.label) for s in double.steps] == ["klp_enable_patch(P1, fail=setup:P1:2)"]
    assert [x for x in double.steps[0].log if "release_callback" in str(x)] == [
        "P1: release_callback: state 1", "P1: release_callback: state 1"]
    assert shape(finding(o, "release-only-when-gone").stack) == shape("P1r{} P2{1} (reverse)")
    assert all(f.confirmed for f in o.rules() if f.verdict == "violated")


def test_a_missing_invariant_is_named_with_the_state_it_lets_through(tmp_path: Path) -> None:
    base = relational("refcount")
    text = base.path.read_text(encoding="utf-8")
    line = next(x for x in text.splitlines(True) if x.startswith("invariant replaced-states-disabled:"))
    weak = text.replace(line, "").replace("    phase(s) = disabled\n", "", 1)
    path = tmp_path / "refcount.rml"
    path.write_text(weak, encoding="utf-8")
    o = prove_unbounded(Relational("refcount", path, base.rules, base.build, False), RULES, 60_000)
    unproved = [f for f in o.findings if f.verdict == "not proved"]
    assert unproved and not [f for f in o.findings if f.verdict == "violated"]
    f = unproved[0]
    assert "add an invariant that excludes it" in f.note and f.state and f.action


def test_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.run(["prove", "refcount", "--unbounded"]) == 0
    out = capsys.readouterr().out
    assert out.count("holds for every stack  holds for every stack  ok") == 6
    assert "invariants (inductive together with the rules that hold" in out
    assert "replaced-states-disabled: forall s, t. replaced_called & trans(t) & held(s)" in out
    assert cli.run(["prove", "v1", "--unbounded", "--property", "state-lifecycle"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"% echo 1 > /sys/kernel/livepatch/P\d/enabled    # enabled_store\(P\d, 1\)", out)
    assert "replayed in the Python model: the catalogue rule fails there too" in out


def test_command_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.run(["prove", "poc", "--unbounded", "--json", "--property", "state-lifecycle"]) == 0
    out = json.loads(capsys.readouterr().out)
    (rule,) = out["rules"]
    assert out["ok"] and rule["verdict"] == rule["expected"] == "violated" and rule["confirmed"]
    (step,) = rule["trace"]     # one failing insmod: either failure point releases twice
    assert step["action"].startswith("klp_enable_patch(P1, fail=")
    assert [e for e in step["events"] if e["callback"] == "release"] == [
        {"callback": "release", "patch": "P1", "state": 1}] * 2


@pytest.mark.parametrize("argv, message", [
    (["prove", "upstream", "--unbounded"], "model 'upstream' has no relational model"),
    (["prove", "v1", "--unbounded", "--preset", "small"], "--unbounded covers every stack and uses no --preset"),
    (["prove", "v1", "--unbounded", "--property", "shadow-free-once"], "has no first-order form"),
    (["prove", "v1", "--unbounded", "--property", "nope"], "unknown property"),
])
def test_bad_input(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.run(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
