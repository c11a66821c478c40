"""Vocabulary shared by the livepatch models: data types, iterators, labels and events.

Nothing here decides *when* a callback runs: that is each model's business. This module only gives the
structures that `include/linux/livepatch.h` declares, in a mutable working form that a step edits the way
the C code edits the kernel's structures, and a frozen form (nested tuples) that the checker hashes.

A step does ``k = Kernel.thaw(state, env)``, runs kernel-shaped code on ``k``, and returns ``k.freeze()``
together with the log lines and events the code produced.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

# klp_target_state values (transition.c: KLP_TRANSITION_IDLE/UNPATCHED/PATCHED)
KLP_TRANSITION_IDLE = -1
KLP_TRANSITION_UNPATCHED = 0
KLP_TRANSITION_PATCHED = 1

# errno values used by the models
EPERM, ENOENT, ENOMEM, EBUSY, ENODEV, EINVAL = 1, 2, 12, 16, 19, 22
ERRNO_NAME = {EPERM: "EPERM", ENOENT: "ENOENT", ENOMEM: "ENOMEM", EBUSY: "EBUSY", ENODEV: "ENODEV",
              EINVAL: "EINVAL"}
ERRNO_TEXT = {EPERM: "Operation not permitted", ENOENT: "No such file or directory",
              ENOMEM: "Cannot allocate memory", EBUSY: "Device or resource busy", ENODEV: "No such device",
              EINVAL: "Invalid argument"}

# module states as the kernel's enum module_state names them
MODULE_STATE_LIVE, MODULE_STATE_COMING, MODULE_STATE_GOING = "LIVE", "COMING", "GOING"

VMLINUX = "vmlinux"

# the callbacks a static entry may provide: struct klp_callbacks per object; per state, in the POC's
# names (setup, enable, disable, release), which the v1 names (pre_patch, ...) map to by position
OBJECT_CALLBACKS = frozenset({"pre_patch", "post_patch", "pre_unpatch", "post_unpatch"})
STATE_CALLBACKS = frozenset({"setup", "enable", "disable", "release"})


# --------------------------------------------------------------------------------------------------
# Labels and events: what a trace shows
# --------------------------------------------------------------------------------------------------

class Call(NamedTuple):
    """A step's label: the kernel entry point and its arguments, printed as a call."""

    func: str
    args: tuple[Any, ...] = ()

    def __str__(self) -> str:
        return f"{self.func}({', '.join(str(a) for a in self.args)})"


class Event(NamedTuple):
    """A callback that ran (per object or per state), or a shadow variable free; ret is what it returned."""

    callback: str
    patch: str | None = None
    object: str | None = None
    state: int | None = None
    ret: int = 0

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"callback": self.callback}
        if self.patch is not None:
            out["patch"] = self.patch
        if self.object is not None:
            out["object"] = self.object
        if self.state is not None:
            out["state"] = self.state
        if self.ret:
            out["ret"] = self.ret
        return out


def fault_text(point: tuple[Any, ...]) -> str:
    """The last argument of a label whose step makes a call fail: ``fail=<kind>:<patch>:<where>``."""
    kind, patch, where = point
    return f"fail={kind}:{patch}:{where}"


# --------------------------------------------------------------------------------------------------
# Static description of a livepatch module and a target module (what the module's source declares)
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ObjSpec:
    """A static `struct klp_object` entry: the object's name, the funcs it patches, its callbacks."""

    name: str                               # "vmlinux" or the target module's name
    funcs: tuple[str, ...] = ()
    callbacks: frozenset[str] = frozenset()  # subset of pre_patch, post_patch, pre_unpatch, post_unpatch


@dataclass(frozen=True)
class StateSpec:
    """A static `struct klp_state` entry."""

    id: int
    version: int = 1
    block_disable: bool = False
    is_shadow: bool = False
    callbacks: frozenset[str] = frozenset()  # names of the state callbacks the entry provides
    shadow_dtor: bool = False


@dataclass(frozen=True)
class PatchSpec:
    """A livepatch module as built with given parameters: `struct klp_patch` and its callbacks."""

    name: str
    replace: bool
    objs: tuple[ObjSpec, ...]
    states: tuple[StateSpec, ...] = ()
    fixture: Fixture = field(default=None, compare=False)  # type: ignore[assignment]
    replace_set: int | None = None

    def obj(self, name: str) -> ObjSpec | None:
        for o in self.objs:
            if o.name == name:
                return o
        return None


class Fixture:
    """The behaviour of a test module: what its callbacks, init, exit and functions print and do.

    A model calls these hooks where the kernel calls the module's code. Hooks get the working kernel
    ``k`` and print through ``k.pr(module, text)``. Subclasses live in `models/_fixtures.py`.
    """

    # per-object callbacks (struct klp_callbacks)
    def pre_patch(self, k: Kernel, patch: KlpPatch, obj: KlpObject) -> int:
        return 0

    def post_patch(self, k: Kernel, patch: KlpPatch, obj: KlpObject) -> None:
        pass

    def pre_unpatch(self, k: Kernel, patch: KlpPatch, obj: KlpObject) -> None:
        pass

    def post_unpatch(self, k: Kernel, patch: KlpPatch, obj: KlpObject) -> None:
        pass

    # per-state callbacks: cb is the callback's name in the model's vocabulary (setup, pre_patch, ...)
    def state_callback(self, k: Kernel, cb: str, patch: KlpPatch, state: KlpState) -> int:
        return 0

    def shadow_dtor(self, k: Kernel, patch_name: str, state_id: int, obj: Any, data: Any) -> None:
        pass

    # module life cycle
    def init(self, k: Kernel, mod: Module) -> int:
        return 0

    def exit(self, k: Kernel, mod: Module) -> None:
        pass


# --------------------------------------------------------------------------------------------------
# Frozen state: nested tuples, cheap to hash and compare
# --------------------------------------------------------------------------------------------------

class ObjS(NamedTuple):
    name: str
    dynamic: bool
    mod: bool                      # obj->mod is set (module object initialised as loaded)
    patched: bool
    post_unpatch_enabled: bool
    nops: tuple[str, ...]          # funcs added by klp_add_nops


class StateS(NamedTuple):
    id: int
    succeeded: bool                # setup_succeeded / pre_patch_succeeded, where the model has it
    version: int = 1
    is_shadow: bool = False
    block_disable: bool = False
    callbacks: frozenset[str] = frozenset()   # the state callbacks its patch provides (canonical names)


class PatchS(NamedTuple):
    mod: str
    enabled: bool
    forced: bool
    objs: tuple[ObjS, ...]
    states: tuple[StateS, ...]
    replace: bool = False


class ModS(NamedTuple):
    name: str
    state: str                     # MODULE_STATE_*
    klp_alive: bool
    params: tuple[tuple[str, Any], ...]
    pinned: bool                   # a forced livepatch module: its reference is never dropped
    priv: tuple[Any, ...]          # fixture-private module variables


class TaskS(NamedTuple):
    """A task the model tracks by itself: a worker sleeping in a function, which may block a transition."""

    name: str
    obj: str
    func: str
    impl: str | None            # which patch's version of func it runs (None: the original)
    patch_state: int


class KState(NamedTuple):
    patches: tuple[PatchS, ...]             # klp_patches, oldest first
    transition: str | None               # klp_transition_patch
    target: int                             # klp_target_state
    modules: tuple[ModS, ...]               # loaded modules, by name
    shadows: tuple[tuple[Any, ...], ...]    # (obj, id, data), sorted: the shadow variable hash table
    tasks: tuple[TaskS, ...]
    gone: tuple[str, ...]                   # modules that may not be loaded again (no reload)
    world: tuple[tuple[Any, Any], ...]      # what the test modules' code changed in the system, sorted
    statics: tuple[Any, ...]                # static variables of the series' C (e.g. a static flag)


# --------------------------------------------------------------------------------------------------
# The working copy
# --------------------------------------------------------------------------------------------------

class KlpFunc:
    __slots__ = ("nop", "old_name")

    def __init__(self, old_name: str, nop: bool) -> None:
        self.old_name = old_name
        self.nop = nop


class KlpObject:
    """struct klp_object at run time; its funcs are built on first use, freeze() reuses what did not change."""

    __slots__ = ("_funcs", "_s", "dynamic", "mod", "name", "nops", "patched", "post_unpatch_enabled", "spec")

    def __init__(self, s: ObjS, spec: ObjSpec | None) -> None:
        self._s = s
        self.name = s.name
        self.dynamic = s.dynamic
        self.mod = s.mod
        self.patched = s.patched
        self.post_unpatch_enabled = s.post_unpatch_enabled
        self.spec = spec
        self.nops = list(s.nops)
        self._funcs: list[KlpFunc] | None = None

    @property
    def funcs(self) -> list[KlpFunc]:
        if self._funcs is None:
            static = self.spec.funcs if self.spec is not None else ()
            self._funcs = [KlpFunc(f, False) for f in static] + [KlpFunc(f, True) for f in self.nops]
        return self._funcs

    @funcs.setter
    def funcs(self, value: list[KlpFunc]) -> None:
        self._funcs = value

    def freeze(self) -> ObjS:
        s = self._s
        nops = tuple(self.nops)
        if (self.mod == s.mod and self.patched == s.patched and self.post_unpatch_enabled == s.post_unpatch_enabled
                and nops == s.nops and self.name == s.name and self.dynamic == s.dynamic):
            return s
        return ObjS(self.name, self.dynamic, self.mod, self.patched, self.post_unpatch_enabled, nops)


class KlpState:
    __slots__ = ("_s", "block_disable", "id", "is_shadow", "spec", "succeeded", "version")

    def __init__(self, s: StateS, spec: StateSpec) -> None:
        self._s = s
        self.id = s.id
        self.version = spec.version
        self.block_disable = spec.block_disable
        self.is_shadow = spec.is_shadow
        self.succeeded = s.succeeded
        self.spec = spec

    def freeze(self) -> StateS:
        s = self._s
        if (self.succeeded == s.succeeded and self.version == s.version and self.is_shadow == s.is_shadow
                and self.block_disable == s.block_disable and self.id == s.id and self.spec.callbacks == s.callbacks):
            return s
        return StateS(self.id, self.succeeded, self.version, self.is_shadow, self.block_disable,
                      self.spec.callbacks)


class KlpPatch:
    """struct klp_patch at run time; objects and states are built on first use (most steps touch few)."""

    __slots__ = ("_objs", "_s", "_states", "enabled", "forced", "mod", "replace", "spec")

    def __init__(self, s: PatchS, spec: PatchSpec) -> None:
        self._s = s
        self.mod = s.mod
        self.spec = spec
        self.replace = spec.replace
        self.enabled = s.enabled
        self.forced = s.forced
        self._objs: list[KlpObject] | None = None
        self._states: list[KlpState] | None = None

    @property
    def objs(self) -> list[KlpObject]:
        if self._objs is None:
            spec = self.spec
            self._objs = [KlpObject(o, spec.obj(o.name) if not o.dynamic else None) for o in self._s.objs]
        return self._objs

    @objs.setter
    def objs(self, value: list[KlpObject]) -> None:
        self._objs = value

    @property
    def states(self) -> list[KlpState]:
        if self._states is None:
            by_id = {st.id: st for st in self.spec.states}
            self._states = [KlpState(st, by_id[st.id]) for st in self._s.states]
        return self._states

    @states.setter
    def states(self, value: list[KlpState]) -> None:
        self._states = value

    @classmethod
    def early(cls, spec: PatchSpec) -> KlpPatch:
        """klp_init_patch_early(): the patch as the module declares it, nothing initialised yet."""
        objs = tuple(ObjS(o.name, False, False, False, False, ()) for o in spec.objs)
        states = tuple(StateS(st.id, False, st.version, st.is_shadow, st.block_disable, st.callbacks)
                       for st in spec.states)
        return cls(PatchS(spec.name, False, False, objs, states), spec)

    @property
    def name(self) -> str:
        return self.mod

    def freeze(self) -> PatchS:
        s = self._s
        objs = s.objs if self._objs is None else tuple(o.freeze() for o in self._objs)
        states = s.states if self._states is None else tuple(st.freeze() for st in self._states)
        if (objs == s.objs and states == s.states and self.enabled == s.enabled and self.forced == s.forced
                and self.replace == s.replace and self.mod == s.mod):
            return s
        return PatchS(self.mod, self.enabled, self.forced, objs, states, self.replace)


class Module:
    __slots__ = ("_params0", "_s", "klp_alive", "name", "params", "pinned", "priv", "state")

    def __init__(self, s: ModS) -> None:
        self._s = s
        self.name = s.name
        self.state = s.state
        self.klp_alive = s.klp_alive
        self._params0 = dict(s.params)
        self.params = dict(self._params0)
        self.pinned = s.pinned
        self.priv = list(s.priv)

    def freeze(self) -> ModS:
        s = self._s
        priv = tuple(self.priv)
        same_params = self.params == self._params0
        if (same_params and self.state == s.state and self.klp_alive == s.klp_alive and self.pinned == s.pinned
                and priv == s.priv and self.name == s.name):
            return s
        params = s.params if same_params else tuple(sorted(self.params.items()))
        return ModS(self.name, self.state, self.klp_alive, params, self.pinned, priv)


class Task:
    __slots__ = ("func", "impl", "name", "obj", "patch_state")

    def __init__(self, s: TaskS) -> None:
        self.name, self.obj, self.func, self.impl, self.patch_state = s

    def freeze(self) -> TaskS:
        return TaskS(self.name, self.obj, self.func, self.impl, self.patch_state)


class Env:
    """What a model run knows that is not state: module specs, fixtures and the fault plan of a step."""

    def __init__(self, spec_of: Callable[[str, tuple[tuple[str, Any], ...]], PatchSpec],
                 fixture_of: Callable[[str], Fixture]) -> None:
        self._spec_of = spec_of
        self._specs: dict[tuple[str, tuple[tuple[str, Any], ...]], PatchSpec] = {}
        self.fixture_of = fixture_of    # any module name -> its Fixture

    def spec_of(self, name: str, params: tuple[tuple[str, Any], ...]) -> PatchSpec:
        """(livepatch module name, params) -> PatchSpec, computed once per run."""
        key = (name, params)
        spec = self._specs.get(key)
        if spec is None:
            spec = self._specs[key] = self._spec_of(name, params)
        return spec


class Kernel:
    """The working copy of the kernel state for one step, plus the step's log."""

    __slots__ = (
        "_s",
        "env",
        "fail_at",
        "fault_points",
        "faults",
        "gone",
        "log",
        "modules",
        "patches",
        "shadows",
        "statics",
        "target",
        "tasks",
        "transition",
        "world",
    )

    def __init__(self) -> None:
        self.log: list[Any] = []
        self.fail_at: Any = None              # the fault point this step injects, if any
        self.fault_points: list[Any] = []     # fault points passed (for enumeration)
        self.faults: frozenset[str] = frozenset()

    @classmethod
    def thaw(cls, s: KState, env: Env, faults: frozenset[str] = frozenset(), fail_at: Any = None) -> Kernel:
        k = cls()
        k._s = s
        k.env = env
        k.faults = faults
        k.fail_at = fail_at
        params = {m.name: m.params for m in s.modules}
        k.patches = [KlpPatch(p, env.spec_of(p.mod, params.get(p.mod, ()))) for p in s.patches]
        k.transition = None
        if s.transition is not None:
            k.transition = k.patch_by_name(s.transition)
        k.target = s.target
        k.modules = {m.name: Module(m) for m in s.modules}
        k.shadows = {(sh[0], sh[1]): sh[2] for sh in s.shadows}
        k.tasks = [Task(t) for t in s.tasks]
        k.gone = set(s.gone)
        k.world = dict(s.world)
        k.statics = list(s.statics)
        return k

    def freeze(self) -> KState:
        s = self._s
        patches = tuple(p.freeze() for p in self.patches)
        modules = tuple(self.modules[n].freeze() for n in sorted(self.modules))
        tasks = tuple(t.freeze() for t in self.tasks)
        return KState(
            s.patches if patches == s.patches else patches,
            self.transition.mod if self.transition is not None else None,
            self.target,
            s.modules if modules == s.modules else modules,
            _same_or_sorted(s.shadows, {(o, i, d) for (o, i), d in self.shadows.items()}),
            s.tasks if tasks == s.tasks else tasks,
            _same_or_sorted(s.gone, self.gone),
            s.world if _dict_unchanged(self.world, s.world) else tuple(sorted(self.world.items())),
            s.statics if tuple(self.statics) == s.statics else tuple(self.statics),
        )

    # -- helpers ------------------------------------------------------------------------------------
    def patch_by_name(self, name: str) -> KlpPatch:
        for p in self.patches:
            if p.mod == name:
                return p
        raise KeyError(name)

    def pr(self, who: str, text: str) -> None:
        """printk with pr_fmt(KBUILD_MODNAME ": " fmt)."""
        self.log.append(f"{who}: {text}")

    def event(self, callback: str, patch: str | None = None, obj: str | None = None,
              state: int | None = None, ret: int = 0) -> None:
        """Record a callback that ran, in the log; the history of callbacks is `models._ghost`'s to keep."""
        self.log.append(Event(callback, patch, obj, state, ret))

    def fault(self, point: tuple[Any, ...]) -> bool:
        """A call that may fail: True if this step makes it fail. Records the point for enumeration."""
        if point[0] not in self.faults:
            return False
        self.fault_points.append(point)
        return point == self.fail_at


def _same_or_sorted(old: tuple[Any, ...], new: set[Any]) -> tuple[Any, ...]:
    """The old sorted tuple when it holds the same items (sharing it saves memory), else a new one."""
    if len(old) == len(new) and all(x in new for x in old):
        return old
    return tuple(sorted(new))


_MISSING = object()


def _dict_unchanged(d: dict[Any, Any], items: tuple[tuple[Any, Any], ...]) -> bool:
    return len(d) == len(items) and all(d.get(k, _MISSING) == v for k, v in items)


# --------------------------------------------------------------------------------------------------
# Iterators (the kernel's klp_for_each_* macros)
# --------------------------------------------------------------------------------------------------

def klp_for_each_patch(k: Kernel) -> Iterator[KlpPatch]:
    """klp_for_each_patch(): klp_patches from the oldest to the newest; safe against removal."""
    return iter(list(k.patches))


def klp_for_each_object(patch: KlpPatch) -> Iterator[KlpObject]:
    """klp_for_each_object(): static objects in array order, then the dynamic (nop) ones."""
    return iter(list(patch.objs))


def klp_for_each_state(patch: KlpPatch) -> Iterator[KlpState]:
    """klp_for_each_state(): the states[] array in order."""
    return iter(patch.states)


def klp_is_module(obj: KlpObject) -> bool:
    return obj.name != VMLINUX


def klp_is_object_loaded(obj: KlpObject) -> bool:
    """klp_is_object_loaded() (core.h): vmlinux, or a module object with obj->mod set."""
    return not klp_is_module(obj) or obj.mod


def obj_label(obj: KlpObject) -> str:
    return obj.name if klp_is_module(obj) else VMLINUX
