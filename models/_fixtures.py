"""Test modules: the generic module of user configurations, and the kernel's selftest modules.

Each fixture mirrors what its module's source does (tools/testing/selftests/livepatch/test_modules/*.c):
what its init, exit, parameters and callbacks print, and what they change (shadow variables, the
console loglevel, a worker sleeping in a patched function). Prints go through ``k.pr(module, text)``,
which adds pr_fmt's ``<module>: `` prefix.

The series' own test modules (POC, v1) live in `models/_fixtures_poc.py` and `models/_fixtures_v1.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._kernel import klp_ftrace_handler, klp_shadow_alloc
from ._klp import (
    ENODEV,
    MODULE_STATE_COMING,
    MODULE_STATE_GOING,
    MODULE_STATE_LIVE,
    OBJECT_CALLBACKS,
    VMLINUX,
    Finding,
    Fixture,
    Kernel,
    KlpObject,
    KlpPatch,
    KlpState,
    Module,
    ObjSpec,
    PatchSpec,
    StateSpec,
)

SHADOW_NULL = "NULL"   # the obj pointer of a global shadow variable


class ModuleFixture(Fixture):
    """A module with parameters; livepatch modules enable their patch from init."""

    livepatch = False

    def params_set(self, k: Kernel, mod: Module) -> None:
        """The parameter setters that run while insmod parses its arguments (after klp_module_coming)."""

    def init(self, k: Kernel, mod: Module, enable: Callable[[], int]) -> int:  # type: ignore[override]
        return enable() if self.livepatch else 0

    def param_write(self, k: Kernel, mod: Module, name: str, value: str) -> int | None:
        """`echo value > /sys/module/<mod>/parameters/<name>`; None if there is no such parameter."""
        if name in mod.params or name in self.writable:
            mod.params[name] = _parse(value)
            return 0
        return None

    def param_read(self, k: Kernel, mod: Module, name: str) -> str | None:
        """`cat /sys/module/<mod>/parameters/<name>`: what the read returns (the getter may print)."""
        return None

    def show(self, k: Kernel, func: str) -> str | None:
        """The line a patched show function of this livepatch prints (harness greps)."""
        return None

    writable: frozenset[str] = frozenset()


def _parse(value: str) -> Any:
    v = value.strip()
    if v in ("Y", "y", "true"):
        return True
    if v in ("N", "n", "false"):
        return False
    try:
        return int(v)
    except ValueError:
        return v


def param(mod_or_params: Any, name: str, default: Any) -> Any:
    params = mod_or_params.params if hasattr(mod_or_params, "params") else dict(mod_or_params)
    return params.get(name, default)


# -- the generic module of user configurations ------------------------------------------------------


class Generic(ModuleFixture):
    """The module behind a TOML configuration: callbacks print their name; faults decide failures.

    A state with is_shadow gets a shadow variable <NULL, id> from a successful setup/pre_patch.
    """

    livepatch = True

    def pre_patch(self, k: Kernel, patch: KlpPatch, obj: KlpObject) -> int:
        k.pr(patch.mod, f"pre_patch_callback: {obj.name}")
        if k.fault(("pre_patch", patch.mod, obj.name)):
            return -ENODEV
        return 0

    def post_patch(self, k: Kernel, patch: KlpPatch, obj: KlpObject) -> None:
        k.pr(patch.mod, f"post_patch_callback: {obj.name}")

    def pre_unpatch(self, k: Kernel, patch: KlpPatch, obj: KlpObject) -> None:
        k.pr(patch.mod, f"pre_unpatch_callback: {obj.name}")

    def post_unpatch(self, k: Kernel, patch: KlpPatch, obj: KlpObject) -> None:
        k.pr(patch.mod, f"post_unpatch_callback: {obj.name}")

    def state_callback(self, k: Kernel, cb: str, patch: KlpPatch, state: KlpState) -> int:
        k.pr(patch.mod, f"{cb}_callback: state {state.id}")
        if cb in ("setup", "pre_patch"):
            if k.fault(("setup", patch.mod, state.id)):
                return -ENODEV
            if state.is_shadow:
                klp_shadow_alloc(k, SHADOW_NULL, state.id, patch.mod)
        return 0

GENERIC = Generic()


# -- kernel selftest modules -------------------------------------------------------------------------

MODULE_STATE_TEXT = {
    MODULE_STATE_LIVE: "[MODULE_STATE_LIVE] Normal state",
    MODULE_STATE_COMING: "[MODULE_STATE_COMING] Full formed, running module_init",
    MODULE_STATE_GOING: "[MODULE_STATE_GOING] Going away",
}


def callback_info(k: Kernel, who: str, cb: str, obj: KlpObject) -> None:
    """callback_info() of the demo and state modules: `<cb>: vmlinux` or `<cb>: <mod> -> <state>`."""
    if obj.mod and obj.name != VMLINUX and obj.name in k.modules:
        text = MODULE_STATE_TEXT[k.modules[obj.name].state]
        k.pr(who, f"{cb}: {obj.name} -> {text}")
    else:
        k.pr(who, f"{cb}: vmlinux")


class CallbacksDemo(ModuleFixture):
    """test_klp_callbacks_demo / _demo2: all four per-object callbacks print callback_info()."""

    livepatch = True

    def __init__(self, name: str) -> None:
        self.name = name

    def pre_patch(self, k: Kernel, patch: KlpPatch, obj: KlpObject) -> int:
        callback_info(k, self.name, "pre_patch_callback", obj)
        return int(param(k.modules[self.name], "pre_patch_ret", 0))

    def post_patch(self, k: Kernel, patch: KlpPatch, obj: KlpObject) -> None:
        callback_info(k, self.name, "post_patch_callback", obj)

    def pre_unpatch(self, k: Kernel, patch: KlpPatch, obj: KlpObject) -> None:
        callback_info(k, self.name, "pre_unpatch_callback", obj)

    def post_unpatch(self, k: Kernel, patch: KlpPatch, obj: KlpObject) -> None:
        callback_info(k, self.name, "post_unpatch_callback", obj)

    writable = frozenset({"pre_patch_ret"})


class TargetModule(ModuleFixture):
    """A plain target module whose init and exit print their names."""

    def __init__(self, name: str) -> None:
        self.name = name

    def init(self, k: Kernel, mod: Module, enable: Callable[[], int]) -> int:  # type: ignore[override]
        k.pr(self.name, f"{self.name}_init")
        return 0

    def exit(self, k: Kernel, mod: Module) -> None:
        k.pr(self.name, f"{self.name}_exit")


BUSY = "test_klp_callbacks_busy"


class CallbacksBusy(TargetModule):
    """test_klp_callbacks_busy: its work item may sleep in busymod_work_func, which the demo patches."""

    def init(self, k: Kernel, mod: Module, enable: Callable[[], int]) -> int:  # type: ignore[override]
        k.pr(self.name, f"{self.name}_init")
        impl = klp_ftrace_handler(k, BUSY, "busymod_work_func", None)
        if impl is not None:
            # the demo's patched_work_func runs instead and returns without complete(), so init's
            # wait_for_completion(&busymod_work_started) never returns: insmod hangs (the kernel's C and a
            # real 6.12 kernel both do)
            k.pr(impl, "patched_work_func")
            raise Finding("hang", "wait_for_completion that nothing can complete")
        k.pr(self.name, "busymod_work_func enter")
        if param(mod, "block_transition", False):
            from ._klp import Task, TaskS
            k.tasks.append(Task(TaskS("kworker", BUSY, "busymod_work_func", None, -1)))
        else:
            k.pr(self.name, "busymod_work_func exit")
        return 0

    def exit(self, k: Kernel, mod: Module) -> None:
        for task in list(k.tasks):
            if task.name == "kworker" and task.obj == BUSY:
                k.tasks.remove(task)
                k.pr(self.name, "busymod_work_func exit")
        k.pr(self.name, f"{self.name}_exit")


class StateModule(ModuleFixture):
    """test_klp_state (v1 of state 1) and test_klp_state2/3 (v2, which consult klp_get_prev_state())."""

    livepatch = True

    def __init__(self, name: str, uses_prev: bool, get_state: Any, get_prev_state: Any) -> None:
        self.name = name
        self.uses_prev = uses_prev
        self.get_state = get_state
        self.get_prev_state = get_prev_state

    def _prev(self, k: Kernel) -> Any:
        return self.get_prev_state(k, 1) if self.uses_prev else None

    def pre_patch(self, k: Kernel, patch: KlpPatch, obj: KlpObject) -> int:
        callback_info(k, self.name, "pre_patch_callback", obj)
        if self.uses_prev and self._prev(k) is not None:
            k.pr(self.name, "allocate_loglevel_state: space to store console_loglevel already allocated")
            return 0
        if self.get_state(patch, 1) is None:
            return -22
        k.world[("loglevel_data", self.name)] = True
        k.pr(self.name, "allocate_loglevel_state: allocating space to store console_loglevel")
        return 0

    def post_patch(self, k: Kernel, patch: KlpPatch, obj: KlpObject) -> None:
        callback_info(k, self.name, "post_patch_callback", obj)
        if self.get_state(patch, 1) is None:
            return
        if self.uses_prev and self._prev(k) is not None:
            k.pr(self.name, "fix_console_loglevel: taking over the console_loglevel change")
            return
        k.world[("console_loglevel", "fixed")] = True
        k.pr(self.name, "fix_console_loglevel: fixing console_loglevel")

    def pre_unpatch(self, k: Kernel, patch: KlpPatch, obj: KlpObject) -> None:
        callback_info(k, self.name, "pre_unpatch_callback", obj)
        if self.uses_prev and self._prev(k) is not None:
            k.pr(self.name, "restore_console_loglevel: passing the console_loglevel change back to the old livepatch")
            return
        if self.get_state(patch, 1) is None:
            return
        k.world.pop(("console_loglevel", "fixed"), None)
        k.pr(self.name, "restore_console_loglevel: restoring console_loglevel")

    def post_unpatch(self, k: Kernel, patch: KlpPatch, obj: KlpObject) -> None:
        callback_info(k, self.name, "post_unpatch_callback", obj)
        if self.uses_prev and self._prev(k) is not None:
            k.pr(self.name, "free_loglevel_state: keeping space to store console_loglevel")
            return
        if self.get_state(patch, 1) is None:
            return
        k.world.pop(("loglevel_data", self.name), None)
        k.pr(self.name, "free_loglevel_state: freeing space for the stored console_loglevel")


class ShowPatch(ModuleFixture):
    """test_klp_livepatch, test_klp_atomic_replace, test_klp_mod_patch: a patched show function."""

    livepatch = True

    def __init__(self, name: str) -> None:
        self.name = name

    def show(self, k: Kernel, func: str) -> str | None:
        return f"{self.name}: this has been live patched"

    writable = frozenset({"replace"})


class GenericTarget(ModuleFixture):
    """A target module of a TOML configuration: init and exit print their names, like the selftest targets."""

    def init(self, k: Kernel, mod: Module, enable: Callable[[], int]) -> int:  # type: ignore[override]
        k.pr(mod.name, f"{mod.name}_init")
        return 0

    def exit(self, k: Kernel, mod: Module) -> None:
        k.pr(mod.name, f"{mod.name}_exit")


GENERIC_TARGET = GenericTarget()


class Fixtures:
    """A set of selftest modules: their patch layouts (by parameters) and their fixtures."""

    def __init__(self, module_dir: str, specs: dict[str, Callable[[dict[str, Any]], PatchSpec]],
                 fixtures: dict[str, ModuleFixture], proc_files: tuple[tuple[str, str, str], ...] = ()) -> None:
        self.module_dir = module_dir
        self.specs = specs
        self.fixtures = fixtures
        self.proc_files = proc_files   # (path, object, show function) the harness greps

    def spec_of(self, name: str, params: tuple[tuple[str, Any], ...]) -> PatchSpec:
        return self.specs[name](dict(params))

    def fixture_of(self, name: str) -> ModuleFixture:
        return self.fixtures[name]

    def names(self) -> list[str]:
        return sorted(self.fixtures)


def upstream_fixtures(get_state: Any, get_prev_state: Any) -> Fixtures:
    """The kernel's selftest modules (tools/testing/selftests/livepatch/test_modules)."""
    demo = CallbacksDemo("test_klp_callbacks_demo")
    demo2 = CallbacksDemo("test_klp_callbacks_demo2")
    cbs = OBJECT_CALLBACKS

    def demo_spec(p: dict[str, Any]) -> PatchSpec:
        return PatchSpec("test_klp_callbacks_demo", False,
                         (ObjSpec(VMLINUX, (), cbs), ObjSpec("test_klp_callbacks_mod", (), cbs),
                          ObjSpec(BUSY, ("busymod_work_func",), cbs)), (), demo)

    def demo2_spec(p: dict[str, Any]) -> PatchSpec:
        return PatchSpec("test_klp_callbacks_demo2", bool(p.get("replace", 0)), (ObjSpec(VMLINUX, (), cbs),), (),
                         demo2)

    def state_spec(name: str, version: int, fixture: ModuleFixture) -> Callable[[dict[str, Any]], PatchSpec]:
        return lambda p: PatchSpec(name, True, (ObjSpec(VMLINUX, (), cbs),), (StateSpec(1, version),), fixture)

    def show_spec(name: str, obj: str, func: str, fixture: ModuleFixture) -> Callable[[dict[str, Any]], PatchSpec]:
        return lambda p: PatchSpec(name, bool(p.get("replace", 0)), (ObjSpec(obj, (func,)),), (), fixture)

    lp = ShowPatch("test_klp_livepatch")
    ar = ShowPatch("test_klp_atomic_replace")
    mp = ShowPatch("test_klp_mod_patch")
    sc = ModuleFixture()
    sc.livepatch = True
    st = StateModule("test_klp_state", False, get_state, get_prev_state)
    st2 = StateModule("test_klp_state2", True, get_state, get_prev_state)
    st3 = StateModule("test_klp_state3", True, get_state, get_prev_state)
    return Fixtures(
        "test_modules/",
        {
            "test_klp_callbacks_demo": demo_spec,
            "test_klp_callbacks_demo2": demo2_spec,
            "test_klp_state": state_spec("test_klp_state", 1, st),
            "test_klp_state2": state_spec("test_klp_state2", 2, st2),
            "test_klp_state3": state_spec("test_klp_state3", 2, st3),
            "test_klp_livepatch": show_spec("test_klp_livepatch", VMLINUX, "cmdline_proc_show", lp),
            "test_klp_atomic_replace": show_spec("test_klp_atomic_replace", VMLINUX, "meminfo_proc_show", ar),
            "test_klp_mod_patch": show_spec("test_klp_mod_patch", "test_klp_mod_target", "test_klp_mod_target_show",
                                            mp),
            "test_klp_syscall": lambda p: PatchSpec("test_klp_syscall", False,
                                                    (ObjSpec(VMLINUX, ("__x64_sys_getpid",)),), (), sc),
        },
        {
            "test_klp_callbacks_demo": demo, "test_klp_callbacks_demo2": demo2,
            "test_klp_callbacks_mod": TargetModule("test_klp_callbacks_mod"),
            "test_klp_callbacks_busy": CallbacksBusy(BUSY),
            "test_klp_state": st, "test_klp_state2": st2, "test_klp_state3": st3,
            "test_klp_livepatch": lp, "test_klp_atomic_replace": ar, "test_klp_mod_patch": mp,
            "test_klp_mod_target": TargetModule("test_klp_mod_target"),
            "test_klp_syscall": sc,
        },
        (("/proc/cmdline", VMLINUX, "cmdline_proc_show"), ("/proc/meminfo", VMLINUX, "meminfo_proc_show")),
    )


__all__ = ["GENERIC", "GENERIC_TARGET", "SHADOW_NULL", "Fixtures", "ModuleFixture", "upstream_fixtures"]
