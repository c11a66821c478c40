"""Symbolic proofs: bounded model checking, k-induction and Spacer over a model's transition relation.

The model gives its relation as guarded updates over integer fields (``model.relation()``: fields with
their bounds, the initial states' field values, and rules ``(label, guard, effect, step)``), and symbolic
views whose variables carry a prefix (``s3.`` for the state after three steps, ``t3.`` for the fourth
step); a property's rule over those views is the property's formula (`klpmc.symbolic.formula_of`). This
module knows nothing about what the fields mean.

* **BMC** unrolls the relation in one incremental solver; each depth's query is an assumption, so the
  solver keeps what it learnt. A violation (or, for ``sometimes``, a witness) comes back as the rules
  taken, i.e. labels, and `klpmc.engine.replay` turns them into an ordinary trace.
* **k-induction** asks whether k steps on which the property holds, from any state within the fields'
  bounds and the views' well-formedness, can be followed by a violation (with simple paths).
* **Spacer** (z3's CHC engine) looks for an inductive invariant that implies the property, and returns it.

Every z3 call has a timeout; a question z3 does not answer in time leaves the verdict ``undetermined``.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .engine import PropertyResult, Trace, replay
from .logic import is_symbolic, z3_module
from .props import Property
from .symbolic import CrossCheck, Disagreement, formula_of

__all__ = ["Proof", "Unrolling", "prove"]

METHODS = ("invariant", "k-induction", "bmc", "spacer")
SHALLOW = 8      # BMC depth searched before Spacer is asked


def _state(i: int) -> str:
    return f"s{i}."


def _step(i: int) -> str:
    return f"t{i}."


@dataclass
class Proof:
    """The verdict of one property: proved / violated / reachable / unreachable / undetermined."""

    prop: Property
    verdict: str
    method: str = ""
    depth: int | None = None            # BMC depth of a trace, or k of a k-induction proof
    trace: PropertyResult | None = None  # a violation or witness, replayed through the explicit model
    invariant: str | None = None        # Spacer's inductive invariant, in the fields' names
    invariant_smt: str | None = None    # the same as an SMT-LIB term
    config: str = ""                    # the configuration a trace needs (a scope's member)
    seconds: float = 0.0
    note: str = ""

    @property
    def check_verdict(self) -> str:
        """The verdict `klpmc check` gives for the same outcome (proved = holds or unreachable)."""
        if self.verdict == "proved":
            return "unreachable" if self.prop.kind == "sometimes" else "holds"
        return self.verdict

    @property
    def how(self) -> str:
        """How the verdict was reached: ``proved: invariant``, ``proved: k-induction k=2``, ``bmc depth 4``."""
        if self.verdict == "proved":
            return f"proved: {self.method}" + (f" k={self.depth}" if self.method == "k-induction" else "")
        if self.method == "bmc" and self.depth is not None and self.verdict != "undetermined":
            return f"bmc depth {self.depth}"
        return self.method


@dataclass
class Unrolling:
    """The relation's formulas at each depth, built once and shared by the three methods."""

    model: Any
    relation: Any
    z3: Any = field(init=False)

    def __post_init__(self) -> None:
        self.z3 = z3_module()
        rel = self.relation
        self.fields = list(rel.fields)
        self.rules = rel.rules
        step_values: dict[str, dict[int, list[int]]] = defaultdict(lambda: defaultdict(list))
        writers: dict[str, dict[int, list[int]]] = defaultdict(lambda: defaultdict(list))
        for j, r in enumerate(self.rules):
            for f, v in r.step:
                step_values[f][v].append(j)
            for f, v in r.effect:
                writers[f][v].append(j)
        self.step_values = step_values
        self.writers = writers
        _, self.step_domain = self.model.symbolic_step("t0.", rel.sig)

    def var(self, prefix: str, name: str) -> Any:
        return self.z3.Int(prefix + name)

    def bounds(self, i: int) -> list[Any]:
        z3 = self.z3
        out = [z3.And(self.var(_state(i), f) >= lo, self.var(_state(i), f) <= hi)
               for f, (lo, hi) in self.relation.fields.items()]
        _, dom = self.model.symbolic_state(_state(i), self.relation.sig)
        return out + list(dom.extra)

    def init(self, i: int = 0) -> Any:
        z3 = self.z3
        return z3.Or(*[z3.And(*[self.var(_state(i), f) == v for f, v in s.items()]) for s in self.relation.init])

    def chose(self, i: int, j: int) -> Any:
        """Step i takes rule j."""
        return self.z3.Bool(f"r{i}={j}")

    def trans(self, i: int) -> list[Any]:
        """Step i: exactly one rule, whose guard holds in s_i, takes s_i to s_{i+1}; t_i gets its step fields.

        Built once over depth 0 and renamed for other depths (z3's substitute is much faster than
        building the terms again).
        """
        z3 = self.z3
        if not hasattr(self, "_trans0"):
            self._trans0 = [z3.And(*self._build_trans())]
        if i == 0:
            return self._trans0
        pairs = [(self.var(_state(0), f), self.var(_state(i), f)) for f in self.fields]
        pairs += [(self.var(_state(1), f), self.var(_state(i + 1), f)) for f in self.fields]
        pairs += [(self.var(_step(0), f), self.var(_step(i), f)) for f in self.step_values]
        pairs += [(self.chose(0, j), self.chose(i, j)) for j in range(len(self.rules))]
        return [z3.substitute(c, *pairs) for c in self._trans0]

    def _build_trans(self, only: Sequence[int] | None = None) -> list[Any]:
        z3 = self.z3
        cur, nxt, stp = _state(0), _state(1), _step(0)
        js = range(len(self.rules)) if only is None else only
        mine = set(js)
        b = {j: self.chose(0, j) for j in js}
        out = [z3.PbEq([(x, 1) for x in b.values()], 1)]
        for j in js:
            rule = self.rules[j]
            out.append(z3.Implies(b[j], z3.And(*[self.var(cur, f) == v for f, v in rule.guard],
                                                *[self.var(nxt, f) == v for f, v in rule.effect])))
        for f in self.fields:
            ws = [j for by_value in self.writers.get(f, {}).values() for j in by_value if j in mine]
            out.append(z3.Or(self.var(nxt, f) == self.var(cur, f), *[b[j] for j in ws]))
        for f, by_value in self.step_values.items():
            common = max(by_value, key=lambda v: len(by_value[v]))
            others = [j for v, vs in by_value.items() if v != common for j in vs if j in mine]
            out.append(z3.Or(self.var(stp, f) == common, *[b[j] for j in others]))
            for v, vs in by_value.items():
                if v != common:
                    out.extend(z3.Implies(b[j], self.var(stp, f) == v) for j in vs if j in mine)
        return out

    def trans_part(self, only: Sequence[int]) -> list[Any]:
        """Step 0 taking one of the rules ``only`` (a part of the relation, for one-step questions)."""
        return [self.z3.And(*self._build_trans(only))]

    def prop_at(self, prop: Property, i: int) -> Any:
        """The property at depth i: over s_i, or over (s_i, t_i, s_{i+1})."""
        f = formula_of(self.model, prop, self.relation.sig, pre=_state(i), step=_step(i), post=_state(i + 1),
                       state=_state(i))
        return self._bool(f.formula)

    def _bool(self, x: Any) -> Any:
        z3 = self.z3
        if is_symbolic(x):
            return x if z3.is_bool(x) else x != 0
        return z3.BoolVal(bool(x))

    def rules_taken(self, model: Any, k: int) -> list[Any]:
        z3 = self.z3
        out = []
        for i in range(k):
            js = [j for j in range(len(self.rules)) if z3.is_true(model.eval(self.chose(i, j), model_completion=True))]
            out.append(self.rules[js[0]].label)
        return out

    def state_values(self, model: Any, i: int) -> tuple[int, ...]:
        return tuple(model.eval(self.var(_state(i), f), model_completion=True).as_long() for f in self.fields)


def _bad(u: Unrolling, prop: Property, i: int) -> Any:
    """What settles the property at depth i: a violation, or for ``sometimes`` the goal."""
    p = u.prop_at(prop, i)
    return p if prop.kind == "sometimes" else u.z3.Not(p)


def _trace(u: Unrolling, prop: Property, verdict: str, k: int, z3model: Any) -> tuple[PropertyResult, str, bool]:
    """Replay the rules z3 took through the explicit model (of the configuration z3 chose); and whether the
    replayed trace breaks the rule (reaches the goal) where z3 says it does."""
    labels = u.rules_taken(z3model, k)
    start = u.state_values(z3model, 0)
    init = u.relation.states[start]
    model = u.relation.owner.get(start, u.model)
    steps = replay(model, labels, init=init)
    trace = Trace(init, tuple(steps))
    return (PropertyResult(prop, verdict, trace), u.relation.names.get(start, ""),  # type: ignore[arg-type]
            fires(model, prop, trace))


def fires(model: Any, prop: Property, trace: Trace) -> bool:
    """The rule, as the BFS evaluates it, settles the property at the end of the trace: a violation of an
    always or step property, the goal of a sometimes property."""
    check = model.predicate(prop)
    if prop.on_steps:
        if not trace.steps:
            return False
        last = trace.steps[-1]
        before = trace.steps[-2].state if len(trace.steps) > 1 else trace.init
        value = check(before, last.label, last.log, last.state)
    else:
        value = check(trace.last)
    return bool(value) is (prop.kind == "sometimes")


def bmc(u: Unrolling, props: Sequence[Property], max_depth: int, timeout_ms: int,
        results: dict[str, Proof], start: int = 0) -> None:
    """Unroll depth by depth in one solver; each property's query at a depth is one assumption.

    With ``start``, the depths before it were searched already: they are unrolled but not asked about.
    """
    z3 = u.z3
    s = z3.Solver()
    s.set("timeout", timeout_ms)
    s.add(u.init(0))
    for k in range(start):
        s.add(*u.trans(k))
    open_ = list(props)
    for k in range(start, max_depth + 1):
        step_level = [p for p in open_ if p.on_steps]
        if step_level:
            s.add(*u.trans(k))
        bad = {p.name: _bad(u, p, k) for p in open_}
        flags = {}
        for p in open_:
            flags[p.name] = z3.Bool(f"bad[{p.name}]@{k}")
            s.add(z3.Implies(flags[p.name], bad[p.name]))
        # ask whether any open property fails here; every property the answer breaks is settled by it
        round_ = 0
        while open_:
            t0 = time.perf_counter()
            anything = z3.Bool(f"any@{k}.{round_}")
            round_ += 1
            s.add(z3.Implies(anything, z3.Or(*[flags[p.name] for p in open_])))
            r = s.check(anything)
            if r == z3.unsat:
                break
            if r == z3.unknown:
                for p in open_:
                    results[p.name] = Proof(p, "undetermined", "bmc", k, note=f"z3: {s.reason_unknown()}")
                open_.clear()
                break
            found = s.model()
            for p in list(open_):
                if z3.is_true(found.eval(bad[p.name], model_completion=True)):
                    n = k + 1 if p.on_steps else k
                    verdict = "reachable" if p.kind == "sometimes" else "violated"
                    trace, config, replayed = _trace(u, p, verdict, n, found)
                    if replayed:
                        results[p.name] = Proof(p, verdict, "bmc", n, trace, seconds=time.perf_counter() - t0,
                                                config=config)
                    else:   # z3's formula and the rule part: nothing z3 says of this property is trusted
                        results[p.name] = Proof(p, "undetermined", "bmc", n, config=config, note=(
                            f"z3's trace of {n} steps does not {'reach' if p.kind == 'sometimes' else 'break'} "
                            "the rule when the model replays it: the formula and the rule disagree"))
                    open_.remove(p)
        if not open_:
            return
        if not step_level:
            s.add(*u.trans(k))


def _base_case(u: Unrolling, prop: Property, k: int, timeout_ms: int) -> bool | None:
    """No violation (for ``sometimes``: no goal) at the first k depths from an initial state."""
    z3 = u.z3
    s = z3.Solver()
    s.set("timeout", timeout_ms)
    s.add(u.init(0))
    bads = []
    for i in range(k):
        if prop.on_steps:
            s.add(*u.trans(i))
        bads.append(_bad(u, prop, i))
        if not prop.on_steps and i + 1 < k:
            s.add(*u.trans(i))
    r = s.check(z3.Or(*bads))
    return None if r == z3.unknown else r == z3.unsat


def k_induction(u: Unrolling, prop: Property, k_max: int, timeout_ms: int, k_min: int = 1) -> int | None:
    """The least k in k_min..k_max for which the property holds at the first k depths from an initial
    state (the base case) and k good steps from any in-bounds state force a good next one."""
    z3 = u.z3
    s = z3.Solver()
    s.set("timeout", timeout_ms)
    s.add(*u.bounds(0))
    good = u.prop_at(prop, 0)
    if prop.kind == "sometimes":
        good = z3.Not(good)
    s.add(good)
    for k in range(1, k_max + 1):
        s.add(*u.trans(k - 1))
        s.add(*u.bounds(k))
        for j in range(k):      # simple path
            s.add(z3.Or(*[u.var(_state(j), f) != u.var(_state(k), f) for f in u.fields]))
        last = u.prop_at(prop, k)
        bad = last if prop.kind == "sometimes" else z3.Not(last)
        if prop.on_steps:
            s.add(*u.trans(k))
        if k >= k_min:
            r = s.check(bad)
            if r == z3.unsat and _base_case(u, prop, k, timeout_ms):
                return k
            if r == z3.unknown:
                return None
        s.add(z3.Not(bad))
    return None


def spacer(u: Unrolling, prop: Property, timeout_ms: int) -> tuple[bool | None, Any]:
    """Ask Spacer for an inductive invariant of the relation that implies the property."""
    z3 = u.z3
    fp = z3.Fixedpoint()
    fp.set(engine="spacer")
    fp.set("timeout", timeout_ms)
    sorts = [z3.IntSort()] * len(u.fields)
    inv = z3.Function("Inv", *sorts, z3.BoolSort())
    fp.register_relation(inv)
    s0 = [u.var(_state(0), f) for f in u.fields]
    s1 = [u.var(_state(1), f) for f in u.fields]
    step_vars = [u.var(_step(0), f) for f in u.step_values]
    fp.declare_var(*s0, *s1, *step_vars, *[u.chose(0, j) for j in range(len(u.rules))])
    fp.rule(inv(*s0), u.init(0))
    fp.rule(inv(*s1), [inv(*s0), *u.trans(0)])
    bad = _bad(u, prop, 0)
    query = z3.And(inv(*s0), *u.trans(0), bad) if prop.on_steps else z3.And(inv(*s0), bad)
    try:
        r = fp.query(query)
    except z3.Z3Exception as e:
        return None, f"spacer: {e}"
    if r == z3.unsat:
        return True, _invariant(u, fp.get_cover_delta(-1, inv))
    if r == z3.sat:
        return False, None
    return None, f"spacer: {fp.reason_unknown()}"


def _invariant(u: Unrolling, cover: Any) -> Any:
    """Spacer's invariant over Inv's arguments, with the field names put in: (readable, SMT-LIB)."""
    z3 = u.z3
    body = z3.simplify(z3.substitute_vars(cover, *[z3.Int(f) for f in u.fields]))
    return str(body), body.sexpr()


def _by_invariant(u: Unrolling, props: Sequence[Property], timeout_ms: int, results: dict[str, Proof],
                  info: dict[str, Any], notes: dict[str, str]) -> set[str]:
    """Prove, all at once, what an invariant learnt from the reachable states implies; the names found
    failing from a reachable state (BMC gives their traces)."""
    from .invariant import Strengthening

    t0 = time.perf_counter()
    st = Strengthening(u, timeout_ms)
    proved, failing, undetermined, learnt = st.prove({p.name: (_bad(u, p, 0), p.on_steps) for p in props},
                                                     timeout_ms)
    seconds = time.perf_counter() - t0
    z3 = u.z3
    text = "\n".join(c.text() for c in st.clauses) or "true (no clause was needed)"
    smt = z3.And(z3.BoolVal(True), *[c.formula(z3, z3.Int) for c in st.clauses]).sexpr()
    for p in props:
        if p.name in proved:
            n = learnt.get(p.name, 0)
            results[p.name] = Proof(p, "proved", "invariant", seconds=seconds, invariant=text, invariant_smt=smt,
                                    note=f"{n} clauses learnt from its counterexamples" if n else
                                    "no clause learnt from its counterexamples")
        elif p.name in undetermined:
            notes[p.name] = f"invariant: {undetermined[p.name]}"
    info["invariant"] = dict(st.stats)
    return failing


def prove(model: Any, props: Sequence[Property], timeout_ms: int = 10_000, max_depth: int | None = None,
          k_max: int = 3, methods: Sequence[str] = METHODS, relation: Any = None) -> tuple[list[Proof], dict[str, Any]]:
    """Every property's verdict from z3 over the model's relation (or the one given); figures about it."""
    t0 = time.perf_counter()
    order = list(props)
    rel = model.relation() if relation is None else relation
    u = Unrolling(model, rel)
    depth = max_depth if max_depth is not None else rel.diameter
    info = {"configurations": len(set(rel.names.values())) or 1,
            "states": len(rel.states), "transitions": rel.transitions, "rules": len(rel.rules),
            "fields": len(rel.fields), "diameter": rel.diameter, "extract_seconds": time.perf_counter() - t0}
    results: dict[str, Proof] = {}
    try:
        props = _trusted(u, props, results, info)
        _methods(u, props, timeout_ms, depth, k_max, methods, results, info)
    except KeyboardInterrupt:       # what is settled stays; the rest is undetermined
        info["interrupted"] = True
    for p in order:
        if p.name not in results:
            note = "interrupted" if info.get("interrupted") else f"no proof by the methods asked ({', '.join(methods)})"
            results[p.name] = Proof(p, "undetermined", "", note=note)
    info["seconds"] = time.perf_counter() - t0
    return [results[p.name] for p in order], info


def cross_check(u: Unrolling, props: Sequence[Property]) -> tuple[list[Disagreement], int, int]:
    """Every property both ways (the rule as the BFS runs it, z3's formula compiled) on every state the
    relation was read off and every step out of it; and every value inside z3's domain."""
    cross = CrossCheck(u.model, props, u.relation.sig)
    found: list[Disagreement] = []
    seen: set[str] = set()
    steps = 0
    for key, s in u.relation.states.items():
        owner = u.relation.owner.get(key, u.model)
        found += [d for d in cross.state(s, owner) if d.prop not in seen]
        if cross.step_props:
            for label, after, log in owner.next_steps(s):
                steps += 1
                found += [d for d in cross.step(s, label, log, after, owner) if d.prop not in seen]
        seen |= {d.prop for d in found}
    return found, len(u.relation.states), steps


def _trusted(u: Unrolling, props: Sequence[Property], results: dict[str, Proof],
             info: dict[str, Any]) -> list[Property]:
    """The properties whose formula z3 reads as the BFS reads the rule on every reachable state and step;
    the others are undetermined, with the first state or step where the two part."""
    t0 = time.perf_counter()
    found, states, steps = cross_check(u, props)
    info["cross_check"] = {"states": states, "steps": steps, "seconds": time.perf_counter() - t0,
                           "disagreements": [str(d) for d in found]}
    outside = [d for d in found if not d.prop]
    by_prop = {d.prop: d for d in reversed(found) if d.prop}
    trusted = []
    for p in props:
        problem = outside[0] if outside else by_prop.get(p.name)
        if problem is None:
            trusted.append(p)
        else:
            results[p.name] = Proof(p, "undetermined", "", note=f"z3's formula is not the rule here: {problem}")
    return trusted


def _methods(u: Unrolling, props: Sequence[Property], timeout_ms: int, depth: int, k_max: int,
             methods: Sequence[str], results: dict[str, Proof], info: dict[str, Any]) -> None:
    """The engines in turn (invariant, k-induction, BMC, Spacer), each on what is still open."""
    def induction(p: Property, ks: range) -> bool:
        t1 = time.perf_counter()
        for k in ks:
            if k_induction(u, p, k, timeout_ms, k_min=k) is not None:
                results[p.name] = Proof(p, "proved", "k-induction", k, seconds=time.perf_counter() - t1)
                return True
        return False

    # an invariant learnt from the reachable states first: one step deep, part by part, so it scales
    # with the relation; what it finds failing from a reachable state is left to BMC for the trace
    failing: set[str] = set()
    notes: dict[str, str] = {}
    if "invariant" in methods:
        t1 = time.perf_counter()
        failing = _by_invariant(u, props, timeout_ms, results, info, notes)
        info["invariant_seconds"] = time.perf_counter() - t1
    # k-induction next: cheap on small relations, and it says whether a property is k-inductive alone
    if "k-induction" in methods:
        for p in props:
            if p.name not in results and p.name not in failing:
                induction(p, range(1, k_max + 1))
    # BMC to a shallow depth finds most violations; Spacer then proves what holds without BMC unrolling
    # to the diameter for it; BMC goes on to the diameter only for what is still open
    shallow = min(depth, SHALLOW)

    def still_open() -> list[Property]:
        return [p for p in props if p.name not in results]

    if "bmc" in methods and still_open():
        t1 = time.perf_counter()
        bmc(u, still_open(), shallow, timeout_ms, results)
        info["bmc_seconds"] = time.perf_counter() - t1

    def try_spacer(budget_ms: int) -> None:
        for p in props:
            if p.name in failing or (p.name in results and results[p.name].verdict != "undetermined"):
                continue
            t1 = time.perf_counter()
            ok, found = spacer(u, p, budget_ms)
            if ok:
                results[p.name] = Proof(p, "proved", "spacer", invariant=found[0], invariant_smt=found[1],
                                        seconds=time.perf_counter() - t1)
            else:
                notes[p.name] = found or "spacer: the property fails on some path deeper than BMC went"

    # a short Spacer budget here: on a property that fails deeper, Spacer is slow and BMC finds the trace
    if "spacer" in methods:
        try_spacer(max(1, timeout_ms // 8))
    if "bmc" in methods and depth > shallow and still_open():     # unrolling the relation costs, even unasked
        t1 = time.perf_counter()
        bmc(u, still_open(), depth, timeout_ms, results, start=shallow + 1)
        info["bmc_seconds"] = info.get("bmc_seconds", 0.0) + time.perf_counter() - t1
    if "spacer" in methods:
        try_spacer(timeout_ms)
    for p in props:
        if p.name not in results:
            note = notes.get(p.name) or f"no proof by the methods asked ({', '.join(methods)})"
            results[p.name] = Proof(p, "undetermined", "", note=note)
