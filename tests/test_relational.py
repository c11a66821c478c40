"""The relational models (models/*.rml) against the Python models of the same semantics.

`klpmc prove MODEL --unbounded` proves the rules of properties/states.rml on a first-order model; these tests
are what says that model is the Python model's semantics and those rules are the catalogue's. For every
stack of 2 and of 3 patches (the scopes ``patches=2,states=2`` and ``patches=3,states=2``, or ``states=1`` for
the models with known bugs, see SCOPES), both models are
explored and compared, projected on what both have (klp_patches in order, enabled, forced, the transition and
its target, the phase of each state id, the livepatch modules loaded and pinned): the same reachable states,
the same steps (the Python label, the state callbacks in the order they ran, before and after), and on each
state and step the same verdict of each rule. Left out of the projection: per-object callbacks, target
modules, shadow variables, tasks (the relational models do not have them; see their headers).
"""

from __future__ import annotations

import dataclasses

import pytest

from klpmc import registry
from klpmc.unbounded import relational_of

RULES = ("released-on-leave", "set-up-while-held", "setup-only-when-new", "release-only-when-gone",
         "state-lifecycle", "release-after-setup")


def relational(name: str):
    mdef = registry.get_model(name)
    return mdef, relational_of(mdef)


def compare(name: str, configs, widen=False) -> int:
    """Explore both models on every configuration; return how many were compared."""
    _, rel = relational(name)
    cat = registry.catalogue()
    rules = [cat[r] for r in RULES]
    n = 0
    for cname, cfg in configs:
        if widen:   # every option the relational model has: faults late in the enable, force, reload
            cfg = dataclasses.replace(cfg, faults=frozenset({"setup", "patch_object"}), force=True, reload=True)
        python, rels = rel.graph(cfg, rules), rel.relational_graph(cfg, rules)
        assert python.states == rels.states, (cname, sorted(python.states ^ rels.states, key=str)[:3])
        assert python.steps == rels.steps, (cname, sorted(python.steps ^ rels.steps, key=str)[:3])
        n += 1
    return n


# every stack of 2 patches and of 3; with two state ids for refcount, the model proved for every stack, and
# one for v1 and poc, whose patches=3,states=2 (about 2 minutes) is `bench/unbounded.py --scope patches=3,states=2`
SCOPES = [(name, "patches=2,states=2") for name in ("refcount", "v1", "poc")] + [
    ("refcount", "patches=3,states=2"), ("v1", "patches=3,states=1"), ("poc", "patches=3,states=1")]


@pytest.mark.parametrize("name, spec", SCOPES)
def test_same_states_steps_and_verdicts(name: str, spec: str) -> None:
    mdef, _ = relational(name)
    configs = mdef.scope(spec)
    assert compare(name, configs) == len(configs) > 0


@pytest.mark.parametrize("name", ["refcount", "v1", "poc"])
def test_same_with_late_failures_force_and_reload(name: str) -> None:
    mdef, _ = relational(name)
    configs = mdef.scope("patches=2,states=2")
    assert compare(name, configs, widen=True) == len(configs)


def test_the_comparison_sees_a_difference() -> None:
    """A relational model with one call changed (v1's walk in refcount's file) differs from refcount's Python."""
    _, v1 = relational("v1")
    _, refcount = relational("refcount")
    cat = registry.catalogue()
    rules = [cat[r] for r in RULES]
    mdef = registry.get_model("refcount")
    cfg = dict(mdef.scope("patches=2,states=1"))["P1r{} P2{1}"]
    assert refcount.graph(cfg, rules) == refcount.relational_graph(cfg, rules)
    assert refcount.graph(cfg, rules).steps != v1.relational_graph(cfg, rules).steps
