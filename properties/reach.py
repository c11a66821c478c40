"""Reachability (`sometimes`) rules: they show the interesting paths are explored, so nothing holds vacuously."""

from __future__ import annotations

from typing import Any

from klpmc.props import Property

from . import _view as v


def replace_drops_state(before: Any, label: Any, log: tuple[Any, ...], after: Any) -> bool:
    """An atomic replace completes and a state the replaced patches held is no longer held."""
    t = before.transition
    if t is None or after.transition is not None:
        return False
    tp = v.patch(before, t)
    if tp is None or not tp.replace or v.patch(after, t) is None:
        return False
    return any(v.held(before, sid) and not v.held(after, sid) for sid in v.state_ids(before))


def reverse_replace_enable(before: Any, label: Any, log: tuple[Any, ...], after: Any) -> bool:
    """The enable transition of a replace patch is reversed while older patches are still listed."""
    if v.func(label) != "enabled_store" or before.transition is None or before.target != v.PATCHED:
        return False
    tp = v.patch(before, before.transition)
    return bool(tp is not None and tp.replace and len(before.patches) > 1 and after.target == v.UNPATCHED)


def disable_reversed(before: Any, label: Any, log: tuple[Any, ...], after: Any) -> bool:
    """A disable transition is reversed."""
    return (v.func(label) == "enabled_store" and before.target == v.UNPATCHED
            and after.target == v.PATCHED)


def setup_fails_after_success(before: Any, label: Any, log: tuple[Any, ...], after: Any) -> bool:
    """A state's setup fails after another setup of the same enable succeeded."""
    ok = False
    for e in v.state_events(log):
        if e.callback in v.FIRST:
            if e.ret and ok:
                return True
            ok = ok or not e.ret
    return False


def module_loads_in_transition(before: Any, label: Any, log: tuple[Any, ...], after: Any) -> bool:
    """A target module loads while a transition is pending."""
    return v.func(label) == "klp_module_coming" and before.transition is not None


def disable_refused(before: Any, label: Any, log: tuple[Any, ...], after: Any) -> bool:
    """Writing 0 to an enabled patch's `enabled` changes nothing although no transition is pending."""
    return (v.func(label) == "enabled_store" and before.transition is None and after == before
            and v.args(label)[1:] == (0,))


def state_shared(s: Any) -> bool:
    """Two listed patches hold the same state."""
    return any(len(v.holders(s, sid)) > 1 for sid in v.state_ids(s))


CATALOGUE = (
    Property("reach-replace-drops-state", "sometimes", "a completed replace drops a state older patches held",
             replace_drops_state, over="step"),
    Property("reach-reverse-replace-enable", "sometimes",
             "the enable of a replace patch is reversed while older patches are listed",
             reverse_replace_enable, over="step"),
    Property("reach-disable-reversed", "sometimes", "a disable transition is reversed", disable_reversed,
             over="step"),
    Property("reach-setup-fails-after-success", "sometimes",
             "a setup fails after an earlier setup of the same enable succeeded", setup_fails_after_success,
             over="step"),
    Property("reach-module-in-transition", "sometimes", "a target module loads during a transition",
             module_loads_in_transition, over="step"),
    Property("reach-state-shared", "sometimes", "two listed patches hold the same state", state_shared),
    Property("reach-disable-refused", "sometimes", "a disable is refused while no transition is pending",
             disable_refused, over="step"),
)

REQUIRES = {
    "reach-replace-drops-state": ("state_callbacks",),
    "reach-setup-fails-after-success": ("state_callbacks",),
    "reach-state-shared": ("state_callbacks",),
    "reach-module-in-transition": ("object_callbacks",),
    "reach-disable-refused": ("block_disable",),
}
