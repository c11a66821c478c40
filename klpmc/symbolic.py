"""Properties as formulas: a property's rule applied to a model's symbolic views.

A model that supports symbolic checking offers, beside ``init_states``/``next_steps``:

* ``signature()``: the finite vocabulary of its configuration (opaque to klpmc);
* ``symbolic_state(prefix, sig)`` and ``symbolic_step(prefix, sig)``: a view whose fields are z3
  variables named with the prefix, and the `Domain` they range over;
* ``flatten_state(state, prefix, sig)`` and ``flatten_step(label, log, prefix, sig)``: a concrete
  state or step as the values of those variables.

A state rule gets one view; a step rule gets (before, step, after), named ``pre.``, ``step.`` and
``post.``. Nothing here knows what the fields mean.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .contracts import SymbolicModel
from .engine import Label, Log, Visitor
from .logic import AND, Domain, SatCheck, compile_formula, evaluate, vacuity
from .props import Property

__all__ = ["CrossCheck", "CrossCheckVisitor", "Disagreement", "Formula", "SanityReport", "formula_of", "sanity",
           "supports", "value_on_state", "value_on_step"]

PRE, STEP, POST, STATE = "pre.", "step.", "post.", ""


def supports(model: object) -> bool:
    """The model offers symbolic views (`klpmc.contracts.SymbolicModel`)."""
    return isinstance(model, SymbolicModel)


@dataclass(frozen=True)
class Formula:
    """A property's rule as a z3 formula, with the domain of its fields."""

    prop: Property
    formula: Any
    domain: Domain


def formula_of(model: Any, prop: Property, sig: Any = None, pre: str = PRE, step: str = STEP, post: str = POST,
               state: str = STATE) -> Formula:
    """Apply the property's rule to the model's symbolic views (whose variables carry these prefixes)."""
    if prop.rule is None:
        raise ValueError(f"property {prop.name!r} has no rule over views, only a predicate")
    sig = sig if sig is not None else model.signature()
    if prop.on_steps:
        before, d1 = model.symbolic_state(pre, sig)
        mid, d2 = model.symbolic_step(step, sig)
        after, d3 = model.symbolic_state(post, sig)
        return Formula(prop, prop.rule(before, mid, after), d1 | d2 | d3)
    view, dom = model.symbolic_state(state, sig)
    return Formula(prop, prop.rule(view), dom)


def value_on_state(f: Formula, model: Any, state: Any, sig: Any) -> bool:
    """The formula's truth value on a concrete state (its fields substituted)."""
    return evaluate(f.formula, model.flatten_state(state, STATE, sig))


def value_on_step(f: Formula, model: Any, before: Any, label: Any, log: Any, after: Any, sig: Any) -> bool:
    """The formula's truth value on a concrete step."""
    values = model.flatten_state(before, PRE, sig)
    values.update(model.flatten_step(label, log, STEP, sig))
    values.update(model.flatten_state(after, POST, sig))
    return evaluate(f.formula, values)


@dataclass(frozen=True)
class SanityReport:
    """Whether a property can hold and can fail on the states (or steps) of a configuration."""

    prop: Property
    check: SatCheck

    @property
    def problem(self) -> str | None:
        """One line when the property is vacuous or unsatisfiable; None when it is fine or unknown."""
        c, kind = self.check, self.prop.kind
        if kind == "sometimes":
            if c.can_hold is False:
                return "no state or step can satisfy it: unreachable whatever the model does"
            if c.can_fail is False:
                return "every state or step satisfies it: reachable whatever the model does"
            return None
        if c.can_fail is False:
            return "no state or step can violate it: it holds whatever the model does"
        if c.can_hold is False:
            return "every state or step violates it"
        return None

    @property
    def unknown(self) -> bool:
        return self.check.can_fail is None or self.check.can_hold is None


def sanity(model: Any, props: Sequence[Property], timeout_ms: int = 5000, sig: Any = None) -> list[SanityReport]:
    """Ask z3, before a run, whether each property can fail and can hold over the model's domain (or over
    the vocabulary ``sig``)."""
    sig = model.signature() if sig is None else sig
    out = []
    for prop in props:
        if prop.rule is None:
            continue
        f = formula_of(model, prop, sig)
        out.append(SanityReport(prop, vacuity(f.formula, f.domain, timeout_ms)))
    return out


# --------------------------------------------------------------------------------------------------------
# the two readings of a rule, compared on concrete states and steps
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Disagreement:
    """A state or step on which z3's formula of a property and the rule the BFS runs give different values,
    or whose fields fall outside the domain z3 reasons over (its bounds and well-formedness)."""

    prop: str          # the property, or "" for a value outside the domain
    where: str         # the state (its description) or the step (its label)
    python: Any
    z3: Any

    def __str__(self) -> str:
        if not self.prop:
            return f"{self.where}: outside z3's domain ({self.z3})"
        return f"{self.prop}: the rule says {self.python}, z3's formula {self.z3}, on {self.where}"


def _outside(domain: Domain, values: dict[str, int], extra: Callable[[dict[str, int]], Any]) -> str | None:
    for name, (lo, hi) in domain.bounds.items():
        v = values.get(name)
        if v is None or not lo <= v <= hi:
            return f"{name} = {v}, bounds {lo}..{hi}"
    if not extra(values):
        return "a well-formedness constraint fails"
    return None


class CrossCheck:
    """Every property both ways on concrete states and steps: as the BFS evaluates it (the model's
    ``checker``, else its ``predicate``) and as z3 reads it (the formula of `formula_of`, compiled to
    Python by `klpmc.logic.compile_formula`, over `flatten_state`/`flatten_step`), and every value inside
    the domain z3 quantifies over. What prove proves is about the formulas; this says they are the rules.
    """

    def __init__(self, model: Any, props: Sequence[Property], sig: Any = None) -> None:
        self.model = model
        self.sig = sig if sig is not None else model.signature()
        self.props = [p for p in props if p.rule is not None]
        self.state_props = [p for p in self.props if not p.on_steps]
        self.step_props = [p for p in self.props if p.on_steps]
        self._python: dict[int, tuple[Callable[[Any], Sequence[Any]], Callable[..., Sequence[Any]]]] = {}
        self._state: tuple[list[Callable[[dict[str, int]], Any]], Domain, Any] | None = None
        self._steps: dict[tuple[int, ...], tuple[list[Callable[[dict[str, int]], Any]], Domain, Any]] = {}

    def _rules(self, model: Any) -> tuple[Callable[[Any], Sequence[Any]], Callable[..., Sequence[Any]]]:
        """The rules as the BFS runs them on ``model`` (a scope's configuration may be another model)."""
        got = self._python.get(id(model))
        if got is None:
            make = getattr(model, "checker", None)
            if make is not None:
                checker = make(self.props)
                got = (checker.state, checker.step)
            else:
                preds_s = [model.predicate(p) for p in self.state_props]
                preds_t = [model.predicate(p) for p in self.step_props]
                got = (lambda s: [f(s) for f in preds_s],
                       lambda b, label, log, a: [f(b, label, log, a) for f in preds_t])
            self._python[id(model)] = got
        return got

    def _compiled(self, props: list[Property], sig: Any) -> tuple[list[Callable[[dict[str, int]], Any]], Domain, Any]:
        fs = [formula_of(self.model, p, sig) for p in props]
        if fs:
            domain = fs[0].domain
        elif props is self.state_props:
            domain = self.model.symbolic_state("", sig)[1]
        else:
            domain = (self.model.symbolic_state("pre.", sig)[1] | self.model.symbolic_step("step.", sig)[1]
                      | self.model.symbolic_state("post.", sig)[1])
        return [compile_formula(f.formula) for f in fs], domain, compile_formula(AND(True, *domain.extra))

    def state(self, s: Any, model: Any = None) -> list[Disagreement]:
        """The properties the two readings disagree on in state s (and a value outside z3's domain); ``model``
        is the one s belongs to, if not the one the formulas were built with (a scope's configuration)."""
        model = self.model if model is None else model
        if self._state is None:
            self._state = self._compiled(self.state_props, self.sig)
        fns, domain, extra = self._state
        values = model.flatten_state(s, "", self.sig)
        out = []
        where = getattr(model, "describe", repr)(s).replace("\n", "; ")
        bad = _outside(domain, values, extra)
        if bad:
            out.append(Disagreement("", f"state {where}", None, bad))
        for p, fn, py in zip(self.state_props, fns, self._rules(model)[0](s), strict=True):
            if bool(py) != bool(fn(values)):
                out.append(Disagreement(p.name, f"state {where}", bool(py), bool(fn(values))))
        return out

    def step(self, before: Any, label: Label, log: Log, after: Any, model: Any = None) -> list[Disagreement]:
        """The same on a step: (before, the step, after) as z3 sees them, against the rule on the step."""
        if not self.step_props:
            return []
        model = self.model if model is None else model
        events = sum(1 for e in log if getattr(e, "callback", None) not in (None, "insmod"))
        vocab = getattr(model, "vocab", None)
        sig = self.sig if events <= self.sig.events else dataclasses.replace(self.sig, events=events)
        values = model.flatten_state(before, "pre.", sig)
        values.update(model.flatten_step(label, log, "step.", sig))
        values.update(model.flatten_state(after, "post.", sig))
        key = (sig.events, len(vocab.funcs) if vocab else 0, len(vocab.callbacks) if vocab else 0)
        if key not in self._steps:     # a name the run met since widens the step's domain
            self._steps[key] = self._compiled(self.step_props, sig)
        fns, domain, extra = self._steps[key]
        out = []
        bad = _outside(domain, values, extra)
        if bad:
            out.append(Disagreement("", f"step {label}", None, bad))
        for p, fn, py in zip(self.step_props, fns, self._rules(model)[1](before, label, log, after), strict=True):
            if bool(py) != bool(fn(values)):
                out.append(Disagreement(p.name, f"step {label}", bool(py), bool(fn(values))))
        return out


class CrossCheckVisitor(Visitor):
    """`CrossCheck` on every state and every step of an exploration; what disagrees is collected."""

    def __init__(self, cross: CrossCheck) -> None:
        self.cross = cross
        self.steps = bool(cross.step_props)
        self.found: list[Disagreement] = []
        self.states_seen = 0
        self.steps_seen = 0

    def on_state(self, j: int, state: Any) -> bool:
        self.states_seen += 1
        self.found += self.cross.state(state)
        return False

    def on_step(self, i: int, before: Any, k: int, label: Label, log: Log, after: Any) -> bool:
        self.steps_seen += 1
        self.found += self.cross.step(before, label, log, after)
        return False
