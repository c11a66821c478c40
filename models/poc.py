"""Mainline plus [POC 1/7] "livepatch: Add callbacks for introducing and removing states".

Provenance: models/upstream.py (mainline kernel/livepatch as of mid-2026) with the seed patch of Petr Mladek's
POC series applied: <20231110170428.6664-2-pmladek@suse.com> (10 Nov 2023). The patch adds
`struct klp_state_callbacks` (setup, enable, disable, release, setup_succeeded) and, in state.c,
is_state_in_other_patches(), klp_{setup,enable,disable,release}_states() and
klp_{enable,disable,release}_obsolete_states(), called from __klp_enable_patch() (with a new err_states
label), __klp_disable_patch() and klp_complete_transition(). Everything else is mainline: per-object
callbacks stay, and so does the versioned compatibility rule, under which a replace patch must carry every
state of the listed patches, so enabling one never finds an obsolete state to disable or release. But
klp_release_obsolete_states() walks every other listed patch, newer ones included, and a reversed disable of
a replace patch completes as a replace: then it releases the states of non-replace patches loaded after it.
As in upstream.py, each function mirrors the kernel function of the same name: same order of calls, same
guards, and the error labels of the C code (`err_states`, then `err`).

A state callback exists when its name is in the state's spec (`StateSpec.callbacks`); the fixture's
``state_callback(k, name, patch, state)`` is its body. setup_succeeded is `KlpState.succeeded`; 1/7 never
resets it (2/7 does), so a patch whose enable fails after setup may see release twice: once from err_states
or klp_setup_states(), once from klp_cancel_transition() -> klp_complete_transition(UNPATCHED).

Left out:
- Task switching is one event, `klp_try_complete_transition()`, that may happen whenever a transition is
  pending; only the tasks a test module puts to sleep in a patched function are tracked one by one
  (`klp_check_stack`). Signals (`klp_send_signals`) and the delayed-work timing are not modelled.
- ftrace, relocations and kobjects are abstracted to flags (`obj->patched`, `obj->mod`); the structural
  checks of klp_enable_patch() (NULL patch, missing funcs, not a livepatch module) cannot fail here.
- Freeing is synchronous: klp_free_patch_async() takes the patch off klp_patches at once.
"""

from __future__ import annotations

from ._config import kselftest_presets
from ._def import make_model_def
from ._fixtures import upstream_fixtures
from ._kernel import (
    klp_init_tasks,
    klp_patch_object,
    klp_reset_tasks,
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

# The family tree (tests/test_family.py): this file is models/upstream.py with [POC 1/7]: the functions
# below changed, added, removed; every other function is upstream's, character for character.
BASE = "upstream"
CHANGES = ("klp_complete_transition", "__klp_disable_patch", "__klp_enable_patch")
ADDS = ("klp_state_callback", "is_state_in_other_patches", "klp_setup_states", "klp_enable_states",
        "klp_disable_states", "klp_release_states", "klp_enable_obsolete_states", "klp_disable_obsolete_states",
        "klp_release_obsolete_states", "__klp_enable_patch_err")
REMOVES = ()

LOG = "livepatch"

# -- core.h: the callback wrappers -----------------------------------------------------------------


def klp_pre_patch_callback(k: Kernel, patch: KlpPatch, obj: KlpObject) -> int:
    """klp_pre_patch_callback(): run pre_patch; post_unpatch_enabled records whether it succeeded."""
    ret = 0
    if obj.spec is not None and "pre_patch" in obj.spec.callbacks:
        ret = patch.spec.fixture.pre_patch(k, patch, obj)
        k.event("pre_patch", patch.mod, obj.name, ret=ret)
    obj.post_unpatch_enabled = not ret
    return ret


def klp_post_patch_callback(k: Kernel, patch: KlpPatch, obj: KlpObject) -> None:
    """klp_post_patch_callback()."""
    if obj.spec is not None and "post_patch" in obj.spec.callbacks:
        k.event("post_patch", patch.mod, obj.name)
        patch.spec.fixture.post_patch(k, patch, obj)


def klp_pre_unpatch_callback(k: Kernel, patch: KlpPatch, obj: KlpObject) -> None:
    """klp_pre_unpatch_callback()."""
    if obj.spec is not None and "pre_unpatch" in obj.spec.callbacks:
        k.event("pre_unpatch", patch.mod, obj.name)
        patch.spec.fixture.pre_unpatch(k, patch, obj)


def klp_post_unpatch_callback(k: Kernel, patch: KlpPatch, obj: KlpObject) -> None:
    """klp_post_unpatch_callback(): only after a successful pre_patch; always clears the flag."""
    if obj.post_unpatch_enabled and obj.spec is not None and "post_unpatch" in obj.spec.callbacks:
        k.event("post_unpatch", patch.mod, obj.name)
        patch.spec.fixture.post_unpatch(k, patch, obj)
    obj.post_unpatch_enabled = False


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


def klp_is_state_compatible(patch: KlpPatch, old_state: KlpState) -> bool:
    """klp_is_state_compatible(): a replace patch must carry the state; versions never go down."""
    state = klp_get_state(patch, old_state.id)
    # A cumulative livepatch must handle all already modified states.
    if state is None:
        return not patch.replace
    return state.version >= old_state.version


def klp_is_patch_compatible(k: Kernel, patch: KlpPatch) -> bool:
    """klp_is_patch_compatible(): check the new patch against every state of every listed patch."""
    for old_patch in klp_for_each_patch(k):
        for old_state in klp_for_each_state(old_patch):
            if not klp_is_state_compatible(patch, old_state):
                return False
    return True


def klp_state_callback(k: Kernel, name: str, patch: KlpPatch, state: KlpState) -> int:
    """state->callbacks.<name>(patch, state): the module's callback, if the state has one; 0 otherwise."""
    if name not in state.spec.callbacks:
        return 0
    if name == "setup":
        ret = patch.spec.fixture.state_callback(k, name, patch, state)
        k.event(name, patch.mod, state=state.id, ret=ret)
        return ret
    k.event(name, patch.mod, state=state.id)
    patch.spec.fixture.state_callback(k, name, patch, state)
    return 0


def is_state_in_other_patches(k: Kernel, patch: KlpPatch, state: KlpState) -> bool:
    """is_state_in_other_patches(): some other patch on klp_patches has a state with this id."""
    for old_patch in klp_for_each_patch(k):
        if old_patch is patch:
            continue
        for old_state in klp_for_each_state(old_patch):
            if old_state.id == state.id:
                return True
    return False


def klp_setup_states(k: Kernel, patch: KlpPatch) -> int:
    """klp_setup_states(): setup for each new state; setup_succeeded also when there is nothing to call."""
    for state in klp_for_each_state(patch):
        if not is_state_in_other_patches(k, patch, state) and "setup" in state.spec.callbacks:
            err = klp_state_callback(k, "setup", patch, state)
            if err:
                # err:
                klp_release_states(k, patch)
                return err
        state.succeeded = True
    return 0


def klp_enable_states(k: Kernel, patch: KlpPatch) -> None:
    """klp_enable_states(): enable for each state no other patch has."""
    for state in klp_for_each_state(patch):
        if is_state_in_other_patches(k, patch, state):
            continue
        if "enable" not in state.spec.callbacks:
            continue
        klp_state_callback(k, "enable", patch, state)


def klp_disable_states(k: Kernel, patch: KlpPatch) -> None:
    """klp_disable_states(): disable for each state no other patch has."""
    for state in klp_for_each_state(patch):
        if is_state_in_other_patches(k, patch, state):
            continue
        if "disable" not in state.spec.callbacks:
            continue
        klp_state_callback(k, "disable", patch, state)


def klp_release_states(k: Kernel, patch: KlpPatch) -> None:
    """klp_release_states(): release for each state no other patch has, if its setup succeeded."""
    for state in klp_for_each_state(patch):
        if is_state_in_other_patches(k, patch, state):
            continue
        if "release" not in state.spec.callbacks:
            continue
        if state.succeeded:
            klp_state_callback(k, "release", patch, state)


def klp_enable_obsolete_states(k: Kernel, patch: KlpPatch) -> None:
    """klp_enable_obsolete_states(): klp_enable_states() of every other listed patch."""
    for old_patch in klp_for_each_patch(k):
        if old_patch is not patch:
            klp_enable_states(k, old_patch)


def klp_disable_obsolete_states(k: Kernel, patch: KlpPatch) -> None:
    """klp_disable_obsolete_states(): klp_disable_states() of every other listed patch."""
    for old_patch in klp_for_each_patch(k):
        if old_patch is not patch:
            klp_disable_states(k, old_patch)


def klp_release_obsolete_states(k: Kernel, patch: KlpPatch) -> None:
    """klp_release_obsolete_states(): klp_release_states() of every other listed patch."""
    for old_patch in klp_for_each_patch(k):
        if old_patch is not patch:
            klp_release_states(k, old_patch)


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
    """klp_complete_transition(): finish the transition; post_(un)patch callbacks for loaded objects."""
    patch = k.transition
    assert patch is not None
    direction = "patching" if k.target == KLP_TRANSITION_PATCHED else "unpatching"
    k.pr(LOG, f"'{patch.mod}': completing {direction} transition")

    if patch.replace and k.target == KLP_TRANSITION_PATCHED:
        klp_unpatch_replaced_patches(k, patch)
        klp_discard_nops(patch)
        klp_release_obsolete_states(k, patch)

    if k.target == KLP_TRANSITION_UNPATCHED:
        # All tasks have transitioned to KLP_TRANSITION_UNPATCHED so we can now remove the new functions
        # from the func_stack.
        klp_unpatch_objects(patch)

    klp_reset_tasks(k)

    if k.target == KLP_TRANSITION_PATCHED:
        klp_enable_states(k, patch)
    elif k.target == KLP_TRANSITION_UNPATCHED:
        klp_release_states(k, patch)

    for obj in klp_for_each_object(patch):
        if not klp_is_object_loaded(obj):
            continue
        if k.target == KLP_TRANSITION_PATCHED:
            klp_post_patch_callback(k, patch, obj)
        elif k.target == KLP_TRANSITION_UNPATCHED:
            klp_post_unpatch_callback(k, patch, obj)

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
    elif patch.replace:
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
    elif patch.replace:
        for p in klp_for_each_patch(k):
            if p is not patch:
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
    """klp_add_nops(): a nop func (and a dynamic object) for every func of the listed patches it lacks."""
    for old_patch in klp_for_each_patch(k):
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
    """klp_init_patch(): nops for a replace patch, objects initialised, then list_add_tail(klp_patches)."""
    if patch.replace:
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
    """klp_free_replaced_patches_async(): free every patch listed before the new one."""
    for old_patch in klp_for_each_patch(k):
        if old_patch is new_patch:
            return
        klp_free_patch_async(k, old_patch)


def klp_unpatch_replaced_patches(k: Kernel, new_patch: KlpPatch) -> None:
    """klp_unpatch_replaced_patches(): disable and unpatch the replaced patches; none of their callbacks."""
    for old_patch in klp_for_each_patch(k):
        if old_patch is new_patch:
            return
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
    """__klp_disable_patch(): start the unpatching transition; pre_unpatch for patched objects."""
    if not patch.enabled:  # WARN_ON
        return -EINVAL
    if k.transition is not None:
        return -EBUSY

    klp_init_transition(k, patch, KLP_TRANSITION_UNPATCHED)

    klp_disable_states(k, patch)

    for obj in klp_for_each_object(patch):
        if obj.patched:
            klp_pre_unpatch_callback(k, patch, obj)

    klp_start_transition(k)
    patch.enabled = False
    klp_try_switch_tasks(k)  # klp_try_complete_transition(): completing is a step of its own
    return 0


def __klp_enable_patch(k: Kernel, patch: KlpPatch) -> int:
    """__klp_enable_patch(): start the patching transition; pre_patch and patch each loaded object."""
    if k.transition is not None:
        return -EBUSY
    if patch.enabled:  # WARN_ON
        return -EINVAL

    k.pr(LOG, f"enabling patch '{patch.mod}'")

    klp_init_transition(k, patch, KLP_TRANSITION_PATCHED)

    ret = klp_setup_states(k, patch)
    if ret:
        return __klp_enable_patch_err(k, patch, ret)  # goto err

    if patch.replace:
        klp_disable_obsolete_states(k, patch)

    for obj in klp_for_each_object(patch):
        if not klp_is_object_loaded(obj):
            continue

        ret = klp_pre_patch_callback(k, patch, obj)
        if ret:
            k.pr(LOG, f"pre-patch callback failed for object '{obj_label(obj)}'")
            break

        ret = klp_patch_object(k, patch, obj)
        if ret:
            k.pr(LOG, f"failed to patch object '{obj_label(obj)}'")
            break
    else:
        klp_start_transition(k)
        patch.enabled = True
        klp_try_switch_tasks(k)  # klp_try_complete_transition(): completing is a step of its own
        return 0

    # err_states:
    if patch.replace:
        klp_enable_obsolete_states(k, patch)

    klp_release_states(k, patch)
    return __klp_enable_patch_err(k, patch, ret)


def __klp_enable_patch_err(k: Kernel, patch: KlpPatch, ret: int) -> int:
    """The err: label of __klp_enable_patch(): cancel the transition that klp_init_transition() set up."""
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
            if patch is not k.transition:
                klp_pre_unpatch_callback(k, patch, obj)
            k.pr(LOG, f"reverting patch '{patch.mod}' on unloading module '{mod.name}'")
            klp_unpatch_object(obj)
            klp_post_unpatch_callback(k, patch, obj)
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
            ret = klp_pre_patch_callback(k, patch, obj)
            if ret:
                k.pr(LOG, f"pre-patch callback failed for object '{obj.name}'")
                break
            ret = klp_patch_object(k, patch, obj)
            if ret:
                k.pr(LOG, f"failed to apply patch '{patch.mod}' to module '{mod.name}' ({ret})")
                klp_post_unpatch_callback(k, patch, obj)
                break
            if patch is not k.transition:
                klp_post_patch_callback(k, patch, obj)
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

FIXTURES = upstream_fixtures(klp_get_state, klp_get_prev_state)


MODEL = make_model_def(
    __name__,
    name="poc",
    summary="mainline + [POC 1/7]: per-state setup/enable/disable/release beside the per-object callbacks",
    features=("object_callbacks", "versions", "state_callbacks"),
    presets=kselftest_presets(FIXTURES),
)
