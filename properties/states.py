"""Rules for per-state callbacks and shadow variables: what the authors of the series say they intend.

The intended semantics (series.md section 7): a state is a reference count of the patches that hold it;
its first pair of callbacks runs when the count goes 0->1, the second pair when it goes 1->0, the last
holder cleans up; per id the life cycle is
``(setup (release | enable (disable enable)* disable release))*``; shadow variables tied to a state are
freed right after its release, once. The callback names are the POC's (setup, enable, disable, release)
or v1's (pre_patch, post_patch, pre_unpatch, post_unpatch); the rules read them by position.
"""

from __future__ import annotations

from typing import Any

from klpmc.props import Property

from . import _view as v

# life-cycle automaton per state id: callback position -> {phase before: phase after}; None = not set up
_NEXT: dict[tuple[str, ...], dict[str | None, str | None]] = {
    v.FIRST: {None: "setup"},
    v.SECOND: {"setup": "enabled", "disabled": "enabled"},
    v.THIRD: {"enabled": "disabled"},
    v.LAST: {"setup": None, "disabled": None},
}


def _position(callback: str) -> tuple[str, ...] | None:
    for pos in _NEXT:
        if callback in pos:
            return pos
    return None


def lifecycle(before: Any, label: Any, log: tuple[Any, ...], after: Any) -> bool:
    """Per state id the callbacks follow setup (release | enable (disable enable)* disable release)."""
    world = v.world(before)
    for e in v.state_events(log):
        pos = _position(e.callback)
        if pos is None:
            continue
        key = ("state", e.state)
        if pos is v.FIRST and e.ret:
            if key in world:
                return False
            continue
        nxt = _NEXT[pos]
        cur = world.get(key)
        if cur not in nxt:
            return False
        new = nxt[cur]
        if new is None:
            world.pop(key, None)
        else:
            world[key] = new
    return True


def release_after_setup(before: Any, label: Any, log: tuple[Any, ...], after: Any) -> bool:
    """A state's release (post_unpatch) runs only after its setup (pre_patch) succeeded, once for it."""
    world = v.world(before)
    for e in v.state_events(log):
        key = ("state", e.state)
        if e.callback in v.FIRST and not e.ret:
            world[key] = "setup"
        elif e.callback in v.LAST:
            if key not in world:
                return False
            del world[key]
    return True


def released_on_leave(s: Any) -> bool:
    """A state whose setup succeeded is released by the time no listed patch holds it."""
    return all(v.held(s, key[1]) for key, _ in s.world if key[0] == "state")


def set_up_while_held(s: Any) -> bool:
    """Every state a listed patch holds with a setup callback has been set up (ran and succeeded, or inherited)."""
    world = dict(s.world)
    return all(("state", st.id) in world for p in s.patches for st in p.states if "setup" in st.callbacks)


def setup_only_when_new(before: Any, label: Any, log: tuple[Any, ...], after: Any) -> bool:
    """Setup (pre_patch) of a state runs only when no other patch holds it (holders 0 -> 1)."""
    for e in v.state_events(log):
        if e.callback in v.FIRST and any(p.mod != e.patch for p in v.holders(before, e.state)):
            return False
    return True


def release_only_when_gone(before: Any, label: Any, log: tuple[Any, ...], after: Any) -> bool:
    """Release (post_unpatch) of a state runs only when no patch holds it any more (holders 1 -> 0)."""
    return not any(e.callback in v.LAST and v.held(after, e.state) for e in v.state_events(log))


def _being_replaced(s: Any, name: str) -> bool:
    """The patch is listed before a replace patch in transition: it is being replaced, or (reversed) kept."""
    t = v.patch(s, s.transition) if s.transition is not None else None
    if t is None or not t.replace:
        return False
    names = [p.mod for p in s.patches]
    return names.index(name) < names.index(t.mod)


def no_callback_on_kept_state(before: Any, label: Any, log: tuple[Any, ...], after: Any) -> bool:
    """No state callback runs for a state that an enabled patch holds before and after the step and keeps.

    A patch that a pending atomic replace is taking away does not keep its states; when that replace is
    reversed, giving the states back (the undo of their disable) is part of the same exchange.
    """
    touched = {e.state for e in v.state_events(log) if e.callback in v.STATE_CALLBACKS}
    for sid in touched:
        for p in before.patches:
            q = v.patch(after, p.mod)
            if (q is not None and p.enabled and q.enabled and p.mod != before.transition
                    and p.mod != after.transition and any(st.id == sid for st in p.states)
                    and not _being_replaced(before, p.mod) and not _being_replaced(after, p.mod)):
                return False
    return True


def shadow_freed_on_leave(s: Any) -> bool:
    """Shadow variables of a state exist only while a listed patch holds that state."""
    return all(v.held(s, sid) for sid in v.shadow_ids(s))


def shadow_free_once(before: Any, label: Any, log: tuple[Any, ...], after: Any) -> bool:
    """Shadow variables of a state are freed only when it is released or still set up, never twice."""
    world = v.world(before)
    pending: set[int] = set()
    for e in v.state_events(log):
        key = ("state", e.state)
        if e.callback in v.FIRST and not e.ret:
            world[key] = "setup"
        elif e.callback in v.LAST:
            world.pop(key, None)
            pending.add(e.state)
        elif e.callback == "shadow_free_all":
            if e.state in pending:
                pending.discard(e.state)
            elif key not in world:
                return False
            if v.held(after, e.state):
                return False
    return True


def _state_world(s: Any) -> tuple[Any, ...]:
    return tuple(sorted((k, p) for k, p in s.world if k[0] == "state"))


def failed_enable_unchanged(before: Any, label: Any, log: tuple[Any, ...], after: Any) -> bool:
    """A failed enable leaves every state, shadow variable and listed patch as before."""
    if v.func(label) != "klp_enable_patch" or not v.insmod_ret(log):
        return True
    return (_state_world(before) == _state_world(after) and before.shadows == after.shadows
            and [p.mod for p in before.patches] == [p.mod for p in after.patches])


def reversal_restores(before: Any, label: Any, log: tuple[Any, ...], after: Any) -> bool:
    """A reversed transition, once complete, leaves every state as it was before the transition started."""
    if before.transition is None or after.transition is not None:
        return True
    world = dict(before.world)
    if ("@reversed",) not in world:
        return True
    return _state_world(after) == world.get(("@start",), ())


CATALOGUE = (
    Property("state-lifecycle", "step",
             "per state: setup (release | enable (disable enable)* disable release), across patches",
             lifecycle),
    Property("release-after-setup", "step",
             "release only after a successful setup of the state, exactly once for it", release_after_setup),
    Property("released-on-leave", "always",
             "a state that was set up is released by the time no listed patch holds it", released_on_leave),
    Property("set-up-while-held", "always", "every state a listed patch holds has been set up",
             set_up_while_held),
    Property("setup-only-when-new", "step", "setup runs only on the 0->1 holder transition of a state",
             setup_only_when_new),
    Property("release-only-when-gone", "step", "release runs only on the 1->0 holder transition of a state",
             release_only_when_gone),
    Property("no-callback-on-kept-state", "step",
             "no callback for a state that an enabled patch keeps holding", no_callback_on_kept_state),
    Property("shadow-freed-on-leave", "always",
             "shadow variables of a state exist only while a listed patch holds the state",
             shadow_freed_on_leave),
    Property("shadow-free-once", "step",
             "shadow variables of a state are freed with its release, when it leaves, never twice",
             shadow_free_once),
    Property("failed-enable-unchanged", "step",
             "a failed enable leaves every state, shadow variable and listed patch as before",
             failed_enable_unchanged),
    Property("reversal-restores", "step",
             "a reversed transition leaves every state as before the transition started", reversal_restores),
)

REQUIRES = {p.name: ("state_callbacks",) for p in CATALOGUE}
REQUIRES["shadow-freed-on-leave"] = ("state_callbacks", "shadow_states")
REQUIRES["shadow-free-once"] = ("state_callbacks", "shadow_states")
