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
violate, or that every state violates, is reported before a run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "AND",
    "IF",
    "IMPLIES",
    "NOT",
    "OR",
    "Domain",
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
