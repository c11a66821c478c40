"""Inductive invariants learnt from the reachable states, checked by z3: proofs that scale with the relation.

Spacer and k-induction unroll the whole relation; on a large scope that is more than z3 can take. Here the
relation is only ever used one step at a time, and the invariant is a set of clauses learnt from z3's
counterexamples to induction:

* Ask z3 for a step, from a state where the invariant holds, that breaks a property (or, once clauses
  are learnt, the invariant itself).
* If that state is unreachable (every rule from a reachable state leads to one, so a reachable state
  cannot break the invariant), some of its field values never occur together in a reachable state. The
  smallest such set found greedily over the reachable states is the clause ``not (f1 = a1 and ...)``,
  which holds on every reachable state; it joins the invariant and z3 is asked again.
* If the state is reachable, the properties it breaks fail, and BMC finds their trace.

Every question is one step deep (``Init => Inv``, ``Inv and T => Inv'``, ``Inv (and T) => P``) and is
asked of one part of the relation at a time, all open properties in one query, so the work grows with
the number of rules rather than with the depth of the state space. The exploration only supplies the
guesses; z3 checks everything the proof rests on. This module knows nothing about what the fields mean.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Clause", "ReachIndex", "Strengthening"]


@dataclass(frozen=True)
class Clause:
    """``not (f1 = a1 and f2 = a2 ...)``: values of some fields that no reachable state has together."""

    fields: tuple[str, ...]
    values: tuple[int, ...]

    def formula(self, z3: Any, var: Callable[[str], Any]) -> Any:
        return z3.Or(*[var(f) != a for f, a in zip(self.fields, self.values, strict=True)])

    def text(self) -> str:
        return "not (" + " and ".join(f"{f} = {a}" for f, a in zip(self.fields, self.values, strict=True)) + ")"


class ReachIndex:
    """The reachable states' field values as bit sets: which states have field f equal to v."""

    def __init__(self, fields: list[str], states: list[tuple[int, ...]], opaque: frozenset[str] = frozenset()) -> None:
        self.fields = fields
        self.opaque = [f in opaque for f in fields]
        n = len(states)
        self.bits: list[dict[int, int]] = []
        for col in zip(*states, strict=True) if states else [() for _ in fields]:
            where: dict[int, bytearray] = {}
            for i, v in enumerate(col):
                b = where.get(v)
                if b is None:
                    b = where[v] = bytearray((n + 7) // 8)
                b[i >> 3] |= 1 << (i & 7)
            self.bits.append({v: int.from_bytes(b, "little") for v, b in where.items()})
        self.all = (1 << n) - 1

    def reachable(self, values: tuple[int, ...]) -> bool:
        m = self.all
        for i, v in enumerate(values):
            m &= self.bits[i].get(v, 0)
            if not m:
                return False
        return True

    def clause_for(self, values: tuple[int, ...]) -> Clause | None:
        """A small set of this (unreachable) state's field values that no reachable state has together.

        Greedy: add the value that leaves the fewest reachable states matching, until none does; then
        drop what the others already exclude. Opaque fields (tokens for the rest of the state) only when
        the named fields cannot tell the state apart, so that clauses read as facts about the kernel.
        """
        if self.reachable(values):
            return None
        sets = [self.bits[i].get(v, 0) for i, v in enumerate(values)]
        named = [i for i in range(len(values)) if not self.opaque[i]]
        m = self.all
        for i in named:
            m &= sets[i]
        pool = named if not m else list(range(len(values)))
        match, cube = self.all, []
        while match:
            i = min((i for i in pool if i not in cube), key=lambda i: (match & sets[i]).bit_count())
            cube.append(i)
            match &= sets[i]
        for i in list(reversed(cube)):
            rest = [j for j in cube if j != i]
            m = self.all
            for j in rest:
                m &= sets[j]
            if not m and rest:
                cube = rest
        cube.sort()
        return Clause(tuple(self.fields[i] for i in cube), tuple(values[i] for i in cube))


@dataclass
class Strengthening:
    """An invariant of the relation, grown until it is inductive and rules out the properties' failures.

    ``u`` is a `klpmc.prove.Unrolling`; only its first step (``s0 -> t0 -> s1``) is used. The rules are
    split into parts of ``part`` rules, each part in its own solver (a step takes exactly one rule, so a
    step question is answered when every part has answered it); z3 answers many small questions much
    faster than one big one. A clause learnt from one part goes to every part.
    """

    u: Any
    timeout_ms: int
    part: int = 1000
    clauses: list[Clause] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        u = self.u
        z3 = self.z3 = u.z3
        self.index = ReachIndex(u.fields, list(u.relation.states), frozenset(getattr(u.relation, "opaque", ())))
        n = len(u.rules)
        self.steps = []                 # bounds and one step of a part of the relation
        for lo in range(0, max(n, 1), self.part):
            s = z3.Solver()
            s.add(*u.bounds(0))
            s.add(*u.trans_part(range(lo, min(lo + self.part, n))))
            self.steps.append(s)
        self.state = z3.Solver()        # bounds only: state properties hold in states without a successor
        self.state.add(*u.bounds(0))
        for s in (*self.steps, self.state):
            s.set("timeout", self.timeout_ms)
        self.post_bounds = z3.And(*u.bounds(1))
        self.post: list[Any] = []       # each clause over s1
        self.stats = {"parts": len(self.steps), "clauses": 0, "queries": 0}

    def _add(self, clause: Clause) -> None:
        """A clause holds on every reachable state, so it goes to every solver for good."""
        z3, u = self.z3, self.u
        self.clauses.append(clause)
        pre = clause.formula(z3, lambda f: u.var("s0.", f))
        for s in (*self.steps, self.state):
            s.add(pre)
        self.post.append(clause.formula(z3, lambda f: u.var("s1.", f)))
        self.stats["clauses"] += 1

    def _check(self, solver: Any, goal: Any) -> tuple[Any, Any]:
        """Is ``goal`` possible where the invariant holds? (sat, a model) / (unsat, None) / (unknown, why)."""
        z3 = self.z3
        self.stats["queries"] += 1
        g = z3.Bool(f"goal{self.stats['queries']}")
        solver.add(z3.Implies(g, goal))
        r = solver.check(g)
        return r, (solver.model() if r == z3.sat else solver.reason_unknown() if r == z3.unknown else None)

    def _values(self, m: Any) -> tuple[int, ...]:
        return tuple(m.eval(self.u.var("s0.", f), model_completion=True).as_long() for f in self.u.fields)

    def _initial(self) -> bool:
        """Init => Inv (z3 checks it; every initial state is reachable, so it holds unless a clause is wrong)."""
        z3 = self.z3
        if not self.clauses:
            return True
        s = z3.Solver()
        s.set("timeout", self.timeout_ms)
        s.add(self.u.init(0), z3.Or(*[z3.Not(c.formula(z3, lambda f: self.u.var("s0.", f))) for c in self.clauses]))
        return bool(s.check() == z3.unsat)

    def _sweep(self, solvers: list[Any], bads: dict[str, Any], deadline: float,
               failing: dict[str, str], learnt: dict[str, int]) -> str | None:
        """Every part in turn, until none allows any open ``bads``: learn a clause from each unreachable
        counterexample; a reachable one settles the properties it breaks as failing. None when done,
        else why it stopped."""
        z3 = self.z3
        for solver in solvers:
            while bads:
                if time.perf_counter() > deadline:
                    return "the invariant did not converge in time"
                r, m = self._check(solver, z3.Or(*bads.values()))
                if r == z3.unsat:
                    break
                if r == z3.unknown:
                    return f"z3: {m}"
                broken = [n for n, b in bads.items() if z3.is_true(m.eval(b, model_completion=True))]
                clause = self.index.clause_for(self._values(m))
                if clause is None:
                    for n in broken:
                        failing[n] = "fails one step from a reachable state"
                        del bads[n]
                    continue
                self._add(clause)
                for n in broken:
                    learnt[n] = learnt.get(n, 0) + 1
        return None

    def inductive(self, deadline: float) -> str | None:
        """Learn clauses until Inv and T imply Inv' (and the bounds after the step) in every part, and
        check Init => Inv. None when done, else why not."""
        while True:
            before = len(self.clauses)
            fails: dict[str, str] = {}
            why = self._sweep(self.steps, {"inv": self.z3.Or(self.z3.Not(self.post_bounds),
                                                             *[self.z3.Not(p) for p in self.post])},
                              deadline, fails, {})
            if fails:
                raise AssertionError("a step from a reachable state leaves the invariant: the relation is unsound")
            if why is not None:
                return why
            if len(self.clauses) == before:
                break
        if not self._initial():
            raise AssertionError("an initial state breaks a clause learnt from the reachable states")
        return None

    def prove(self, bads: Mapping[str, tuple[Any, bool]],
              budget_ms: int) -> tuple[set[str], set[str], dict[str, str], dict[str, int]]:
        """Properties by name, each ``(its failure as a formula, whether it is over a step)``, all at once.

        Returns (proved, failing from a reachable state, {undetermined: why}, {name: clauses learnt from
        its counterexamples}). Properties checked clean against a weaker invariant stay clean as clauses
        come, so one sweep per kind of property, then making the invariant inductive, proves what is left.
        """
        deadline = time.perf_counter() + budget_ms / 1000
        failing: dict[str, str] = {}
        learnt: dict[str, int] = {}
        open_state = {n: b for n, (b, step) in bads.items() if not step}
        open_step = {n: b for n, (b, step) in bads.items() if step}
        why = self._sweep([self.state], open_state, deadline, failing, learnt)
        why = why or self._sweep(self.steps, open_step, deadline, failing, learnt)
        why = why or self.inductive(deadline)
        rest = {n for n in bads if n not in failing}
        if why is not None:
            return set(), set(failing), dict.fromkeys(rest, why), learnt
        return rest, set(failing), {}, learnt
