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

import weakref
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
    "Term",
    "all_of",
    "and_then",
    "any_of",
    "compile_formula",
    "compile_terms",
    "evaluate",
    "given",
    "is_symbolic",
    "scan",
    "sum_of",
    "sym_int",
    "vacuity",
    "var",
    "z3_module",
]

_z3: Any = None


def z3_module() -> Any:
    """The z3 module, imported on first use (klpmc.prove builds its unrollings with it)."""
    global _z3
    if _z3 is None:
        import z3

        _keyboard_interrupts(z3)
        _z3 = z3
    return _z3


def _keyboard_interrupts(z3: Any) -> None:
    """Ctrl-C during a z3 call is a KeyboardInterrupt, as anywhere else in klpmc.

    z3 catches SIGINT itself while it searches (so that the search stops at once) and answers ``unknown``
    with the reason "interrupted from keyboard"; every call site would read that as "no answer in time".
    The solver's and the fixedpoint engine's calls turn it back into the interrupt it was.
    """
    def guard(method: Callable[..., Any], reason: str) -> Callable[..., Any]:
        def call(self: Any, *args: Any, **kwargs: Any) -> Any:
            answer = method(self, *args, **kwargs)
            if answer == z3.unknown and "interrupted" in getattr(self, reason)():
                raise KeyboardInterrupt
            return answer
        call.__doc__ = method.__doc__
        return call

    if not getattr(z3.Solver.check, "_klpmc", False):
        z3.Solver.check = guard(z3.Solver.check, "reason_unknown")
        z3.Fixedpoint.query = guard(z3.Fixedpoint.query, "reason_unknown")
        z3.Solver.check._klpmc = z3.Fixedpoint.query._klpmc = True


def is_symbolic(x: object) -> bool:
    """True for a z3 term or a `Term` to compile; plain bools and ints are concrete."""
    return isinstance(x, Term) or (_z3 is not None and isinstance(x, _z3.ExprRef))


# -- terms to compile: a rule read once per configuration, run as plain Python on every state -----------

# every live term by its key; a key names sub-terms by id, which stays unique while the term (which holds
# them) lives, and the entry goes when the term does
_INTERNED: weakref.WeakValueDictionary[tuple[Any, ...], Term] = weakref.WeakValueDictionary()


class Term:
    """An expression over the fields of a state (or of two), built by a rule applied to views whose
    fields are `var` terms: the connectives and comparisons fold what is concrete as they go, and
    `compile_terms` turns what is left into one Python function. The third reading of a rule, beside
    values (the BFS without compilation) and z3 terms (the proofs).
    """

    __slots__ = ("__weakref__", "args", "key", "op")

    op: str
    args: tuple[Any, ...]
    key: tuple[Any, ...]

    def __new__(cls, op: str, args: tuple[Any, ...]) -> Term:
        """One object per structure (hash-consed): a term's key names its sub-terms by identity, so keys
        stay as small as the term's arity however deep and shared the term is (a rule that folds over
        every patch builds terms whose tree is exponential in the patches, and whose DAG is not)."""
        key = (op, *(("t", id(a)) if isinstance(a, Term) else ("c", type(a).__name__, a) for a in args))
        got = _INTERNED.get(key)
        if got is None:
            got = object.__new__(cls)
            got.op, got.args, got.key = op, args, key
            _INTERNED[key] = got
        return got

    def __hash__(self) -> int:
        return hash(self.key)

    def __bool__(self) -> bool:
        raise TypeError("a rule branched with Python's if/and/or on a field; use klpmc.logic's connectives")

    def __eq__(self, other: object) -> Any:
        return _cmp("==", self, other)

    def __ne__(self, other: object) -> Any:
        return _cmp("!=", self, other)

    def __lt__(self, other: Any) -> Any:
        return _cmp("<", self, other)

    def __le__(self, other: Any) -> Any:
        return _cmp("<=", self, other)

    def __gt__(self, other: Any) -> Any:
        return _cmp(">", self, other)

    def __ge__(self, other: Any) -> Any:
        return _cmp(">=", self, other)

    def __add__(self, other: Any) -> Any:
        return _arith("+", self, other)

    def __radd__(self, other: Any) -> Any:
        return _arith("+", other, self)

    def __sub__(self, other: Any) -> Any:
        return _arith("-", self, other)

    def __repr__(self) -> str:
        return _source(self, {})


def var(side: str, slot: int) -> Term:
    """The field in ``slot`` of the vector named ``side`` (a parameter of the compiled function)."""
    return Term("var", (side, slot))


_FLIP = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_PY = {"==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
       "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}


def _cmp(op: str, a: Any, b: Any) -> Any:
    if not isinstance(a, Term):
        a, b, op = b, a, _FLIP[op]
    if isinstance(b, Term) and a.key == b.key:
        return op in ("==", "<=", ">=")
    if isinstance(b, bool):
        b = int(b)
    return Term(op, (a, b))


def _arith(op: str, a: Any, b: Any) -> Any:
    if not isinstance(a, Term) and not isinstance(b, Term):
        return a + b if op == "+" else a - b
    if op == "+" and isinstance(b, int) and b == 0:
        return a
    if op == "+" and isinstance(a, int) and a == 0:
        return b
    return Term(op, (a, b))


def _term_and(xs: list[Any]) -> Any:
    parts: list[Any] = []
    for x in xs:
        if isinstance(x, Term) and x.op == "and":
            parts.extend(x.args)
        else:
            parts.append(x)
    return parts[0] if len(parts) == 1 else Term("and", tuple(parts))


def _term_or(xs: list[Any]) -> Any:
    parts: list[Any] = []
    for x in xs:
        if isinstance(x, Term) and x.op == "or":
            parts.extend(x.args)
        else:
            parts.append(x)
    return parts[0] if len(parts) == 1 else Term("or", tuple(parts))


def _term_not(x: Term) -> Any:
    if x.op == "not":
        return x.args[0]
    if x.op in _FLIP and x.op in ("==", "!="):
        return Term("!=" if x.op == "==" else "==", x.args)
    return Term("not", (x,))


def _source(x: Any, shared: dict[tuple[Any, ...], str]) -> str:
    """Python source for a term; named sub-terms by their names (`compile_terms` bounds the nesting)."""
    if not isinstance(x, Term):
        return repr(int(x)) if isinstance(x, bool) else repr(x)
    name = shared.get(x.key)
    if name is not None:
        return name
    op, args = x.op, x.args
    if op == "var":
        return f"{args[0]}[{args[1]}]"
    if op in _PY or op in ("+", "-"):
        return f"({_source(args[0], shared)} {op} {_source(args[1], shared)})"
    if op in ("and", "or"):
        return "(" + f" {op} ".join(_source(a, shared) for a in args) + ")"
    if op == "not":
        return f"(not {_source(args[0], shared)})"
    if op == "if":
        return f"({_source(args[1], shared)} if {_source(args[0], shared)} else {_source(args[2], shared)})"
    raise ValueError(f"unknown term {op}")


NESTING = 48    # sub-terms deeper than this inside one expression get a name (Python's parser nests ~200)


def compile_terms(terms: Sequence[Any], params: str) -> Callable[..., Any]:
    """One function of ``params`` (e.g. ``"b, a"``) that returns the tuple of the terms' values.

    A sub-term used more than once is computed once, before the rest (terms have no side effects, so
    computing one a short-circuit would have skipped changes nothing but time); so is one nested deeper
    than `NESTING` in the expression that uses it. Terms are walked without recursion: a rule folded
    over many patches nests as deep as there are patches.
    """
    seen: dict[tuple[Any, ...], int] = {}
    order: list[Term] = []          # post-order: sub-terms before the terms that use them
    stack: list[tuple[Any, bool]] = [(t, False) for t in reversed(terms)]
    while stack:
        x, done = stack.pop()
        if not isinstance(x, Term) or x.op == "var":
            continue
        if done:
            order.append(x)
            continue
        n = seen.get(x.key, 0)
        seen[x.key] = n + 1
        if n == 0:
            stack.append((x, True))
            stack.extend((a, False) for a in reversed(x.args))
    shared: dict[tuple[Any, ...], str] = {}
    depth: dict[tuple[Any, ...], int] = {}      # nesting of each term's expression, named sub-terms counting 0
    lines = [f"def _rule({params}):"]
    for t in order:
        d = 1 + max((depth.get(a.key, 0) for a in t.args if isinstance(a, Term)), default=0)
        if (seen[t.key] > 1 and t.op not in _PY) or d > NESTING:
            name = f"t{len(shared)}"
            lines.append(f"    {name} = {_source(t, shared)}")
            shared[t.key] = name
            d = 0
        depth[t.key] = d
    lines.append("    return (" + "".join(f"{_source(t, shared)}, " for t in terms) + ")")
    namespace: dict[str, Any] = {}
    exec(compile("\n".join(lines), "<klpmc rule>", "exec"), namespace)
    return namespace["_rule"]  # type: ignore[no-any-return]


def sym_int(name: str) -> Any:
    """A z3 integer variable: the symbolic value of one field of a view."""
    return z3_module().Int(name)


def _bool(x: Any) -> Any:
    """A z3 Bool for x (a z3 Bool, or an int field used as a truth value); a `Term` stays a term."""
    if isinstance(x, Term):
        return x
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
    if isinstance(sym[0], Term):
        return _term_and(sym)
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
    if isinstance(sym[0], Term):
        return _term_or(sym)
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
    if isinstance(x, Term):
        return _term_not(x)
    if is_symbolic(x):
        return _z3.Not(_bool(x))
    return not x


def IMPLIES(a: Any, b: Any) -> Any:
    if a is False:
        return True
    if is_symbolic(a) or is_symbolic(b):
        if not is_symbolic(a):
            return b if a else True
        if isinstance(a, Term) or isinstance(b, Term):
            return OR(NOT(a), b)
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
        return then() if cond else True
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
    if isinstance(c, Term) or isinstance(a, Term) or isinstance(b, Term):
        if not isinstance(a, Term) and not isinstance(b, Term) and a == b:
            return a
        if isinstance(a, Term) and isinstance(b, Term) and a.key == b.key:
            return a
        return Term("if", (c, a, b))
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
        oks: list[Any] = []
        for e in events:
            if not relevant(e):
                continue
            k = key_of(e)
            cur = seen[k] if k in seen else init(k)
            cur, ok = step(cur, e, k)
            if ok is False or (not is_symbolic(ok) and not ok):
                return False
            if ok is not True:
                oks.append(ok)
            seen[k] = cur
        return all_of(oks)
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


def compile_formula(formula: Any) -> Callable[[dict[str, int]], Any]:
    """z3's formula as a Python function of its variables' values (by name): what z3 would say of it on
    a concrete assignment, read off z3's own terms, fast enough to run on every state and step of a run.

    An independent reading of the formula: the rule's Python value comes from the views, this one from
    the z3 term the symbolic views built. Raises ValueError on an operator it does not know.
    """
    if not is_symbolic(formula):
        const = formula if isinstance(formula, int) else bool(formula)
        return lambda _values: const
    z3 = z3_module()
    ops = {z3.Z3_OP_AND: " and ", z3.Z3_OP_OR: " or ", z3.Z3_OP_ADD: " + ", z3.Z3_OP_MUL: " * ",
           z3.Z3_OP_LE: " <= ", z3.Z3_OP_LT: " < ", z3.Z3_OP_GE: " >= ", z3.Z3_OP_GT: " > ",
           z3.Z3_OP_EQ: " == ", z3.Z3_OP_IFF: " == ", z3.Z3_OP_XOR: " != ", z3.Z3_OP_SUB: " - "}
    names: dict[int, str] = {}
    lines: list[str] = []
    stack: list[tuple[Any, bool]] = [(formula, False)]
    while stack:            # post-order, each shared subterm once: z3 terms can be deep and shared
        node, done = stack.pop()
        key = node.get_id()
        if key in names:
            continue
        kids = node.children()
        if not done:
            stack.append((node, True))
            stack.extend((c, False) for c in kids if c.get_id() not in names)
            continue
        k = node.decl().kind()
        args = [names[c.get_id()] for c in kids]
        if z3.is_int_value(node):
            expr = str(node.as_long())
        elif z3.is_true(node) or z3.is_false(node):
            expr = str(z3.is_true(node))
        elif k == z3.Z3_OP_UNINTERPRETED and not kids:
            expr = f"v[{str(node.decl().name())!r}]"
        elif k in ops and args:
            expr = "(" + ops[k].join(args) + ")" if k not in (z3.Z3_OP_EQ, z3.Z3_OP_IFF, z3.Z3_OP_XOR) \
                else f"({args[0]}{ops[k]}{args[1]})"
        elif k == z3.Z3_OP_NOT:
            expr = f"(not {args[0]})"
        elif k == z3.Z3_OP_IMPLIES:
            expr = f"((not {args[0]}) or {args[1]})"
        elif k == z3.Z3_OP_ITE:
            expr = f"({args[1]} if {args[0]} else {args[2]})"
        elif k == z3.Z3_OP_DISTINCT:
            expr = f"(len({{{', '.join(args)}}}) == {len(args)})"
        elif k == z3.Z3_OP_UMINUS:
            expr = f"(-{args[0]})"
        else:
            raise ValueError(f"compile_formula: unknown operator {node.decl()} in {str(node)[:80]}")
        names[key] = f"_{len(names)}"
        lines.append(f"    {names[key]} = {expr}")
    source = "def f(v):\n" + "\n".join(lines) + f"\n    return {names[formula.get_id()]}\n"
    scope: dict[str, Any] = {}
    exec(compile(source, "<z3 formula>", "exec"), scope)
    return scope["f"]  # type: ignore[no-any-return]


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
