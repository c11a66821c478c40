"""One property source for two engines: connectives that compute on values and build z3 formulas.

A rule is written once as a Python function over a *view* of a state (or a step). Given a concrete view
it returns a bool, computed directly, with no solver involved: that is what the BFS runs on every state.
Given a symbolic view, whose fields are z3 integer variables, the very same function returns a z3
formula. The connectives below are what makes that work: each one computes with plain values when all
its arguments are plain and builds a z3 term as soon as one argument is symbolic. Rules therefore never
branch with Python's ``if``/``and``/``or`` on a field's value, only on the configuration (which patches,
states and objects exist), which is concrete in both views.

This is the only module of klpmc that imports z3, and it imports it on first symbolic use only, so a BFS
run never pays for it. `vacuity` is the sanity check that uses the formulas: a rule that no state can
violate, or that every state violates, is reported before a run. `FOSolver` is z3 over uninterpreted sorts
and relations, for the first-order models of `klpmc.epr` (``klpmc prove --unbounded``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "AND",
    "IF",
    "IFF",
    "IMPLIES",
    "NOT",
    "OR",
    "Domain",
    "FOModel",
    "FOSolver",
    "SatCheck",
    "all_of",
    "and_then",
    "any_of",
    "evaluate",
    "given",
    "is_symbolic",
    "scan",
    "sum_of",
    "sym_int",
    "vacuity",
    "z3_module",
]

_z3: Any = None


def z3_module() -> Any:
    """The z3 module, imported on first use (klpmc.prove builds its unrollings with it)."""
    global _z3
    if _z3 is None:
        import z3

        _z3 = z3
    return _z3


def is_symbolic(x: object) -> bool:
    """True for a z3 term; plain bools and ints are concrete."""
    return _z3 is not None and isinstance(x, _z3.ExprRef)


def sym_int(name: str) -> Any:
    """A z3 integer variable: the symbolic value of one field of a view."""
    return z3_module().Int(name)


def _bool(x: Any) -> Any:
    """A z3 Bool for x (a z3 Bool, or an int field used as a truth value)."""
    z3 = _z3
    if z3.is_bool(x):
        return x
    if isinstance(x, z3.ExprRef):
        return x != 0
    return z3.BoolVal(bool(x))


def AND(*xs: Any) -> Any:
    """Conjunction; a concrete False settles it at once."""
    return all_of(xs)


def OR(*xs: Any) -> Any:
    """Disjunction; a concrete True settles it at once."""
    return any_of(xs)


def all_of(xs: Iterable[Any]) -> Any:
    """Conjunction over a finite collection (the configuration's patches, states, events)."""
    sym: list[Any] | None = None
    for x in xs:
        if x is True:
            continue
        if x is False:
            return False
        if is_symbolic(x):
            if sym is None:
                sym = []
            sym.append(_bool(x))
        elif not x:
            return False
    if sym is None:
        return True
    return sym[0] if len(sym) == 1 else _z3.And(*sym)


def any_of(xs: Iterable[Any]) -> Any:
    """Disjunction over a finite collection."""
    sym: list[Any] | None = None
    for x in xs:
        if x is False:
            continue
        if x is True:
            return True
        if is_symbolic(x):
            if sym is None:
                sym = []
            sym.append(_bool(x))
        elif x:
            return True
    if sym is None:
        return False
    return sym[0] if len(sym) == 1 else _z3.Or(*sym)


def sum_of(xs: Iterable[Any]) -> Any:
    """A sum of ints or z3 integer terms."""
    total: Any = 0
    for x in xs:
        total = total + x
    return total


def NOT(x: Any) -> Any:
    if x is True or x is False:
        return not x
    if is_symbolic(x):
        return _z3.Not(_bool(x))
    return not x


def IMPLIES(a: Any, b: Any) -> Any:
    if a is False:
        return True
    if is_symbolic(a) or is_symbolic(b):
        if not is_symbolic(a):
            return b if a else True
        return _z3.Implies(_bool(a), _bool(b) if is_symbolic(b) else _z3.BoolVal(bool(b)))
    return (not a) or bool(b)


def IFF(a: Any, b: Any) -> Any:
    """a if and only if b."""
    if not is_symbolic(a) and not is_symbolic(b):
        return bool(a) == bool(b)
    if not is_symbolic(a):
        return _bool(b) if a else NOT(b)
    if not is_symbolic(b):
        return _bool(a) if b else NOT(a)
    return _bool(a) == _bool(b)


def given(cond: Any, then: Callable[[], Any]) -> Any:
    """IMPLIES(cond, then()), with ``then`` not evaluated when cond is concretely false (the BFS path)."""
    if not is_symbolic(cond):
        return bool(then()) if cond else True
    return IMPLIES(cond, then())


def and_then(cond: Any, then: Callable[[], Any]) -> Any:
    """AND(cond, then()), with ``then`` not evaluated when cond is concretely false."""
    if not is_symbolic(cond):
        return then() if cond else False
    return AND(cond, then())


def IF(c: Any, a: Any, b: Any) -> Any:
    """a if c else b; for tuples, element by element (the state of a per-key automaton)."""
    if not is_symbolic(c):
        return a if c else b
    if isinstance(a, tuple):
        return tuple(IF(c, x, y) for x, y in zip(a, b, strict=True))
    z3 = _z3
    if (z3.is_bool(a) if is_symbolic(a) else isinstance(a, bool)) or (z3.is_bool(b) if is_symbolic(b)
                                                                       else isinstance(b, bool)):
        return z3.If(_bool(c), _bool(a) if is_symbolic(a) else z3.BoolVal(bool(a)),
                     _bool(b) if is_symbolic(b) else z3.BoolVal(bool(b)))
    return z3.If(_bool(c), a, b)


def scan(events: Sequence[Any], keys: Iterable[Any], relevant: Callable[[Any], Any],
         key_of: Callable[[Any], Any], init: Callable[[Any], Any],
         step: Callable[[Any, Any, Any], tuple[Any, Any]]) -> Any:
    """Run a per-key automaton over a step's events; True when no event breaks it.

    ``relevant(e)`` says which events the automaton reads, ``key_of(e)`` which key (a state id, an
    object) an event belongs to, ``init(key)`` the key's value before the step and ``step(value, e, key)``
    returns ``(value after e, e was allowed)``. Concretely the events are walked once and only the keys
    they touch are tracked. Symbolically every key of the configuration is tracked through every event
    slot, with the slot's presence and key match as guards, which is the same computation unrolled.
    """
    if not any(is_symbolic(getattr(e, "present", True)) for e in events):
        seen: dict[Any, Any] = {}
        for e in events:
            if not relevant(e):
                continue
            k = key_of(e)
            cur = seen[k] if k in seen else init(k)
            cur, ok = step(cur, e, k)
            if not ok:
                return False
            seen[k] = cur
        return True
    oks = []
    for k in keys:
        cur = init(k)
        for e in events:
            hit = AND(e.present, relevant(e), _same(key_of(e), k))
            new, ok = step(cur, e, k)
            oks.append(IMPLIES(hit, ok))
            cur = IF(hit, new, cur)
    return all_of(oks)


def _same(a: Any, b: Any) -> Any:
    if isinstance(a, tuple):
        return all_of(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


# -- solver use ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Domain:
    """Where a symbolic view's fields range: z3 variable name -> (lowest, highest) value."""

    bounds: dict[str, tuple[int, int]]
    extra: tuple[Any, ...] = ()     # further z3 constraints that well-formed states meet

    def constraints(self) -> list[Any]:
        z3 = z3_module()
        out = []
        for name, (lo, hi) in self.bounds.items():
            x = z3.Int(name)
            out.append(z3.And(x >= lo, x <= hi))
        return out + list(self.extra)

    def __or__(self, other: Domain) -> Domain:
        return Domain({**self.bounds, **other.bounds}, self.extra + other.extra)


def evaluate(formula: Any, assignment: dict[str, int]) -> bool:
    """The truth value of a formula when every field has the value ``assignment`` gives it."""
    if not is_symbolic(formula):
        return bool(formula)
    z3 = z3_module()
    subst = [(z3.Int(n), z3.IntVal(v)) for n, v in assignment.items()]
    out = z3.simplify(z3.substitute(formula, *subst)) if subst else z3.simplify(formula)
    if z3.is_true(out):
        return True
    if z3.is_false(out):
        return False
    raise ValueError(f"formula has fields the assignment does not give: {out}")


@dataclass(frozen=True)
class SatCheck:
    """What z3 said about one rule over a domain: can it hold, can it fail (None: no answer in time)."""

    can_hold: bool | None
    can_fail: bool | None
    witness: dict[str, int] | None   # a state (or step) that breaks the rule, when there is one

    @property
    def vacuous(self) -> str | None:
        """"never fails" or "always fails" when the rule says nothing about the states it is checked on."""
        if self.can_fail is False:
            return "no state can violate it"
        if self.can_hold is False:
            return "every state violates it"
        return None


def vacuity(formula: Any, domain: Domain, timeout_ms: int = 5000) -> SatCheck:
    """Ask z3 whether ``formula`` can be false and whether it can be true over ``domain``."""
    z3 = z3_module()
    s = z3.Solver()
    s.set("timeout", timeout_ms)
    s.add(*domain.constraints())

    def sat(f: Any) -> tuple[bool | None, Any]:
        s.push()
        s.add(_bool(f) if is_symbolic(f) else z3.BoolVal(bool(f)))
        r = s.check()
        model = s.model() if r == z3.sat else None
        s.pop()
        return (None if r == z3.unknown else r == z3.sat), model

    can_fail, model = sat(NOT(formula))
    can_hold, _ = sat(formula)
    witness = None
    if model is not None:
        witness = {str(d): model[d].as_long() for d in model.decls()}
    return SatCheck(can_hold, can_fail, witness)


# -- first-order queries over uninterpreted sorts (klpmc.epr) ---------------------------------------


@dataclass(frozen=True)
class FOModel:
    """A finite model z3 found: the elements of each sort and the true tuples of each relation asked for."""

    universes: dict[str, tuple[str, ...]]
    relations: dict[str, frozenset[tuple[str, ...]]]     # a nullary relation is true when it holds ()
    constants: dict[str, str]                            # constant name -> its element


class FOSolver:
    """z3 over uninterpreted sorts and relations (Bool-valued functions): the queries of `klpmc.epr`.

    Formulas are built with the connectives above (AND, OR, NOT, IMPLIES, IFF) and `app`, `eq`, `forall`,
    `exists` here; terms are constants of a declared sort. Nothing here knows what the relations mean.
    """

    def __init__(self, timeout_ms: int) -> None:
        z3 = z3_module()
        self._s = z3.Solver()
        self._s.set("timeout", max(1, timeout_ms))
        self._sorts: dict[str, Any] = {}
        self._rels: dict[str, Any] = {}
        self._arity: dict[str, tuple[str, ...]] = {}
        self._consts: dict[tuple[str, str], Any] = {}

    def declare_sort(self, name: str) -> None:
        if name not in self._sorts:
            self._sorts[name] = _z3.DeclareSort(name)

    def declare(self, name: str, sorts: Sequence[str]) -> None:
        """A relation over ``sorts`` (a Bool constant when there are none); declaring it again is a no-op."""
        if name in self._rels:
            return
        z3 = _z3
        self._arity[name] = tuple(sorts)
        if sorts:
            self._rels[name] = z3.Function(name, *(self._sorts[s] for s in sorts), z3.BoolSort())
        else:
            self._rels[name] = z3.Bool(name)

    def const(self, name: str, sort: str) -> Any:
        """The constant ``name`` of ``sort`` (also what `forall` and `exists` bind)."""
        key = (name, sort)
        if key not in self._consts:
            self._consts[key] = _z3.Const(name, self._sorts[sort])
        return self._consts[key]

    def app(self, name: str, args: Sequence[Any]) -> Any:
        rel = self._rels[name]
        return rel(*args) if args else rel

    @staticmethod
    def eq(a: Any, b: Any) -> Any:
        return a == b

    @staticmethod
    def forall(bound: Sequence[Any], body: Any) -> Any:
        body = _bool(body) if is_symbolic(body) else _z3.BoolVal(bool(body))
        return _z3.ForAll(list(bound), body) if bound else body

    @staticmethod
    def exists(bound: Sequence[Any], body: Any) -> Any:
        body = _bool(body) if is_symbolic(body) else _z3.BoolVal(bool(body))
        return _z3.Exists(list(bound), body) if bound else body

    def indicator(self, name: str) -> Any:
        """A fresh Bool to guard an assertion with, and pass to `check` as an assumption."""
        return _z3.Bool(name)

    def add(self, formula: Any) -> None:
        self._s.add(_bool(formula) if is_symbolic(formula) else _z3.BoolVal(bool(formula)))

    def push(self) -> None:
        self._s.push()

    def pop(self) -> None:
        self._s.pop()

    def at_most(self, sort: str, n: int) -> None:
        """The sort has at most n elements (for the smallest model; call between push and pop)."""
        z3 = _z3
        elems = [z3.Const(f"{sort}!card{i}", self._sorts[sort]) for i in range(max(1, n))]
        x = z3.Const(f"{sort}!x", self._sorts[sort])
        self._s.add(z3.ForAll([x], z3.Or(*[x == e for e in elems])))

    def check(self, assumptions: Sequence[Any] = ()) -> str:
        """'sat', 'unsat' or 'unknown' (no answer within the timeout)."""
        return str(self._s.check(*assumptions))

    def model(self, relations: Sequence[str], constants: Sequence[tuple[str, str]]) -> FOModel:
        """The last sat answer: each sort's elements, the true tuples of ``relations``, the constants' values."""
        z3 = _z3
        m = self._s.model()
        universes: dict[str, tuple[Any, ...]] = {}
        for name, sort in self._sorts.items():
            universes[name] = tuple(m.get_universe(sort) or ())
        out: dict[str, frozenset[tuple[str, ...]]] = {}
        for name in relations:
            sorts = self._arity[name]
            rel = self._rels[name]
            true: set[tuple[str, ...]] = set()
            for args in _product([universes[s] for s in sorts]):
                value = m.eval(rel(*args) if args else rel, model_completion=True)
                if z3.is_true(value):
                    true.add(tuple(str(a) for a in args))
            out[name] = frozenset(true)
        consts = {name: str(m.eval(self.const(name, sort), model_completion=True)) for name, sort in constants}
        return FOModel({k: tuple(str(e) for e in v) for k, v in universes.items()}, out, consts)


def _product(pools: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = [()]
    for pool in pools:
        out = [(*t, x) for t in out for x in pool]
    return out
