"""What the properties read of a model state and a step: holders of a state, events, the callback world.

Every livepatch model shares the state vocabulary of `klpmc.models._klp`: ``KState.patches`` is
klp_patches (oldest first), ``KState.world`` keeps the life-cycle phase each callback left its object or
state in (``("obj", patch, object)`` and ``("state", id)`` keys), and a step's log carries `Event` items
for the callbacks that ran. These helpers read them; they never import a model.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

IDLE = -1
PATCHED = 1
UNPATCHED = 0

FIRST = ("setup", "pre_patch")          # brings a state or object in
SECOND = ("enable", "post_patch")
THIRD = ("disable", "pre_unpatch")
LAST = ("release", "post_unpatch")       # takes it out
STATE_CALLBACKS = FIRST + SECOND + THIRD + LAST


_last: list[Any] = [None, (), (), ()]   # the last log split into (events, state events, object events)


def _split(log: tuple[Any, ...]) -> list[Any]:
    """Split a step's log once; every rule of the same step reuses it (the engine checks them in a row)."""
    if _last[0] is not log:
        evs = tuple(e for e in log if not isinstance(e, str) and hasattr(e, "callback"))
        _last[:] = [log, evs, tuple(e for e in evs if getattr(e, "state", None) is not None),
                    tuple(e for e in evs if getattr(e, "object", None) is not None)]
    return _last


def events(log: tuple[Any, ...]) -> Iterator[Any]:
    """The structured events of a step's log (callbacks, shadow frees)."""
    return iter(_split(log)[1])


def state_events(log: tuple[Any, ...]) -> Iterator[Any]:
    """Per-state callbacks and shadow frees (events that name a state id)."""
    return iter(_split(log)[2])


def object_events(log: tuple[Any, ...]) -> Iterator[Any]:
    return iter(_split(log)[3])


def world(s: Any) -> dict[Any, Any]:
    return dict(s.world)


def state_ids(s: Any) -> set[int]:
    ids = {st.id for p in s.patches for st in p.states}
    ids.update(k[1] for k, _ in s.world if k[0] == "state")
    return ids


def holders(s: Any, sid: int) -> list[Any]:
    """The listed patches (enabled or in transition) that carry state sid, oldest first."""
    return [p for p in s.patches if any(st.id == sid for st in p.states)]


def held(s: Any, sid: int) -> bool:
    return bool(holders(s, sid))


def is_shadow(s: Any, sid: int) -> bool:
    return any(st.is_shadow for p in holders(s, sid) for st in p.states if st.id == sid)


def shadow_ids(s: Any) -> set[int]:
    return {sh[1] for sh in s.shadows}


def insmod_ret(log: tuple[Any, ...]) -> int:
    """What insmod returned in this step (0 if it did not run or succeeded)."""
    for e in log:
        if getattr(e, "callback", None) == "insmod":
            return int(getattr(e, "ret", 0))
    return 0


def func(label: Any) -> str:
    return str(getattr(label, "func", label))


def args(label: Any) -> tuple[Any, ...]:
    return tuple(getattr(label, "args", ()))


def idle(s: Any) -> bool:
    return s.transition is None


def patch(s: Any, name: str) -> Any:
    for p in s.patches:
        if p.mod == name:
            return p
    return None


def stable_holder(s: Any, sid: int) -> bool:
    """An enabled patch that is not the transition patch holds sid."""
    return any(p.enabled and p.mod != s.transition and any(st.id == sid for st in p.states) for p in s.patches)
