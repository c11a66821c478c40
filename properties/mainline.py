"""Rules that mainline keeps (and one it breaks by design): transitions, per-object callbacks, versions.

Each rule is a small named predicate. ``always`` rules read a state, ``step`` rules a transition
(before, label, log, after); True means the rule holds there.
"""

from __future__ import annotations

from typing import Any

from klpmc.props import Property

from . import _view as v


def one_transition(s: Any) -> bool:
    """At most one transition; the target is idle iff there is no transition patch, which is listed."""
    if s.transition is None:
        return bool(s.target == v.IDLE)
    return s.target != v.IDLE and v.patch(s, s.transition) is not None


def post_unpatch_after_pre_patch(before: Any, label: Any, log: tuple[Any, ...], after: Any) -> bool:
    """A per-object post_unpatch runs only after that object's pre_patch succeeded, at most once."""
    world = v.world(before)
    for e in v.object_events(log):
        key = ("obj", e.patch, e.object)
        if e.callback == "post_unpatch":
            if key not in world:
                return False
            del world[key]
        elif e.callback == "pre_patch" and not e.ret:
            world[key] = "setup"
    return True


def pre_unpatch_after_post_patch(before: Any, label: Any, log: tuple[Any, ...], after: Any) -> bool:
    """A per-object pre_unpatch runs only after that object's post_patch."""
    world = v.world(before)
    for e in v.object_events(log):
        key = ("obj", e.patch, e.object)
        if e.callback == "pre_unpatch" and world.get(key) != "enabled":
            return False
        if e.callback == "post_patch":
            world[key] = "enabled"
        elif e.callback == "pre_unpatch":
            world[key] = "disabled"
        elif e.callback == "post_unpatch":
            world.pop(key, None)
        elif e.callback == "pre_patch" and not e.ret:
            world[key] = "setup"
    return True


def _max_versions(s: Any) -> dict[int, int]:
    out: dict[int, int] = {}
    for p in s.patches:
        for st in p.states:
            out[st.id] = max(out.get(st.id, 0), st.version)
    return out


def version_monotonic(before: Any, label: Any, log: tuple[Any, ...], after: Any) -> bool:
    """Enabling a patch never lowers the version of a state that is installed."""
    if v.func(label) != "klp_enable_patch":
        return True
    old, new = _max_versions(before), _max_versions(after)
    return all(new.get(sid, ver) >= ver for sid, ver in old.items())


def no_reenable(before: Any, label: Any, log: tuple[Any, ...], after: Any) -> bool:
    """A disabled patch is enabled again only by reversing its own pending disable transition."""
    for p in after.patches:
        old = v.patch(before, p.mod)
        if p.enabled and old is not None and not old.enabled and before.transition != p.mod:
            return False
    return True


def forced_module_pinned(before: Any, label: Any, log: tuple[Any, ...], after: Any) -> bool:
    """The module of a forced patch is never removed."""
    gone = {m.name for m in before.modules} - {m.name for m in after.modules}
    return not any(m.pinned for m in before.modules if m.name in gone)


def _replaced(before: Any, after: Any) -> set[str]:
    """Patches a completing replace transition took off klp_patches."""
    t = before.transition
    if t is None or after.transition is not None:
        return set()
    tp = v.patch(before, t)
    if tp is None or not tp.replace or v.patch(after, t) is None:
        return set()
    listed = {p.mod for p in after.patches}
    return {p.mod for p in before.patches if p.mod != t and p.mod not in listed}


def replaced_get_no_unpatch_callbacks(before: Any, label: Any, log: tuple[Any, ...], after: Any) -> bool:
    """Design of mainline: the patches an atomic replace takes away run none of their unpatch callbacks."""
    gone = _replaced(before, after)
    return not any(e.patch in gone and e.callback in ("pre_unpatch", "post_unpatch")
                   for e in v.object_events(log))


def objects_cleaned_up_before_free(s: Any) -> bool:
    """Every object whose pre_patch succeeded gets its post_unpatch before its patch leaves klp_patches."""
    listed = {p.mod for p in s.patches}
    return all(key[1] in listed for key, _ in s.world if key[0] == "obj")


CATALOGUE = (
    Property("one-transition", "always",
             "at most one transition patch, listed, and the target is idle exactly when there is none",
             one_transition),
    Property("post-unpatch-after-pre-patch", "step",
             "per-object post_unpatch only after that object's pre_patch succeeded, at most once",
             post_unpatch_after_pre_patch),
    Property("pre-unpatch-after-post-patch", "step",
             "per-object pre_unpatch only after that object's post_patch", pre_unpatch_after_post_patch),
    Property("version-monotonic", "step", "an enable never lowers the version of an installed state",
             version_monotonic),
    Property("no-reenable", "step",
             "a disabled or replaced patch is never enabled again (except by reversing its own disable)",
             no_reenable),
    Property("forced-module-pinned", "step", "the module of a forced patch is never removed",
             forced_module_pinned),
    Property("replaced-no-unpatch-callbacks", "step",
             "design: patches taken away by an atomic replace run none of their unpatch callbacks",
             replaced_get_no_unpatch_callbacks),
    Property("objects-cleaned-before-free", "always",
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
