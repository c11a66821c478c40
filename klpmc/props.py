"""Properties: named predicates over states or transitions, and the verdicts the engine gives them.

A property is data: a name, a kind, a one-line description and a predicate.

* ``always``: ``predicate(state) -> bool``, True when the state is fine; checked on every reachable state.
* ``step``: ``predicate(before, label, log, after) -> bool``, True when the transition is fine; checked on
  every transition.
* ``sometimes``: True when the interesting thing happened, over a state (``over="state"``, the default) or a
  transition (``over="step"``); the verdict says whether it is reachable at all.  It guards the other
  properties against vacuity.

A property may instead carry a ``rule``: the predicate written with the connectives of `klpmc.logic` over
views (``rule(view)`` or ``rule(before, step, after)``). The model reads its states through views, so it is
the model that turns a rule into the predicate the engine runs (``model.predicate(prop)``); a model that
offers symbolic views turns the same rule into a z3 formula (`klpmc.logic.vacuity`).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Final, Literal, TypeAlias

__all__ = [
    "KINDS",
    "VERDICTS",
    "Kind",
    "Over",
    "Property",
    "StatePredicate",
    "StepPredicate",
    "Verdict",
    "always",
    "sometimes",
    "state_property",
    "step",
    "step_property",
]

Kind: TypeAlias = Literal["always", "step", "sometimes"]
Over: TypeAlias = Literal["state", "step"]
Verdict: TypeAlias = Literal["holds", "violated", "reachable", "unreachable", "undetermined"]

KINDS: Final[tuple[Kind, ...]] = ("always", "step", "sometimes")
VERDICTS: Final[tuple[Verdict, ...]] = ("holds", "violated", "reachable", "unreachable", "undetermined")

StatePredicate: TypeAlias = Callable[[Any], bool]
StepPredicate: TypeAlias = Callable[[Any, Hashable, tuple[object, ...], Any], bool]

# the verdict a finished, complete run gives when the predicate never fired
_SETTLED_AT_END: Final[dict[Kind, Verdict]] = {"always": "holds", "step": "holds", "sometimes": "unreachable"}
# the verdict a run gives as soon as the predicate fires (False for always/step, True for sometimes)
_SETTLED_ON_FIRE: Final[dict[Kind, Verdict]] = {
    "always": "violated", "step": "violated", "sometimes": "reachable",
}


@dataclass(frozen=True)
class Property:
    """A named property: ``Property(name, kind, description, predicate, over=None, rule=None)``.

    ``over`` is what the predicate looks at: ``"state"`` or ``"step"``.  It follows from the kind for
    ``always`` (state) and ``step`` (step); for ``sometimes`` it defaults to ``"state"``.
    """

    name: str
    kind: Kind
    description: str
    predicate: Callable[..., bool] | None = field(repr=False, compare=False)
    over: Over | None = None
    rule: Callable[..., Any] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"property name must be a non-empty string, got {self.name!r}")
        if self.kind not in KINDS:
            raise ValueError(
                f"property {self.name!r}: unknown kind {self.kind!r}; kinds: {', '.join(KINDS)}"
            )
        if self.predicate is None and self.rule is None:
            raise TypeError(f"property {self.name!r}: needs a predicate or a rule")
        if self.predicate is not None and not callable(self.predicate):
            raise TypeError(f"property {self.name!r}: predicate {self.predicate!r} is not callable")
        if self.rule is not None and not callable(self.rule):
            raise TypeError(f"property {self.name!r}: rule {self.rule!r} is not callable")
        natural: Over = "step" if self.kind == "step" else "state"
        over = natural if self.over is None else self.over
        if over not in ("state", "step"):
            raise ValueError(f"property {self.name!r}: over must be 'state' or 'step', got {over!r}")
        if self.kind != "sometimes" and over != natural:
            raise ValueError(
                f"property {self.name!r}: a {self.kind!r} property is over {natural!r}, not {over!r}"
            )
        object.__setattr__(self, "over", over)

    @property
    def on_steps(self) -> bool:
        """True if the predicate takes ``(before, label, log, after)`` rather than a state."""
        return self.over == "step"

    @property
    def verdict_on_fire(self) -> Verdict:
        """The verdict once the predicate fires: ``violated`` or ``reachable``."""
        return _SETTLED_ON_FIRE[self.kind]

    @property
    def verdict_at_end(self) -> Verdict:
        """The verdict of a complete run in which the predicate never fired: ``holds`` or ``unreachable``."""
        return _SETTLED_AT_END[self.kind]


def state_property(name: str, kind: Kind, description: str, rule: Callable[..., Any]) -> Property:
    """An ``always`` or state ``sometimes`` property from a rule over one view of a state.

    The model evaluates the rule on its states (``model.predicate(prop)``); a symbolic view gives z3 the
    same rule as a formula.
    """
    return Property(name, kind, description, None, "state", rule)


def step_property(name: str, kind: Kind, description: str, rule: Callable[..., Any]) -> Property:
    """A ``step`` or step ``sometimes`` property from a rule over (view before, step view, view after)."""
    return Property(name, kind, description, None, "step", rule)


def always(name: str, description: str, predicate: StatePredicate) -> Property:
    """An invariant: ``predicate(state)`` is True on every reachable state."""
    return Property(name, "always", description, predicate)


def step(name: str, description: str, predicate: StepPredicate) -> Property:
    """A transition rule: ``predicate(before, label, log, after)`` is True on every transition."""
    return Property(name, "step", description, predicate)


def sometimes(
    name: str, description: str, predicate: Callable[..., bool], over: Over = "state"
) -> Property:
    """A reachability goal: some reachable state (or transition, with ``over="step"``) satisfies it."""
    return Property(name, "sometimes", description, predicate, over)
