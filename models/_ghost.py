"""The history of the callbacks: one observer of the kernel log writes it, for every model alike.

The rules about callbacks need to know what the callbacks did so far (a state set up, enabled, disabled,
released) and, for a reversed transition, how things stood when it started. That is not a kernel
variable: it is what a reviewer reads off dmesg. The kernel code (Python transcription or real C) only
logs: the callbacks' events and the transition's own lines (transition.c):

- ``'<patch>': initializing <patching|unpatching> transition`` (klp_init_transition): the history as it
  stands is the start of the transition;
- ``'<patch>': reversing transition from ...`` (klp_reverse_transition): it is reversed once more;
- ``'<patch>': <patching|unpatching> complete`` (klp_complete_transition): the transition is over.

`Observer.apply` reads a step's log in order and updates the history fields of `models._fields` in a
state vector.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._fields import DISABLED, ENABLED, NONE, SETUP, Table

# the phase a callback leaves its state or object in, by position: the first callback (setup /
# pre_patch) brings it in, the last (release / post_unpatch) takes it out
PHASE_OF = {"setup": SETUP, "pre_patch": SETUP, "enable": ENABLED, "post_patch": ENABLED,
            "disable": DISABLED, "pre_unpatch": DISABLED, "release": NONE, "post_unpatch": NONE}

LOG_PREFIX = "livepatch: '"


class Observer:
    """Writes the history fields of a table's vectors from the logs of steps."""

    def __init__(self, table: Table) -> None:
        slot = table.slot
        self.ws = {key[1]: i for key, i in slot.items() if key[0] == "ws"}
        self.start = {key[1]: i for key, i in slot.items() if key[0] == "start"}
        self.wo = {(key[1], key[2]): i for key, i in slot.items() if key[0] == "wo"}
        self.started = slot[("started",)]
        self.reversed = slot[("reversed",)]

    def apply(self, vec: list[int], log: Sequence[Any],
              watch: tuple[set[int], set[int]] | None = None) -> None:
        """Update the history in ``vec`` (a state's values) with what the log of one step says.

        With ``watch``, the slots read and written are added to its two sets (the relation extraction).
        """
        for item in log:
            if type(item) is str:
                if item.startswith(LOG_PREFIX):
                    self._transition(vec, item, watch)
                continue
            callback = getattr(item, "callback", None)
            phase = PHASE_OF.get(callback)  # type: ignore[arg-type]
            if phase is None or item.ret:
                continue                       # not a life-cycle callback, or a failing first one
            i = self.ws.get(item.state) if item.state is not None else self.wo.get((item.patch, item.object))
            if i is not None:
                vec[i] = phase
                if watch is not None:
                    watch[1].add(i)

    def _transition(self, vec: list[int], line: str, watch: tuple[set[int], set[int]] | None) -> None:
        rest = line[line.find("': ", len(LOG_PREFIX)) + 3:]
        if rest.startswith("initializing "):
            vec[self.started] = 1
            vec[self.reversed] = 0
            for sid, i in self.start.items():
                vec[i] = vec[self.ws[sid]]
            if watch is not None:
                watch[0].update(self.ws.values())
                watch[1].update((self.started, self.reversed, *self.start.values()))
        elif rest.startswith("reversing transition"):
            vec[self.reversed] ^= 1
            if watch is not None:
                watch[0].add(self.reversed)
                watch[1].add(self.reversed)
        elif rest in ("patching complete", "unpatching complete"):
            vec[self.started] = 0
            vec[self.reversed] = 0
            for i in self.start.values():
                vec[i] = NONE
            if watch is not None:
                watch[1].update((self.started, self.reversed, *self.start.values()))


__all__ = ["PHASE_OF", "Observer"]
