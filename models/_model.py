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
import itertools
from collections.abc import Callable, Iterator, Sequence
from operator import is_
from types import ModuleType
from typing import Any, ClassVar

from klpmc.logic import Domain
from klpmc.props import Property

from ._config import Config
from ._fields import Sig, Vocab
from ._klp import (
    EBUSY,
    KLP_TRANSITION_IDLE,
    MODULE_STATE_COMING,
    MODULE_STATE_GOING,
    MODULE_STATE_LIVE,
    Call,
    Env,
    Finding,
    Kernel,
    KlpPatch,
    KState,
    ModS,
    Module,
    PatchSpec,
    fault_text,
    finding_log,
)
from ._state import Layout
from ._view import (
    Checker,
    StepView,
    View,
    bind_rule,
    step_fields,
    step_values,
    terms_step,
    terms_view,
    values_step,
    values_view,
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


STEP_CACHE = 20_000     # kernels whose steps are kept (each a few steps, sharing their structures)
# The steps of a kernel, by (model, kernel part), for every model of the process together: a scope builds a
# model per configuration and keeps them for its report, so the bound is the process's, not each model's.
_STEPS: dict[tuple[int, tuple[int, ...]], list[tuple[Call, tuple[int, ...], tuple[Any, ...]]]] = {}
_SERIAL = itertools.count()


def _unchanged(after: KState, before: KState) -> bool:
    """Whether a step left every structure of the kernel the very object it was (freeze keeps what did
    not change): then its values are the ones it had."""
    return all(map(is_, after, before))


class KlpModel:
    """A livepatch variant on one configuration, as the checker sees it.

    States are the packed vectors of the configuration's field table (`models._fields`); a step decodes
    the vector into the kernel's structures, runs the variant's code on a working copy of them, and packs
    the result with the callback history the observer reads off the step's log.
    """

    def __init__(self, variant: ModuleType, config: Config, features: tuple[str, ...]) -> None:
        self.v = variant
        self.features = features
        self.config = config
        self.env = Env(self.spec_of, config.fixture_of)
        self.faults = frozenset(config.faults)
        self.sig = self.signature()
        self.layout = Layout(self.sig)
        self.vocab = Vocab()
        self._layouts: dict[Sig, Layout] = {_fields_of(self.sig): self.layout}
        self._serial = next(_SERIAL)
        self._kernels: dict[Any, Any] = {}   # one copy of each successor's kernel values and log

    def spec_of(self, name: str, params: tuple[tuple[str, Any], ...]) -> PatchSpec:
        """The module as built for this variant: a struct klp_state without is_shadow has no such field."""
        spec = self.config.spec_of(name, params)
        if "shadow_states" in self.features or not any(st.is_shadow for st in spec.states):
            return spec
        return dataclasses.replace(spec, states=tuple(dataclasses.replace(st, is_shadow=False)
                                                      for st in spec.states))

    def init_kernel(self) -> KState:
        """The kernel before any module loads: nothing listed, no transition, the series' statics."""
        return KState((), None, KLP_TRANSITION_IDLE, (), (), (), (), (), tuple(getattr(self.v, "STATICS_INIT", ())))

    def init_states(self) -> list[bytes]:
        return [self.layout.encode(self.init_kernel())]

    def kernel(self, s: bytes) -> KState:
        """The kernel's structures a state vector stands for."""
        return self.layout.decode(s)

    # each action: (label, body(k) -> None); bodies may record fault points
    def actions(self, s: KState) -> Iterator[tuple[Call, Callable[[Kernel], Any], bool]]:
        if s.finding is not None:
            return                     # a step could not finish: nothing comes after it
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
        try:
            body(k)
        except Finding as e:           # a dead end: the kernel as it was, and what stopped the step
            return s._replace(finding=str(e)), (*k.log, *finding_log(e.kind, e.text)), k.fault_points
        return k.freeze(), tuple(k.log), k.fault_points

    def kernel_steps(self, ks: KState) -> Iterator[tuple[Call, KState, tuple[Any, ...]]]:
        """Every step out of a kernel: (label, the kernel after it, its log), faults included."""
        for label, body, may_fail in self.actions(ks):
            try:
                succ, log, points = self.run(ks, body)
            except Disabled:
                continue
            yield label, succ, log
            if may_fail and points:
                for point in points:
                    fsucc, flog, _ = self.run(ks, body, point)
                    yield Call(label.func, (*label.args, fault_text(point))), fsucc, flog

    def next_steps(self, s: bytes) -> Iterator[tuple[Call, bytes, tuple[Any, ...]]]:
        """The steps out of a state. The kernel's code reads the kernel's structures, never the history
        of the callbacks, so the steps of a kernel are kept by its structures and reused for every
        history it comes with; only the history is worked out again, from each step's log."""
        layout = self.layout
        history = layout.values(s)
        key = (self._serial, layout.kernel_part(history))
        steps = _STEPS.get(key)
        if steps is None:
            if len(_STEPS) >= STEP_CACHE:
                _STEPS.clear()
            kernels = self._kernels
            if len(kernels) >= STEP_CACHE * 4:
                kernels.clear()
            ks = layout.decode(s)
            same = layout.kernel_of(history)        # a refused command leaves every structure as it was
            steps = _STEPS[key] = [(label, same if _unchanged(succ, ks) else
                                    kernels.setdefault(kv := layout.kernel_values(succ), kv),
                                    kernels.setdefault(log, log))
                                   for label, succ, log in self.kernel_steps(ks)]
        encode = layout.encode_values
        for label, kernel, log in steps:
            yield label, encode(kernel, history, log), log

    # -- what the properties read: the field table, concretely and as z3 terms ----------------------------
    def signature(self, events: int = 8) -> Sig:
        """The finite vocabulary of this configuration: its patches, state ids, objects and modules."""
        return config_signature(self.config, self.env.spec_of, events)

    def layout_of(self, sig: Sig) -> Layout:
        """The layout of a (wider) vocabulary, sharing this model's tokens: a scope's union."""
        key = _fields_of(sig)
        got = self._layouts.get(key)
        if got is None:
            got = self._layouts[key] = Layout(sig, self.layout.tokens)
        return got

    def view(self, s: bytes) -> View:
        """A state as the rules read it."""
        return values_view(self.sig, self.layout.table, self.layout.values(s))

    def step_view(self, label: Call, log: tuple[Any, ...]) -> StepView:
        return values_step(self.vocab, step_values(label, log, self.sig, self.vocab))

    def checker(self, props: Sequence[Property]) -> Checker:
        """The properties' rules compiled for this configuration (`models._view.Checker`)."""
        return Checker(self.sig, self.layout.table, self.vocab, props, self.layout.table.unpack)

    def predicate(self, prop: Property) -> Callable[..., bool]:
        """The property's rule, evaluated on this configuration's states (what the engine calls)."""
        if prop.rule is None:
            assert prop.predicate is not None
            return prop.predicate
        return bind_rule(prop, self.sig, self.layout.table, self.vocab, self.layout.table.unpack)

    def _vector(self, s: bytes, sig: Sig) -> tuple[int, ...]:
        """The values of a state in the table of ``sig`` (this configuration's, or a scope's union)."""
        other = self.layout_of(sig)
        if other is self.layout:
            return self.layout.values(s)
        mine = dict(zip(self.layout.table.names(), self.layout.values(s), strict=True))
        history = [mine.get(f.name, 0) for f in other.table.fields]
        return other.table.unpack(other.encode(self.layout.decode(s), history))

    def symbolic_state(self, prefix: str, sig: Sig | None = None) -> tuple[View, Domain]:
        """A state whose fields are z3 variables named with ``prefix``, and the domain they range over."""
        sig = sig or self.sig
        return terms_view(sig, self.layout_of(sig).table, prefix)

    def symbolic_step(self, prefix: str, sig: Sig | None = None) -> tuple[StepView, Domain]:
        """A step (label and events) whose fields are z3 variables, and their domain."""
        sig = sig or self.sig
        return terms_step(sig, self.vocab, sig.events, prefix)

    def flatten_state(self, s: bytes, prefix: str, sig: Sig | None = None) -> dict[str, int]:
        """A state as the values of the fields `symbolic_state` names."""
        sig = sig or self.sig
        return self.layout_of(sig).table.as_dict(self._vector(s, sig), prefix)

    def flatten_step(self, label: Call, log: tuple[Any, ...], prefix: str, sig: Sig | None = None) -> dict[str, int]:
        sig = sig or self.sig
        return step_fields(step_values(label, log, sig, self.vocab), sig.events, prefix)

    def tokens_used(self) -> int:
        return len(self.layout.tokens)

    def token(self, value: Any) -> int:
        """The number this run gives a value that fields only compare for equality."""
        return self.layout.token(value)

    def share_tokens(self, other: KlpModel) -> None:
        """Number values as ``other`` does (configurations of one scope share one numbering)."""
        self.layout = Layout(self.sig, other.layout.tokens)
        self._layouts = {_fields_of(self.sig): self.layout}
        self.vocab = other.vocab

    def relation(self, sig: Sig | None = None, name: str = "", max_states: int | None = None,
                 progress: Any = None) -> Any:
        """The transition relation over the fields the properties read, read off the model code."""
        from ._relation import extract

        return extract(self, sig or self.sig, Disabled, name=name, max_states=max_states, progress=progress)

    def scope_relation(self, models: list[KlpModel], names: list[str], max_states: int | None = None,
                       progress: Any = None) -> Any:
        """One relation for every configuration of a scope, the configuration a free input of it.

        The configurations share one vocabulary (the union of theirs) and one numbering of tokens, so a
        rule that two of them share is one rule.
        """
        from ._relation import extract, merge

        sig = models[0].sig
        for m in models[1:]:
            sig = sig.union(m.sig)
        for m in models:
            if m is not self:
                m.share_tokens(self)
        rels = [extract(m, sig, Disabled, name=n, finish=False, max_states=max_states, progress=progress)
                for m, n in zip(models, names, strict=True)]
        return merge(rels, self.tokens_used())

    def relational(self, rules: tuple[str, str]) -> Any:
        """The variant's first-order model (models/<variant>.rml) with ``rules`` (source name, text) for
        prove --unbounded, or None."""
        from ._relational import relational

        return relational(self.v, self.v.MODEL.name, lambda c: KlpModel(self.v, c, self.features), self.features,
                          rules)

    def command(self, label: Call) -> str | None:
        return command_of(label, self.config)

    def fault(self, label: Call) -> dict[str, Any] | None:
        """The call the step makes fail, and how a shell makes it fail, if it can (`fault_of`)."""
        return fault_of(label, self.config)

    def event_kinds(self) -> set[str]:
        """The kinds of events this variant produces (for klpmc diff): state and/or object callbacks."""
        return event_kinds_of(self.features)

    def event_key(self, e: Any) -> tuple[Any, ...] | None:
        """An event in the vocabulary the variants share: state callbacks named by position."""
        return event_key_of(e)

    def fields(self, s: bytes) -> dict[str, int]:
        """A state's named fields (not its tokens), for people and for other tools (ITF)."""
        table = self.layout.table
        return {f.name: v for f, v in zip(table.fields, self.layout.values(s), strict=True) if not f.token}

    def describe(self, s: bytes) -> str:
        """A few lines for a graph node: klp_patches, the transition, loaded modules, what callbacks did."""
        ks = self.kernel(s)
        vals = self.layout.values(s)
        slot = self.layout.table.slot
        patches = []
        for p in ks.patches:
            flags = "enabled" if p.enabled else "disabled"
            if p.mod == ks.transition:
                flags += ", " + ("patching" if ks.target == 1 else "unpatching")
            if p.forced:
                flags += ", forced"
            patches.append(f"{p.mod}{'r' if p.replace else ''}({flags})")
        lines = ["klp_patches: " + (" ".join(patches) or "-")]
        mods = [m.name + ("(pinned)" if m.pinned else "") for m in ks.modules if m.name not in ks.gone]
        lines.append("modules: " + (" ".join(mods) or "-"))
        names = {1: "setup", 2: "enabled", 3: "disabled"}
        world = [f"{sid}={names[vals[slot[('ws', sid)]]]}" for sid in self.sig.sids if vals[slot[("ws", sid)]]]
        world += [f"{p}/{o}={names[vals[slot[('wo', p, o)]]]}" for p, o in self.sig.objects
                  if vals[slot[("wo", p, o)]]]
        if world:
            lines.append("set up: " + " ".join(world))
        if ks.shadows:
            lines.append("shadow: " + " ".join(f"<{o},{i}>" for o, i, _ in ks.shadows))
        return "\n".join(lines)


def _fields_of(sig: Sig) -> Sig:
    """The part of a vocabulary the state's fields depend on (not the event slots of a step)."""
    return dataclasses.replace(sig, events=0)


def config_signature(config: Config, spec_of: Callable[[str, tuple[tuple[str, Any], ...]], PatchSpec],
                     events: int = 8) -> Sig:
    """The finite vocabulary of a configuration: its patches, state ids, objects and modules."""
    patches: list[str] = []
    sids: set[int] = set()
    objects: list[tuple[str, str]] = []
    versions = [1]
    for name, params in config.livepatches:
        spec = spec_of(name, params)
        if name not in patches:
            patches.append(name)
        sids.update(st.id for st in spec.states)
        versions.extend(st.version for st in spec.states)
        objects.extend((name, o.name) for o in spec.objs if (name, o.name) not in objects)
    # every module a step may look up: the livepatches, the targets, and the objects the patches name
    # (a step asks whether an object's module is loaded even when the run never loads it)
    modules = tuple(dict.fromkeys([*patches, *config.targets, *(o for _, o in objects if o != "vmlinux")]))
    return Sig(tuple(patches), tuple(sorted(sids)), tuple(objects), modules, events, max(versions))


# state callbacks by position, in the POC's names, so that variants can be diffed
CANONICAL = {"pre_patch": "setup", "post_patch": "enable", "pre_unpatch": "disable", "post_unpatch": "release"}


def event_kinds_of(features: tuple[str, ...]) -> set[str]:
    """The kinds of events a variant with these features produces (for klpmc diff)."""
    kinds = {"result"}
    if "shadow_states" in features:
        kinds.add("shadow")
    if "state_callbacks" in features:
        kinds.add("state")
    if "object_callbacks" in features:
        kinds.add("object")
    return kinds


def event_key_of(e: Any) -> tuple[Any, ...] | None:
    """An event in the vocabulary the variants share: state callbacks named by position."""
    if isinstance(e, InsmodResult):
        return ("result", e.module, e.ret)
    callback = getattr(e, "callback", None)
    if callback is None:
        return None
    if callback == "shadow_free_all":
        return ("shadow", e.patch, e.state)
    if e.state is not None:
        return ("state", CANONICAL.get(callback, callback), e.patch, e.state, e.ret)
    return ("object", callback, e.patch, e.object, e.ret)


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


def _fault_arg(label: Call) -> tuple[tuple[Any, ...], tuple[str, str, str] | None]:
    """The label's arguments without its fault, and the fault (call, patch, where) if it has one."""
    a = label.args
    if a and isinstance(a[-1], str) and a[-1].startswith("fail="):
        kind, patch, where = [*a[-1][5:].split(":", 2), "", ""][:3]
        return a[:-1], (kind, patch, where)
    return a, None


def command_of(label: Call, config: Config) -> str | None:
    """The shell command a person types for a step, as the selftest harness writes it: runnable as it is.

    A failing callback of the livepatch being loaded is the generated module's ``fail`` parameter; any
    other fault is the step's `fault_of`, not part of the command.
    """
    from klpmc.kmodgen import FAIL_PARAM, KERNEL_FAULTS, fail_value

    f = label.func
    a, fault = _fault_arg(label)
    if f in ("klp_enable_patch", "klp_module_coming"):
        args = [str(x) for x in a[1:]]
        if fault is not None and fault[1] == a[0] and fault[0] not in KERNEL_FAULTS and config.fixtures is None:
            args.append(f"{FAIL_PARAM}={fail_value(fault[0], fault[2])}")
        return f"insmod {config.module_path(a[0])}{''.join(' ' + x for x in args)}"
    if f in ("klp_module_going", "delete_module"):
        return f"rmmod {a[0]}"
    if f == "enabled_store":
        return f"echo {a[1]} > /sys/kernel/livepatch/{a[0]}/enabled"
    if f == "force_store":
        return f"echo 1 > /sys/kernel/livepatch/{a[0]}/force"
    return None


def fault_of(label: Call, config: Config) -> dict[str, Any] | None:
    """The call a step makes fail: ``{call, patch, where, inside_kernel, command}``, where ``command`` is
    what makes it fail from a shell, if anything can (the step's own command carries it when it loads
    that livepatch; else a write to the loaded livepatch's ``fail`` parameter before the step)."""
    from klpmc.kmodgen import FAIL_PARAM, KERNEL_FAULTS, fail_value

    a, fault = _fault_arg(label)
    if fault is None:
        return None
    kind, patch, where = fault
    inside = kind in KERNEL_FAULTS
    if inside or config.fixtures is not None:
        command = None
    elif label.func in ("klp_enable_patch", "klp_module_coming") and a and a[0] == patch:
        command = command_of(label, config)
    else:
        command = f"echo -n {fail_value(kind, where)} > /sys/module/{patch}/parameters/{FAIL_PARAM}"
    return {"call": kind, "patch": patch, "where": where, "inside_kernel": inside, "command": command}
