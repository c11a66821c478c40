"""The property catalogue: named rules of the livepatch core, each a separate small entry.

``CATALOGUE`` holds every property; ``REQUIRES[name]`` the model features a property needs (a rule on
per-state callbacks means nothing for mainline). `applicable(features)` is what a model checks by default.
"""

from __future__ import annotations

from . import kernel, mainline, reach, states

CATALOGUE = mainline.CATALOGUE + states.CATALOGUE + reach.CATALOGUE + kernel.CATALOGUE
REQUIRES: dict[str, tuple[str, ...]] = {**mainline.REQUIRES, **states.REQUIRES, **reach.REQUIRES,
                                        **kernel.REQUIRES}


def applicable(features: tuple[str, ...]) -> tuple[str, ...]:
    """Names of the properties whose required features the model has, in catalogue order."""
    return tuple(p.name for p in CATALOGUE if all(f in features for f in REQUIRES.get(p.name, ())))


__all__ = ["CATALOGUE", "REQUIRES", "applicable"]
