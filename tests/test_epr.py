"""klpmc.epr: the first-order language, its explicit runs, and its z3 encoding against each other.

The relational models are run two ways: compiled to Python (`Explicit`, which tests/test_relational.py
compares with the Python models) and encoded for z3 (`encode`, what `prove --unbounded` proves on). Here
the two are each other's twin: on real states of small stacks, z3 must force exactly the successor and the
callbacks the explicit run computes, and give every invariant and rule the truth value it has explicitly.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from klpmc.models._config import Config, PatchConfig, StateConfig

from klpmc import epr, registry
from klpmc.logic import AND, NOT, any_of
from klpmc.unbounded import relational_of

TOY = """
sort node
relation holds(node)
relation waiting(node)
phase stage(node) = idle | busy
event begin(node) -> busy
event end(node) -> idle
order node by below
constant below(node, node)

definition free = forall n. !holds(n)

invariant mutex: forall a, b. holds(a) & holds(b) -> a = b
invariant busy-holds: forall n. stage(n) = busy <-> holds(n)

action request(n: node):
    require !waiting(n) & !holds(n)
    waiting(x) := waiting(x) | x = n

action acquire(n: node):
    require waiting(n) & free
    holds(x) := x = n
    waiting(x) := waiting(x) & x != n
    call begin(n)

action release(n: node):
    require holds(n)
    call end(x) if holds(x)
    holds(x) := false

automaton alternate(n):
    start off if stage(n) = idle
    start on if stage(n) = busy
    begin: off -> on
    end: on -> off
"""


def toy(extra: str = "") -> epr.Model:
    return epr.parse([("toy.rml", TOY + extra)])


def toy_stack(n: int) -> epr.Stack:
    nodes = tuple(f"n{i}" for i in range(n))
    return epr.Stack({"node": nodes}, {"below": frozenset((a, b) for a in nodes for b in nodes if a < b)})


def test_explicit_runs_count_the_states_of_a_small_protocol() -> None:
    ex = epr.Explicit(toy())
    # each node: idle, waiting, or holding (at most one holds): 3 nodes -> 2^3 + 3 * 2^2 = 20 states
    assert len(ex.explore(toy_stack(3)).states) == 20
    assert len(ex.explore(toy_stack(2)).states) == 8


def test_explicit_calls_and_rules() -> None:
    m = toy()
    ex = epr.Explicit(m)
    stack = toy_stack(2)
    found = ex.explore(stack)
    assert all(ex.holds("mutex", stack, s) and ex.holds("busy-holds", stack, s) for s in found.states)
    steps = {(a, p, tuple(evs)) for _, a, p, _, evs in found.edges if a != "request"}
    assert ("acquire", ("n1",), (("begin", (("n1",),)),)) in steps
    assert all(ex.step_holds("alternate", a, stack, found.states[i], found.states[j], evs)
               for i, a, _, j, evs in found.edges)


def test_z3_proves_the_toy_invariants_and_finds_a_cti_of_a_wrong_one() -> None:
    from klpmc.unbounded import _Query, _Run

    m = toy("invariant wrong: forall n. !waiting(n)\n")
    run = _Run(type("B", (), {"model": m, "explicit": epr.Explicit(m), "optional": (), "options": ()})(), 5000)
    cands = [c for c in m.invariants if c.name != "wrong"]
    for a in m.actions:
        q = _Query(m, a, cands, ["alternate"], 5000)
        flags = list(q.flags.values())
        for goal in q.z3_goals.values():
            assert run.check(q, goal, flags) == "unsat"
    q = _Query(m, m.action("request"), m.invariants, [], 5000)
    assert run.check(q, q.z3_goals["wrong"], list(q.flags.values())) == "sat"


def test_alternations_and_cycles() -> None:
    n = epr.Var("n", "node", 1)
    s = epr.Var("s", "state", 2)
    n2 = epr.Var("m", "node", 3)
    f = epr.forall([s], epr.exists([n], epr.Rel("r", (n, s))))
    assert epr.alternation_edges([f]) == {("state", "node")}
    assert epr.alternation_edges([epr.Not(f)]) == set()
    assert not epr.has_cycle({("state", "node")})
    g = epr.forall([n], epr.exists([n2], epr.Rel("q", (n, n2))))
    assert epr.has_cycle(epr.alternation_edges([g]))


@pytest.mark.parametrize("text, message", [
    ("sort node\nrelation r(node)\naction a(n: node):\n    require q(n)\n", "x.rml:4: unknown relation"),
    ("sort node\nrelation r(nod)\n", "x.rml:2: unknown sort 'nod'"),
    ("sort node\nrelation r(node)\ninvariant i: forall n. r(n) & r(n, n)\n", "x.rml:3: r takes 1"),
    ("sort node\nphase p(node) = a | b\nevent e(node) -> c\n", "x.rml:3: 'c' is not a phase value"),
])
def test_errors_name_the_line(text: str, message: str) -> None:
    with pytest.raises(epr.EprError, match=message):
        epr.parse([("x.rml", text)])


def test_an_automaton_that_counts_past_two_is_refused() -> None:
    text = ("sort node\nphase p(node) = a | b\nevent e(node)\n"
            "automaton three(n):\n    start a if p(n) = a\n    start b if p(n) = b\n    e: a -> b, b -> a\n")
    with pytest.raises(epr.EprError, match="three e callbacks in a row differ from two"):
        epr.parse([("x.rml", text)])


# -- the twin: z3's encoding against the explicit runs, on real states ------------------------------------------

def _pin(z: epr.Z3, stack: epr.Stack) -> dict[tuple[str, Any], Any]:
    """Constants for the stack's elements: distinct, and the only elements of their sorts."""
    consts: dict[tuple[str, Any], Any] = {}
    for sort, elems in stack.universes.items():
        cs = [z.s.const(f"elem!{sort}!{e}", sort) for e in elems]
        consts.update({(sort, e): c for e, c in zip(elems, cs, strict=True)})
        for a, b in itertools.combinations(cs, 2):
            z.s.add(NOT(z.s.eq(a, b)))
        x = z.s.const(f"all!{sort}", sort)
        z.s.add(z.s.forall([x], any_of(z.s.eq(x, c) for c in cs)))
    return consts


def _literals(z: epr.Z3, consts: dict[tuple[str, Any], Any], stack: epr.Stack, sym: str,
              sorts: tuple[str, ...], value: Any) -> list[Any]:
    """R(t) or !R(t) for every tuple t: the relation's value, for z3."""
    out = []
    for args in itertools.product(*(stack.universes[s] for s in sorts)):
        lit = z.s.app(sym, [consts[(s, a)] for s, a in zip(sorts, args, strict=True)])
        if not sorts:
            true = bool(value)
        elif len(sorts) == 1:
            true = args[0] in value
        else:
            true = args in value
        out.append(lit if true else NOT(lit))
    return out


def _twin(name: str, config: Config, every: int) -> int:
    mdef = registry.get_model(name)
    rel = relational_of(mdef)
    m, ex = rel.model, rel.explicit
    stack = rel.stack_of(config)
    states = ex.explore(stack).states[::every]
    checked = _twin_invariants(m, ex, stack, states)
    for a in m.actions:
        prog = epr.encode(m, a)
        extra: list[epr.F] = []
        rules = {r: epr.at(m, epr.step_rule(m, r, a), prog.first, old=prog.first, new=prog.last, extra=extra,
                           symbols=prog.symbols) for r in [x.name for x in m.after] + [x.name for x in m.automata]}
        z = epr.Z3(m, 20_000, a.params)
        z.declare(prog.symbols)
        for f in [*prog.formulas, *extra]:
            z.s.add(z.formula(f))
        consts = _pin(z, stack)
        for c in m.constants:
            for lit in _literals(z, consts, stack, c, m.relations[c], stack.constants[c]):
                z.s.add(lit)
        for state in states:
            for params in itertools.product(*(stack.universes[v.sort] for v in a.params)):
                z.s.push()
                for r in m.mutable:
                    for lit in _literals(z, consts, stack, prog.first[r], m.relations[r], ex.value(state, r)):
                        z.s.add(lit)
                for v, p in zip(a.params, params, strict=True):
                    z.s.add(z.s.eq(z.param(v), consts[(v.sort, p)]))
                step = ex.run(stack, state, a.name, params)
                if step is None:
                    assert z.s.check() == "unsat", (a.name, params, state)
                    z.s.pop()
                    continue
                post, evs = step
                same = [lit for r in m.mutable
                        for lit in _literals(z, consts, stack, prog.last[r], m.relations[r], ex.value(post, r))]
                for k, (event, tuples) in enumerate(evs):
                    same += _literals(z, consts, stack, prog.calls[k], m.events[event][0], frozenset(tuples))
                assert z.s.check([z.formula(epr.TRUE)]) == "sat"
                z.s.push()
                z.s.add(NOT(AND(*same)))
                assert z.s.check() == "unsat", (a.name, params, state)
                z.s.pop()
                for n, f in rules.items():      # z3's truth value is the explicit one
                    assert (z.s.check([z.formula(epr.neg(f))]) == "unsat") == \
                        ex.step_holds(n, a.name, stack, state, post, evs), n
                z.s.pop()
                checked += 1
    return checked


def _twin_invariants(m: epr.Model, ex: epr.Explicit, stack: epr.Stack, states: list[epr.State]) -> int:
    """Every invariant and always-rule: z3's truth value on each state is the explicit one."""
    first = epr.versioned(m, "0")
    symbols = {**{r: m.relations[r] for r in m.constants}, **{first[r]: m.relations[r] for r in m.mutable}}
    extra: list[epr.F] = []
    invs = {c.name: epr.at(m, c.formula, first, extra=extra, symbols=symbols) for c in [*m.invariants, *m.always]}
    z = epr.Z3(m, 20_000)
    z.declare(symbols)
    for f in extra:
        z.s.add(z.formula(f))
    consts = _pin(z, stack)
    for c in m.constants:
        for lit in _literals(z, consts, stack, c, m.relations[c], stack.constants[c]):
            z.s.add(lit)
    for state in states:
        z.s.push()
        for r in m.mutable:
            for lit in _literals(z, consts, stack, first[r], m.relations[r], ex.value(state, r)):
                z.s.add(lit)
        for n, f in invs.items():
            assert (z.s.check([z.formula(epr.neg(f))]) == "unsat") == ex.holds(n, stack, state), n
        z.s.pop()
    return len(states)


TWIN_STACK = Config("P1r{1} P2{1,2}", (PatchConfig("P1", True, ("vmlinux",), (StateConfig(1),)),
                                         PatchConfig("P2", False, ("vmlinux",), (StateConfig(1), StateConfig(2)))),
                    faults=frozenset({"setup", "patch_object"}), reverse=True, force=True, reload=False)


@pytest.mark.parametrize("name", ["refcount", "v1", "poc"])
def test_z3_encoding_steps_as_the_explicit_run(name: str) -> None:
    assert _twin(name, TWIN_STACK, every=7) > 50
