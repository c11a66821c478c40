"""Inductive invariants learnt from the reachable states, checked by z3: proofs that scale with the relation.

Spacer and k-induction unroll the whole relation; on a large scope that is more than z3 can take. Here the
relation is only ever used one step at a time, and the invariant is built from facts about the states
the exploration reached:

* **pair facts**: for two fields, the value pairs the reachable states show (``f, g in {(a, b), ...}``);
  Houdini keeps the largest subset that is inductive (each round z3 finds a step from a state where the
  kept facts hold to one where some fail, and those facts go).
* **learnt clauses**: when a property (or a kept fact) can fail one step after a state where the
  invariant holds, that state is unreachable (every rule from a reachable state leads to one), so some of
  its field values never occur together in a reachable state. The smallest such set found greedily is
  the clause ``not (f1 = a1 and f2 = a2 ...)``; it is added and the invariant checked again.

Everything z3 is asked is one step deep: ``Init => Inv``, ``Inv and T => Inv'`` and ``Inv (and T) =>
P``. The facts come from the exploration but every one of them is checked by z3, so the exploration
supplies guesses, not trust. This module knows nothing about what the fields mean.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Lemma", "ReachIndex", "Strengthening"]


@dataclass(frozen=True)
class Lemma:
    """``pair``: the fields' values are one of ``rows``; ``clause``: they are not all equal to ``rows[0]``."""

    kind: str
    fields: tuple[str, ...]
    rows: tuple[tuple[int, ...], ...]

    def formula(self, z3: Any, var: Any) -> Any:
        xs = [var(f) for f in self.fields]
        if self.kind == "clause":
            return z3.Or(*[x != a for x, a in zip(xs, self.rows[0], strict=True)])
        if len(xs) == 1:
            return z3.Or(*[xs[0] == row[0] for row in self.rows])
        return z3.Or(*[z3.And(*[x == a for x, a in zip(xs, row, strict=True)]) for row in self.rows])

    def text(self) -> str:
        if self.kind == "clause":
            return "not (" + " and ".join(f"{f} = {a}" for f, a in zip(self.fields, self.rows[0], strict=True)) + ")"
        names = ", ".join(self.fields)
        rows = ", ".join("(" + ", ".join(map(str, r)) + ")" if len(r) > 1 else str(r[0]) for r in self.rows)
        return f"({names}) in {{{rows}}}" if len(self.fields) > 1 else f"{names} in {{{rows}}}"


class ReachIndex:
    """The reachable states' field values as bit sets: which states have field f equal to v."""

    def __init__(self, fields: list[str], states: list[tuple[int, ...]], opaque: frozenset[str] = frozenset()) -> None:
        self.fields = fields
        self.opaque = [f in opaque for f in fields]
        self.states = states
        self.n = len(states)
        self.columns = list(zip(*states, strict=True)) if states else [() for _ in fields]
        self.bits: list[dict[int, int]] = []
        for col in self.columns:
            where: dict[int, bytearray] = {}
            for i, v in enumerate(col):
                b = where.get(v)
                if b is None:
                    b = where[v] = bytearray((self.n + 7) // 8)
                b[i >> 3] |= 1 << (i & 7)
            self.bits.append({v: int.from_bytes(b, "little") for v, b in where.items()})
        self.all = (1 << self.n) - 1

    def pair_facts(self) -> list[Lemma]:
        """One fact per field (its values) and per pair of fields whose values are not independent."""
        out = [Lemma("pair", (f,), tuple((v,) for v in sorted(self.bits[i])))
               for i, f in enumerate(self.fields)]
        wide = [i for i in range(len(self.fields)) if len(self.bits[i]) > 1]
        for i, j in itertools.combinations(wide, 2):
            seen = set(zip(self.columns[i], self.columns[j], strict=True))
            if len(seen) < len(self.bits[i]) * len(self.bits[j]):
                out.append(Lemma("pair", (self.fields[i], self.fields[j]), tuple(sorted(seen))))
        return out

    def clause_for(self, values: tuple[int, ...]) -> Lemma | None:
        """A small set of this (unreachable) state's field values that no reachable state has together.

        Greedy: add the value that leaves the fewest reachable states matching, until none does. Opaque
        fields (tokens for the rest of the state) only when the named fields cannot tell the state apart,
        so that clauses read as facts about the kernel's state.
        """
        sets = [self.bits[i].get(v, 0) for i, v in enumerate(values)]
        if self.reachable(values):
            return None
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
        for i in list(reversed(cube)):  # drop what the others already exclude
            rest = [j for j in cube if j != i]
            m = self.all
            for j in rest:
                m &= sets[j]
            if not m and rest:
                cube = rest
        cube.sort()
        return Lemma("clause", tuple(self.fields[i] for i in cube), (tuple(values[i] for i in cube),))

    def reachable(self, values: tuple[int, ...]) -> bool:
        m = self.all
        for i, v in enumerate(values):
            m &= self.bits[i].get(v, 0)
            if not m:
                return False
        return True


@dataclass
class Strengthening:
    """An invariant of the relation grown until it is inductive and implies the properties asked about.

    ``u`` is a `klpmc.prove.Unrolling`; only its first step (``s0 -> t0 -> s1``) is used. The relation's
    rules are split into parts of ``part`` rules, each in its own solver: a one-step question about a
    large relation is asked part by part (every step takes exactly one rule, so the answers add up), and
    z3 answers many small questions much faster than one big one. A lemma learnt from one part's answer
    goes to every part.
    """

    u: Any
    timeout_ms: int
    part: int = 1000
    lemmas: list[Lemma] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)

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
        self.post: list[Any] = []
        self.alive: list[int] = []
        self.trial: dict[int, Any] = {}     # Houdini's candidates, each behind an assumption literal
        self.dirty = False                  # clauses were learnt since the invariant was last inductive
        self.stats = {"parts": len(self.steps), "pair_facts": 0, "dropped": 0, "clauses": 0, "queries": 0}

    def _pre(self, f: str) -> Any:
        return self.u.var("s0.", f)

    def _post(self, f: str) -> Any:
        return self.u.var("s1.", f)

    def _add(self, lemma: Lemma, trial: bool = False) -> None:
        """A lemma in every solver; a learnt clause holds on every reachable state, so it stays for good."""
        z3 = self.z3
        i = len(self.lemmas)
        self.lemmas.append(lemma)
        pre = lemma.formula(z3, self._pre)
        if trial:
            lit = self.trial[i] = z3.Bool(f"lemma{i}")
            pre = z3.Implies(lit, pre)
        for s in (*self.steps, self.state):
            s.add(pre)
        self.post.append(lemma.formula(z3, self._post))
        self.alive.append(i)

    def _check(self, solver: Any, goal: Any) -> tuple[Any, Any]:
        """Is ``goal`` possible where the invariant holds? (sat, a model) / (unsat, None) / (unknown, why)."""
        z3 = self.z3
        self.stats["queries"] += 1
        g = z3.Bool(f"goal{self.stats['queries']}")
        solver.add(z3.Implies(g, goal))
        r = solver.check(g, *[self.trial[i] for i in self.alive if i in self.trial])
        return r, (solver.model() if r == z3.sat else solver.reason_unknown() if r == z3.unknown else None)

    def _values(self, m: Any, prefix: str) -> tuple[int, ...]:
        return tuple(m.eval(self.u.var(prefix, f), model_completion=True).as_long() for f in self.u.fields)

    def start(self) -> bool | None:
        """Houdini over the pair facts; then the kept facts are inductive. None if z3 ran out of time."""
        z3 = self.z3
        for lemma in self.index.pair_facts():
            self._add(lemma, trial=True)
        self.stats["pair_facts"] = len(self.lemmas)
        changed = True
        while changed:                  # until a whole round over the parts drops nothing
            changed = False
            for solver in self.steps:
                while True:
                    r, m = self._check(solver, z3.Or(*[z3.Not(self.post[i]) for i in self.alive]))
                    if r == z3.unsat:
                        break
                    if r == z3.unknown:
                        return None
                    dead = {i for i in self.alive if not z3.is_true(m.eval(self.post[i], model_completion=True))}
                    self.alive = [i for i in self.alive if i not in dead]
                    self.stats["dropped"] += len(dead)
                    changed = True
        for i in self.alive:        # inductive together: from now on they are facts
            for s in (*self.steps, self.state):
                s.add(self.trial[i])
        self.trial.clear()
        return self._initial()

    def _initial(self) -> bool | None:
        """Init => Inv: every initial state satisfies every kept fact (z3 checks it)."""
        z3 = self.z3
        s = z3.Solver()
        s.set("timeout", self.timeout_ms)
        s.add(self.u.init(0))
        s.add(z3.Or(*[z3.Not(self.lemmas[i].formula(z3, self._pre)) for i in self.alive]))
        r = s.check()
        return None if r == z3.unknown else r == z3.unsat

    def _learn(self, values: tuple[int, ...]) -> bool:
        """Block an unreachable state with a clause; False if the state is reachable."""
        lemma = self.index.clause_for(values)
        if lemma is None:
            return False
        self._add(lemma)
        self.stats["clauses"] += 1
        return True

    def _until_clean(self, solvers: list[Any], goal: Any, deadline: float) -> tuple[bool | None, str]:
        """Learn clauses from every part until none allows ``goal()`` (rebuilt as lemmas come)."""
        z3 = self.z3
        dirty = True
        while dirty:
            dirty = False
            for solver in solvers:
                while True:
                    if time.perf_counter() > deadline:
                        return None, "the invariant did not converge in time"
                    r, m = self._check(solver, goal())
                    if r == z3.unsat:
                        break
                    if r == z3.unknown:
                        return None, f"z3: {m}"
                    if not self._learn(self._values(m, "s0.")):
                        return False, "fails one step from a reachable state"
                    dirty = True
        return True, ""

    def _inductive(self, deadline: float) -> tuple[bool | None, str]:
        """Learn clauses until Init => Inv and Inv and T => Inv' (with the bounds after the step), in every
        part. Until then no property is proved from the invariant."""
        z3 = self.z3
        ok, why = self._until_clean(self.steps, lambda: z3.Or(z3.Not(self.post_bounds),
                                                             *[z3.Not(self.post[i]) for i in self.alive]), deadline)
        if ok is False:
            raise AssertionError("a step from a reachable state leaves the invariant: the relation is unsound")
        if ok and not self._initial():
            raise AssertionError("an initial state breaks a fact of the reachable states")
        self.dirty = not ok
        return ok, why

    def prove(self, bad: Any, on_steps: bool, budget_ms: int) -> tuple[bool | None, str]:
        """Whether the invariant (grown as needed) rules out ``bad`` one step from any state it allows.

        (False, why) when the violation starts from a reachable state: the property fails, and BMC
        finds the trace. Clauses learnt on the way stay (they hold on every reachable state); the
        invariant is made inductive again before anything is proved from it.
        """
        deadline = time.perf_counter() + budget_ms / 1000
        if self.dirty:
            ok, why = self._inductive(deadline)
            if not ok:
                return None, why
        before = self.stats["clauses"]
        ok, why = self._until_clean(self.steps if on_steps else [self.state], lambda: bad, deadline)
        self.dirty = self.stats["clauses"] != before
        if ok is not True or not self.dirty:
            return ok, why
        ind, why = self._inductive(deadline)  # more clauses only make ``bad`` harder to reach
        return (True, "") if ind else (None, why)

    def invariant(self) -> list[Lemma]:
        return [self.lemmas[i] for i in self.alive]
