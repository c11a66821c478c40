"""The invariant method of klpmc prove: facts of the reachable states, learnt clauses, parts of a relation."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from klpmc.invariant import ReachIndex, Strengthening
from klpmc.logic import z3_module
from klpmc.prove import Unrolling, _bad, prove
from klpmc.registry import get_model, select_properties


def _model(model_name: str, preset: str) -> Any:
    mdef = get_model(model_name)
    return mdef.build(mdef.preset(preset).config)


states_st = st.lists(st.tuples(*[st.integers(0, 2)] * 4), min_size=1, max_size=30, unique=True)


@settings(max_examples=200, deadline=None)
@given(states_st, st.tuples(*[st.integers(0, 2)] * 4))
def test_a_learnt_clause_excludes_the_state_and_no_reachable_one(states: list[tuple[int, ...]],
                                                                  other: tuple[int, ...]) -> None:
    index = ReachIndex(["a", "b", "c", "d"], states, opaque=frozenset({"d"}))
    clause = index.clause_for(other)
    if other in states:
        assert clause is None and index.reachable(other)
        return
    assert clause is not None and not index.reachable(other)
    where = [index.fields.index(f) for f in clause.fields]
    assert tuple(other[i] for i in where) == clause.values          # it is about this state ...
    assert not any(tuple(s[i] for i in where) == clause.values for s in states)   # ... and no reachable one
    named = [s for s in states if s[:3] == other[:3]]
    assert ("d" in clause.fields) == bool(named)    # a token only when the named fields cannot tell


@pytest.mark.parametrize(("model_name", "preset"), [("refcount", "small"), ("v1", "small"), ("poc", "small")])
def test_the_learnt_invariant_is_inductive_and_holds_on_every_reachable_state(model_name: str, preset: str) -> None:
    """z3 again, from scratch, on the invariant the method returns: Init => Inv, Inv and T => Inv', and
    Inv true on every state the BFS reaches."""
    z3 = z3_module()
    model = _model(model_name, preset)
    props = select_properties(get_model(model_name))
    proofs, info = prove(model, props, timeout_ms=60_000, methods=("invariant",))
    learnt = [p for p in proofs if p.method == "invariant"]
    assert learnt and info["invariant"]["clauses"] > 0
    rel = model.relation()
    u = Unrolling(model, rel)
    inv = z3.parse_smt2_string("".join(f"(declare-const |{f}| Int)" for f in rel.fields)
                               + f"(assert {learnt[-1].invariant_smt})")[0]
    pre = z3.substitute(inv, *[(z3.Int(f), u.var("s0.", f)) for f in rel.fields])
    post = z3.substitute(inv, *[(z3.Int(f), u.var("s1.", f)) for f in rel.fields])
    s = z3.Solver()
    s.add(*u.bounds(0), *u.trans(0), pre, z3.Not(z3.And(post, *u.bounds(1))))
    assert s.check() == z3.unsat
    s = z3.Solver()
    s.add(u.init(0), z3.Not(pre))
    assert s.check() == z3.unsat
    for values in rel.states:
        subst = [(z3.Int(f), z3.IntVal(v)) for f, v in zip(rel.fields, values, strict=True)]
        assert z3.is_true(z3.simplify(z3.substitute(inv, *subst)))


def test_parts_of_the_relation_give_the_same_answers() -> None:
    """Asking part by part (7 rules a part) proves what asking about the whole relation proves."""
    model = _model("refcount", "small")
    props = select_properties(get_model("refcount"))
    rel = model.relation()
    answers = []
    for part in (7, 10_000):
        u = Unrolling(model, rel)
        strengthening = Strengthening(u, 60_000, part=part)
        assert strengthening.stats["parts"] == -(-len(rel.rules) // part)
        proved, failing, undetermined, _ = strengthening.prove(
            {p.name: (_bad(u, p, 0), p.on_steps) for p in props}, 60_000)
        assert not undetermined
        answers.append((proved, failing))
    assert answers[0] == answers[1]
    proved, failing = answers[0]
    assert proved and failing and proved | failing == {p.name for p in props}
    assert all(p.kind == "sometimes" for p in props if p.name in failing)     # the reachable goals


def test_what_the_invariant_proves_is_what_check_finds_holding() -> None:
    """Over every small preset: proved by the invariant => check says it holds (or the goal is
    unreachable); found failing from a reachable state => check finds it violated (or reachable)."""
    from klpmc.engine import check

    for name in ("upstream", "poc", "poc-series", "v1", "refcount", "replace-set"):
        mdef = get_model(name)
        props = select_properties(mdef)
        model = _model(name, "small")
        want = {r.prop.name: r.verdict for r in check(model, props).properties}
        u = Unrolling(model, model.relation())
        proved, failing, undetermined, _ = Strengthening(u, 60_000).prove(
            {p.name: (_bad(u, p, 0), p.on_steps) for p in props}, 60_000)
        assert not undetermined and proved | failing == set(want), name
        assert all(want[n] in ("holds", "unreachable") for n in proved), name
        assert all(want[n] in ("violated", "reachable") for n in failing), name


def test_a_violation_is_left_to_bmc_for_its_trace() -> None:
    """poc's double release fails one step from a reachable state: the invariant does not prove it, and
    the verdict and trace are BMC's."""
    mdef = get_model("poc")
    props = [p for p in select_properties(mdef) if p.name == "release-after-setup"]
    proofs, _ = prove(_model("poc", "small"), props, timeout_ms=60_000, methods=("invariant", "bmc"))
    assert proofs[0].verdict == "violated" and proofs[0].method == "bmc" and proofs[0].trace is not None


def test_rules_shared_by_a_scope_do_what_the_code_does_in_every_configuration() -> None:
    """Brute-force twin over a scope: a rule read off one configuration, applied to any reachable state of
    any configuration whose fields match its guard (the configuration fields included), is that
    configuration's own step."""
    mdef = get_model("refcount")
    configs = mdef.scope("patches=2,states=1")
    models = [mdef.build(cfg) for _, cfg in configs]
    rel = models[0].scope_relation(models, [n for n, _ in configs])
    shared = sum(len(m.relation().rules) for m in models)
    assert len(rel.rules) < shared                        # configurations do share rules
    applied = steps = 0
    for values, state in rel.states.items():
        model = rel.owner[values]
        flat = dict(zip(rel.fields, values, strict=True))
        config = {f: v for f, v in flat.items() if f.startswith("cfg.")}
        succ = {str(label): {**model.flatten_state(t, "", rel.sig), **config}
                for label, t, _ in model.next_steps(state)}
        steps += len(succ)
        for rule in rel.rules:
            if all(flat[f] == v for f, v in rule.guard):
                want = dict(flat)
                want.update(rule.effect)
                assert succ.get(str(rule.label)) == want, (str(rule.label), rel.names[values])
                applied += 1
    assert applied >= steps   # every step of every distinct state is some rule applied to it
