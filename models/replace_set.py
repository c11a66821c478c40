"""replace_set: v1's per-state callbacks, each atomic replace scoped to the patches of its own set.

Provenance: models/v1.py ("[PATCH v1 00/19]", Jan 2025) with Yafang Shao's "[RFC PATCH 0/6] livepatch:
Introduce replace set support" (13 May 2026, <20260513143321.26185-{1..7}-laoar.shao@gmail.com>) and the
rules of its v2 (29 May 2026, <20260529034542.68766-{1..5}-laoar.shao@gmail.com>):

- RFC 1/6 / v2 2/4: ``bool replace`` becomes ``replace_set``; every patch replaces the older patches of its
  set: klp_add_nops(), klp_unpatch_replaced_patches(), klp_free_replaced_patches_async() and the forced
  marks of klp_force_transition() act on the same set only, and the ``if (replace)`` guards go (complete
  PATCHED always unpatches the replaced patches, try_complete always frees them).
- RFC 2/6 (= v1 01/19): klp_states_{pre_unpatch,post_unpatch,post_patch}_replaced() act on the older patches
  with the same set; they are called without ``if (replace)``. is_state_in_other_patches() stays unfiltered.
  RFC 3/6 and 4/6 are v1 02/19 and 05/19; v1 04/19 (block_disable, versions removed) is kept from v1.
- v2 rules: there is one enabled livepatch per set (by construction: a new one replaces the old one), and
  livepatches in different sets must not use the same state id (klp_is_state_compatible()). Refusals print
  mainline's "Livepatch patch (%s) is not compatible with the already installed livepatches." (-EINVAL),
  as v2 does. Inside a set v2 keeps the version rule; with versions removed (v1 04/19) v1's block_disable
  rule takes its place, so a replace can still drop a state and run the old patch's callbacks.
- v2's klp_force_transition() does not mark the transition patch forced (the RFC did); the model does as v2.

How a configuration's ``replace`` maps to a set: see klp_replace_set(). A patch with a ``replace_set`` uses
it; otherwise replace=true is the default set 0 and replace=false a set of its own (the v2 selftests turned
replace=1 into "the same set as the old patch" and replace=0 into "another set").

What the checker finds: none of v1's two bugs can happen here. One patch per set is stable at a time, so a
replace never has a newer patch of its own set when its disable is reversed, and never replaces two patches
that share a state; state ids are not shared across sets. The price is reachability: with replace=false a set
of its own, two patches can no longer share a state (reach-state-shared is unreachable outside one set).

Left out:
- v2's refusal of two sets patching the same function (klp_find_func() across sets): every patch of a
  generic configuration patches vmlinux_func, so the rule would forbid every configuration with two sets;
  the state callbacks do not depend on it.
- RFC 6/6 (replace_set packed into the shadow variable id): state ids are unique across sets here, so the
  shadow ids are too.
- The rest as in models/v1.py: task switching as one event except tracked tasks; ftrace, relocations and
  kobjects as flags; synchronous freeing.
"""

from __future__ import annotations

from typing import Any

from ._config import Config, PatchConfig, StateConfig
from ._def import make_model_def
from ._fixtures_v1 import v1_fixtures
from ._kernel import (
    Dtor,
    klp_init_tasks,
    klp_patch_object,
    klp_reset_tasks,
    klp_shadow_free_all,
    klp_try_switch_task,
    klp_try_switch_tasks,
    klp_unpatch_object,
    klp_unpatch_objects,
    klp_update_patch_state_all,
)
from ._klp import (
    EBUSY,
    EINVAL,
    ENOENT,
    KLP_TRANSITION_IDLE,
    KLP_TRANSITION_PATCHED,
    KLP_TRANSITION_UNPATCHED,
    Kernel,
    KlpObject,
    KlpPatch,
    KlpState,
    Module,
    ObjS,
    klp_for_each_object,
    klp_for_each_patch,
    klp_for_each_state,
    klp_is_module,
    klp_is_object_loaded,
    obj_label,
)

# The family tree (tests/test_family.py): this file is models/v1.py with replace_set (RFC) and its v2
# rules: the functions below changed, added, removed; every other function is v1's, character for character.
BASE = "v1"
CHANGES = ("klp_is_state_compatible", "klp_is_patch_compatible", "klp_states_pre_unpatch_replaced",
           "klp_states_post_unpatch_replaced", "klp_states_post_patch_replaced", "klp_complete_transition",
           "klp_try_complete_transition", "klp_force_transition", "klp_add_nops", "klp_init_patch",
           "klp_free_replaced_patches_async", "klp_unpatch_replaced_patches", "__klp_enable_patch")
ADDS = ("klp_replace_set",)
REMOVES = ()

LOG = "livepatch"

# -- state.c ---------------------------------------------------------------------------------------


def klp_get_state(patch: KlpPatch, id: int) -> KlpState | None:
    """klp_get_state(): the patch's state with this id, or None."""
    for state in klp_for_each_state(patch):
        if state.id == id:
            return state
    return None


def klp_get_prev_state(k: Kernel, id: int) -> KlpState | None:
    """klp_get_prev_state(): the newest state with this id among the patches before the transition patch."""
    last_state = None
    if k.transition is None:  # WARN_ON_ONCE
        return None
    for patch in klp_for_each_patch(k):
        if patch is k.transition:
            break
        state = klp_get_state(patch, id)
        if state is not None:
            last_state = state
    return last_state


def klp_replace_set(patch: KlpPatch) -> Any:
    """patch->replace_set (RFC 1/6, v2 2/4), which takes the place of bool replace.

    A configuration or test module that gives a replace_set uses it. One that only says replace (the v1
    selftest modules, v1-style configurations) is mapped the way the v2 selftests were converted:
    replace=true joins the default set 0, which every atomic-replace patch shares; replace=false gets a set
    of its own, named after its module, so that it replaces nothing and nothing replaces it.
    """
    if patch.spec.replace_set is not None:
        return patch.spec.replace_set
    return 0 if patch.replace else f"own:{patch.mod}"


def klp_is_state_compatible(patch: KlpPatch, old_patch: KlpPatch, old_state: KlpState) -> bool:
    """klp_is_state_compatible(): per set, v1's rule; across sets, v2's "no state id shared".

    Inside a set the new patch replaces the old one, so v1 04/19 applies: it carries the state, or the old
    patch can drop it (not block_disable); v2 writes this rule with versions, which v1 removed. Livepatches
    in different sets must not use the same state id (v2 2/4).
    """
    state = klp_get_state(patch, old_state.id)
    if klp_replace_set(patch) == klp_replace_set(old_patch):
        return not (state is None and old_state.block_disable)
    return state is None


def klp_is_patch_compatible(k: Kernel, patch: KlpPatch) -> bool:
    """klp_is_patch_compatible() (v2 2/4): every state of every listed patch; no shortcut for non-replace."""
    for old_patch in klp_for_each_patch(k):
        for old_state in klp_for_each_state(old_patch):
            if not klp_is_state_compatible(patch, old_patch, old_state):
                return False
    return True


def klp_patch_disable_blocked(patch: KlpPatch) -> bool:
    """klp_patch_disable_blocked() (v1 04/19): some state of the patch has block_disable."""
    return any(state.block_disable for state in klp_for_each_state(patch))


def is_state_in_other_patches(k: Kernel, patch: KlpPatch, state: KlpState) -> bool:
    """is_state_in_other_patches() (v1 01/19): another patch on klp_patches has a state with this id."""
    for p in klp_for_each_patch(k):
        if p is patch:
            continue
        for s in klp_for_each_state(p):
            if s.id == state.id:
                return True
    return False


# the state callbacks by their v1 names; the spec names them canonically (setup/enable/disable/release)
STATE_CALLBACK = {"pre_patch": "setup", "post_patch": "enable", "pre_unpatch": "disable",
                  "post_unpatch": "release"}


def klp_state_has_callback(state: KlpState, name: str) -> bool:
    """state->callbacks.<name> is set."""
    return STATE_CALLBACK[name] in state.spec.callbacks


def klp_state_callback(k: Kernel, name: str, patch: KlpPatch, state: KlpState) -> int:
    """state->callbacks.<name>(patch, state): the test module's code, then the event the checker sees."""
    ret = patch.spec.fixture.state_callback(k, name, patch, state)
    k.event(name, patch.mod, state=state.id, ret=ret or 0)
    return ret or 0


def klp_state_shadow_dtor(patch: KlpPatch, state: KlpState) -> Dtor:
    """state->callbacks.shadow_dtor (v1 02/19), or NULL."""
    if not state.spec.shadow_dtor:
        return None
    fixture = patch.spec.fixture
    return lambda k, obj, data: fixture.shadow_dtor(k, patch.mod, state.id, obj, data)


def klp_states_pre_patch(k: Kernel, patch: KlpPatch) -> int:
    """klp_states_pre_patch(): pre_patch of every state no other patch has; the first error is returned.

    pre_patch_succeeded is set also when the callback is skipped (a shared state, or no callback).
    """
    for state in klp_for_each_state(patch):
        if not is_state_in_other_patches(k, patch, state) and klp_state_has_callback(state, "pre_patch"):
            err = klp_state_callback(k, "pre_patch", patch, state)
            if err:
                return err
        state.succeeded = True
    return 0


def klp_states_post_patch(k: Kernel, patch: KlpPatch) -> None:
    """klp_states_post_patch(): post_patch of every state no other patch has."""
    for state in klp_for_each_state(patch):
        if is_state_in_other_patches(k, patch, state):
            continue
        if klp_state_has_callback(state, "post_patch"):
            klp_state_callback(k, "post_patch", patch, state)


def klp_states_pre_unpatch(k: Kernel, patch: KlpPatch) -> None:
    """klp_states_pre_unpatch(): pre_unpatch of every state no other patch has."""
    for state in klp_for_each_state(patch):
        if is_state_in_other_patches(k, patch, state):
            continue
        if klp_state_has_callback(state, "pre_unpatch"):
            klp_state_callback(k, "pre_unpatch", patch, state)


def klp_states_post_unpatch(k: Kernel, patch: KlpPatch) -> None:
    """klp_states_post_unpatch(): post_unpatch, then the shadow variables (02/19), of each state set up.

    Skips a state another patch has, and one whose pre_patch did not succeed (a cancelled enable).
    """
    for state in klp_for_each_state(patch):
        if is_state_in_other_patches(k, patch, state):
            continue
        # This only occurs when a transition is canceled after a preparation step failed.
        if not state.succeeded:
            continue
        if klp_state_has_callback(state, "post_unpatch"):
            klp_state_callback(k, "post_unpatch", patch, state)
        if state.is_shadow:
            k.event("shadow_free_all", patch.mod, state=state.id)
            klp_shadow_free_all(k, state.id, klp_state_shadow_dtor(patch, state))
        state.succeeded = False


# static bool klp_states_pre_unpatch_replaced_called: k.statics[REPLACED_CALLED]
REPLACED_CALLED = 0
STATICS_INIT = (False,)


def klp_states_pre_unpatch_replaced(k: Kernel, patch: KlpPatch) -> None:
    """klp_states_pre_unpatch_replaced() (RFC 2/6): pre_unpatch of the states only replaced patches have."""
    # Make sure that it was cleared at the end of the last transition.
    if k.statics[REPLACED_CALLED]:  # WARN_ON
        k.event("WARN_ON(klp_states_pre_unpatch_replaced_called)", patch.mod)
    for old_patch in klp_for_each_patch(k):
        if klp_replace_set(old_patch) == klp_replace_set(patch) and old_patch is not patch:
            klp_states_pre_unpatch(k, old_patch)
    k.statics[REPLACED_CALLED] = True


def klp_states_post_unpatch_replaced(k: Kernel, patch: KlpPatch) -> None:
    """klp_states_post_unpatch_replaced() (RFC 2/6): post_unpatch of the states only replaced patches have."""
    for old_patch in klp_for_each_patch(k):
        if klp_replace_set(old_patch) == klp_replace_set(patch) and old_patch is not patch:
            klp_states_post_unpatch(k, old_patch)
    # Reset for the next transition.
    k.statics[REPLACED_CALLED] = False


def klp_states_post_patch_replaced(k: Kernel, patch: KlpPatch) -> None:
    """klp_states_post_patch_replaced() (RFC 2/6): undo pre_unpatch_replaced on a cancel or a reversal."""
    # This only occurs when a transition is canceled after a preparation step failed.
    if not k.statics[REPLACED_CALLED]:
        return
    for old_patch in klp_for_each_patch(k):
        if klp_replace_set(old_patch) == klp_replace_set(patch) and old_patch is not patch:
            klp_states_post_patch(k, old_patch)
    # Reset for the next transition.
    k.statics[REPLACED_CALLED] = False


# -- transition.c ----------------------------------------------------------------------------------


def klp_init_transition(k: Kernel, patch: KlpPatch, state: int) -> None:
    """klp_init_transition(): set the transition patch and target; every task starts in the old state."""
    assert k.target == KLP_TRANSITION_IDLE  # WARN_ON
    k.transition = patch
    k.target = state
    k.pr(LOG, f"'{patch.mod}': initializing {'patching' if state == KLP_TRANSITION_PATCHED else 'unpatching'}"
              " transition")
    klp_init_tasks(k, KLP_TRANSITION_UNPATCHED if state == KLP_TRANSITION_PATCHED else KLP_TRANSITION_PATCHED)


def klp_start_transition(k: Kernel) -> None:
    """klp_start_transition(): mark every task that still has to switch."""
    assert k.transition is not None and k.target != KLP_TRANSITION_IDLE
    direction = "patching" if k.target == KLP_TRANSITION_PATCHED else "unpatching"
    k.pr(LOG, f"'{k.transition.mod}': starting {direction} transition")


def klp_complete_transition(k: Kernel) -> None:
    """klp_complete_transition(): finish the transition; state callbacks of the patch and of the replaced."""
    patch = k.transition
    assert patch is not None
    direction = "patching" if k.target == KLP_TRANSITION_PATCHED else "unpatching"
    k.pr(LOG, f"'{patch.mod}': completing {direction} transition")

    if k.target == KLP_TRANSITION_PATCHED:
        klp_unpatch_replaced_patches(k, patch)
        klp_discard_nops(patch)
        klp_states_post_unpatch_replaced(k, patch)

    if k.target == KLP_TRANSITION_UNPATCHED:
        # All tasks have transitioned to KLP_TRANSITION_UNPATCHED so we can now remove the new functions
        # from the func_stack.
        klp_unpatch_objects(patch)

    klp_reset_tasks(k)

    if k.target == KLP_TRANSITION_PATCHED:
        klp_states_post_patch(k, patch)
    elif k.target == KLP_TRANSITION_UNPATCHED:
        # Re-enable states which should have been replaced but the transition was cancelled or reverted.
        klp_states_post_patch_replaced(k, patch)
        klp_states_post_unpatch(k, patch)

    k.pr(LOG, f"'{patch.mod}': {direction} complete")
    k.target = KLP_TRANSITION_IDLE
    k.transition = None


def klp_cancel_transition(k: Kernel) -> None:
    """klp_cancel_transition(): undo a patching transition that never started."""
    assert k.transition is not None
    if k.target != KLP_TRANSITION_PATCHED:  # WARN_ON_ONCE
        return
    k.pr(LOG, f"'{k.transition.mod}': canceling patching transition, going to unpatch")
    k.target = KLP_TRANSITION_UNPATCHED
    klp_complete_transition(k)


def klp_try_complete_transition(k: Kernel) -> bool:
    """klp_try_complete_transition(): if every task has switched, complete and free what is done.

    Returns False (nothing changes) while a tracked task cannot switch.
    """
    assert k.target != KLP_TRANSITION_IDLE and k.transition is not None
    complete = True
    for task in k.tasks:
        if not klp_try_switch_task(k, task):
            complete = False
    if not complete:
        return False

    patch = k.transition
    klp_complete_transition(k)

    # It would make more sense to free the unused patches in klp_complete_transition() but it is called
    # also from klp_cancel_transition().
    if not patch.enabled:
        klp_free_patch_async(k, patch)
    else:
        klp_free_replaced_patches_async(k, patch)
    return True


def klp_reverse_transition(k: Kernel) -> None:
    """klp_reverse_transition(): flip the direction of the pending transition; no callbacks."""
    patch = k.transition
    assert patch is not None
    direction = "patching to unpatching" if k.target == KLP_TRANSITION_PATCHED else "unpatching to patching"
    k.pr(LOG, f"'{patch.mod}': reversing transition from {direction}")
    patch.enabled = not patch.enabled
    k.target = KLP_TRANSITION_PATCHED if k.target == KLP_TRANSITION_UNPATCHED else KLP_TRANSITION_UNPATCHED
    klp_start_transition(k)


def klp_force_transition(k: Kernel) -> None:
    """klp_force_transition(): switch every task now; mark the patches whose modules stay pinned."""
    patch = k.transition
    assert patch is not None
    k.pr(LOG, "forcing remaining tasks to the patched state")
    klp_update_patch_state_all(k)
    # Set forced flag for patches being removed.
    if k.target == KLP_TRANSITION_UNPATCHED:
        patch.forced = True
    else:
        for p in klp_for_each_patch(k):
            # v2 2/4 skips the transition patch, which the RFC marked too
            if klp_replace_set(p) == klp_replace_set(patch) and p is not patch:
                p.forced = True


# -- core.c ----------------------------------------------------------------------------------------


def klp_find_object_module(k: Kernel, obj: KlpObject) -> None:
    """klp_find_object_module(): obj->mod is set only for a loaded module that is klp_alive."""
    if not klp_is_module(obj):
        return
    mod = k.modules.get(obj.name)
    obj.mod = mod is not None and mod.klp_alive


def klp_init_object(k: Kernel, patch: KlpPatch, obj: KlpObject) -> int:
    """klp_init_object(): not patched yet; find the module if it is loaded."""
    obj.patched = False
    obj.mod = False
    klp_find_object_module(k, obj)
    return 0


def klp_add_nops(k: Kernel, patch: KlpPatch) -> int:
    """klp_add_nops(): a nop func (and a dynamic object) for every func of the same set's patches it lacks."""
    for old_patch in klp_for_each_patch(k):
        if klp_replace_set(patch) != klp_replace_set(old_patch):
            continue
        for old_obj in klp_for_each_object(old_patch):
            obj = next((o for o in patch.objs if o.name == old_obj.name), None)
            if obj is None:
                obj = KlpObject(ObjS(old_obj.name, True, False, False, False, ()), None)
                patch.objs.append(obj)
            for old_func in old_obj.funcs:
                if not any(f.old_name == old_func.old_name for f in obj.funcs):
                    obj.nops.append(old_func.old_name)
                    obj.funcs.append(type(old_func)(old_func.old_name, True))
    return 0


def klp_init_patch(k: Kernel, patch: KlpPatch) -> int:
    """klp_init_patch(): nops against the same set, objects initialised, then list_add_tail(klp_patches)."""
    ret = klp_add_nops(k, patch)
    if ret:
        return ret
    for obj in klp_for_each_object(patch):
        ret = klp_init_object(k, patch, obj)
        if ret:
            return ret
    k.patches.append(patch)
    return 0


def klp_free_patch_start(k: Kernel, patch: KlpPatch) -> None:
    """klp_free_patch_start(): take the patch off klp_patches (its sysfs directory goes away)."""
    if patch in k.patches:
        k.patches.remove(patch)


def klp_free_patch_finish(k: Kernel, patch: KlpPatch) -> None:
    """klp_free_patch_finish(): drop the module reference unless the patch was forced."""
    mod = k.modules.get(patch.mod)
    if mod is not None and patch.forced:
        mod.pinned = True


def klp_free_patch_async(k: Kernel, patch: KlpPatch) -> None:
    """klp_free_patch_async(): free the patch (synchronously in the model)."""
    klp_free_patch_start(k, patch)
    klp_free_patch_finish(k, patch)


def klp_free_replaced_patches_async(k: Kernel, new_patch: KlpPatch) -> None:
    """klp_free_replaced_patches_async(): free every patch of the set listed before the new one."""
    for old_patch in klp_for_each_patch(k):
        if old_patch is new_patch:
            return
        if klp_replace_set(old_patch) != klp_replace_set(new_patch):
            continue
        klp_free_patch_async(k, old_patch)


def klp_unpatch_replaced_patches(k: Kernel, new_patch: KlpPatch) -> None:
    """klp_unpatch_replaced_patches(): disable and unpatch the replaced patches; none of their callbacks."""
    for old_patch in klp_for_each_patch(k):
        if old_patch is new_patch:
            return
        if klp_replace_set(old_patch) != klp_replace_set(new_patch):
            continue
        old_patch.enabled = False
        klp_unpatch_objects(old_patch)


def klp_discard_nops(patch: KlpPatch) -> None:
    """klp_discard_nops(): unpatch and free the nop funcs and the dynamic objects."""
    for obj in list(patch.objs):
        obj.nops = []
        obj.funcs = [f for f in obj.funcs if not f.nop]
        if obj.dynamic:
            patch.objs.remove(obj)


def __klp_disable_patch(k: Kernel, patch: KlpPatch) -> int:
    """__klp_disable_patch(): start the unpatching transition; pre_unpatch of the states it alone has."""
    if not patch.enabled:  # WARN_ON
        return -EINVAL
    if k.transition is not None:
        return -EBUSY

    klp_init_transition(k, patch, KLP_TRANSITION_UNPATCHED)

    klp_states_pre_unpatch(k, patch)

    klp_start_transition(k)
    patch.enabled = False
    klp_try_switch_tasks(k)  # klp_try_complete_transition(): completing is a step of its own
    return 0


def __klp_enable_patch(k: Kernel, patch: KlpPatch) -> int:
    """__klp_enable_patch(): pre_patch of the new states, pre_unpatch of the replaced ones, patch the objects.

    Every failure goes to err: klp_cancel_transition() -> klp_complete_transition(UNPATCHED) is the single
    rollback (post_patch of the replaced states, post_unpatch of the states whose pre_patch succeeded).
    """
    if k.transition is not None:
        return -EBUSY
    if patch.enabled:  # WARN_ON
        return -EINVAL

    k.pr(LOG, f"enabling patch '{patch.mod}'")

    klp_init_transition(k, patch, KLP_TRANSITION_PATCHED)

    ret = klp_states_pre_patch(k, patch)
    if not ret:
        klp_states_pre_unpatch_replaced(k, patch)

        # smp_wmb()
        for obj in klp_for_each_object(patch):
            if not klp_is_object_loaded(obj):
                continue

            ret = klp_patch_object(k, patch, obj)
            if ret:
                k.pr(LOG, f"failed to patch object '{obj_label(obj)}'")
                break
        else:
            klp_start_transition(k)
            patch.enabled = True
            klp_try_switch_tasks(k)  # klp_try_complete_transition(): completing is a step of its own
            return 0

    # err:
    k.pr(LOG, f"failed to enable patch '{patch.mod}'")
    klp_cancel_transition(k)
    return ret


def klp_enable_patch(k: Kernel, patch: KlpPatch) -> int:
    """klp_enable_patch(): called by the livepatch module's init; its return value is insmod's."""
    if not klp_is_patch_compatible(k, patch):
        k.pr(LOG, f"Livepatch patch ({patch.mod}) is not compatible with the already installed livepatches.")
        return -EINVAL

    # klp_init_patch_early() made `patch`; try_module_get() cannot fail here
    ret = klp_init_patch(k, patch)
    if not ret:
        ret = __klp_enable_patch(k, patch)
        if not ret:
            return 0
    # err:
    klp_free_patch_start(k, patch)
    klp_free_patch_finish(k, patch)
    return ret


def enabled_store(k: Kernel, patch: KlpPatch, enabled: bool) -> int:
    """enabled_store(): disable, or reverse the pending transition of this patch."""
    if patch.enabled == enabled:
        # already in requested state
        return -EINVAL
    if patch.enabled and klp_patch_disable_blocked(patch):
        k.pr(LOG, f"The livepatch '{patch.mod}' does not support disable")
        return -EINVAL
    if patch is k.transition:
        klp_reverse_transition(k)
        return 0
    if not enabled:
        return __klp_disable_patch(k, patch)
    # Do not allow to re-enable a disabled patch.
    return -EINVAL


def force_store(k: Kernel, patch: KlpPatch) -> int:
    """force_store(): force the pending transition of this patch."""
    if patch is not k.transition:
        return -EINVAL
    klp_force_transition(k)
    return 0


def klp_cleanup_module_patches_limited(k: Kernel, mod: Module, limit: KlpPatch | None) -> None:
    """klp_cleanup_module_patches_limited(): revert the module's objects of the patches before limit."""
    for patch in klp_for_each_patch(k):
        if patch is limit:
            break
        for obj in klp_for_each_object(patch):
            if not klp_is_module(obj) or obj.name != mod.name:
                continue
            k.pr(LOG, f"reverting patch '{patch.mod}' on unloading module '{mod.name}'")
            klp_unpatch_object(obj)
            obj.mod = False  # klp_free_object_loaded()
            break


def klp_module_coming(k: Kernel, mod: Module) -> int:
    """klp_module_coming(): patch the loading module's objects of every listed patch, oldest first."""
    mod.klp_alive = True
    for patch in klp_for_each_patch(k):
        for obj in klp_for_each_object(patch):
            if not klp_is_module(obj) or obj.name != mod.name:
                continue
            obj.mod = True
            if k.fault(("module_coming", patch.mod, obj.name)):  # klp_init_object_loaded()
                ret = -ENOENT
                k.pr(LOG, f"failed to initialize patch '{patch.mod}' for module '{mod.name}' ({ret})")
                break
            k.pr(LOG, f"applying patch '{patch.mod}' to loading module '{mod.name}'")
            ret = klp_patch_object(k, patch, obj)
            if ret:
                k.pr(LOG, f"failed to apply patch '{patch.mod}' to module '{mod.name}' ({ret})")
            break
        else:
            continue
        if ret:
            # err:
            k.pr(LOG, f"patch '{patch.mod}' failed for module '{mod.name}', refusing to load module "
                      f"'{mod.name}'")
            mod.klp_alive = False
            obj.mod = False
            klp_cleanup_module_patches_limited(k, mod, patch)
            return ret
    return 0


def klp_module_going(k: Kernel, mod: Module) -> None:
    """klp_module_going(): revert the unloading module's objects of every listed patch."""
    mod.klp_alive = False
    klp_cleanup_module_patches_limited(k, mod, None)

FIXTURES = v1_fixtures(klp_get_state, klp_get_prev_state)

SELFTEST = Config(
    "selftest",
    choices=(("test_klp_speaker_livepatch", (("applause", 1),)),
             ("test_klp_speaker_livepatch", (("applause", 1), ("pre_patch_ret", -19))),
             ("test_klp_speaker_livepatch2", (("applause", 1), ("applause2", 1), ("replace", 1)))),
    targets=("test_klp_speaker",), target_params=(("test_klp_speaker", (("block_doors", 1),)),),
    reverse=True, force=True, reload=True, fixtures=FIXTURES, module_dir=FIXTURES.module_dir)

SETS = Config(
    "sets",
    (PatchConfig("P1", True, ("vmlinux",), (StateConfig(1, 1, False, True),), replace_set=0),
     PatchConfig("P2", True, ("vmlinux",), (StateConfig(1, 1, False, True), StateConfig(2, 1, False, True)),
                 replace_set=0),
     PatchConfig("P3", False, ("vmlinux",), (StateConfig(3, 1, False, True),), replace_set=1)),
    faults=frozenset({"setup"}), reverse=True)

MODEL = make_model_def(
    __name__,
    name="replace-set",
    summary="v1 state callbacks filtered by replace_set (RFC May 2026) with the replace_set v2 rules",
    features=("state_callbacks", "shadow_states", "block_disable", "replace_set"),
    presets={"sets": SETS, "selftest": SELFTEST},
)
