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

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .contracts import SymbolicModel
from .logic import Domain, SatCheck, evaluate, vacuity
from .props import Property

__all__ = ["Formula", "SanityReport", "formula_of", "sanity", "supports", "value_on_state", "value_on_step"]

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


def sanity(model: Any, props: Sequence[Property], timeout_ms: int = 5000) -> list[SanityReport]:
    """Ask z3, before a run, whether each property can fail and can hold over the model's domain."""
    sig = model.signature()
    out = []
    for prop in props:
        if prop.rule is None:
            continue
        f = formula_of(model, prop, sig)
        out.append(SanityReport(prop, vacuity(f.formula, f.domain, timeout_ms)))
    return out
