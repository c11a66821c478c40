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

from klpmc.models import StepView as Step
from klpmc.models import View

from klpmc import models as v
from klpmc.logic import AND, IF, IMPLIES, NOT, OR, all_of, and_then, any_of, given, scan
from klpmc.props import state_property, step_property


def _state_scan(b: View, t: Step, init: Any, step: Any) -> Any:
    """Run a per-state-id automaton over the step's state events (callbacks and shadow frees)."""
    return scan(t.events, b.state_ids(), t.is_state_event, lambda e: e.state, init, step)


def lifecycle(b: View, t: Step, a: View) -> Any:
    """Per state id the callbacks follow setup (release | enable (disable enable)* disable release)."""
    def step(phase: Any, e: Any, sid: Any) -> tuple[Any, Any]:
        first, second = t.cb(e, v.FIRST), t.cb(e, v.SECOND)
        third, last = t.cb(e, v.THIRD), t.cb(e, v.LAST)
        ok = AND(IMPLIES(first, phase == v.NONE),
                 IMPLIES(second, OR(phase == v.SETUP, phase == v.DISABLED)),
                 IMPLIES(third, phase == v.ENABLED),
                 IMPLIES(last, OR(phase == v.SETUP, phase == v.DISABLED)))
        new = IF(AND(first, NOT(t.failed(e))), v.SETUP,
                 IF(second, v.ENABLED, IF(third, v.DISABLED, IF(last, v.NONE, phase))))
        return new, ok

    return _state_scan(b, t, b.wstate, step)


def release_after_setup(b: View, t: Step, a: View) -> Any:
    """A state's release (post_unpatch) runs only after its setup (pre_patch) succeeded, once for it."""
    def step(set_up: Any, e: Any, sid: Any) -> tuple[Any, Any]:
        last = t.cb(e, v.LAST)
        came = AND(t.cb(e, v.FIRST), NOT(t.failed(e)))
        return IF(came, True, IF(last, False, set_up)), IMPLIES(last, set_up)

    return _state_scan(b, t, lambda sid: b.wstate(sid) != v.NONE, step)


def released_on_leave(s: View) -> Any:
    """A state whose setup succeeded is released by the time no listed patch holds it."""
    return all_of(IMPLIES(s.wstate(sid) != v.NONE, s.held(sid)) for sid in s.state_ids())


def set_up_while_held(s: View) -> Any:
    """Every state a listed patch holds with a setup callback has been set up (ran and succeeded, or inherited)."""
    return all_of(IMPLIES(AND(s.holds(p, sid), s.has_setup(p, sid)), s.wstate(sid) != v.NONE)
                  for p in s.patch_names() for sid in s.state_ids())


def _for_state_events(t: Step, names: tuple[str, ...], body: Any) -> Any:
    """body(e) for every event of the step that runs one of the callbacks ``names`` for a state."""
    return all_of(given(AND(t.present(e), t.is_state_event(e), t.cb(e, names)), lambda e=e: body(e))
                  for e in t.events)


def setup_only_when_new(b: View, t: Step, a: View) -> Any:
    """Setup (pre_patch) of a state runs only when no other patch holds it (holders 0 -> 1)."""
    return _for_state_events(t, v.FIRST, lambda e: NOT(any_of(
        AND(e.state == sid, b.holds(p, sid), t.ev_patch(e) != b.pid(p))
        for sid in b.state_ids() for p in b.patch_names())))


def release_only_when_gone(b: View, t: Step, a: View) -> Any:
    """Release (post_unpatch) of a state runs only when no patch holds it any more (holders 1 -> 0)."""
    return _for_state_events(t, v.LAST, lambda e: NOT(any_of(
        AND(e.state == sid, a.held(sid)) for sid in a.state_ids())))


def no_callback_on_kept_state(b: View, t: Step, a: View) -> Any:
    """No state callback runs for a state that an enabled patch holds before and after the step and keeps.

    A patch that a pending atomic replace is taking away does not keep its states; when that replace is
    reversed, giving the states back (the undo of their disable) is part of the same exchange.
    """
    def keeps(p: str, sid: int) -> Any:
        return and_then(AND(b.holds(p, sid), b.enabled(p), a.enabled(p), NOT(b.is_transition(p)),
                            NOT(a.is_transition(p))),
                        lambda: AND(NOT(b.being_replaced(p)), NOT(a.being_replaced(p))))

    return _for_state_events(t, v.STATE_CALLBACKS, lambda e: NOT(any_of(
        and_then(e.state == sid, lambda sid=sid, p=p: keeps(p, sid))
        for sid in b.state_ids() for p in b.patch_names())))


def shadow_freed_on_leave(s: View) -> Any:
    """Shadow variables of a state exist only while a listed patch holds that state."""
    return all_of(IMPLIES(s.has_shadow(sid), s.held(sid)) for sid in s.state_ids())


def shadow_free_once(b: View, t: Step, a: View) -> Any:
    """Shadow variables of a state are freed only when it is released or still set up, never twice."""
    def step(cur: Any, e: Any, sid: Any) -> tuple[Any, Any]:
        set_up, pending = cur
        came = AND(t.cb(e, v.FIRST), NOT(t.failed(e)))
        last, free = t.cb(e, v.LAST), t.cb(e, ("shadow_free_all",))
        ok = IMPLIES(free, AND(OR(pending, set_up), NOT(a.held(sid))))
        return (IF(came, True, IF(last, False, set_up)), IF(last, True, IF(free, False, pending))), ok

    return _state_scan(b, t, lambda sid: (b.wstate(sid) != v.NONE, False), step)


def failed_enable_unchanged(b: View, t: Step, a: View) -> Any:
    """A failed enable leaves every state, shadow variable and listed patch as before."""
    return given(AND(t.called("klp_enable_patch"), t.insmod_ret != 0), lambda: AND(
        b.state_world_equals(a), b.shadows() == a.shadows(), b.same_order(a)))


def reversal_restores(b: View, t: Step, a: View) -> Any:
    """A reversed transition, once complete, leaves every state as it was before the transition started."""
    return given(AND(NOT(b.idle()), a.idle(), b.reversed()), lambda: all_of(
        a.wstate(sid) == b.start(sid) for sid in b.state_ids()))


CATALOGUE = (
    step_property("state-lifecycle", "step",
                  "per state: setup (release | enable (disable enable)* disable release), across patches",
                  lifecycle),
    step_property("release-after-setup", "step",
                  "release only after a successful setup of the state, exactly once for it", release_after_setup),
    state_property("released-on-leave", "always",
                   "a state that was set up is released by the time no listed patch holds it", released_on_leave),
    state_property("set-up-while-held", "always", "every state a listed patch holds has been set up",
                   set_up_while_held),
    step_property("setup-only-when-new", "step", "setup runs only on the 0->1 holder transition of a state",
                  setup_only_when_new),
    step_property("release-only-when-gone", "step", "release runs only on the 1->0 holder transition of a state",
                  release_only_when_gone),
    step_property("no-callback-on-kept-state", "step",
                  "no callback for a state that an enabled patch keeps holding", no_callback_on_kept_state),
    state_property("shadow-freed-on-leave", "always",
                   "shadow variables of a state exist only while a listed patch holds the state",
                   shadow_freed_on_leave),
    step_property("shadow-free-once", "step",
                  "shadow variables of a state are freed with its release, when it leaves, never twice",
                  shadow_free_once),
    step_property("failed-enable-unchanged", "step",
                  "a failed enable leaves every state, shadow variable and listed patch as before",
                  failed_enable_unchanged),
    step_property("reversal-restores", "step",
                  "a reversed transition leaves every state as before the transition started", reversal_restores),
)

REQUIRES = {p.name: ("state_callbacks",) for p in CATALOGUE}
REQUIRES["shadow-freed-on-leave"] = ("state_callbacks", "shadow_states")
REQUIRES["shadow-free-once"] = ("state_callbacks", "shadow_states")
