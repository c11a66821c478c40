"""Configurations: which livepatch and target modules exist, which calls may fail, which actions a user takes.

A configuration is either written by a user in TOML (patches described abstractly, run with the generic
test module of `models/_fixtures.py`) or built from the kernel's and the series' selftest modules.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from klpmc.kmodgen import patched_function

from ._klp import OBJECT_CALLBACKS, VMLINUX, Fixture, ObjSpec, PatchSpec, StateSpec

# state callbacks by position: POC names, v1 names
STATE_CALLBACK_NAMES = (("setup", "pre_patch"), ("enable", "post_patch"), ("disable", "pre_unpatch"),
                        ("release", "post_unpatch"))
CANONICAL = {alias: names[0] for names in STATE_CALLBACK_NAMES for alias in names}
FAULTS = ("setup", "pre_patch", "patch_object", "module_coming", "alloc")   # alloc: the kernel's C only
ACTIONS = ("reverse", "force", "reload")


class ConfigProblem(Exception):
    """A configuration that cannot be used; the message is one line."""


@dataclass(frozen=True)
class StateConfig:
    id: int
    version: int = 1
    block_disable: bool = False
    is_shadow: bool = False


@dataclass(frozen=True)
class PatchConfig:
    name: str
    replace: bool = False
    objects: tuple[str, ...] = (VMLINUX,)
    states: tuple[StateConfig, ...] = ()
    callbacks: tuple[str, ...] = ("setup", "enable", "disable", "release")
    replace_set: int | None = None


@dataclass(frozen=True)
class Config:
    """One configuration of a model run."""

    name: str
    patches: tuple[PatchConfig, ...] = ()
    targets: tuple[str, ...] = ()
    faults: frozenset[str] = frozenset()
    reverse: bool = True
    force: bool = False
    reload: bool = False
    # selftest module configurations: (module, params) choices to insmod, and the fixtures by name
    choices: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...] = ()
    target_params: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...] = ()   # insmod arguments of targets
    fixtures: Any = field(default=None, compare=False)
    module_dir: str = ""
    notes: tuple[str, ...] = ()

    @property
    def livepatches(self) -> tuple[tuple[str, tuple[tuple[str, Any], ...]], ...]:
        return tuple((p.name, ()) for p in self.patches) + self.choices

    def spec_of(self, name: str, params: tuple[tuple[str, Any], ...]) -> PatchSpec:
        if self.fixtures is not None:
            return self.fixtures.spec_of(name, params)  # type: ignore[no-any-return]
        specs: dict[str, PatchSpec] | None = self.__dict__.get("_specs")
        if specs is None:       # once per configuration: a lookup keyed by the configuration would hash it whole
            specs = self.__dict__["_specs"] = {p.name: _spec(p) for p in self.patches}
        return specs[name]

    def fixture_of(self, name: str) -> Fixture:
        if self.fixtures is not None:
            return self.fixtures.fixture_of(name)
        from ._fixtures import GENERIC, GENERIC_TARGET
        return GENERIC_TARGET if name in self.targets else GENERIC

    def module_path(self, name: str) -> str:
        return f"{self.module_dir}{name}.ko"


def _spec(p: PatchConfig) -> PatchSpec:
    """The spec of a patch of a TOML configuration, run with the generic test module."""
    from ._fixtures import GENERIC

    cbs = frozenset(CANONICAL[c] for c in p.callbacks)
    return PatchSpec(
        name=p.name,
        replace=p.replace,
        objs=tuple(ObjSpec(o, (patched_function(o),), OBJECT_CALLBACKS) for o in p.objects),
        states=tuple(StateSpec(s.id, s.version, s.block_disable, s.is_shadow, cbs) for s in p.states),
        fixture=GENERIC,
        replace_set=p.replace_set,
    )


# -- TOML ------------------------------------------------------------------------------------------

PATCH_FIELDS = {"name", "replace", "objects", "states", "callbacks", "replace_set"}
STATE_FIELDS = {"id", "version", "block_disable", "is_shadow"}
TOP_FIELDS = {"patch", "module", "faults", "actions", "name"}
# which model families use which field; a field no model uses is a typo
FIELD_USERS = {
    "version": ("versions",),
    "block_disable": ("block_disable",),
    "is_shadow": ("shadow_states",),
    "replace_set": ("replace_set",),
}


def _typed(value: Any, typ: type, where: str) -> Any:
    if typ is bool and not isinstance(value, bool):
        raise ConfigProblem(f"{where} must be true or false, not {value!r}")
    if typ is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigProblem(f"{where} must be an integer, not {value!r}")
    if typ is str and not isinstance(value, str):
        raise ConfigProblem(f"{where} must be a string, not {value!r}")
    return value


# a module name as the kernel takes it: MODULE_NAME_LEN (64 - sizeof(unsigned long)) less its NUL; kmod
# treats - and _ alike; a name that starts with - would be an option to insmod
MODULE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,54}")


def _module_name(value: Any, where: str) -> str:
    """A patch, module or object name: a string the kernel would take as a module name."""
    name = _typed(value, str, where)
    if not MODULE_NAME.fullmatch(name):
        raise ConfigProblem(f"{where} {name!r} is not a module name: 1 to 55 letters, digits, _ and -, "
                            "not starting with -")
    return name


def _same(name: str) -> str:
    """A module name as kmod compares it (- and _ are one character)."""
    return name.replace("-", "_")


def _unknown(keys: set[str], known: set[str], where: str) -> None:
    extra = sorted(keys - known)
    if extra:
        raise ConfigProblem(f"unknown field '{extra[0]}' in {where}; known fields: {', '.join(sorted(known))}")


def config_from_dict(data: dict[str, Any], name: str, model: str, features: tuple[str, ...]) -> Config:
    """Validate a parsed TOML configuration; raise ConfigProblem with one line naming the culprit."""
    _unknown(set(data), TOP_FIELDS, "the configuration")
    if "name" in data:
        _typed(data["name"], str, "the configuration's name")
    notes: list[str] = []
    used = set()

    def note_field(field_name: str, where: str) -> None:
        users = FIELD_USERS.get(field_name)
        if users and not any(u in features for u in users) and field_name not in used:
            used.add(field_name)
            notes.append(f"field '{field_name}' ({where}) is not used by model '{model}'")

    patches = []
    raw_patches = data.get("patch", [])
    if not isinstance(raw_patches, list) or not raw_patches:
        raise ConfigProblem("the configuration needs at least one [[patch]] table")
    names: set[str] = set()
    for i, rp in enumerate(raw_patches):
        where = f"[[patch]] #{i + 1}"
        if not isinstance(rp, dict):
            raise ConfigProblem(f"{where} must be a table")
        _unknown(set(rp), PATCH_FIELDS, where)
        pname = _module_name(rp.get("name", f"P{i + 1}"), f"{where} name")
        if _same(pname) in names:
            raise ConfigProblem(f"patch name '{pname}' is used twice")
        names.add(_same(pname))
        objects = rp.get("objects", [VMLINUX])
        if not isinstance(objects, list) or not all(isinstance(o, str) for o in objects):
            raise ConfigProblem(f"{where} objects must be a list of names")
        for o in objects:
            _module_name(o, f"{where} object")
        seen_objects = [_same(o) for o in objects]
        if len(set(seen_objects)) < len(seen_objects):
            twice = next(o for o in objects if seen_objects.count(_same(o)) > 1)
            raise ConfigProblem(f"{where} names object '{twice}' twice")
        if "objects" in rp:
            note_field("objects", where)
        states = []
        raw_states = rp.get("states", [])
        if not isinstance(raw_states, list):
            raise ConfigProblem(f"{where} states must be a list like [{{ id = 1 }}]")
        for j, rs in enumerate(raw_states):
            swhere = f"{where} state #{j + 1}"
            if not isinstance(rs, dict):
                raise ConfigProblem(f"{swhere} must be a table like {{ id = 1 }}")
            _unknown(set(rs), STATE_FIELDS, swhere)
            if "id" not in rs:
                raise ConfigProblem(f"{swhere} needs an id")
            for f in ("version", "block_disable", "is_shadow"):
                if f in rs:
                    note_field(f, swhere)
            sid = _typed(rs["id"], int, f"{swhere} id")
            if sid <= 0:
                raise ConfigProblem(f"{swhere} id must be positive (0 ends the states array)")
            if any(s.id == sid for s in states):
                raise ConfigProblem(f"{where} holds state {sid} twice (klp_get_state would find the first only)")
            states.append(StateConfig(sid, _typed(rs.get("version", 1), int, f"{swhere} version"),
                                      _typed(rs.get("block_disable", False), bool, f"{swhere} block_disable"),
                                      _typed(rs.get("is_shadow", False), bool, f"{swhere} is_shadow")))
        callbacks = rp.get("callbacks", ["setup", "enable", "disable", "release"])
        if not isinstance(callbacks, list):
            raise ConfigProblem(f"{where} callbacks must be a list")
        for c in callbacks:
            if not isinstance(c, str) or c not in CANONICAL:
                raise ConfigProblem(f"unknown callback '{c}' in {where}; callbacks: {', '.join(CANONICAL)}")
        if "replace_set" in rp:
            note_field("replace_set", where)
        patches.append(PatchConfig(
            name=pname,
            replace=_typed(rp.get("replace", False), bool, f"{where} replace"),
            objects=tuple(objects),
            states=tuple(states),
            callbacks=tuple(callbacks),
            replace_set=_typed(rp["replace_set"], int, f"{where} replace_set") if "replace_set" in rp else None,
        ))
    targets = []
    raw_modules = data.get("module", [])
    if not isinstance(raw_modules, list):
        raise ConfigProblem("[[module]] must be an array of tables")
    for i, rm in enumerate(raw_modules):
        where = f"[[module]] #{i + 1}"
        if not isinstance(rm, dict):
            raise ConfigProblem(f"{where} must be a table")
        _unknown(set(rm), {"name"}, where)
        if "name" not in rm:
            raise ConfigProblem(f"{where} needs a name")
        mname = _module_name(rm["name"], f"{where} name")
        if _same(mname) == VMLINUX:
            raise ConfigProblem(f"{where} is named vmlinux, the kernel itself; a target module needs its own name")
        if _same(mname) in {_same(m) for m in targets}:
            raise ConfigProblem(f"module name '{mname}' is used twice")
        if _same(mname) in names:
            raise ConfigProblem(f"module '{mname}' has the name of a [[patch]]; a livepatch is a module too")
        targets.append(mname)
    declared = {_same(m) for m in targets} | {VMLINUX}
    for i, p in enumerate(patches):
        for o in p.objects:
            if _same(o) not in declared:
                known = ", ".join([VMLINUX, *targets])
                raise ConfigProblem(f"[[patch]] #{i + 1} object '{o}' is no [[module]]; objects: {known}")
    faults_t = data.get("faults", {})
    if not isinstance(faults_t, dict):
        raise ConfigProblem("[faults] must be a table")
    _unknown(set(faults_t), set(FAULTS), "[faults]")
    if faults_t.get("alloc") and "kernel_c" not in features:
        raise ConfigProblem(f"[faults] alloc: model {model} does not model allocations; the kernel model "
                            "fails the kernel's kmalloc()s")
    actions_t = data.get("actions", {})
    if not isinstance(actions_t, dict):
        raise ConfigProblem("[actions] must be a table")
    _unknown(set(actions_t), set(ACTIONS), "[actions]")
    return Config(
        name=name,
        patches=tuple(patches),
        targets=tuple(targets),
        faults=frozenset(f for f in FAULTS if _typed(faults_t.get(f, False), bool, f"[faults] {f}")),
        reverse=_typed(actions_t.get("reverse", True), bool, "[actions] reverse"),
        force=_typed(actions_t.get("force", False), bool, "[actions] force"),
        reload=_typed(actions_t.get("reload", False), bool, "[actions] reload"),
        notes=tuple(notes),
    )


def load_config(path: str, model: str, features: tuple[str, ...]) -> tuple[Config, list[str]]:
    """Read a TOML configuration file; errors are one line naming the file and the problem."""
    from klpmc.model import ConfigError, load_toml

    data = load_toml(Path(path))
    try:
        cfg = config_from_dict(data, path, model, features)
    except ConfigProblem as e:
        raise ConfigError(f"{path}: {e}") from None
    return cfg, list(cfg.notes)


# -- presets and scopes ----------------------------------------------------------------------------

def presets_for(features: tuple[str, ...]) -> dict[str, Config]:
    """The configurations of the presets every variant ships (their summaries are in the manifests)."""
    objs = ("vmlinux", "mod_a")   # a module object: patched when mod_a loads, reverted when it goes
    s1 = StateConfig(1, 1, False, True)
    out = {
        "small": Config("small", (PatchConfig("P1", False, ("vmlinux",), (s1,)),
                                  PatchConfig("P2", True, ("vmlinux",), (s1,))),
                        faults=frozenset({"setup", "pre_patch"}), reverse=True),
        "drop": Config("drop", (PatchConfig("P1", False, ("vmlinux",), (s1,)),
                                PatchConfig("P2", False, ("vmlinux",), (s1,)),
                                PatchConfig("P3", True, ("vmlinux",), (StateConfig(2, 1, False, True),))),
                       faults=frozenset({"setup"}), reverse=True),
        "modules": Config("modules", (PatchConfig("P1", False, objs, (s1,)),
                                      PatchConfig("P2", True, objs, (s1, StateConfig(2, 1, False, True)))),
                          targets=("mod_a",),
                          faults=frozenset({"setup", "pre_patch", "patch_object", "module_coming"}),
                          reverse=True, force=True, reload=True),
    }
    if "block_disable" in features:
        blocked = StateConfig(1, 1, True, True)
        out["block"] = Config("block", (PatchConfig("P1", False, ("vmlinux",), (blocked,)),
                                        PatchConfig("P2", True, ("vmlinux",), (StateConfig(2, 1, False, True),)),
                                        PatchConfig("P3", True, ("vmlinux",), (s1,))),
                              faults=frozenset({"setup"}), reverse=True, force=True)
    return out


SCOPE_LIMITS = {"patches": (1, 4), "states": (0, 3)}
SCOPE_EXAMPLE = "a scope looks like patches=2,states=2"


def parse_scope(spec: str) -> tuple[int, int]:
    """(patches, states) of ``patches=N,states=M``; either may be left out (2 patches, 1 state)."""
    from klpmc.model import ConfigError

    parts = [p.strip() for p in spec.split(",")]
    if not any(parts):
        raise ConfigError(f"empty scope {spec!r}; {SCOPE_EXAMPLE}")
    sizes: dict[str, int] = {}
    for part in parts:
        key, eq, val = part.partition("=")
        key = key.strip()
        if key not in SCOPE_LIMITS or not eq or not re.fullmatch(r"[0-9]{1,3}", val.strip()):
            raise ConfigError(f"bad scope part {part!r}; {SCOPE_EXAMPLE}")
        if key in sizes:
            raise ConfigError(f"scope {spec!r} gives {key} twice; {SCOPE_EXAMPLE}")
        n = int(val)
        lo, hi = SCOPE_LIMITS[key]
        if n < lo:
            raise ConfigError(f"scope {key}={n}: a scope needs at least {lo} {key[:-1] if lo == 1 else key}")
        if n > hi:
            raise ConfigError(f"scope {key}={n} is too large: {key} goes up to {hi} (the configurations "
                              "of a scope grow exponentially)")
        sizes[key] = n
    return sizes.get("patches", 2), sizes.get("states", 1)


def scope_legend(spec: str, features: tuple[str, ...]) -> str:
    """How to read the configuration names of a scope, in one line."""
    n, m = parse_scope(spec)
    ids = ",".join(str(i + 1) for i in range(min(m, 2)))
    held = f"state{'s' * (m > 1)} {ids.replace(',', ' and ')}"
    example = f"P1r{{{ids}}} is patch P1, an atomic replace (r), holding {held}"
    flags = f"; block_disable={ids}: those states block disable" if "block_disable" in features and m else ""
    return (f"each has exactly {n} patch{'es' * (n != 1)} (a stack of fewer is one whose later patches never "
            f"load); {example if m else 'P1r{} is patch P1, an atomic replace (r), holding no state'}{flags}; "
            "stacks that differ only by state ids count once; setup may fail, reversal is on")


def scope_configs(spec: str, model: str, features: tuple[str, ...]) -> list[tuple[str, Config]]:
    """Every patch stack of the scope's size, collapsing those that differ only by names.

    SPEC is ``patches=N,states=M``: N patches (each replace or not), each holding any subset of M state
    ids; with the features of the model also block_disable per state a patch holds (on a state no patch
    holds it changes nothing). Failing setup and reversal are on.
    """
    n, m = parse_scope(spec)
    flag_choices: list[tuple[bool, ...]] = [()]
    if "block_disable" in features:
        flag_choices = [bits for bits in itertools.product((False, True), repeat=m)]
    subsets = [tuple(i + 1 for i in range(m) if mask >> i & 1) for mask in range(1 << m)]
    seen: set[Any] = set()
    out = []
    for all_flags in flag_choices:
        for stack in itertools.product(itertools.product((False, True), subsets), repeat=n):
            held = {sid for _, ids in stack for sid in ids}
            flags = tuple(f and i + 1 in held for i, f in enumerate(all_flags))
            key = _canonical(stack, flags)
            if key in seen:
                continue
            seen.add(key)
            patches = []
            for i, (replace, ids) in enumerate(stack):
                states = tuple(StateConfig(sid, 1, bool(flags and flags[sid - 1]), True) for sid in ids)
                patches.append(PatchConfig(f"P{i + 1}", replace, ("vmlinux",), states))
            name = " ".join(f"P{i + 1}{'r' if r else ''}{{{','.join(map(str, ids))}}}" for i, (r, ids) in
                            enumerate(stack))
            if flags and any(flags):
                name += " block_disable=" + ",".join(str(i + 1) for i, b in enumerate(flags) if b)
            out.append((name, Config(name, tuple(patches), faults=frozenset({"setup"}), reverse=True)))
    return out


def size_estimate(config: Config, features: tuple[str, ...], cap: int = 10**15) -> tuple[int, int, str]:
    """Lower bounds on what exploring a configuration costs: (states, steps x fields, what they count).

    Counted in every variant, faults aside. From the initial state every patch and module loads: a state
    each, and the transition an insmod starts completes in a later step. Non-replace patches that the
    variant lets coexist load in any order, so klp_patches is any sequence of them: in a variant with
    replace sets those that share no state id and no set, in the others those whose common state ids have
    one version. Target modules load and unload each on its own. Every state offers an insmod of each module
    not loaded, and each step copies a state of at least one field per patch and module.
    """
    if config.fixtures is not None:
        return 1, 1, "selftest modules"
    free: list[PatchConfig] = []
    versions: dict[int, int] = {}
    sets: set[int] = set()
    for p in config.patches:
        if p.replace:
            continue
        if "replace_set" in features:
            if any(s.id in versions for s in p.states) or (p.replace_set is not None and p.replace_set in sets):
                continue
            if p.replace_set is not None:
                sets.add(p.replace_set)
        elif any(versions.get(s.id, s.version) != s.version for s in p.states):
            continue
        free.append(p)
        versions.update((s.id, s.version) for s in p.states)
    n, r, m = len(config.patches), len(free), len(config.targets)
    sequences, run = 1, 1       # sum over k of r! / (r - k)!: the sequences of distinct free patches
    for k in range(r):
        run *= r - k
        sequences += run
        if sequences > cap:
            break
    states = min(cap, max(2 * sequences - 1, 1 + 2 * n) * (1 << min(m, 50)))
    steps = min(cap, states * max(1, n + m - r))
    if r > 1:
        what = f"{r} of the {n} patches load in any order" if r < n else f"{n} patches that load in any order"
    else:
        what = f"{n} patch{'es' * (n != 1)}"
    if m:
        what += f", {m} module{'s' * (m != 1)} that load on their own"
    return states, min(cap, steps * (n + m)), what


def _canonical(stack: tuple[tuple[bool, tuple[int, ...]], ...], flags: tuple[bool, ...]) -> Any:
    """Configurations equal up to renaming state ids (patch names are positional and matter)."""
    m = len(flags) if flags else max((max(ids) for _, ids in stack if ids), default=0)
    best = None
    for perm in itertools.permutations(range(1, m + 1)):
        mapping = dict(zip(range(1, m + 1), perm, strict=False))
        key = (tuple((r, tuple(sorted(mapping[i] for i in ids))) for r, ids in stack),
               tuple(flags[mapping_inv - 1] for mapping_inv in _inverse(mapping)) if flags else ())
        if best is None or key < best:
            best = key
    return best


def _inverse(mapping: dict[int, int]) -> list[int]:
    inv = {v: k for k, v in mapping.items()}
    return [inv[i] for i in sorted(inv)]


def kselftest_presets(fixtures: Any) -> dict[str, Config]:
    """The kernel's selftests as presets on these modules: test-callbacks.sh's (kselftest: the demos, a
    replace, a target module, the busy module blocking the transition) and test-state.sh's."""
    return {
        "kselftest": Config(
            "kselftest",
            choices=(("test_klp_callbacks_demo", ()), ("test_klp_callbacks_demo2", (("replace", 1),))),
            targets=("test_klp_callbacks_mod", "test_klp_callbacks_busy"),
            target_params=(("test_klp_callbacks_busy", (("block_transition", True),)),),
            reverse=True, force=True, fixtures=fixtures, module_dir=fixtures.module_dir),
        "kselftest-state": Config(
            "kselftest-state",
            choices=(("test_klp_state", ()), ("test_klp_state2", ()), ("test_klp_state3", ())),
            reverse=True, reload=True, fixtures=fixtures, module_dir=fixtures.module_dir),
    }
