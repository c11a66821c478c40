"""One property source, two engines: the connectives, the rules on real states, and z3's sanity check."""

from __future__ import annotations

import itertools
import json
from functools import cache
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from klpmc.cli import run
from klpmc.engine import check, replay
from klpmc.logic import (
    AND,
    IF,
    IMPLIES,
    NOT,
    OR,
    Domain,
    all_of,
    and_then,
    any_of,
    evaluate,
    scan,
    sum_of,
    sym_int,
    vacuity,
)
from klpmc.logic import given as given_
from klpmc.registry import get_model, select_properties
from klpmc.symbolic import formula_of, sanity, value_on_state, value_on_step

# -- the connectives, against brute force -----------------------------------------------------------

EXPRESSIONS = {
    "and-or": lambda x, y, z: AND(x == 1, OR(y == 0, z == 2)),
    "implies-if": lambda x, y, z: IMPLIES(x > y, IF(z == 1, y == 0, x == 2)),
    "not-all": lambda x, y, z: NOT(all_of(v == 1 for v in (x, y, z))),
    "any-pairs": lambda x, y, z: any_of(AND(a == b, a != 0) for a, b in ((x, y), (y, z))),
    "given": lambda x, y, z: given_(x == 0, lambda: y == z),
    "and-then": lambda x, y, z: and_then(x == 2, lambda: sum_of((x, y, z)) > 3),
    "if-int": lambda x, y, z: IF(x == 1, y, z) == 2,
    "if-tuple": lambda x, y, z: IF(y == z, (x, True), (y, False))[1],
}


@pytest.mark.parametrize("name", sorted(EXPRESSIONS))
def test_connectives_match_brute_force(name: str) -> None:
    """Every assignment of three fields in 0..2: the plain value equals the formula's value."""
    expr = EXPRESSIONS[name]
    formula = expr(sym_int("x"), sym_int("y"), sym_int("z"))
    for x, y, z in itertools.product(range(3), repeat=3):
        assert bool(expr(x, y, z)) == evaluate(formula, {"x": x, "y": y, "z": z}), (x, y, z)


def _automaton(phase: Any, e: Any, key: Any) -> tuple[Any, Any]:
    """0 opens a key, 1 needs it open and moves it on, 2 closes a key that is not closed."""
    opened, moved, closed = e.kind == 0, e.kind == 1, e.kind == 2
    ok = AND(IMPLIES(opened, phase == 0), IMPLIES(moved, phase == 1), IMPLIES(closed, phase != 0))
    return IF(opened, 1, IF(moved, 2, IF(closed, 0, phase))), ok


@settings(max_examples=60, deadline=None)
@given(events=st.lists(st.tuples(st.integers(0, 2), st.integers(0, 3)), max_size=5),
       start=st.tuples(st.integers(0, 2), st.integers(0, 2), st.integers(0, 2)))
def test_scan_matches_its_unrolling(events: list[tuple[int, int]], start: tuple[int, int, int]) -> None:
    """scan walks the events once concretely; symbolically it unrolls per key and slot; same answer."""
    concrete = [SimpleNamespace(key=k, kind=kind) for k, kind in events]
    want = scan(concrete, range(3), lambda e: e.kind != 3, lambda e: e.key, lambda k: start[k], _automaton)
    slots = [SimpleNamespace(present=sym_int(f"p{j}") == 1, key=sym_int(f"k{j}"), kind=sym_int(f"c{j}"))
             for j in range(5)]
    init = [sym_int(f"s{k}") for k in range(3)]
    formula = scan(slots, range(3), lambda e: e.kind != 3, lambda e: e.key, lambda k: init[k], _automaton)
    values = {f"s{k}": start[k] for k in range(3)}
    for j in range(5):
        key, kind = events[j] if j < len(events) else (0, 3)
        values.update({f"p{j}": int(j < len(events)), f"k{j}": key, f"c{j}": kind})
    assert bool(want) == evaluate(formula, values)


def test_vacuity_names_both_ways_a_rule_can_be_empty() -> None:
    x = sym_int("x")
    dom = Domain({"x": (0, 3)})
    assert vacuity(x <= 3, dom).vacuous == "no state can violate it"
    assert vacuity(x > 3, dom).vacuous == "every state violates it"
    fine = vacuity(x == 2, dom)
    assert fine.vacuous is None and fine.witness is not None and fine.witness["x"] != 2


# -- every catalogue rule, concretely and as a formula, on states the models reach ------------------

AGREE = [("upstream", "modules"), ("upstream", "kselftest"), ("poc", "kselftest-state"), ("poc-series", "drop"),
         ("poc-series", "speaker"), ("v1", "block"), ("refcount", "selftest"), ("replace-set", "sets")]


@cache
def _formulas(model_name: str, preset: str) -> tuple[Any, Any, dict[str, Any]]:
    mdef = get_model(model_name)
    model = mdef.build(mdef.preset(preset).config)
    sig = model.signature(events=16)
    return model, sig, {p.name: (p, formula_of(model, p, sig)) for p in select_properties(mdef)}


def _agree_on(model: Any, sig: Any, formulas: dict[str, Any], before: Any, label: Any, log: Any,
              after: Any) -> None:
    for name, (prop, f) in formulas.items():
        predicate = model.predicate(prop)
        if prop.on_steps:
            assert bool(predicate(before, label, log, after)) == value_on_step(
                f, model, before, label, log, after, sig), (name, str(label))
        else:
            assert bool(predicate(after)) == value_on_state(f, model, after, sig), (name, str(label))


@pytest.mark.parametrize(("model_name", "preset"), AGREE, ids=lambda x: str(x))
@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(choices=st.lists(st.integers(min_value=0, max_value=1_000), min_size=1, max_size=8))
def test_rules_agree_on_random_walks(model_name: str, preset: str, choices: list[int]) -> None:
    """The BFS's answer and z3's answer under the flattened state are the same, rule by rule."""
    model, sig, formulas = _formulas(model_name, preset)
    state = model.init_states()[0]
    for c in choices:
        steps = list(model.next_steps(state))
        if not steps:
            break
        label, succ, log = steps[c % len(steps)]
        _agree_on(model, sig, formulas, state, label, log, succ)
        state = succ


@pytest.mark.parametrize("model_name", ["upstream", "poc", "poc-series", "v1"])
def test_rules_agree_where_they_fail(model_name: str) -> None:
    """On the last step of every counterexample, the formula is false too (walks rarely get there)."""
    preset = "drop" if model_name != "upstream" else "modules"
    model, sig, formulas = _formulas(model_name, preset)
    mdef = get_model(model_name)
    result = check(model, select_properties(mdef))   # states are the tokens of the model that made them
    failing = [r for r in result.properties if r.verdict in ("violated", "reachable") and r.trace is not None]
    assert failing
    for r in failing:
        steps = replay(model, r.trace.labels, init=r.trace.init)
        before = steps[-2].state if len(steps) > 1 else r.trace.init
        last = steps[-1]
        prop, f = formulas[r.prop.name]
        if prop.on_steps:
            assert value_on_step(f, model, before, last.label, last.log, last.state, sig) == (
                r.prop.kind == "sometimes"), r.prop.name
        else:
            assert value_on_state(f, model, last.state, sig) == (r.prop.kind == "sometimes"), r.prop.name


# -- z3's sanity check before a run ------------------------------------------------------------------


def test_sanity_finds_a_rule_a_configuration_cannot_break() -> None:
    """upstream's small preset has only version 1: no enable can lower a version; the BFS agrees."""
    mdef = get_model("upstream")
    model = mdef.build(mdef.preset("small").config)
    props = select_properties(mdef)
    reports = {r.prop.name: r for r in sanity(model, props)}
    assert reports["version-monotonic"].problem is not None
    assert [n for n, r in reports.items() if r.problem] == ["version-monotonic"]
    verdicts = {r.prop.name: r.verdict for r in check(model, props).properties}
    assert verdicts["version-monotonic"] == "holds"


def test_sanity_passes_where_versions_differ() -> None:
    mdef = get_model("poc")
    model = mdef.build(mdef.preset("kselftest-state").config)
    reports = sanity(model, select_properties(mdef))
    assert reports and all(r.problem is None and not r.unknown for r in reports)


def test_check_vacuity_flag(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["check", "upstream", "--preset", "small", "--vacuity", "-q"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == (
        "vacuity: small: version-monotonic: no state or step can violate it: it holds whatever the model does")
    assert run(["check", "upstream", "--preset", "small", "--vacuity", "--json"]) == 0
    rows = {row["property"]: row for row in json.loads(capsys.readouterr().out)["vacuity"]}
    assert rows["version-monotonic"]["can_fail"] is False
    assert rows["one-transition"]["can_fail"] is True and rows["one-transition"]["problem"] is None
