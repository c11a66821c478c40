"""prove's formulas mean what the BFS's rules mean: every property both ways on every state and step of
every preset, the same comparison inside prove, and a BMC trace that must break the rule when replayed."""

from __future__ import annotations

import json
from typing import Any

import pytest

from klpmc.cli import run
from klpmc.engine import check, explore
from klpmc.logic import AND, NOT
from klpmc.props import state_property, step_property
from klpmc.prove import Unrolling, bmc, prove
from klpmc.registry import all_models, get_model, select_properties
from klpmc.symbolic import CrossCheck, CrossCheckVisitor, supports

# the step API's example rule from the issue: insmod of a patch never returns -EBUSY
EBUSY_RULE = step_property("insmod-never-ebusy", "step", "insmod never fails with -EBUSY",
                           lambda b, t, a: NOT(AND(t.called("klp_enable_patch"), t.insmod_ret == -16)))
# a rule that branches in Python on what a field is (which rules must not do): True wherever the BFS
# evaluates it, 'transition != -1' as a z3 formula
BRANCHES = state_property("branches-on-a-field", "always", "written wrongly on purpose",
                          lambda v: v.transition != -1 if hasattr(v.transition, "sexpr") else True)

PRESETS = sorted((name, preset) for name, mdef in all_models().items() if name != "kernel"
                 for preset in mdef.presets)


def _model(model_name: str, preset: str) -> Any:
    mdef = get_model(model_name)
    return mdef.build(mdef.preset(preset).config)


@pytest.mark.parametrize(("model_name", "preset"), PRESETS, ids=lambda x: str(x))
def test_every_property_both_ways_on_every_state_and_step(model_name: str, preset: str) -> None:
    """The rule as the BFS runs it and z3's formula of it (compiled) agree on every reachable state and
    every step of the preset, and every field value lies inside the domain z3 reasons over."""
    model = _model(model_name, preset)
    assert supports(model)
    props = [*select_properties(get_model(model_name)), EBUSY_RULE]
    visitor = CrossCheckVisitor(CrossCheck(model, props))
    run_ = explore(model, [visitor])
    assert run_.complete
    assert visitor.states_seen == len(run_.keys) and visitor.steps_seen == run_.transitions
    assert [str(d) for d in visitor.found] == []


def test_the_comparison_finds_a_rule_that_branches_on_a_field() -> None:
    model = _model("upstream", "small")
    visitor = CrossCheckVisitor(CrossCheck(model, [BRANCHES]))
    explore(model, [visitor])
    assert visitor.found and all(d.prop == "branches-on-a-field" for d in visitor.found)
    assert (visitor.found[0].python, visitor.found[0].z3) == (True, False)


def test_the_comparison_finds_a_value_outside_the_domain(monkeypatch: pytest.MonkeyPatch) -> None:
    """Had the step fields clamped insmod's return to -10..0, the insmod that returns -EBUSY is outside."""
    from klpmc.models import _fields

    monkeypatch.setattr(_fields, "ERRNO_MIN", -10)
    model = _model("upstream", "small")
    visitor = CrossCheckVisitor(CrossCheck(model, [EBUSY_RULE]))
    explore(model, [visitor])
    assert any("step.insmod_ret = -16, bounds -10..0" in str(d) for d in visitor.found), visitor.found[:3]


@pytest.mark.parametrize("model_name", ["upstream", "v1"])
def test_the_issues_example_rule_is_violated_by_check_and_by_prove(model_name: str) -> None:
    """check and prove agree on the step API's example: insmod during a transition returns -EBUSY."""
    r = check(_model(model_name, "small"), [EBUSY_RULE])
    assert r.properties[0].verdict == "violated"
    [proof], info = prove(_model(model_name, "small"), [EBUSY_RULE], timeout_ms=60_000)
    assert (proof.check_verdict, proof.method, proof.depth) == ("violated", "bmc", len(r.properties[0].trace or ()))
    assert info["cross_check"]["disagreements"] == []


def test_prove_does_not_trust_a_formula_that_is_not_the_rule() -> None:
    """check says holds, z3's formula is violated at once: prove says neither, it says why."""
    assert check(_model("upstream", "small"), [BRANCHES]).properties[0].verdict == "holds"
    [proof], info = prove(_model("upstream", "small"), [BRANCHES], timeout_ms=60_000)
    assert proof.verdict == "undetermined"
    assert proof.note.startswith("z3's formula is not the rule here: branches-on-a-field: the rule says True")
    assert info["cross_check"]["states"] == 58


def test_a_bmc_trace_must_break_the_rule_when_replayed() -> None:
    """BMC alone (no comparison first): z3 finds a 'violation' the replayed trace does not show."""
    model = _model("upstream", "small")
    u = Unrolling(model, model.relation())
    results: dict[str, Any] = {}
    bmc(u, [BRANCHES], 3, 60_000, results)
    proof = results["branches-on-a-field"]
    assert proof.verdict == "undetermined" and proof.trace is None
    assert "does not break the rule when the model replays it" in proof.note


def test_check_and_prove_json_compare_field_for_field(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["check", "upstream", "--preset", "small", "--json"]) == 0
    checked = json.loads(capsys.readouterr().out)
    assert run(["prove", "upstream", "--preset", "small", "--json", "--no-vacuity"]) == 0
    proved = json.loads(capsys.readouterr().out)
    for key in ("model", "preset", "states", "transitions", "complete", "stop_reason", "ok"):
        assert checked[key] == proved[key], key
    shared = ("name", "kind", "description", "verdict", "expected", "binding", "reason", "ok")
    assert [{k: p[k] for k in shared} for p in checked["properties"]] == \
        [{k: p[k] for k in shared} for p in proved["properties"]]
    for c, p in zip(checked["properties"], proved["properties"], strict=True):
        assert (c["trace"] is None) == (p["trace"] is None) or c["kind"] == "sometimes" or c["verdict"] != "violated"
        if c["trace"] is not None and p["trace"] is not None:
            assert [s.keys() for s in c["trace"]] == [s.keys() for s in p["trace"]]


def test_prove_runs_vacuity_first_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["prove", "upstream", "--preset", "small", "--property", "version-monotonic"]) == 0
    assert capsys.readouterr().out.startswith("vacuity: small: version-monotonic: no state or step can violate")
    assert run(["prove", "upstream", "--preset", "small", "--property", "version-monotonic", "--no-vacuity"]) == 0
    assert "vacuity" not in capsys.readouterr().out


