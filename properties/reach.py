"""Reachability (`sometimes`) rules: they show the interesting paths are explored, so nothing holds vacuously."""

from __future__ import annotations

from typing import Any

from klpmc.models import StepView as Step
from klpmc.models import View

from klpmc import models as v
from klpmc.logic import AND, IF, NOT, OR, and_then, any_of, sum_of
from klpmc.props import state_property, step_property

from .mainline import completing_replace


def replace_drops_state(b: View, t: Step, a: View) -> Any:
    """An atomic replace completes and a state the replaced patches held is no longer held."""
    return and_then(completing_replace(b, a), lambda: any_of(AND(b.held(sid), NOT(a.held(sid)))
                                                           for sid in b.state_ids()))


def reverse_replace_enable(b: View, t: Step, a: View) -> Any:
    """The enable transition of a replace patch is reversed while older patches are still listed."""
    return AND(t.called("enabled_store"), NOT(b.idle()), b.target == v.PATCHED, a.target == v.UNPATCHED,
               b.transition_replace(), sum_of(IF(b.listed(p), 1, 0) for p in b.patch_names()) > 1)


def disable_reversed(b: View, t: Step, a: View) -> Any:
    """A disable transition is reversed."""
    return AND(t.called("enabled_store"), b.target == v.UNPATCHED, a.target == v.PATCHED)


def setup_fails_after_success(b: View, t: Step, a: View) -> Any:
    """A state's setup fails after another setup of the same enable succeeded."""
    found: Any = False
    ok: Any = False
    for e in t.events:
        setup = AND(t.present(e), t.is_state_event(e), t.cb(e, v.FIRST))
        found = OR(found, AND(setup, t.failed(e), ok))
        ok = OR(ok, AND(setup, NOT(t.failed(e))))
    return found


def module_loads_in_transition(b: View, t: Step, a: View) -> Any:
    """A target module loads while a transition is pending."""
    return AND(t.called("klp_module_coming"), NOT(b.idle()))


def disable_refused(b: View, t: Step, a: View) -> Any:
    """Writing 0 to an enabled patch's `enabled` changes nothing although no transition is pending."""
    return AND(t.called("enabled_store"), t.value == 0, b.idle(), a.same_as(b))


def state_shared(s: View) -> Any:
    """Two listed patches hold the same state."""
    return any_of(s.shared(sid) for sid in s.state_ids())


CATALOGUE = (
    step_property("reach-replace-drops-state", "sometimes", "a completed replace drops a state older patches held",
                  replace_drops_state),
    step_property("reach-reverse-replace-enable", "sometimes",
                  "the enable of a replace patch is reversed while older patches are listed",
                  reverse_replace_enable),
    step_property("reach-disable-reversed", "sometimes", "a disable transition is reversed", disable_reversed),
    step_property("reach-setup-fails-after-success", "sometimes",
                  "a setup fails after an earlier setup of the same enable succeeded", setup_fails_after_success),
    step_property("reach-module-in-transition", "sometimes", "a target module loads during a transition",
                  module_loads_in_transition),
    state_property("reach-state-shared", "sometimes", "two listed patches hold the same state", state_shared),
    step_property("reach-disable-refused", "sometimes", "a disable is refused while no transition is pending",
                  disable_refused),
)

REQUIRES = {
    "reach-replace-drops-state": ("state_callbacks",),
    "reach-setup-fails-after-success": ("state_callbacks",),
    "reach-state-shared": ("state_callbacks",),
    "reach-module-in-transition": ("object_callbacks",),
    "reach-disable-refused": ("block_disable",),
}
