"""A small first-order language for relational models, run explicitly and checked by z3 in EPR.

A model is a text (the ``*.rml`` files beside the models) that declares sorts, relations over them, and
actions whose bodies read like the code they mirror: ``require`` a guard, assign a relation
(``listed(p) := listed(p) | p = t``), ``call`` a callback for every tuple that meets a condition, ``if``,
``do`` a procedure. Statements run in order, each reading what the ones before left. Terms are variables
and action parameters only, never function applications, so with the quantifier alternations kept
acyclic (`alternation_edges` checks them) every query is in the decidable fragment z3 answers (EPR, as
in Ivy and mypyvy).

The same model is used two ways:

* `Explicit` compiles it to Python and runs it on a finite universe: every successor of a state, with the
  callbacks each step made in order. Tests compare that with the Python models of the same semantics.
* `encode` turns an action into formulas over versions of the relations (one per assignment), which
  `klpmc.logic.FOSolver` hands to z3; invariants and rules become formulas over the first and last version.

Items of a model text::

    sort NAME
    constant NAME(SORT, ...)           a relation fixed for a run (the configuration)
    relation NAME(SORT, ...)           a relation actions change; every one starts empty
    phase NAME(SORT) = V0 | V1 | ...   an attribute with values; V0 is the value of no relation
    event NAME(SORT, ...) [-> V]       a callback; V: the phase its last argument is left in
    order SORT by RELATION             events list elements of SORT in this order
    definition NAME(x, ...) = F
    maximum NAME(x, y, ...) of F by ORDER    x is the ORDER-last element with F (a finite list has one)
    axiom [NAME:] F
    invariant NAME: F
    procedure NAME(x: SORT, ...):  BLOCK
    action NAME(x: SORT, ...):  BLOCK
    always NAME: F                     rules: F holds in every state
    after EVENT(x, ...) NAME: F        F holds for every such callback; old(F) / new(F): before / after the step
    automaton NAME(x):  start Q if F ... EVENT: Q -> Q, ...   per x, an automaton over the step's callbacks

Formulas: ``forall x, y: SORT. F``, ``exists``, ``!``, ``&``, ``|``, ``->``, ``<->``, ``x = y``, ``x != y``,
``R(x, y)``, ``P(x) = V`` for a phase, ``true``, ``false``. A variable's sort is inferred from its use.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from klpmc import logic

__all__ = [
    "Action",
    "Automaton",
    "EprError",
    "Explicit",
    "Exploration",
    "Model",
    "Program",
    "Stack",
    "alternation_edges",
    "encode",
    "parse",
    "show",
    "step_rule",
]


class EprError(ValueError):
    """A model text that cannot be read: the message names the file and line."""


# --------------------------------------------------------------------------------------------------
# The syntax tree of resolved formulas
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Var:
    """A variable or an action parameter; ``uid`` tells apart variables with the same name."""

    name: str
    sort: str
    uid: int


@dataclass(frozen=True)
class F:
    """A formula."""


@dataclass(frozen=True)
class Const(F):
    value: bool


@dataclass(frozen=True)
class Rel(F):
    """R(args) in the state of ``time`` (now, old or new; constants have one value)."""

    name: str
    args: tuple[Var, ...]
    time: str = "now"


@dataclass(frozen=True)
class Max(F):
    """``name(args)``: args[0] is the last element in ``order`` of those ``x`` with ``body``."""

    name: str
    args: tuple[Var, ...]
    x: Var
    body: F                   # free: x and args[1:]
    order: str
    time: str = "now"


@dataclass(frozen=True)
class Eq(F):
    a: Var
    b: Var


@dataclass(frozen=True)
class Not(F):
    f: F


@dataclass(frozen=True)
class And(F):
    fs: tuple[F, ...]


@dataclass(frozen=True)
class Or(F):
    fs: tuple[F, ...]


@dataclass(frozen=True)
class Implies(F):
    a: F
    b: F


@dataclass(frozen=True)
class Iff(F):
    a: F
    b: F


@dataclass(frozen=True)
class Quant(F):
    kind: str                 # forall, exists
    vars: tuple[Var, ...]
    body: F


TRUE, FALSE = Const(True), Const(False)


def conj(fs: Sequence[F]) -> F:
    fs = [f for f in fs if f != TRUE]
    if any(f == FALSE for f in fs):
        return FALSE
    return fs[0] if len(fs) == 1 else And(tuple(fs)) if fs else TRUE


def disj(fs: Sequence[F]) -> F:
    fs = [f for f in fs if f != FALSE]
    if any(f == TRUE for f in fs):
        return TRUE
    return fs[0] if len(fs) == 1 else Or(tuple(fs)) if fs else FALSE


def neg(f: F) -> F:
    return FALSE if f == TRUE else TRUE if f == FALSE else f.f if isinstance(f, Not) else Not(f)


def forall(vs: Sequence[Var], body: F) -> F:
    return Quant("forall", tuple(vs), body) if vs else body


def exists(vs: Sequence[Var], body: F) -> F:
    return Quant("exists", tuple(vs), body) if vs else body


def free_vars(f: F) -> set[Var]:
    """The variables of f not bound in it."""
    if isinstance(f, Rel):
        return set(f.args)
    if isinstance(f, Max):
        return set(f.args)
    if isinstance(f, Eq):
        return {f.a, f.b}
    if isinstance(f, Not):
        return free_vars(f.f)
    if isinstance(f, And | Or):
        return set().union(*(free_vars(g) for g in f.fs)) if f.fs else set()
    if isinstance(f, Implies | Iff):
        return free_vars(f.a) | free_vars(f.b)
    if isinstance(f, Quant):
        return free_vars(f.body) - set(f.vars)
    return set()


def subst(f: F, m: dict[Var, Var]) -> F:
    """f with its free variables renamed by m (bound ones have their own uids, so nothing is captured)."""
    if not m:
        return f
    if isinstance(f, Rel):
        return replace(f, args=tuple(m.get(a, a) for a in f.args))
    if isinstance(f, Max):
        return replace(f, args=tuple(m.get(a, a) for a in f.args), body=subst(f.body, m))
    if isinstance(f, Eq):
        return Eq(m.get(f.a, f.a), m.get(f.b, f.b))
    if isinstance(f, Not):
        return Not(subst(f.f, m))
    if isinstance(f, And):
        return And(tuple(subst(g, m) for g in f.fs))
    if isinstance(f, Or):
        return Or(tuple(subst(g, m) for g in f.fs))
    if isinstance(f, Implies):
        return Implies(subst(f.a, m), subst(f.b, m))
    if isinstance(f, Iff):
        return Iff(subst(f.a, m), subst(f.b, m))
    if isinstance(f, Quant):
        return Quant(f.kind, f.vars, subst(f.body, {k: v for k, v in m.items() if k not in f.vars}))
    return f


def retime(f: F, rename: Callable[[str, str], str]) -> F:
    """f with every relation name replaced by ``rename(name, time)`` and its time set to now."""
    if isinstance(f, Rel):
        return Rel(rename(f.name, f.time), f.args)
    if isinstance(f, Max):
        when = f.time

        def inside(name: str, _time: str) -> str:
            return rename(name, when)
        return replace(f, body=retime(f.body, inside), order=rename(f.order, f.time), time="now")
    if isinstance(f, Not):
        return Not(retime(f.f, rename))
    if isinstance(f, And):
        return And(tuple(retime(g, rename) for g in f.fs))
    if isinstance(f, Or):
        return Or(tuple(retime(g, rename) for g in f.fs))
    if isinstance(f, Implies):
        return Implies(retime(f.a, rename), retime(f.b, rename))
    if isinstance(f, Iff):
        return Iff(retime(f.a, rename), retime(f.b, rename))
    if isinstance(f, Quant):
        return Quant(f.kind, f.vars, retime(f.body, rename))
    return f


def show(f: F) -> str:
    """A formula as text (the syntax of the model files)."""
    def go(f: F, prec: int) -> str:
        if isinstance(f, Const):
            return "true" if f.value else "false"
        if isinstance(f, Rel | Max):
            text = f.name + (f"({', '.join(a.name for a in f.args)})" if f.args else "")
            return text if f.time == "now" else f"{f.time}({text})"
        if isinstance(f, Eq):
            return f"{f.a.name} = {f.b.name}"
        if isinstance(f, Not):
            if isinstance(f.f, Eq):
                return f"{f.f.a.name} != {f.f.b.name}"
            return "!" + go(f.f, 5)
        if isinstance(f, And | Or):
            op, p = (" & ", 4) if isinstance(f, And) else (" | ", 3)
            text = op.join(go(g, p + 1) for g in f.fs)
        elif isinstance(f, Implies):
            p, text = 2, f"{go(f.a, 3)} -> {go(f.b, 2)}"
        elif isinstance(f, Iff):
            p, text = 1, f"{go(f.a, 2)} <-> {go(f.b, 2)}"
        else:
            assert isinstance(f, Quant)
            p, text = 0, f"{f.kind} {', '.join(v.name for v in f.vars)}. {go(f.body, 0)}"
        return f"({text})" if p < prec else text
    return go(f, 0)


# --------------------------------------------------------------------------------------------------
# Statements and the model
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Require:
    cond: F


@dataclass(frozen=True)
class Assign:
    rel: str
    vars: tuple[Var, ...]
    value: F


@dataclass(frozen=True)
class Call:
    """``call event(args) if cond``: the callback runs for every tuple of the fresh arguments with cond."""

    event: str
    args: tuple[Var, ...]
    fresh: tuple[bool, ...]   # False: an action parameter, one value
    cond: F


@dataclass(frozen=True)
class If:
    cond: F
    then: tuple[Stmt, ...]
    orelse: tuple[Stmt, ...]


Stmt = Require | Assign | Call | If


@dataclass(frozen=True)
class Action:
    name: str
    params: tuple[Var, ...]
    body: tuple[Stmt, ...]

    def positions(self) -> list[str]:
        """The event of each ``call``, in the order the body runs them (both branches of an if)."""
        out: list[str] = []

        def walk(stmts: Sequence[Stmt]) -> None:
            for s in stmts:
                if isinstance(s, Call):
                    out.append(s.event)
                elif isinstance(s, If):
                    walk(s.then)
                    walk(s.orelse)
        walk(self.body)
        return out


@dataclass(frozen=True)
class Named:
    """An axiom, invariant or always-rule: its name, the formula, and the text it was written as."""

    name: str
    formula: F
    text: str


@dataclass(frozen=True)
class AfterRule:
    """``after EVENT(vars) NAME: F``: F (over old and new) for every callback of EVENT a step makes."""

    name: str
    event: str
    vars: tuple[Var, ...]
    formula: F
    text: str


@dataclass(frozen=True)
class Automaton:
    """Per element x, a finite automaton over the step's callbacks whose key argument is x."""

    name: str
    var: Var
    start: tuple[tuple[str, F], ...]                  # (state, formula over old and x)
    delta: dict[str, dict[str, str]]                  # event -> {state: next state}; other events: no change
    text: str


@dataclass
class Model:
    """A parsed model: vocabulary, actions, invariants, and the rules read with it."""

    sorts: list[str] = field(default_factory=list)
    relations: dict[str, tuple[str, ...]] = field(default_factory=dict)   # name -> argument sorts
    constants: set[str] = field(default_factory=set)                       # the relations fixed for a run
    phases: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)   # name -> (sort, values)
    events: dict[str, tuple[tuple[str, ...], str | None]] = field(default_factory=dict)
    orders: dict[str, str] = field(default_factory=dict)
    axioms: list[Named] = field(default_factory=list)
    invariants: list[Named] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    always: list[Named] = field(default_factory=list)
    after: list[AfterRule] = field(default_factory=list)
    automata: list[Automaton] = field(default_factory=list)
    # surface definitions, expanded where used
    definitions: dict[str, tuple[tuple[str, ...], Any]] = field(default_factory=dict)
    maximums: dict[str, tuple[tuple[str, ...], Any, str]] = field(default_factory=dict)
    procedures: dict[str, tuple[tuple[tuple[str, str], ...], Any]] = field(default_factory=dict)

    @property
    def mutable(self) -> list[str]:
        """The relations actions change, in declaration order (a state is a tuple of their values)."""
        return [r for r in self.relations if r not in self.constants]

    def rules(self) -> list[str]:
        return [r.name for r in self.always] + [r.name for r in self.after] + [a.name for a in self.automata]

    def action(self, name: str) -> Action:
        return next(a for a in self.actions if a.name == name)


def phase_rel(phase: str, value: str) -> str:
    """The unary relation that holds the elements whose phase is value."""
    return f"{phase}={value}"


# --------------------------------------------------------------------------------------------------
# Reading model texts
# --------------------------------------------------------------------------------------------------

_TOKEN = re.compile(r"\s*(?:(?P<name>[A-Za-z_][A-Za-z0-9_]*(?:-[A-Za-z0-9_]+)*)|(?P<op>:=|<->|->|!=|[=&|!(),.:]))")
_QUANT = ("forall", "exists")


@dataclass
class _Line:
    indent: int
    text: str
    where: str
    children: list[_Line] = field(default_factory=list)


def _lines(source: str, text: str) -> list[_Line]:
    """Logical lines as a tree by indentation; a more indented line continues one that does not end in ':'."""
    logical: list[_Line] = []
    for n, raw in enumerate(text.splitlines(), 1):
        body = raw.split("#", 1)[0].rstrip()
        if not body.strip():
            continue
        indent = len(body) - len(body.lstrip())
        last = logical[-1] if logical else None
        if last is not None and indent > last.indent and not last.text.endswith(":"):
            last.text += " " + body.strip()
            continue
        logical.append(_Line(indent, body.strip(), f"{source}:{n}"))
    root: list[_Line] = []
    stack: list[_Line] = []
    for line in logical:
        while stack and stack[-1].indent >= line.indent:
            stack.pop()
        (stack[-1].children if stack else root).append(line)
        if line.text.endswith(":"):
            stack.append(line)
    return root


class _Tokens:
    def __init__(self, text: str, where: str) -> None:
        self.where = where
        self.toks: list[str] = []
        pos = 0
        text = text.rstrip()
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if m is None or m.end() == pos:
                raise EprError(f"{where}: cannot read {text[pos:].strip()[:20]!r}")
            self.toks.append(m.group("name") or m.group("op"))
            pos = m.end()
        self.i = 0

    def peek(self, k: int = 0) -> str | None:
        return self.toks[self.i + k] if self.i + k < len(self.toks) else None

    def next(self) -> str:
        tok = self.peek()
        if tok is None:
            raise EprError(f"{self.where}: the line ends too early")
        self.i += 1
        return tok

    def accept(self, tok: str) -> bool:
        if self.peek() == tok:
            self.i += 1
            return True
        return False

    def expect(self, tok: str) -> None:
        got = self.peek()
        if got != tok:
            raise EprError(f"{self.where}: expected {tok!r}, found {got or 'the end of the line'!r}")
        self.i += 1

    def name(self) -> str:
        tok = self.next()
        if not re.match(r"[A-Za-z_]", tok):
            raise EprError(f"{self.where}: expected a name, found {tok!r}")
        return tok

    def names(self) -> list[str]:
        out = [self.name()]
        while self.accept(","):
            out.append(self.name())
        return out

    def end(self) -> None:
        if self.peek() is not None:
            raise EprError(f"{self.where}: unexpected {self.peek()!r}")

    def rest(self) -> str:
        return " ".join(self.toks[self.i:])


# surface formulas: tuples ("op", ...), resolved against a model by _Resolver

def _formula(t: _Tokens) -> Any:
    if t.peek() in _QUANT:
        return _quant(t)
    a = _implication(t)
    if t.accept("<->"):
        return ("iff", a, _implication(t))
    return a


def _quant(t: _Tokens) -> Any:
    kind = t.next()
    names: list[tuple[str, str | None]] = []
    while True:
        group = t.names()
        sort = t.name() if t.accept(":") else None
        names.extend((n, sort) for n in group)
        if not t.accept(","):
            break
    t.expect(".")
    return ("quant", kind, tuple(names), _formula(t))


def _implication(t: _Tokens) -> Any:
    a = _disjunction(t)
    if t.accept("->"):
        return ("implies", a, _quant(t) if t.peek() in _QUANT else _implication(t))
    return a


def _disjunction(t: _Tokens) -> Any:
    parts = [_conjunction(t)]
    while t.accept("|"):
        parts.append(_conjunction(t))
    return parts[0] if len(parts) == 1 else ("or", *parts)


def _conjunction(t: _Tokens) -> Any:
    parts = [_unary(t)]
    while t.accept("&"):
        parts.append(_unary(t))
    return parts[0] if len(parts) == 1 else ("and", *parts)


def _unary(t: _Tokens) -> Any:
    if t.accept("!"):
        return ("not", _unary(t))
    if t.peek() in _QUANT:
        return _quant(t)
    if t.accept("("):
        f = _formula(t)
        t.expect(")")
        return f
    name = t.name()
    if name in ("true", "false"):
        return ("const", name == "true")
    if name in ("old", "new") and t.peek() == "(":
        t.expect("(")
        f = _formula(t)
        t.expect(")")
        return ("time", name, f)
    args: tuple[str, ...] = ()
    if t.accept("("):
        args = tuple(t.names())
        t.expect(")")
        if t.peek() in ("=", "!="):
            op = t.next()
            return ("phase", name, args, op, t.name())
        return ("app", name, args)
    if t.peek() in ("=", "!="):
        op = t.next()
        eq = ("eq", name, t.name())
        return eq if op == "=" else ("not", eq)
    return ("app", name, ())


class _Resolver:
    """Turns surface formulas into `F`, expanding definitions and inferring the sorts of variables."""

    def __init__(self, model: Model, where: str) -> None:
        self.m = model
        self.where = where
        self.sorts: dict[int, str | None] = {}
        self._bound: dict[Any, dict[str, Var]] = {}   # the variables of a quantifier, the same on every pass
        self.implicit: dict[str, Var] | None = None    # free variables, universally bound (axioms)

    def fresh(self, name: str, sort: str | None) -> Var:
        uid = next(_UIDS)
        self.sorts[uid] = sort
        return Var(name, sort or "?", uid)

    def sort_of(self, v: Var) -> str | None:
        return self.sorts.get(v.uid) or (v.sort if v.sort != "?" else None)

    def _use(self, v: Var, sort: str) -> None:
        have = self.sort_of(v)
        if have is None:
            self.sorts[v.uid] = sort
        elif have != sort:
            raise EprError(f"{self.where}: {v.name} is a {have} and used as a {sort}")

    def resolve(self, s: Any, env: dict[str, Var], time: str) -> F:
        f = self._go(s, env, time)
        for _ in range(3):      # equalities may tell a sort late: resolve again with what is known now
            if all(self.sort_of(v) for v in _all_vars(f)):
                break
            f = self._go(s, env, time)
        return self.fill(f)

    def fill(self, f: F) -> F:
        """f with the inferred sorts in its variables."""
        m = {}
        for v in _all_vars(f):
            sort = self.sort_of(v)
            if sort is None:
                raise EprError(f"{self.where}: cannot tell the sort of {v.name}")
            if sort != v.sort:
                m[v] = Var(v.name, sort, v.uid)
        return _rebind(f, m) if m else f

    def var(self, name: str, env: dict[str, Var]) -> Var:
        if name in env:
            return env[name]
        if self.implicit is not None:
            if name not in self.implicit:
                self.implicit[name] = self.fresh(name, None)
            return self.implicit[name]
        raise EprError(f"{self.where}: unknown variable {name!r}")

    def _go(self, s: Any, env: dict[str, Var], time: str) -> F:
        op = s[0]
        m = self.m
        if op == "const":
            return Const(s[1])
        if op == "not":
            return Not(self._go(s[1], env, time))
        if op in ("and", "or"):
            parts = tuple(self._go(x, env, time) for x in s[1:])
            return And(parts) if op == "and" else Or(parts)
        if op == "implies":
            return Implies(self._go(s[1], env, time), self._go(s[2], env, time))
        if op == "iff":
            return Iff(self._go(s[1], env, time), self._go(s[2], env, time))
        if op == "time":
            return self._go(s[2], env, s[1])
        if op == "quant":
            inner = dict(env)
            vs = []
            cached = self._bound.setdefault(("quant", id(s)), {})
            for name, sort in s[2]:
                if sort is not None and sort not in m.sorts:
                    raise EprError(f"{self.where}: unknown sort {sort!r}")
                v = cached.get(name)
                if v is None:
                    v = cached[name] = self.fresh(name, sort)
                inner[name] = v
                vs.append(v)
            return Quant(s[1], tuple(vs), self._go(s[3], inner, time))
        if op == "eq":
            a, b = self.var(s[1], env), self.var(s[2], env)
            sa, sb = self.sort_of(a), self.sort_of(b)
            if sa and not sb:
                self._use(b, sa)
            elif sb and not sa:
                self._use(a, sb)
            elif sa and sb and sa != sb:
                raise EprError(f"{self.where}: {a.name} = {b.name} compares a {sa} with a {sb}")
            return Eq(a, b)
        if op == "phase":
            _, name, args, cmp, value = s
            if name not in m.phases:
                raise EprError(f"{self.where}: {name} is not a phase")
            sort, values = m.phases[name]
            if value not in values or len(args) != 1:
                raise EprError(f"{self.where}: {name}(x) = V needs one argument and V one of {', '.join(values)}")
            x = self.var(args[0], env)
            self._use(x, sort)
            if value == values[0]:
                f: F = And(tuple(Not(Rel(phase_rel(name, v), (x,), time)) for v in values[1:]))
            else:
                f = Rel(phase_rel(name, value), (x,), time)
            return f if cmp == "=" else Not(f)
        assert op == "app"
        return self._app(s[1], tuple(self.var(a, env) for a in s[2]), time)

    def _app(self, name: str, args: tuple[Var, ...], time: str) -> F:
        """A relation, or a definition or maximum expanded for these arguments."""
        m = self.m
        if name in m.relations:
            sorts = m.relations[name]
            if len(sorts) != len(args):
                raise EprError(f"{self.where}: {name} takes {len(sorts)} arguments, not {len(args)}")
            for v, sort in zip(args, sorts, strict=True):
                self._use(v, sort)
            return Rel(name, args, "now" if name in m.constants else time)
        if name in m.definitions:
            params, body = m.definitions[name]
            if len(params) != len(args):
                raise EprError(f"{self.where}: {name} takes {len(params)} arguments, not {len(args)}")
            return self._go(body, dict(zip(params, args, strict=True)), time)
        if name in m.maximums:
            mparams, mbody, order = m.maximums[name]
            if len(mparams) != len(args):
                raise EprError(f"{self.where}: {name} takes {len(mparams)} arguments, not {len(args)}")
            sort = m.relations[order][0]
            self._use(args[0], sort)
            bound = self._bound.setdefault(("max", name, args), {})
            x = bound.get("x") or self.fresh(mparams[0], sort)
            bound["x"] = x
            inner = self._go(mbody, {mparams[0]: x, **dict(zip(mparams[1:], args[1:], strict=True))}, time)
            return Max(name, args, x, inner, order, "now" if order in m.constants else time)
        raise EprError(f"{self.where}: unknown relation or definition {name!r}")


_UIDS = itertools.count(1)


def _all_vars(f: F) -> set[Var]:
    out = set(free_vars(f))
    if isinstance(f, Quant):
        out |= set(f.vars) | _all_vars(f.body)
    elif isinstance(f, Max):
        out |= {f.x} | _all_vars(f.body)
    elif isinstance(f, Not):
        out |= _all_vars(f.f)
    elif isinstance(f, And | Or):
        for g in f.fs:
            out |= _all_vars(g)
    elif isinstance(f, Implies | Iff):
        out |= _all_vars(f.a) | _all_vars(f.b)
    return out


def _rebind(f: F, m: dict[Var, Var]) -> F:
    """subst that also renames bound variables (to give them their inferred sorts)."""
    if isinstance(f, Quant):
        return Quant(f.kind, tuple(m.get(v, v) for v in f.vars), _rebind(f.body, m))
    if isinstance(f, Max):
        return replace(f, args=tuple(m.get(a, a) for a in f.args), x=m.get(f.x, f.x), body=_rebind(f.body, m))
    if isinstance(f, Not):
        return Not(_rebind(f.f, m))
    if isinstance(f, And):
        return And(tuple(_rebind(g, m) for g in f.fs))
    if isinstance(f, Or):
        return Or(tuple(_rebind(g, m) for g in f.fs))
    if isinstance(f, Implies):
        return Implies(_rebind(f.a, m), _rebind(f.b, m))
    if isinstance(f, Iff):
        return Iff(_rebind(f.a, m), _rebind(f.b, m))
    return subst(f, m)


def _formula_of(line: _Line, t: _Tokens, sep: str = ":") -> tuple[Any, str]:
    """The formula after the header (on the same line or on the indented lines below it), and its text."""
    if t.peek() is None and line.children:
        body = " ".join(c.text for c in line.children)
        inner = _Tokens(body, line.children[0].where)
        f = _formula(inner)
        inner.end()
        return f, body
    f = _formula(t)
    t.end()
    return f, line.text.split(sep, 1)[1].strip() if sep in line.text else line.text.split(None, 1)[1]


def _signature(t: _Tokens, m: Model) -> tuple[str, ...]:
    if not t.accept("("):
        return ()
    sorts = tuple(t.names())
    t.expect(")")
    for s in sorts:
        if s not in m.sorts:
            raise EprError(f"{t.where}: unknown sort {s!r}")
    return sorts


def _params(t: _Tokens) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    t.expect("(")
    if not t.accept(")"):
        while True:
            name = t.name()
            t.expect(":")
            out.append((name, t.name()))
            if not t.accept(","):
                break
        t.expect(")")
    return tuple(out)


def parse(texts: Sequence[tuple[str, str]]) -> Model:
    """A model from its texts, read in order ((source name, text) pairs: the model, then its rules)."""
    m = Model()
    for source, text in texts:
        for line in _lines(source, text):
            _item(m, line)
    for a in m.automata:
        _check_automaton(a)
    return m


def _item(m: Model, line: _Line) -> None:
    t = _Tokens(line.text, line.where)
    kind = t.name()
    if kind in ("procedure", "action", "automaton"):
        if not line.text.endswith(":"):
            raise EprError(f"{line.where}: {kind} NAME(...): and an indented block")
        t = _Tokens(line.text[:-1], line.where)
        t.next()
    if kind == "sort":
        m.sorts.append(t.name())
        t.end()
    elif kind in ("constant", "relation"):
        name = t.name()
        m.relations[name] = _signature(t, m)
        if kind == "constant":
            m.constants.add(name)
        t.end()
    elif kind == "phase":
        name = t.name()
        sort = _signature(t, m)
        t.expect("=")
        values = [t.name()]
        while t.accept("|"):
            values.append(t.name())
        t.end()
        if len(sort) != 1:
            raise EprError(f"{line.where}: a phase has one argument")
        m.phases[name] = (sort[0], tuple(values))
        for v in values[1:]:
            m.relations[phase_rel(name, v)] = sort
        x = Var("x", sort[0], next(_UIDS))
        rels = [Rel(phase_rel(name, v), (x,)) for v in values[1:]]
        one = forall([x], conj([neg(conj([a, b])) for i, a in enumerate(rels) for b in rels[i + 1:]]))
        m.invariants.append(Named(f"one-{name}", one, f"every {sort[0]} has one {name} (built in)"))
    elif kind == "event":
        name = t.name()
        sorts = _signature(t, m)
        value = t.name() if t.accept("->") else None
        t.end()
        if value is not None and not any(value in vals and s == sorts[-1] for s, vals in m.phases.values()):
            raise EprError(f"{line.where}: {value!r} is not a phase value of a {sorts[-1]}")
        m.events[name] = (sorts, value)
    elif kind == "order":
        osort = t.name()
        if t.name() != "by":
            raise EprError(f"{line.where}: order SORT by RELATION")
        m.orders[osort] = t.name()
        t.end()
    elif kind == "definition":
        name = t.name()
        params: tuple[str, ...] = ()
        if t.accept("("):
            params = tuple(t.names())
            t.expect(")")
        t.expect("=")
        body, _ = _formula_of(line, t, "=")
        m.definitions[name] = (params, body)
    elif kind == "maximum":
        name = t.name()
        t.expect("(")
        params = tuple(t.names())
        t.expect(")")
        if t.name() != "of":
            raise EprError(f"{line.where}: maximum NAME(x, ...) of F by ORDER")
        sub = _Tokens(t.rest().rsplit(" by ", 1)[0], line.where)
        body = _formula(sub)
        order = t.toks[-1]
        if order not in m.relations or len(m.relations[order]) != 2:
            raise EprError(f"{line.where}: {order!r} is not a binary relation")
        m.maximums[name] = (params, body, order)
    elif kind in ("axiom", "invariant", "always"):
        name = f"axiom-{len(m.axioms) + 1}"
        if kind != "axiom" or t.peek(1) == ":":
            name = t.name()
            t.expect(":")
        surface, text = _formula_of(line, t)
        r = _Resolver(m, line.where)
        if kind == "axiom":
            r.implicit = {}
        f = r.resolve(surface, {}, "now")
        if r.implicit:
            f = r.fill(forall(list(r.implicit.values()), f))
        _closed(f, line.where)
        {"axiom": m.axioms, "invariant": m.invariants, "always": m.always}[kind].append(Named(name, f, text))
    elif kind == "after":
        event = t.name()
        if event not in m.events:
            raise EprError(f"{line.where}: unknown event {event!r}")
        t.expect("(")
        names = t.names()
        t.expect(")")
        name = t.name()
        t.expect(":")
        surface, text = _formula_of(line, t)
        r = _Resolver(m, line.where)
        vs = tuple(r.fresh(n, s) for n, s in zip(names, m.events[event][0], strict=True))
        f = r.resolve(surface, dict(zip(names, vs, strict=True)), "old")
        m.after.append(AfterRule(name, event, vs, f, text))
    elif kind == "automaton":
        m.automata.append(_automaton(m, line, t))
    elif kind in ("procedure", "action"):
        name = t.name()
        typed = _params(t)
        t.end()
        if kind == "procedure":
            m.procedures[name] = (typed, line.children)
        else:
            r = _Resolver(m, line.where)
            vs = tuple(r.fresh(n, srt) for n, srt in typed)
            env = dict(zip((n for n, _ in typed), vs, strict=True))
            m.actions.append(Action(name, vs, tuple(_block(m, line.children, env, ()))))
    else:
        raise EprError(f"{line.where}: unknown item {kind!r}")


def _closed(f: F, where: str) -> None:
    if free_vars(f):
        raise EprError(f"{where}: unbound {', '.join(sorted(v.name for v in free_vars(f)))}")


def _automaton(m: Model, line: _Line, t: _Tokens) -> Automaton:
    name = t.name()
    t.expect("(")
    xname = t.name()
    t.expect(")")
    t.end()
    r = _Resolver(m, line.where)
    x = r.fresh(xname, None)
    start: list[tuple[str, F]] = []
    delta: dict[str, dict[str, str]] = {}
    for child in line.children:
        ct = _Tokens(child.text, child.where)
        head = ct.name()
        if head == "start":
            state = ct.name()
            if ct.name() != "if":
                raise EprError(f"{child.where}: start STATE if FORMULA")
            f = r.resolve(_formula(ct), {xname: x}, "old")
            ct.end()
            start.append((state, f))
        else:
            if head not in m.events:
                raise EprError(f"{child.where}: unknown event {head!r}")
            ct.expect(":")
            arrows = delta.setdefault(head, {})
            while True:
                a = ct.name()
                ct.expect("->")
                arrows[a] = ct.name()
                if not ct.accept(","):
                    break
            ct.end()
    x = Var(x.name, r.sorts[x.uid] or "?", x.uid)
    start = [(q, r.fill(f)) for q, f in start]
    return Automaton(name, x, tuple(start), delta, "\n".join(c.text for c in line.children))


def _check_automaton(a: Automaton) -> None:
    """Two callbacks of one kind in a row tell all that more of them would (the encoding counts to two)."""
    states = [q for q, _ in a.start]
    for event, d in a.delta.items():
        for q in states:
            two = d.get(d[q]) if q in d else None
            if two is not None and d.get(two) != two:
                raise EprError(f"automaton {a.name}: three {event} callbacks in a row differ from two")
            for target in d.values():
                if target not in states:
                    raise EprError(f"automaton {a.name}: {target!r} has no start line")


def _block(m: Model, lines: Sequence[_Line], env: dict[str, Var], stack: tuple[str, ...]) -> list[Stmt]:
    out: list[Stmt] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        text = line.text
        t = _Tokens(text[:-1] if text.endswith(":") else text, line.where)
        r = _Resolver(m, line.where)
        head = t.peek()
        if head == "require":
            t.next()
            f = r.resolve(_formula(t), env, "now")
            t.end()
            out.append(Require(f))
        elif head == "if":
            t.next()
            cond = r.resolve(_formula(t), env, "now")
            t.end()
            then = tuple(_block(m, line.children, env, stack))
            orelse: tuple[Stmt, ...] = ()
            if i < len(lines) and lines[i].text == "else:":
                orelse = tuple(_block(m, lines[i].children, env, stack))
                i += 1
            out.append(If(cond, then, orelse))
        elif head == "do":
            t.next()
            name = t.name()
            t.expect("(")
            args = t.names() if t.peek() != ")" else []
            t.expect(")")
            t.end()
            if name not in m.procedures:
                raise EprError(f"{line.where}: unknown procedure {name!r}")
            if name in stack:
                raise EprError(f"{line.where}: procedure {name} calls itself")
            params, body = m.procedures[name]
            if len(params) != len(args):
                raise EprError(f"{line.where}: {name} takes {len(params)} arguments")
            inner = {}
            for (pname, psort), a in zip(params, args, strict=True):
                v = r.var(a, env)
                if v.sort != psort:
                    raise EprError(f"{line.where}: {a} is a {v.sort}, {name} wants a {psort}")
                inner[pname] = v
            out.extend(_block(m, body, inner, (*stack, name)))
        elif head == "call":
            t.next()
            event = t.name()
            if event not in m.events:
                raise EprError(f"{line.where}: unknown event {event!r}")
            t.expect("(")
            names = t.names()
            t.expect(")")
            sorts = m.events[event][0]
            inner = dict(env)
            cargs: list[Var] = []
            fresh: list[bool] = []
            for n, sort in zip(names, sorts, strict=True):
                if n in env:
                    if env[n].sort != sort:
                        raise EprError(f"{line.where}: {n} is a {env[n].sort}, {event} wants a {sort}")
                    cargs.append(env[n])
                    fresh.append(False)
                else:
                    v = r.fresh(n, sort)
                    inner[n] = v
                    cargs.append(v)
                    fresh.append(True)
            when: F = TRUE
            if t.accept("if"):
                when = r.resolve(_formula(t), inner, "now")
            t.end()
            out.append(Call(event, tuple(cargs), tuple(fresh), when))
        else:
            name = t.name()
            if name not in m.relations or name in m.constants:
                raise EprError(f"{line.where}: {name!r} is not a relation an action may change")
            names = []
            if t.accept("("):
                names = t.names()
                t.expect(")")
            t.expect(":=")
            sorts = m.relations[name]
            if len(sorts) != len(names):
                raise EprError(f"{line.where}: {name} takes {len(sorts)} arguments")
            vs = tuple(r.fresh(n, s) for n, s in zip(names, sorts, strict=True))
            f = r.resolve(_formula(t), {**env, **dict(zip(names, vs, strict=True))}, "now")
            t.end()
            out.append(Assign(name, vs, f))
    return out


# --------------------------------------------------------------------------------------------------
# Step rules over the callbacks of one action
# --------------------------------------------------------------------------------------------------

def event_symbol(k: int) -> str:
    """The relation that holds the tuples the k-th call of an action ran its callback for."""
    return f"@call{k}"


def step_rule(m: Model, name: str, action: Action) -> F:
    """The after-rule or automaton ``name`` over one step of ``action``: old, new and its calls' relations."""
    positions = action.positions()
    for r in m.after:
        if r.name == name:
            parts = []
            for k, event in enumerate(positions):
                if event == r.event:
                    parts.append(forall(r.vars, Implies(Rel(event_symbol(k), r.vars), r.formula)))
            return conj(parts)
    a = next(x for x in m.automata if x.name == name)
    x = a.var
    cur: dict[str, F] = dict(a.start)
    ok: list[F] = []
    for k, event in enumerate(positions):
        d = a.delta.get(event)
        if d is None:
            continue
        sorts = m.events[event][0]
        key = max(i for i, s in enumerate(sorts) if s == x.sort)

        def args(tag: str, k: int = k, sorts: tuple[str, ...] = sorts, key: int = key) -> tuple[
                tuple[Var, ...], list[Var]]:
            others = [Var(f"{tag}{i}", s, next(_UIDS)) for i, s in enumerate(sorts) if i != key]
            it = iter(others)
            return tuple(x if i == key else next(it) for i in range(len(sorts))), others

        a1, o1 = args("e")
        b1, p1 = args("e")
        b2, p2 = args("f")
        once = exists(o1, Rel(event_symbol(k), a1))
        differ = disj([Not(Eq(u, v)) for u, v in zip(p1, p2, strict=True)])
        twice = exists(p1 + p2, conj([differ, Rel(event_symbol(k), b1), Rel(event_symbol(k), b2)]))
        states = list(cur)
        dead1 = disj([cur[q] for q in states if q not in d])
        dead2 = disj([cur[q] for q in states if q not in d or d[q] not in d])
        ok += [neg(conj([once, dead1])), neg(conj([twice, dead2]))]
        new: dict[str, F] = {}
        for q in states:
            after1 = disj([cur[p] for p in states if d.get(p) == q])
            after2 = disj([cur[p] for p in states if p in d and d.get(d[p]) == q])
            new[q] = disj([conj([neg(once), cur[q]]), conj([once, neg(twice), after1]), conj([twice, after2])])
        cur = new
    return forall([x], conj(ok)) if ok else TRUE


# --------------------------------------------------------------------------------------------------
# Running a model on a finite universe
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Stack:
    """A finite universe and the values of the constant relations: one configuration."""

    universes: dict[str, tuple[Any, ...]]
    constants: dict[str, Any]       # frozenset of tuples (arity >= 2), of elements (1), or a bool (0)


State = tuple[Any, ...]
Events = list[tuple[str, tuple[tuple[Any, ...], ...]]]   # per call, in order: (event, the tuples it ran for)


class _Py:
    """Formulas as Python expressions over frozensets (relations) and tuples (universes)."""

    def __init__(self, m: Model, prefix: dict[str, str]) -> None:
        self.m = m
        self.prefix = prefix            # time -> name prefix of the mutable relations

    def rel(self, name: str, time: str) -> str:
        if name.startswith("@"):
            return "e_" + name[1:]
        if name in self.m.constants:
            return "k_" + _ident(name)
        return self.prefix[time] + _ident(name)

    def var(self, v: Var) -> str:
        return f"v_{v.name}_{v.uid}"

    def expr(self, f: F) -> str:
        if isinstance(f, Const):
            return repr(f.value)
        if isinstance(f, Rel):
            r = self.rel(f.name, f.time)
            if not f.args:
                return r
            if len(f.args) == 1:
                return f"({self.var(f.args[0])} in {r})"
            return f"(({', '.join(self.var(a) for a in f.args)}) in {r})"
        if isinstance(f, Max):
            z = Var("z", f.x.sort, next(_UIDS))
            here = subst(f.body, {f.x: f.args[0]})
            there = subst(f.body, {f.x: z})
            order = Rel(f.order, (f.args[0], z), f.time)
            return self.expr(conj([here, Not(exists([z], conj([order, there])))]))
        if isinstance(f, Eq):
            return f"({self.var(f.a)} == {self.var(f.b)})"
        if isinstance(f, Not):
            return f"(not {self.expr(f.f)})"
        if isinstance(f, And):
            return "(" + " and ".join(self.expr(g) for g in f.fs) + ")" if f.fs else "True"
        if isinstance(f, Or):
            return "(" + " or ".join(self.expr(g) for g in f.fs) + ")" if f.fs else "False"
        if isinstance(f, Implies):
            return f"((not {self.expr(f.a)}) or {self.expr(f.b)})"
        if isinstance(f, Iff):
            return f"({self.expr(f.a)} == {self.expr(f.b)})"
        assert isinstance(f, Quant)
        loops = " ".join(f"for {self.var(v)} in U_{v.sort}" for v in f.vars)
        return f"{'all' if f.kind == 'forall' else 'any'}({self.expr(f.body)} {loops})"


def _ident(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


class Explicit:
    """A model compiled to Python: initial state, successors with their callbacks, rules, invariants."""

    def __init__(self, m: Model) -> None:
        self.m = m
        self.mutable = m.mutable
        self.index = {r: i for i, r in enumerate(self.mutable)}
        src: list[str] = []
        for a in m.actions:
            src += self._action(a)
        now = _Py(m, {"now": "r_"})
        for named in [*m.invariants, *m.always, *m.axioms]:
            src += [f"def s_{_ident(named.name)}(K, st):", *self._prologue(m, "r_"),
                    f"    return {now.expr(named.formula)}", ""]
        for a in m.actions:
            n = len(a.positions())
            py = _Py(m, {"old": "o_", "new": "n_", "now": "o_"})
            for rule in [r.name for r in m.after] + [x.name for x in m.automata]:
                f = step_rule(m, rule, a)
                src += [f"def t_{_ident(rule)}__{a.name}(K, pre, post, evs):",
                        *self._prologue(m, "o_", "pre"), *self._prologue(m, "n_", "post", universes=False),
                        *(f"    e_call{k} = frozenset(evs[{k}][1])" for k in range(n)),
                        f"    return {py.expr(f)}", ""]
        self.source = "\n".join(src)
        scope: dict[str, Any] = {"_ordered": _ordered}
        exec(compile(self.source, "<epr model>", "exec"), scope)  # our own generated code
        self._fn = scope

    def _prologue(self, m: Model, prefix: str, st: str = "st", universes: bool = True) -> list[str]:
        out = []
        if universes:
            out += [f"    U_{s} = K.universes[{s!r}]" for s in m.sorts]
            out += [f"    k_{_ident(c)} = K.constants[{c!r}]" for c in sorted(m.constants)]
        if self.mutable:
            out.append(f"    {', '.join(prefix + _ident(r) for r in self.mutable)}, = {st}")
        return out

    def _action(self, a: Action) -> list[str]:
        m = self.m
        py = _Py(m, {"now": "r_"})
        params = ", ".join(py.var(v) for v in a.params)
        lines = [f"def a_{a.name}(K, st{', ' if params else ''}{params}):", *self._prologue(m, "r_"),
                 f"    evs = {[(e, ()) for e in a.positions()]!r}"]
        counter = itertools.count()

        def emit(stmts: Sequence[Stmt], depth: int) -> None:
            pad = "    " * depth
            if not stmts:
                lines.append(pad + "pass")
            for s in stmts:
                if isinstance(s, Require):
                    lines.append(f"{pad}if not {py.expr(s.cond)}: return None")
                elif isinstance(s, Assign):
                    r = py.rel(s.rel, "now")
                    if not s.vars:
                        lines.append(f"{pad}{r} = bool({py.expr(s.value)})")
                    else:
                        loops = " ".join(f"for {py.var(v)} in U_{v.sort}" for v in s.vars)
                        item = py.var(s.vars[0]) if len(s.vars) == 1 else \
                            "(" + ", ".join(py.var(v) for v in s.vars) + ")"
                        lines.append(f"{pad}{r} = frozenset({item} {loops} if {py.expr(s.value)})")
                elif isinstance(s, Call):
                    k = next(counter)
                    gens: list[str] = []
                    for arg, fresh in zip(s.args, s.fresh, strict=True):
                        if not fresh:
                            gens.append(f"for _p{k}_{arg.uid} in ({py.var(arg)},)")
                            continue
                        order = m.orders.get(arg.sort)
                        dom = (f"_ordered(U_{arg.sort}, {py.rel(order, 'now')})" if order else f"U_{arg.sort}")
                        gens.append(f"for {py.var(arg)} in {dom}")
                    item = "(" + ", ".join(py.var(arg) if fresh else f"_p{k}_{arg.uid}"
                                           for arg, fresh in zip(s.args, s.fresh, strict=True)) + ",)"
                    lines.append(f"{pad}_e = tuple({item} {' '.join(gens)} if {py.expr(s.cond)})")
                    lines.append(f"{pad}evs[{k}] = ({s.event!r}, _e)")
                    sorts, target = m.events[s.event]
                    if target is not None:
                        phase = next(p for p, (srt, vals) in m.phases.items() if srt == sorts[-1] and target in vals)
                        lines.append(f"{pad}_k = frozenset(t[{len(sorts) - 1}] for t in _e)")
                        for value in m.phases[phase][1][1:]:
                            r = py.rel(phase_rel(phase, value), "now")
                            lines.append(f"{pad}{r} = {r} | _k" if value == target else f"{pad}{r} = {r} - _k")
                elif isinstance(s, If):
                    lines.append(f"{pad}if {py.expr(s.cond)}:")
                    emit(s.then, depth + 1)
                    if s.orelse:
                        lines.append(f"{pad}else:")
                        emit(s.orelse, depth + 1)
        emit(a.body, 1)
        lines.append(f"    return ({', '.join('r_' + _ident(r) for r in self.mutable)},), evs")
        return [*lines, ""]

    # -- use --------------------------------------------------------------------------------------
    def initial(self, stack: Stack) -> State:
        """Every relation empty."""
        return tuple(False if not self.m.relations[r] else frozenset() for r in self.mutable)

    def steps(self, stack: Stack, state: State) -> Iterator[tuple[str, tuple[Any, ...], State, Events]]:
        """(action, parameters, successor, calls) for every action and parameters whose guards hold."""
        for name, fn, params in self._calls(stack):
            out = fn(stack, state, *params)
            if out is not None:
                yield name, params, out[0], out[1]

    def _calls(self, stack: Stack) -> list[tuple[str, Callable[..., Any], tuple[Any, ...]]]:
        """Every action with every choice of parameters on this stack's universe."""
        return [(a.name, self._fn["a_" + a.name], params) for a in self.m.actions
                for params in itertools.product(*(stack.universes[v.sort] for v in a.params))]

    def run(self, stack: Stack, state: State, action: str, params: tuple[Any, ...]) -> tuple[State, Events] | None:
        out = self._fn["a_" + action](stack, state, *params)
        return None if out is None else (out[0], out[1])

    def holds(self, name: str, stack: Stack, state: State) -> bool:
        """An invariant, always-rule or axiom on a state."""
        return bool(self._fn["s_" + _ident(name)](stack, state))

    def step_holds(self, rule: str, action: str, stack: Stack, pre: State, post: State, evs: Events) -> bool:
        """An after-rule or automaton on one step."""
        return bool(self._fn[f"t_{_ident(rule)}__{action}"](stack, pre, post, evs))

    def value(self, state: State, rel: str) -> Any:
        return state[self.index[rel]]

    def explore(self, stack: Stack, max_states: int = 200_000) -> Exploration:
        """BFS from the initial state: the states, how each was first reached, and every step."""
        init = self.initial(stack)
        states, parent, seen = [init], [(-1, "", ())], {init: 0}
        edges: list[tuple[int, str, tuple[Any, ...], int, Events]] = []
        calls = self._calls(stack)
        i = 0
        while i < len(states):
            state = states[i]
            for action, fn, params in calls:
                out = fn(stack, state, *params)
                if out is None:
                    continue
                succ, evs = out
                j = seen.get(succ)
                if j is None:
                    if len(states) >= max_states:
                        raise EprError(f"more than {max_states} states on one stack")
                    j = seen[succ] = len(states)
                    states.append(succ)
                    parent.append((i, action, params))
                edges.append((i, action, params, j, evs))
            i += 1
        return Exploration(states, parent, edges)


@dataclass(frozen=True)
class Exploration:
    """Every state reachable on a stack, in BFS order; ``parent[j]``: (state, action, parameters) before j."""

    states: list[State]
    parent: list[tuple[int, str, tuple[Any, ...]]]
    edges: list[tuple[int, str, tuple[Any, ...], int, Events]]

    def path(self, j: int) -> list[tuple[int, str, tuple[Any, ...], int]]:
        """The steps (from, action, parameters, to) of the shortest path to state j."""
        out = []
        while j > 0:
            i, action, params = self.parent[j]
            out.append((i, action, params, j))
            j = i
        return out[::-1]


def _ordered(universe: tuple[Any, ...], order: frozenset[tuple[Any, Any]]) -> list[Any]:
    """The elements by how many come before them in ``order`` (a list order), ties in universe order."""
    before = {x: 0 for x in universe}
    for _a, b in order:
        before[b] = before.get(b, 0) + 1
    return sorted(universe, key=lambda x: before[x])


# --------------------------------------------------------------------------------------------------
# Actions as formulas for z3
# --------------------------------------------------------------------------------------------------

@dataclass
class Program:
    """An action over versions of the relations: ``formulas`` define each version from the one before."""

    action: Action
    symbols: dict[str, tuple[str, ...]]        # every relation symbol the formulas use, with its sorts
    formulas: list[F]
    first: dict[str, str]                      # mutable relation -> its symbol before the step
    last: dict[str, str]                       # ... after the step
    calls: list[str]                           # the relation symbol of each call, in order


def versioned(m: Model, version: str) -> dict[str, str]:
    return {r: f"{r}#{version}" for r in m.mutable}


def at(m: Model, f: F, now: dict[str, str], old: dict[str, str] | None = None,
       new: dict[str, str] | None = None, extra: list[F] | None = None,
       symbols: dict[str, tuple[str, ...]] | None = None) -> F:
    """f over the relation symbols of given versions; a maximum becomes a relation with its two axioms."""
    times = {"now": now, "old": old or now, "new": new or now}

    def rename(name: str, time: str) -> str:
        return times[time].get(name, name)

    def go(f: F) -> F:
        if isinstance(f, Max):
            body = retime(f.body, rename)
            order = rename(f.order, f.time)
            sym = f"{f.name}@" + "/".join(sorted({r.name for r in _rels(body)} | {order}))
            if symbols is not None and sym not in symbols and extra is not None:
                symbols[sym] = tuple(a.sort for a in f.args)
                ys = [Var(a.name, a.sort, next(_UIDS)) for a in f.args[1:]]
                x, z = Var("x", f.x.sort, next(_UIDS)), Var("z", f.x.sort, next(_UIDS))
                at_x = subst(body, {f.x: x, **dict(zip(f.args[1:], ys, strict=True))})
                at_z = subst(body, {f.x: z, **dict(zip(f.args[1:], ys, strict=True))})
                # the chosen one has body and nothing after it has; when some element has body, one is chosen
                extra.append(forall([x, *ys], Implies(Rel(sym, (x, *ys)),
                                                      conj([at_x, forall([z], Implies(Rel(order, (x, z)),
                                                                                      neg(at_z)))]))))
                extra.append(forall(ys, Implies(exists([x], at_x), exists([x], Rel(sym, (x, *ys))))))
            return Rel(sym, f.args)
        if isinstance(f, Rel):
            return Rel(rename(f.name, f.time), f.args)
        if isinstance(f, Not):
            return Not(go(f.f))
        if isinstance(f, And):
            return And(tuple(go(g) for g in f.fs))
        if isinstance(f, Or):
            return Or(tuple(go(g) for g in f.fs))
        if isinstance(f, Implies):
            return Implies(go(f.a), go(f.b))
        if isinstance(f, Iff):
            return Iff(go(f.a), go(f.b))
        if isinstance(f, Quant):
            return Quant(f.kind, f.vars, go(f.body))
        return f
    return go(f)


def _rels(f: F) -> set[Rel]:
    if isinstance(f, Rel):
        return {f}
    if isinstance(f, Max):
        return _rels(f.body) | {Rel(f.order, ())}
    if isinstance(f, Not):
        return _rels(f.f)
    if isinstance(f, And | Or):
        return set().union(*(_rels(g) for g in f.fs)) if f.fs else set()
    if isinstance(f, Implies | Iff):
        return _rels(f.a) | _rels(f.b)
    if isinstance(f, Quant):
        return _rels(f.body)
    return set()


def encode(m: Model, action: Action) -> Program:
    """The action as definitions of fresh relation symbols, one per assignment, call and if."""
    symbols: dict[str, tuple[str, ...]] = {r: m.relations[r] for r in m.constants}
    cur = versioned(m, "0")
    for r, s in cur.items():
        symbols[s] = m.relations[r]
    first = dict(cur)
    formulas: list[F] = []
    calls: list[str] = []
    counter = itertools.count(1)

    def now(f: F) -> F:
        return at(m, f, cur, extra=formulas, symbols=symbols)

    def fresh(rel: str) -> str:
        sym = f"{rel}#{next(counter)}"
        symbols[sym] = m.relations[rel]
        return sym

    def run(stmts: Sequence[Stmt], pc: list[F]) -> None:
        guard = conj(pc)
        for s in stmts:
            if isinstance(s, Require):
                formulas.append(Implies(guard, now(s.cond)) if pc else now(s.cond))
            elif isinstance(s, Assign):
                value = now(s.value)
                old = Rel(cur[s.rel], s.vars)
                new = fresh(s.rel)
                rhs = disj([conj([guard, value]), conj([neg(guard), old])]) if pc else value
                formulas.append(forall(s.vars, Iff(Rel(new, s.vars), rhs)))
                cur[s.rel] = new
            elif isinstance(s, Call):
                sym = event_symbol(len(calls))
                sorts = m.events[s.event][0]
                symbols[sym] = sorts
                vs, eqs = [], []
                for v, isfresh in zip(s.args, s.fresh, strict=True):
                    if isfresh:
                        vs.append(v)
                    else:
                        w = Var(v.name + "_", v.sort, next(_UIDS))
                        vs.append(w)
                        eqs.append(Eq(w, v))
                formulas.append(forall(vs, Iff(Rel(sym, tuple(vs)), conj([*pc, *eqs, now(s.cond)]))))
                calls.append(sym)
                target = m.events[s.event][1]
                if target is None:
                    continue
                phase = next(p for p, (srt, vals) in m.phases.items() if srt == sorts[-1] and target in vals)
                key = Var("k", sorts[-1], next(_UIDS))
                others = [Var(f"o{i}", srt, next(_UIDS)) for i, srt in enumerate(sorts[:-1])]
                ran = exists(others, Rel(sym, (*others, key)))
                for pv in m.phases[phase][1][1:]:
                    rel = phase_rel(phase, pv)
                    old = Rel(cur[rel], (key,))
                    new = fresh(rel)
                    rhs = disj([ran, old]) if pv == target else conj([neg(ran), old])
                    formulas.append(forall([key], Iff(Rel(new, (key,)), rhs)))
                    cur[rel] = new
            elif isinstance(s, If):
                c = f"@if{next(counter)}"
                symbols[c] = ()
                formulas.append(Iff(Rel(c, ()), now(s.cond)))
                run(s.then, [*pc, Rel(c, ())])
                run(s.orelse, [*pc, Not(Rel(c, ()))])
    run(action.body, [])
    return Program(action, symbols, formulas, first, dict(cur), calls)


def alternation_edges(formulas: Sequence[F]) -> set[tuple[str, str]]:
    """Sort pairs (a, b) where an ``exists`` of a b sits under a ``forall`` of an a it depends on.

    These are the function symbols Skolemization would bring in; when they form no cycle, every formula
    set made of these has a finite Herbrand universe (the stratified extension of EPR Ivy relies on).
    Formulas are taken as asserted; top-level existentials are constants.
    """
    edges: set[tuple[str, str]] = set()

    def go(f: F, pol: bool, scope: list[Var]) -> None:
        if isinstance(f, Not):
            go(f.f, not pol, scope)
        elif isinstance(f, And | Or):
            for g in f.fs:
                go(g, pol, scope)
        elif isinstance(f, Implies):
            go(f.a, not pol, scope)
            go(f.b, pol, scope)
        elif isinstance(f, Iff):
            for g in (f.a, f.b):
                go(g, True, scope)
                go(g, False, scope)
        elif isinstance(f, Quant):
            universal = (f.kind == "forall") == pol
            if universal:
                go(f.body, pol, scope + list(f.vars))
            else:
                deps = free_vars(f) & set(scope)
                edges.update((d.sort, v.sort) for d in deps for v in f.vars)
                go(f.body, pol, scope)
        elif isinstance(f, Max):
            raise ValueError("alternation_edges wants formulas after `at`")
    for f in formulas:
        go(f, True, [])
    return edges


def has_cycle(edges: set[tuple[str, str]]) -> bool:
    nodes = {a for a, _ in edges} | {b for _, b in edges}
    reach = {n: {b for a, b in edges if a == n} for n in nodes}
    for _ in nodes:
        for n in nodes:
            reach[n] = reach[n].union(*(reach[x] for x in reach[n]))
    return any(n in reach[n] for n in nodes)


# --------------------------------------------------------------------------------------------------
# Formulas to z3 (through klpmc.logic, the one module that imports it)
# --------------------------------------------------------------------------------------------------

class Z3:
    """Declares a model's sorts and relation symbols in a `logic.FOSolver` and translates formulas."""

    def __init__(self, m: Model, timeout_ms: int, params: Sequence[Var] = ()) -> None:
        self.m = m
        self.s = logic.FOSolver(timeout_ms)
        for sort in m.sorts:
            self.s.declare_sort(sort)
        self.params: dict[Var, Any] = {}
        self._bound: dict[Var, Any] = {}
        for v in params:    # an action's parameters: constants, before any formula names them
            self.param(v)

    def declare(self, symbols: dict[str, tuple[str, ...]]) -> None:
        for name, sorts in symbols.items():
            self.s.declare(name, sorts)

    @staticmethod
    def param_name(v: Var) -> str:
        return f"{v.name}!"

    def param(self, v: Var) -> Any:
        if v not in self.params:
            self.params[v] = self.s.const(self.param_name(v), v.sort)
        return self.params[v]

    def term(self, v: Var) -> Any:
        """A parameter's constant, or a bound variable named by its order here (not by a global counter:
        z3's answers depend on names, and a run's should not depend on what ran before it)."""
        if v in self.params:
            return self.params[v]
        if v not in self._bound:
            self._bound[v] = self.s.const(f"{v.name}.{len(self._bound)}", v.sort)
        return self._bound[v]

    def formula(self, f: F) -> Any:
        if isinstance(f, Const):
            return f.value
        if isinstance(f, Rel):
            return self.s.app(f.name, [self.term(a) for a in f.args])
        if isinstance(f, Eq):
            return self.s.eq(self.term(f.a), self.term(f.b))
        if isinstance(f, Not):
            return logic.NOT(self.formula(f.f))
        if isinstance(f, And):
            return logic.all_of(self.formula(g) for g in f.fs)
        if isinstance(f, Or):
            return logic.any_of(self.formula(g) for g in f.fs)
        if isinstance(f, Implies):
            return logic.IMPLIES(self.formula(f.a), self.formula(f.b))
        if isinstance(f, Iff):
            return logic.IFF(self.formula(f.a), self.formula(f.b))
        if isinstance(f, Quant):
            bound = [self.term(v) for v in f.vars]
            body = self.formula(f.body)
            return self.s.forall(bound, body) if f.kind == "forall" else self.s.exists(bound, body)
        raise ValueError(f"cannot translate {f!r}")
