"""The v1 series on mainline: per-state callbacks, shadow variables tied to states, block_disable.

Provenance: models/upstream.py (mainline kernel/livepatch) with "[PATCH v1 00/19] livepatch: Better integrate
callbacks and shadow variables with the states API" (Petr Mladek, 15 Jan 2025,
<20250115082431.5550-{1..20}-pmladek@suse.com>) applied. The kernel patches of the series are 01/19 (state
callbacks pre_patch/post_patch/pre_unpatch/post_unpatch, is_state_in_other_patches(), klp_states_*() and the
*_replaced() helpers with their static flag, called from __klp_enable_patch(), __klp_disable_patch() and
klp_complete_transition()), 02/19 (is_shadow: klp_shadow_free_all() right after post_unpatch, inside the
pre_patch_succeeded guard), 04/19 (block_disable: the compatibility rule of atomic replace and the refusal in
enabled_store(); state versions removed), 05/19 (state->data removed) and 19/19 (per-object callbacks
removed). The other patches change selftests, samples and documentation; their test modules are in
`models/_fixtures_v1.py`.

Names: a state callback exists when its canonical name (setup/enable/disable/release, by position) is in the
state's spec; pre_patch_succeeded is `KlpState.succeeded`; the static bool
klp_states_pre_unpatch_replaced_called is ``k.statics[REPLACED_CALLED]``; its WARN_ON is an event.

What the checker finds (manifest reasons; models/refcount.py has the fix and the smallest traces):
- The *_replaced() helpers walk every other patch, not only the older ones that klp_unpatch_replaced_patches()
  takes away. When the disable of a replace patch that is not the newest is reversed, complete(PATCHED) runs
  post_unpatch and frees the shadow variables of the states of newer patches, which stay enabled.
- A state shared by two patches that one atomic replace drops is never released: each old patch sees the other
  in is_state_in_other_patches(), so neither runs pre_unpatch/post_unpatch, and the shadow variables leak (the
  leak the Sashiko review of the replace_set RFC reported).

Left out:
- Task switching is one event, `klp_try_complete_transition()`, that may happen whenever a transition is
  pending; only the tasks a test module puts to sleep in a patched function are tracked one by one
  (`klp_check_stack`). Signals (`klp_send_signals`) and the delayed-work timing are not modelled.
- ftrace, relocations and kobjects are abstracted to flags (`obj->patched`, `obj->mod`); the structural
  checks of klp_enable_patch() (NULL patch, missing funcs, not a livepatch module) cannot fail here.
- Freeing is synchronous: klp_free_patch_async() takes the patch off klp_patches at once.
- klp_shadow_free_all() calls the dtor under a spinlock; the model has no contexts.
"""

from __future__ import annotations

from ._config import Config
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

# The family tree (tests/test_family.py): this file is models/upstream.py with the v1 series: the functions
# below changed, added, removed; every other function is upstream's, character for character.
BASE = "upstream"
CHANGES = ("klp_is_state_compatible", "klp_is_patch_compatible", "klp_complete_transition", "__klp_disable_patch",
           "__klp_enable_patch", "enabled_store", "klp_cleanup_module_patches_limited", "klp_module_coming")
ADDS = ("klp_patch_disable_blocked", "is_state_in_other_patches", "klp_state_has_callback", "klp_state_callback",
        "klp_state_shadow_dtor", "klp_states_pre_patch", "klp_states_post_patch", "klp_states_pre_unpatch",
        "klp_states_post_unpatch", "klp_states_pre_unpatch_replaced", "klp_states_post_unpatch_replaced",
        "klp_states_post_patch_replaced")
REMOVES = ("klp_pre_patch_callback", "klp_post_patch_callback", "klp_pre_unpatch_callback", "klp_post_unpatch_callback")

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


def klp_is_state_compatible(patch: KlpPatch, old_state: KlpState) -> bool:
    """klp_is_state_compatible() (v1 04/19): the new patch carries the state, or the old one can drop it."""
    state = klp_get_state(patch, old_state.id)
    return not (state is None and old_state.block_disable)


def klp_is_patch_compatible(k: Kernel, patch: KlpPatch) -> bool:
    """klp_is_patch_compatible() (v1 04/19): only an atomic replace can drop states, so only it is checked."""
    if not patch.replace:
        return True
    for old_patch in klp_for_each_patch(k):
        for old_state in klp_for_each_state(old_patch):
            if not klp_is_state_compatible(patch, old_state):
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
    """klp_states_pre_unpatch_replaced(): pre_unpatch of the states the replaced patches alone have."""
    # Make sure that it was cleared at the end of the last transition.
    if k.statics[REPLACED_CALLED]:  # WARN_ON
        k.event("WARN_ON(klp_states_pre_unpatch_replaced_called)", patch.mod)
    for old_patch in klp_for_each_patch(k):
        if old_patch is not patch:
            klp_states_pre_unpatch(k, old_patch)
    k.statics[REPLACED_CALLED] = True


def klp_states_post_unpatch_replaced(k: Kernel, patch: KlpPatch) -> None:
    """klp_states_post_unpatch_replaced(): post_unpatch of the states the replaced patches alone have."""
    for old_patch in klp_for_each_patch(k):
        if old_patch is not patch:
            klp_states_post_unpatch(k, old_patch)
    # Reset for the next transition.
    k.statics[REPLACED_CALLED] = False


def klp_states_post_patch_replaced(k: Kernel, patch: KlpPatch) -> None:
    """klp_states_post_patch_replaced(): undo pre_unpatch_replaced when a replace is cancelled or reversed."""
    # This only occurs when a transition is canceled after a preparation step failed.
    if not k.statics[REPLACED_CALLED]:
        return
    for old_patch in klp_for_each_patch(k):
        if old_patch is not patch:
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

    if patch.replace and k.target == KLP_TRANSITION_PATCHED:
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
        if patch.replace:
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
        if patch.replace:
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

MODEL = make_model_def(
    __name__,
    name="v1",
    summary="[PATCH v1 00/19] per-state callbacks, shadow variables tied to states, block_disable (Jan 2025)",
    features=("state_callbacks", "shadow_states", "block_disable"),
    presets={"selftest": SELFTEST},
)
