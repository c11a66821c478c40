"""klpmc prove: the relation read off the model code, and z3's verdicts against the BFS's."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import pytest

from klpmc.cli import run
from klpmc.engine import check
from klpmc.prove import prove
from klpmc.registry import get_model, select_properties

# presets small enough for z3 in the test run; the larger ones are in bench/prove.py
QUICK = [("upstream", "small"), ("poc", "small"), ("poc-series", "small"), ("v1", "small"), ("refcount", "small"),
         ("replace-set", "small")]


def _model(model_name: str, preset: str) -> Any:
    mdef = get_model(model_name)
    return mdef.build(mdef.preset(preset).config)


@cache
def _relation(model_name: str, preset: str) -> Any:
    return _model(model_name, preset).relation()


@pytest.mark.parametrize(("model_name", "preset"), [*QUICK, ("upstream", "modules"), ("v1", "block"),
                                                    ("upstream", "kselftest-state"), ("poc-series", "state")],
                         ids=lambda x: str(x))
def test_every_rule_does_what_the_code_does_wherever_it_applies(model_name: str, preset: str) -> None:
    """Brute-force twin of the watching: on every reachable state a rule's guard matches, the step with
    the rule's label exists and leads to exactly the rule's effect (not only on the state it came from)."""
    model = _model(model_name, preset)
    rel = model.relation()
    sig = rel.sig
    config = {f: v for f, v in rel.init[0].items() if f.startswith("cfg.")}
    applied = 0
    for state in rel.states.values():
        flat = {**model.flatten_state(state, "", sig), **config}
        succ = {str(label): {**model.flatten_state(t, "", sig), **config} for label, t, _ in model.next_steps(state)}
        for rule in rel.rules:
            if all(flat[f] == v for f, v in rule.guard):
                want = dict(flat)
                want.update(rule.effect)
                assert succ.get(str(rule.label)) == want, (str(rule.label), state)
                applied += 1
    assert applied >= rel.transitions   # every transition is some rule applied to its state


def test_rules_generalise_beyond_the_states_they_came_from() -> None:
    """Fewer rules than transitions: the guards leave out what a step does not read."""
    rel = _relation("v1", "small")
    assert len(rel.rules) < rel.transitions
    partial = [r for r in rel.rules if len(r.guard) < len(rel.fields)]
    assert len(partial) > 0.8 * len(rel.rules)


@pytest.mark.parametrize(("model_name", "preset"), QUICK, ids=lambda x: str(x))
def test_prove_agrees_with_check(model_name: str, preset: str) -> None:
    """Same verdict for every property; a BMC trace has the BFS's shortest length and replays to it."""
    mdef = get_model(model_name)
    props = select_properties(mdef)
    result = check(_model(model_name, preset), props)
    want = {r.prop.name: r for r in result.properties}
    model = _model(model_name, preset)
    proofs, info = prove(model, props, timeout_ms=60_000)
    assert info["states"] == result.stats.states
    for p in proofs:
        bfs = want[p.prop.name]
        assert p.check_verdict == bfs.verdict, p.prop.name
        if p.trace is not None:
            assert bfs.trace is not None
            assert len(p.trace.trace.steps) == len(bfs.trace.steps) == p.depth, p.prop.name
            final = p.trace.trace.steps[-1] if p.trace.trace.steps else None
            if p.prop.on_steps and final is not None:
                before = p.trace.trace.steps[-2].state if len(p.trace.trace.steps) > 1 else p.trace.trace.init
                fired = model.predicate(p.prop)(before, final.label, final.log, final.state)
                assert bool(fired) == (p.prop.kind == "sometimes"), p.prop.name
        if p.verdict == "proved":
            assert p.method in ("invariant", "k-induction", "spacer")


def test_spacer_invariant_holds_on_every_reachable_state() -> None:
    """What Spacer returns is an invariant: true on every state the BFS reaches."""
    from klpmc.logic import z3_module

    z3 = z3_module()
    mdef = get_model("v1")
    model = _model("v1", "small")
    props = [p for p in select_properties(mdef) if p.name == "state-lifecycle"]
    proofs, _ = prove(model, props, timeout_ms=60_000, methods=("spacer",))
    assert proofs[0].verdict == "proved" and proofs[0].invariant
    rel = model.relation()
    inv = z3.parse_smt2_string("".join(f"(declare-const |{f}| Int)" for f in rel.fields)
                               + f"(assert {proofs[0].invariant_smt})")[0]
    for values in rel.states:
        subst = [(z3.Int(f), z3.IntVal(v)) for f, v in zip(rel.fields, values, strict=True)]
        assert z3.is_true(z3.simplify(z3.substitute(inv, *subst)))


def test_prove_cli_text_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["prove", "upstream", "--preset", "small"]) == 0
    out = capsys.readouterr().out
    assert "objects-cleaned-before-free    always     violated     bmc depth 4        violated     ok" in out
    assert "reach-module-in-transition     sometimes  unreachable  proved: invariant  unreachable  ok" in out
    assert " proved " not in out.replace("proved: ", "")     # a verdict is check's word, never 'proved'
    assert "% insmod P2.ko    # klp_enable_patch(P2)" in out
    assert run(["prove", "upstream", "--preset", "small", "--json", "--property", "one-transition"]) == 0
    data = json.loads(capsys.readouterr().out)
    [prop] = data["properties"]
    assert data["ok"] and (prop["verdict"], prop["proved"], prop["method"]) == ("holds", True, "invariant")


def test_prove_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["prove", "upstream", "--preset", "nope"]) == 2
    err = capsys.readouterr().err
    assert "unknown preset 'nope'" in err and len(err.strip().splitlines()) == 1
    assert run(["prove", "upstream", "--property", "nope"]) == 2
    assert "unknown property 'nope'" in capsys.readouterr().err


@pytest.mark.parametrize("model_name", ["upstream", "poc", "poc-series", "v1", "refcount", "replace-set"])
def test_one_query_over_a_scope_agrees_with_check_of_each_configuration(model_name: str) -> None:
    """With the configuration free, prove's verdict is check's over all configurations: violated (or
    reachable) when some configuration is, and a trace replays in the configuration it names."""
    mdef = get_model(model_name)
    if mdef.scope is None:
        pytest.skip("no scope")
    configs = mdef.scope("patches=1,states=1")
    props = select_properties(mdef)
    per_config = {name: {r.prop.name: r.verdict for r in check(mdef.build(cfg), props).properties}
                  for name, cfg in configs}
    models = [mdef.build(cfg) for _, cfg in configs]
    relation = models[0].scope_relation(models, [n for n, _ in configs])
    proofs, _info = prove(models[0], props, timeout_ms=60_000, relation=relation)
    for p in proofs:
        verdicts = {v[p.prop.name] for v in per_config.values()}
        settled = "reachable" if p.prop.kind == "sometimes" else "violated"
        assert (p.verdict == settled) == (settled in verdicts), p.prop.name
        if p.trace is not None:
            assert per_config[p.config][p.prop.name] == settled, (p.prop.name, p.config)


def test_prove_vacuity_first(capsys: pytest.CaptureFixture[str]) -> None:
    """prove --vacuity names, before the proofs, a property the configuration cannot break at all."""
    assert run(["prove", "upstream", "--preset", "small", "--vacuity", "--property", "version-monotonic"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("vacuity: small: version-monotonic: no state or step can violate it")
    assert any(line.startswith("version-monotonic  step  holds    proved:") for line in out)


def test_a_bound_never_passes_silently(capsys: pytest.CaptureFixture[str]) -> None:
    """BMC alone, bounded below the depth of every trace: nothing is settled, nothing is called proved."""
    assert run(["prove", "upstream", "--preset", "small", "--method", "bmc", "--max-depth", "1", "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert not data["ok"]
    assert {p["verdict"] for p in data["properties"]} == {"undetermined"}
    assert all("no proof by the methods asked" in p["note"] for p in data["properties"])


def test_prove_safety_leaves_out_the_reachability_goals(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["prove", "refcount", "--preset", "small", "--safety", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    kinds = {p["kind"] for p in data["properties"]}
    assert kinds == {"always", "step"}
    assert all(p["verdict"] == "holds" and p["proved"] for p in data["properties"])
    assert run(["prove", "refcount", "--safety", "--property", "reach-state-shared"]) == 2
    assert "--safety leaves no property" in capsys.readouterr().err
