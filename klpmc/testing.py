"""Checks that any model should pass, for the tests of models and of the engine.

These are plain functions that raise AssertionError with a message naming the culprit, so that a model's
test can call them on its presets without knowing anything about the engine's insides.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from klpmc.engine import Model, Result, replay

__all__ = ["assert_next_steps_pure", "assert_traces_replay"]


def assert_next_steps_pure(model: Model, states: Iterable[Any]) -> None:
    """``next_steps`` leaves its input unchanged, and yields the same steps twice in the same order."""
    for state in states:
        before = copy.deepcopy(state)
        digest = hash(state)
        first = list(model.next_steps(state))
        second = list(model.next_steps(state))
        assert state == before and hash(state) == digest, f"next_steps mutated its input {state!r}"
        assert first == second, f"next_steps is not deterministic on {state!r}"


def assert_traces_replay(model: Model, result: Result) -> None:
    """Every trace in ``result`` is rebuilt exactly by `replay` from its labels, and by their strings."""
    for r in result.properties:
        if r.trace is None:
            continue
        rebuilt = replay(model, r.trace.labels, init=r.trace.init)
        assert tuple(rebuilt) == r.trace.steps, f"trace of {r.name} does not replay"
        by_text = replay(model, [str(label) for label in r.trace.labels], init=r.trace.init)
        assert [s.state for s in by_text] == [s.state for s in r.trace.steps], (
            f"trace of {r.name} does not replay from its printed labels"
        )
