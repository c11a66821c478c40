"""Rules that mainline keeps (and one it breaks by design): transitions, per-object callbacks, versions.

Each rule is a small named function over views (`klpmc.models.View`): ``always`` rules read a state,
``step`` rules a transition (before, step, after). It returns True where the rule holds, or, given
symbolic views, the z3 formula of that; the connectives come from `klpmc.logic`.
"""

from __future__ import annotations

from typing import Any

from klpmc.models import StepView as Step
from klpmc.models import View

from klpmc import models as v
from klpmc.logic import AND, IF, IMPLIES, NOT, all_of, and_then, any_of, given, scan
from klpmc.props import state_property, step_property


def one_transition(s: View) -> Any:
    """At most one transition; the target is idle iff there is no transition patch, which is listed."""
    return IF(s.idle(), s.target == v.IDLE, AND(s.target != v.IDLE, s.transition_listed()))


def post_unpatch_after_pre_patch(b: View, t: Step, a: View) -> Any:
    """A per-object post_unpatch runs only after that object's pre_patch succeeded, at most once."""
    def step(set_up: Any, e: Any, key: Any) -> tuple[Any, Any]:
        post = t.cb(e, ("post_unpatch",))
        came = AND(t.cb(e, ("pre_patch",)), NOT(t.failed(e)))
        return IF(post, False, IF(came, True, set_up)), IMPLIES(post, set_up)

    return scan(t.events, b.obj_keys(), t.is_obj_event, t.ev_obj, lambda k: b.wobj_key(k) != v.NONE, step)


def pre_unpatch_after_post_patch(b: View, t: Step, a: View) -> Any:
    """A per-object pre_unpatch runs only after that object's post_patch."""
    def step(phase: Any, e: Any, key: Any) -> tuple[Any, Any]:
        pre = t.cb(e, ("pre_unpatch",))
        came = AND(t.cb(e, ("pre_patch",)), NOT(t.failed(e)))
        new = IF(t.cb(e, ("post_patch",)), v.ENABLED,
                 IF(pre, v.DISABLED, IF(t.cb(e, ("post_unpatch",)), v.NONE, IF(came, v.SETUP, phase))))
        return new, IMPLIES(pre, phase == v.ENABLED)

    return scan(t.events, b.obj_keys(), t.is_obj_event, t.ev_obj, b.wobj_key, step)


def version_monotonic(b: View, t: Step, a: View) -> Any:
    """Enabling a patch never lowers the version of a state that is installed."""
    return given(t.called("klp_enable_patch"), lambda: all_of(
        IMPLIES(AND(b.held(sid), a.held(sid)), a.max_version(sid) >= b.max_version(sid))
        for sid in b.state_ids()))


def no_reenable(b: View, t: Step, a: View) -> Any:
    """A disabled patch is enabled again only by reversing its own pending disable transition."""
    return all_of(NOT(and_then(AND(a.enabled(p), NOT(b.enabled(p))),
                               lambda p=p: AND(a.listed(p), b.listed(p), NOT(b.is_transition(p)))))
                  for p in a.patch_names())


def forced_module_pinned(b: View, t: Step, a: View) -> Any:
    """The module of a forced patch is never removed."""
    return all_of(given(b.pinned(m), lambda m=m: a.loaded(m)) for m in b.module_names())


def completing_replace(b: View, a: View) -> Any:
    """The step completes the transition of a listed atomic-replace patch, which stays listed."""
    return and_then(AND(NOT(b.idle()), a.idle()), lambda: any_of(
        AND(b.is_transition(p), b.listed(p), b.replace(p), a.listed(p)) for p in b.patch_names()))


def replaced(b: View, a: View, p: str) -> Any:
    """p is one of the patches a completing replace took off klp_patches."""
    return AND(b.listed(p), NOT(b.is_transition(p)), NOT(a.listed(p)))


def replaced_get_no_unpatch_callbacks(b: View, t: Step, a: View) -> Any:
    """Design of mainline: the patches an atomic replace takes away run none of their unpatch callbacks."""
    return given(completing_replace(b, a), lambda: all_of(
        NOT(AND(t.present(e), t.is_obj_event(e), t.cb(e, ("pre_unpatch", "post_unpatch")),
                any_of(AND(t.ev_patch(e) == b.pid(p), replaced(b, a, p)) for p in b.patch_names())))
        for e in t.events))


def objects_cleaned_up_before_free(s: View) -> Any:
    """Every object whose pre_patch succeeded gets its post_unpatch before its patch leaves klp_patches."""
    return all_of(IMPLIES(s.wobj_key(k) != v.NONE, s.listed(s.obj_key_patch(k))) for k in s.obj_keys())


CATALOGUE = (
    state_property("one-transition", "always",
                   "at most one transition patch, listed, and the target is idle exactly when there is none",
                   one_transition),
    step_property("post-unpatch-after-pre-patch", "step",
                  "per-object post_unpatch only after that object's pre_patch succeeded, at most once",
                  post_unpatch_after_pre_patch),
    step_property("pre-unpatch-after-post-patch", "step",
                  "per-object pre_unpatch only after that object's post_patch", pre_unpatch_after_post_patch),
    step_property("version-monotonic", "step", "an enable never lowers the version of an installed state",
                  version_monotonic),
    step_property("no-reenable", "step",
                  "a disabled or replaced patch is never enabled again (except by reversing its own disable)",
                  no_reenable),
    step_property("forced-module-pinned", "step", "the module of a forced patch is never removed",
                  forced_module_pinned),
    step_property("replaced-no-unpatch-callbacks", "step",
                  "design: patches taken away by an atomic replace run none of their unpatch callbacks",
                  replaced_get_no_unpatch_callbacks),
    state_property("objects-cleaned-before-free", "always",
                   "every object whose pre_patch succeeded gets post_unpatch before its patch is freed",
                   objects_cleaned_up_before_free),
)

REQUIRES = {
    "post-unpatch-after-pre-patch": ("object_callbacks",),
    "pre-unpatch-after-post-patch": ("object_callbacks",),
    "version-monotonic": ("versions",),
    "replaced-no-unpatch-callbacks": ("object_callbacks",),
    "objects-cleaned-before-free": ("object_callbacks",),
}
