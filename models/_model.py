"""The module loader and the checker-facing model shared by every livepatch variant.

`kernel/module/main.c` is the same for every series: insmod runs `load_module()` (which calls
`klp_module_coming()` from `prepare_coming_module()`, then the parameter setters, then `mod->init()`), and
rmmod runs `delete_module()` (`mod->exit()`, then `klp_module_going()`). What those livepatch hooks do is
the variant's: the loader calls them from the variant module it is given.

`KlpModel` turns a variant and a configuration into the engine's `init_states` / `next_steps`: one step per
entry point a user or the scheduler can trigger, every nondeterministic outcome in the label.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

from ._config import Config, load_config, presets_for, scope_configs
from ._klp import (
    EBUSY,
    KLP_TRANSITION_IDLE,
    MODULE_STATE_COMING,
    MODULE_STATE_GOING,
    MODULE_STATE_LIVE,
    Call,
    Env,
    Kernel,
    KlpPatch,
    KState,
    ModS,
    Module,
    PatchSpec,
)

EEXIST = 17


# -- kernel/module/main.c --------------------------------------------------------------------------


def load_module(v: ModuleType, k: Kernel, name: str, params: tuple[tuple[str, Any], ...]) -> int:
    """load_module() and do_init_module(): klp_module_coming(), parameter setters, init."""
    if name in k.modules:
        return -EEXIST
    mod = Module(ModS(name, MODULE_STATE_COMING, False, params, False, ()))
    k.modules[name] = mod
    fixture = k.env.fixture_of(name)
    # prepare_coming_module(); when it fails, klp_module_going() is not called
    ret = v.klp_module_coming(k, mod)
    if ret:
        del k.modules[name]
        return int(ret)
    fixture.params_set(k, mod)

    def enable() -> int:
        spec = k.env.spec_of(name, tuple(sorted(mod.params.items())))
        return int(v.klp_enable_patch(k, KlpPatch.early(spec)))

    ret = fixture.init(k, mod, enable)
    if ret:
        mod.state = MODULE_STATE_GOING
        v.klp_module_going(k, mod)
        del k.modules[name]
        return ret
    mod.state = MODULE_STATE_LIVE
    return 0


def delete_module(v: ModuleType, k: Kernel, name: str) -> int:
    """delete_module(): a module in use (a livepatch still listed or forced) cannot go; else exit, going."""
    mod = k.modules[name]
    if mod.pinned or any(p.mod == name for p in k.patches):
        return -EBUSY
    mod.state = MODULE_STATE_GOING
    k.env.fixture_of(name).exit(k, mod)
    v.klp_module_going(k, mod)
    del k.modules[name]
    return 0


# -- the model -------------------------------------------------------------------------------------


class KlpModel:
    """A livepatch variant on one configuration, as the checker sees it."""

    def __init__(self, variant: ModuleType, config: Config, features: tuple[str, ...]) -> None:
        self.v = variant
        self.features = features
        self.config = config
        self.env = Env(self.spec_of, config.fixture_of)
        self.faults = frozenset(config.faults)
        self._tokens: Any = None

    def spec_of(self, name: str, params: tuple[tuple[str, Any], ...]) -> PatchSpec:
        """The module as built for this variant: a struct klp_state without is_shadow has no such field."""
        spec = self.config.spec_of(name, params)
        if "shadow_states" in self.features or not any(st.is_shadow for st in spec.states):
            return spec
        return dataclasses.replace(spec, states=tuple(dataclasses.replace(st, is_shadow=False)
                                                      for st in spec.states))

    def init_states(self) -> list[KState]:
        return [KState((), None, KLP_TRANSITION_IDLE, (), (), (), (), (), tuple(self.v_ghost_init()))]

    def v_ghost_init(self) -> tuple[Any, ...]:
        return tuple(getattr(self.v, "GHOST_INIT", ()))

    # each action: (label, body(k) -> None); bodies may record fault points
    def actions(self, s: KState) -> Iterator[tuple[Call, Callable[[Kernel], Any], bool]]:
        v, cfg = self.v, self.config
        loaded = {m.name for m in s.modules}
        listed = {p.mod: p for p in s.patches}
        for name, params in cfg.livepatches:
            if name in loaded or name in s.gone:
                continue
            args = (name, *tuple(f"{a}={b}" for a, b in params))
            yield (Call("klp_enable_patch", args),
                   lambda k, n=name, p=params: self.insmod(k, n, p), True)
        for p in s.patches:
            if s.transition == p.mod:
                if cfg.reverse:
                    yield (Call("enabled_store", (p.mod, 0 if p.enabled else 1)),
                           lambda k, n=p.mod, e=not p.enabled: v.enabled_store(k, k.patch_by_name(n), e), False)
                if cfg.force:
                    yield (Call("force_store", (p.mod,)),
                           lambda k, n=p.mod: v.force_store(k, k.patch_by_name(n)), False)
            elif p.enabled:
                yield (Call("enabled_store", (p.mod, 0)),
                       lambda k, n=p.mod: v.enabled_store(k, k.patch_by_name(n), False), False)
        if s.transition is not None:
            yield Call("klp_try_complete_transition", ()), self.try_complete, False
        tparams = dict(cfg.target_params)
        for name in cfg.targets:
            if name in loaded:
                yield (Call("klp_module_going", (name,)),
                       lambda k, n=name: delete_module(v, k, n), False)
            elif name not in s.gone:
                params = tparams.get(name, ())
                args = (name, *tuple(f"{a}={b}" for a, b in params))
                yield (Call("klp_module_coming", args),
                       lambda k, n=name, p=params: self.insmod(k, n, p), True)
        for m in s.modules:
            if m.name in listed or m.pinned or m.name in cfg.targets:
                continue
            yield (Call("delete_module", (m.name,)),
                   lambda k, n=m.name: self.rmmod_livepatch(k, n), False)

    def insmod(self, k: Kernel, name: str, params: tuple[tuple[str, Any], ...]) -> int:
        ret = load_module(self.v, k, name, params)
        k.log.append(InsmodResult(name, ret))
        return ret

    def rmmod_livepatch(self, k: Kernel, name: str) -> int:
        ret = delete_module(self.v, k, name)
        if not ret and not self.config.reload:
            k.gone.add(name)
        return ret

    def try_complete(self, k: Kernel) -> Any:
        if not self.v.klp_try_complete_transition(k):
            raise Disabled()
        return 0

    def run(self, s: KState, body: Callable[[Kernel], Any],
            fail_at: Any = None) -> tuple[KState, tuple[Any, ...], list[Any]]:
        k = Kernel.thaw(s, self.env, self.faults, fail_at)
        body(k)
        return k.freeze(), tuple(k.log), k.fault_points

    def next_steps(self, s: KState) -> Iterator[tuple[Call, KState, tuple[Any, ...]]]:
        for label, body, may_fail in self.actions(s):
            try:
                succ, log, points = self.run(s, body)
            except Disabled:
                continue
            yield label, succ, log
            if may_fail and points:
                for point in points:
                    fsucc, flog, _ = self.run(s, body, point)
                    yield Call(label.func, (*label.args, fault_text(point))), fsucc, flog

    # -- symbolic views (klpmc.logic): the same fields the properties read, as z3 integers ----------------
    def signature(self, events: int = 8) -> Any:
        """The finite vocabulary of this configuration: its patches, state ids, objects and modules."""
        from klpmc.properties._view import Sig

        patches: list[str] = []
        sids: set[int] = set()
        objects: list[tuple[str, str]] = []
        versions = [1]
        for name, params in self.config.livepatches:
            spec = self.env.spec_of(name, params)
            if name not in patches:
                patches.append(name)
            sids.update(st.id for st in spec.states)
            versions.extend(st.version for st in spec.states)
            objects.extend((name, o.name) for o in spec.objs if (name, o.name) not in objects)
        # every module a step may look up: the livepatches, the targets, and the objects the patches name
        # (a step asks whether an object's module is loaded even when the run never loads it)
        modules = tuple(dict.fromkeys([*patches, *self.config.targets,
                                       *(o for _, o in objects if o != "vmlinux")]))
        return Sig(tuple(patches), tuple(sorted(sids)), tuple(objects), modules, events, max(versions))

    def symbolic_state(self, prefix: str, sig: Any = None) -> tuple[Any, Any]:
        """A state whose fields are z3 variables named with ``prefix``, and the domain they range over."""
        from klpmc.properties._view import ZView

        view = ZView(sig or self.signature(), prefix)
        return view, view.domain()

    def symbolic_step(self, prefix: str, sig: Any = None) -> tuple[Any, Any]:
        """A step (label and events) whose fields are z3 variables, and their domain."""
        from klpmc.properties._view import ZStep

        step = ZStep(sig or self.signature(), prefix)
        return step, step.domain()

    def flatten_state(self, s: KState, prefix: str, sig: Any) -> dict[str, int]:
        """A state as the values of the fields `symbolic_state` names (tokens numbered per model)."""
        from klpmc.properties._view import Tokens, flatten

        if self._tokens is None:
            self._tokens = Tokens()
        return flatten(s, sig, prefix, self._tokens)

    def flatten_step(self, label: Call, log: tuple[Any, ...], prefix: str, sig: Any) -> dict[str, int]:
        from klpmc.properties._view import flatten_step

        return flatten_step(label, log, sig, prefix)

    def tokens_used(self) -> int:
        return 0 if self._tokens is None else len(self._tokens)

    def token(self, value: Any) -> int:
        """The number this run gives a value that fields only compare for equality."""
        from klpmc.properties._view import Tokens

        if self._tokens is None:
            self._tokens = Tokens()
        return int(self._tokens(value))

    def share_tokens(self, other: KlpModel) -> None:
        """Number values as ``other`` does (configurations of one scope share one numbering)."""
        other.token(None)
        self._tokens = other._tokens

    def relation(self, sig: Any = None, name: str = "") -> Any:
        """The transition relation over the fields the properties read, read off the model code."""
        from ._relation import extract

        return extract(self, sig or self.signature(), Disabled, name=name)

    def scope_relation(self, models: list[KlpModel], names: list[str]) -> Any:
        """One relation for every configuration of a scope, the configuration a free input of it.

        The configurations share one vocabulary (the union of theirs) and one numbering of tokens, so a
        rule that two of them share is one rule.
        """
        from klpmc.properties._view import Sig

        from ._relation import extract, merge

        sigs = [m.signature() for m in models]
        sig = Sig(tuple(dict.fromkeys(p for s in sigs for p in s.patches)),
                  tuple(sorted({i for s in sigs for i in s.sids})),
                  tuple(dict.fromkeys(o for s in sigs for o in s.objects)),
                  tuple(dict.fromkeys(m for s in sigs for m in s.modules)),
                  max(s.events for s in sigs), max(s.max_version for s in sigs))
        for m in models:
            m.share_tokens(self)
        rels = [extract(m, sig, Disabled, name=n, finish=False) for m, n in zip(models, names, strict=True)]
        return merge(rels, self.tokens_used())

    def relational(self) -> Any:
        """The variant's first-order model (models/<variant>.rml) for prove --unbounded, or None."""
        from ._relational import relational

        return relational(self.v, self.v.MODEL.name, lambda c: KlpModel(self.v, c, self.features), self.features)

    def command(self, label: Call) -> str | None:
        return command_of(label, self.config)

    # state callbacks by position, in the POC's names, so that variants can be diffed
    _CANONICAL: ClassVar[dict[str, str]] = {"pre_patch": "setup", "post_patch": "enable", "pre_unpatch": "disable",
                                             "post_unpatch": "release"}

    def event_kinds(self) -> set[str]:
        """The kinds of events this variant produces (for klpmc diff): state and/or object callbacks."""
        kinds = {"result"}
        if "shadow_states" in self.features:
            kinds.add("shadow")
        if "state_callbacks" in self.features:
            kinds.add("state")
        if "object_callbacks" in self.features:
            kinds.add("object")
        return kinds

    def event_key(self, e: Any) -> tuple[Any, ...] | None:
        """An event in the vocabulary the variants share: state callbacks named by position."""
        if isinstance(e, InsmodResult):
            return ("result", e.module, e.ret)
        callback = getattr(e, "callback", None)
        if callback is None:
            return None
        if callback == "shadow_free_all":
            return ("shadow", e.patch, e.state)
        if e.state is not None:
            return ("state", self._CANONICAL.get(callback, callback), e.patch, e.state, e.ret)
        return ("object", callback, e.patch, e.object, e.ret)

    def describe(self, s: KState) -> str:
        """A few lines for a graph node: klp_patches, the transition, loaded modules, what callbacks did."""
        patches = []
        for p in s.patches:
            flags = "enabled" if p.enabled else "disabled"
            if p.mod == s.transition:
                flags += ", " + ("patching" if s.target == 1 else "unpatching")
            if p.forced:
                flags += ", forced"
            patches.append(f"{p.mod}{'r' if p.replace else ''}({flags})")
        lines = ["klp_patches: " + (" ".join(patches) or "-")]
        mods = [m.name + ("(pinned)" if m.pinned else "") for m in s.modules if m.name not in s.gone]
        lines.append("modules: " + (" ".join(mods) or "-"))
        world = [f"{k[1]}={v}" for k, v in s.world if k[0] == "state"]
        world += [f"{k[1]}/{k[2]}={v}" for k, v in s.world if k[0] == "obj"]
        if world:
            lines.append("set up: " + " ".join(world))
        if s.shadows:
            lines.append("shadow: " + " ".join(f"<{o},{i}>" for o, i, _ in s.shadows))
        return "\n".join(lines)


class Disabled(Exception):
    """The step cannot happen in this state (a tracked task has not switched)."""


class InsmodResult:
    """The value insmod returned: not a log line; the harness prints its error text."""

    __slots__ = ("module", "ret")
    callback: ClassVar[str] = "insmod"     # how the properties tell it from a callback event

    def __init__(self, module: str, ret: int) -> None:
        self.module = module
        self.ret = ret

    def as_json(self) -> dict[str, Any]:
        return {"callback": "insmod", "module": self.module, "ret": self.ret}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, InsmodResult) and (self.module, self.ret) == (other.module, other.ret)

    def __hash__(self) -> int:
        return hash((self.module, self.ret))


def fault_text(point: tuple[Any, ...]) -> str:
    kind, patch, where = point
    return f"fail={kind}:{patch}:{where}"


def command_of(label: Call, config: Config) -> str | None:
    """The shell command a person types for a step, as the selftest harness writes it."""
    f, a = label.func, label.args
    note = ""
    if a and isinstance(a[-1], str) and a[-1].startswith("fail="):
        note = f"    # {a[-1][5:].replace(':', ' of ', 1).replace(':', ' for ', 1)} fails"
        a = a[:-1]
    if f in ("klp_enable_patch", "klp_module_coming"):
        return f"insmod {config.module_path(a[0])}{''.join(' ' + x for x in a[1:])}{note}"
    if f in ("klp_module_going", "delete_module"):
        return f"rmmod {a[0]}"
    if f == "enabled_store":
        return f"echo {a[1]} > /sys/kernel/livepatch/{a[0]}/enabled"
    if f == "force_store":
        return f"echo 1 > /sys/kernel/livepatch/{a[0]}/force"
    return None


# -- ModelDef --------------------------------------------------------------------------------------


def make_model_def(modname: str, name: str, summary: str, features: tuple[str, ...],
                   expected: dict[str, dict[str, tuple[str, str]]] | None = None,
                   default_preset: str = "small",
                   extra_presets: dict[str, tuple[str, Config]] | None = None) -> Any:
    """The registry entry of a variant module: build, presets, manifest, config loader, scope, replay.

    ``features`` say what the variant has (object_callbacks, state_callbacks, versions, block_disable,
    shadow_states, replace_set); the catalogue properties whose requirements they meet apply to it.
    ``expected[preset][property] = (verdict, one-line reason)`` is the manifest; scope configurations
    are named in it by their scope name.
    """
    from klpmc.properties import applicable

    from klpmc.registry import ExpectedVerdict, ModelDef, Preset

    variant = sys.modules[modname]
    all_presets = dict(presets_for(name, features))
    all_presets.update(extra_presets or {})
    presets = {pname: Preset(psummary, cfg) for pname, (psummary, cfg) in all_presets.items()}
    manifest = {
        preset: {prop: ExpectedVerdict(verdict, reason) for prop, (verdict, reason) in props.items()}
        for preset, props in (expected or {}).items()
    }
    manifest.update(scope_manifest(name, ExpectedVerdict))
    from . import _harness

    return ModelDef(
        name=name,
        summary=summary,
        build=lambda config: KlpModel(variant, config, features),
        presets=presets,
        default_preset=default_preset,
        expected=manifest,
        properties=applicable(features),
        load_config=lambda path: load_config(path, name, features),
        scope=lambda spec: scope_configs(spec, name, features),
        replay=lambda path, check: _harness.replay_file(variant, name, path, check, features),
    )


def scope_manifest(name: str, verdict: Any) -> dict[str, dict[str, Any]]:
    """The recorded verdicts of the model's scope configurations (models/manifests/<name>.json).

    ``scopes[spec][configuration]`` lists the properties that configuration violates; ``reasons[property]``
    says why in one line. Written by scripts/record_scope_manifest.py and reviewed by hand.
    """
    path = Path(__file__).parent / "manifests" / f"{name}.json"
    if not path.exists():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    reasons = data.get("reasons", {})
    out: dict[str, dict[str, Any]] = {}
    for configs in data.get("scopes", {}).values():
        for config, props in configs.items():
            out[config] = {p: verdict("violated", reasons.get(p, "recorded")) for p in props}
    return out
