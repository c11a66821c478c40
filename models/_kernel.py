"""Kernel code that no livepatch semantics variant changes: patch.c, shadow.c and the ftrace handler.

Every series modelled here (mainline, POC, v1, replace_set) leaves these functions as they are, so the
models share them. Function names follow kernel/livepatch/patch.c, shadow.c and transition.c.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._klp import (
    ENOMEM,
    KLP_TRANSITION_IDLE,
    KLP_TRANSITION_PATCHED,
    KLP_TRANSITION_UNPATCHED,
    Kernel,
    KlpObject,
    KlpPatch,
    Task,
    klp_is_object_loaded,
)

# -- patch.c ---------------------------------------------------------------------------------------


def klp_patch_object(k: Kernel, patch: KlpPatch, obj: KlpObject) -> int:
    """klp_patch_object(): put every func of obj on its ftrace func_stack.

    klp_patch_func() registers an ftrace ops only for a function no patch has patched yet; that
    registration may fail (ftrace_set_filter_ip(), -ENOMEM). A function already on a func_stack, or an
    object without functions, cannot fail.
    """
    if obj.patched:
        return 0
    for f in obj.funcs:
        if func_stack(k, obj.name, f.old_name):
            continue
        if k.fault(("patch_object", patch.mod, obj.name)):
            k.pr("livepatch", f"failed to set ftrace filter for function '{f.old_name}' ({-ENOMEM})")
            return -ENOMEM
    obj.patched = True
    return 0


def klp_unpatch_object(obj: KlpObject) -> None:
    """klp_unpatch_object(): take the object's funcs off their func_stacks."""
    obj.patched = False


def klp_unpatch_objects(patch: KlpPatch) -> None:
    """klp_unpatch_objects(): unpatch every patched object of the patch (nops included)."""
    for obj in patch.objs:
        if obj.patched:
            klp_unpatch_object(obj)


def func_stack(k: Kernel, obj_name: str, func: str) -> list[tuple[KlpPatch, bool]]:
    """The ops->func_stack of a function: (patch, is_nop) of every patched func, newest first.

    klp_patch_func() pushes on the head (list_add_rcu); patches are patched in klp_patches order both on
    enable and in klp_module_coming(), so the stack is klp_patches order reversed.
    """
    stack = []
    for patch in reversed(k.patches):
        for obj in patch.objs:
            if obj.name != obj_name or not obj.patched:
                continue
            for f in obj.funcs:
                if f.old_name == func:
                    stack.append((patch, f.nop))
    return stack


def klp_ftrace_handler(k: Kernel, obj_name: str, func: str, patch_state: int | None) -> str | None:
    """klp_ftrace_handler(): which version of func a task runs; the patch's name, or None for the original.

    ``patch_state`` is the calling task's; None stands for a task the model does not track, which has
    already switched to the target state (a process started by the test harness).
    """
    stack = func_stack(k, obj_name, func)
    if not stack:
        return None
    idx = 0
    patch, nop = stack[0]
    if patch is k.transition:
        state = k.target if patch_state is None else patch_state
        if state == KLP_TRANSITION_UNPATCHED:
            idx = 1
            if len(stack) < 2:
                return None
            patch, nop = stack[idx]
    return None if nop else patch.mod


def klp_check_stack(k: Kernel, task: Task) -> bool:
    """klp_check_stack(): False if the task sleeps in a version that the transition must replace."""
    patch = k.transition
    assert patch is not None
    for obj in patch.objs:
        if not obj.patched or obj.name != task.obj:
            continue
        for f in obj.funcs:
            if f.old_name != task.func:
                continue
            if k.target == KLP_TRANSITION_PATCHED:
                stack = func_stack(k, obj.name, f.old_name)
                below = stack[1:2]
                busy: str | None = None if not below or below[0][1] else below[0][0].mod
            else:
                busy = None if f.nop else patch.mod
            if task.impl == busy:
                return False
    return True


def klp_try_switch_task(k: Kernel, task: Task) -> bool:
    """klp_try_switch_task(): switch a tracked task to the target state unless its stack forbids it."""
    if task.patch_state == k.target:
        return True
    if not klp_check_stack(k, task):
        return False
    task.patch_state = k.target
    return True


def klp_try_switch_tasks(k: Kernel) -> None:
    """The first klp_try_complete_transition() that __klp_enable_patch() and __klp_disable_patch() make:
    every tracked task whose stack allows it switches to the target state. It never completes there (a
    user task on another CPU reaches its safe point only later), so completing is a step of its own."""
    for task in k.tasks:
        klp_try_switch_task(k, task)


def klp_init_tasks(k: Kernel, initial: int) -> None:
    """The task part of klp_init_transition(): every task starts in the initial (old) state."""
    for task in k.tasks:
        task.patch_state = initial


def klp_update_patch_state_all(k: Kernel) -> None:
    """klp_update_patch_state() on every task, as klp_force_transition() does."""
    for task in k.tasks:
        task.patch_state = k.target


def klp_reset_tasks(k: Kernel) -> None:
    """The task part of klp_complete_transition(): every task back to KLP_TRANSITION_IDLE."""
    for task in k.tasks:
        task.patch_state = KLP_TRANSITION_IDLE


# -- shadow.c --------------------------------------------------------------------------------------

Dtor = Callable[[Kernel, Any, Any], None] | None


def klp_shadow_get(k: Kernel, obj: Any, id: int) -> Any:
    """klp_shadow_get(): the data of <obj, id>, or None."""
    return k.shadows.get((obj, id))


def klp_shadow_alloc(k: Kernel, obj: Any, id: int, data: Any) -> Any:
    """klp_shadow_alloc(): a new <obj, id>; None (and a WARN) when it already exists."""
    if (obj, id) in k.shadows:
        return None
    k.shadows[(obj, id)] = data
    return data


def klp_shadow_set(k: Kernel, obj: Any, id: int, data: Any) -> None:
    """A write through the pointer klp_shadow_get() returned."""
    if (obj, id) in k.shadows:
        k.shadows[(obj, id)] = data


def klp_shadow_free(k: Kernel, obj: Any, id: int, dtor: Dtor) -> None:
    """klp_shadow_free(): remove <obj, id>, calling dtor on its data."""
    if (obj, id) in k.shadows:
        data = k.shadows.pop((obj, id))
        if dtor is not None:
            dtor(k, obj, data)


def klp_shadow_free_all(k: Kernel, id: int, dtor: Dtor) -> None:
    """klp_shadow_free_all(): remove every <*, id>, calling dtor on each."""
    for key in sorted(key for key in k.shadows if key[1] == id):
        data = k.shadows.pop(key)
        if dtor is not None:
            dtor(k, key[0], data)


__all__ = [
    "func_stack",
    "klp_check_stack",
    "klp_ftrace_handler",
    "klp_init_tasks",
    "klp_is_object_loaded",
    "klp_patch_object",
    "klp_reset_tasks",
    "klp_shadow_alloc",
    "klp_shadow_free",
    "klp_shadow_free_all",
    "klp_shadow_get",
    "klp_shadow_set",
    "klp_try_switch_task",
    "klp_try_switch_tasks",
    "klp_unpatch_object",
    "klp_unpatch_objects",
    "klp_update_patch_state_all",
]
