"""The kernel's own C: the livepatch core of a kernel tree, built in user space and explored.

Provenance: the unmodified kernel/livepatch/{core,patch,transition,state,shadow}.c and
include/linux/livepatch*.h of the tree ``--kernel`` names (default: Debian's linux-source-6.12), compiled
against klpmc's stub headers and harness (models/_c; what they do not make real is said at the top of
harness.c). The test modules are the tree's own (tools/testing/selftests/livepatch/test_modules); a
configuration of patches becomes generated C modules (klpmc/kmodgen.py) that print what the Python
models' generic module prints.

A state is the kernel's memory: the harness snapshots it after every step and restores it before every
step out of it; two states are one when their memory is the same up to where things were allocated
(harness.c, klpmc_digest). What the rules read is the field table every model fills (models/_fields.py):
the kernel's structures read in C (klp_patches, the transition, the shadow hash, the modules), the
history of the callbacks from the log, as for the Python models. The steps are the Python models' (the
same labels, so traces compare), plus the work items a Python model runs inside others: the freeing of a
patch (klp_free_patch_work_fn) is a step of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from klpmc.kmodgen import MAINLINE, POC_STATE_CALLBACKS, GenerateError, KernelAPI, sources
from klpmc.ktree import Tree
from klpmc.logic import Domain
from klpmc.model import ExpectedVerdict, InputError, ModelDef
from klpmc.props import Property

from . import _harness
from ._ckernel import OP_INSMOD, OP_INSMOD_RELOAD, OP_RMMOD, OP_RMMOD_RELOAD, OP_RUN_WORK, OP_WRITE, CKernel
from ._config import Config
from ._fields import Field, Sig, Table, Tokens, Vocab, ghost_fields, kernel_fields, token_fields
from ._ghost import Observer
from ._kbuild import Core, build_core, open_tree
from ._klp import Call, fault_text, finding_log
from ._model import InsmodResult, command_of, config_signature, event_key_of, event_kinds_of, fault_of, step_fields
from ._view import Checker, StepView, View, bind_rule, step_values, terms_step, terms_view, values_view

FEATURES = (*MAINLINE.features, "kernel_c")    # on a tree of another API, its own (`make_kernel_def`)


@dataclass(frozen=True, eq=False)
class CState:
    """A state of the kernel's C: its field vector (what is compared) and a snapshot of its memory.

    A successor is yielded without its snapshot (``snap`` None, ``live`` True): most successors are states
    seen before, and the engine asks for the snapshot (`KernelModel.keep`) only of a state it keeps,
    while the C still holds it. A dead end (a step that could not finish) has no snapshot and no steps.
    """

    vec: bytes
    snap: bytes | None
    live: bool = False

    def __hash__(self) -> int:
        return hash(self.vec)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CState) and other.vec == self.vec


class KernelModel:
    """The kernel's C on one configuration, as the checker sees it (the same contract as the Python models)."""

    def __init__(self, ck: CKernel, config: Config, features: tuple[str, ...] = FEATURES) -> None:
        self.ck = ck
        self.config = config
        self.features = features
        self.sig = config_signature(config, config.spec_of)
        self.vocab = Vocab()
        self.tokens = Tokens()
        self.table = Table(kernel_fields(self.sig) + ghost_fields(self.sig) +
                           token_fields([("mem",), ("finding",), ("shadows",)]) + [Field(("leaked",), "leaked", 0, 1)])
        self.observer = Observer(self.table)
        self.nkernel = len(kernel_fields(self.sig))
        self._mem = self.table.slot[("mem",)]
        self._finding = self.table.slot[("finding",)]
        self._leaked = self.table.slot[("leaked",)]
        self._shadows = self.table.slot[("shadows",)]
        self.sources = module_sources(ck, config)
        self._joined: dict[tuple[int, str, int], tuple[tuple[Any, ...], tuple[Any, ...]]] = {}
        self.livepatches = [name for name, _ in config.livepatches]
        self.modules = tuple(dict.fromkeys([*self.livepatches, *config.targets]))

    # -- running the C ----------------------------------------------------------------------------------
    def _use(self) -> None:
        """Make the process's C this configuration's: its modules, the fields it reads, its faults. Call
        it after restoring one of its states (another configuration may have run in between)."""
        ck = self.ck
        if ck.owner is self:
            return
        for name, text in self.sources.items():
            ck.add_module(name, text)
        ck.set_vocabulary(self.sig.patches, self.sig.sids, self.sig.modules)
        ck.set_faults(frozenset(self.config.faults))
        ck.owner = self

    def _capture(self, history: tuple[int, ...] | list[int] | None, log: tuple[Any, ...]) -> CState:
        """The state the C is in now: its facts, the history updated by the step's log, its memory."""
        return self._state(history, log, self.ck.facts(), self.ck.digest())

    def _state(self, history: tuple[int, ...] | list[int] | None, log: tuple[Any, ...], facts: list[int],
               digest: bytes) -> CState:
        """A state from its facts and digest (read by the harness) and the history the step's log updates."""
        vec = facts[:self.nkernel]
        vec += list(history[self.nkernel:]) if history is not None else [0] * (len(self.table.fields) - self.nkernel)
        if self.observer.reads(log):
            self.observer.apply(vec, log)
        vec[self._mem] = self.tokens(digest)
        vec[self._finding] = 0
        vec[self._leaked] = facts[self.nkernel]
        vec[self._shadows] = self.tokens(("shadows", facts[self.nkernel + 1]))
        return CState(self.table.pack(vec), None, True)

    def keep(self, state: CState) -> CState:
        """The state with its snapshot: called while the C still holds it (right after it was yielded)."""
        if not state.live:
            return state
        return CState(state.vec, self.ck.snapshot())

    def init_states(self) -> list[CState]:
        self.ck.restore(self.ck.pristine)
        self._use()
        return [self.keep(self._capture(None, ()))]

    def fingerprint(self, state: CState) -> bytes:
        return state.vec

    def values(self, state: CState) -> tuple[int, ...]:
        return self.table.unpack(state.vec)

    def _fact(self, vals: tuple[int, ...], *key: Any) -> int:
        return vals[self.table.slot[key]]

    def actions(self, state: CState) -> Iterator[tuple[Call, int, str, str, bool]]:
        """Every step a user or the scheduler can take here: (label, harness op, its arguments, may fail)."""
        cfg, ck = self.config, self.ck
        vals = self.values(state)
        info = {m: ck.module_info(m) for m in self.modules}
        sig = self.sig
        t = vals[self.table.slot[("transition",)]]
        reload = cfg.reload
        insmod_op = OP_INSMOD_RELOAD if reload else OP_INSMOD
        for name, params in cfg.livepatches:
            loaded, gone = info[name][0], info[name][1]
            if loaded or gone:
                continue
            args = tuple(f"{a}={b}" for a, b in params)
            yield Call("klp_enable_patch", (name, *args)), insmod_op, name, " ".join(_param_text(params)), True
        listed = {}
        for p in sig.patches:
            if self._fact(vals, "pos", p) >= 0:
                listed[p] = self._fact(vals, "pos", p)
        for p in sorted(listed, key=listed.__getitem__):
            path = f"/sys/kernel/livepatch/{p}/"
            enabled = self._fact(vals, "enabled", p)
            if t >= 0 and sig.patches[t] == p:
                if cfg.reverse:
                    value = 0 if enabled else 1
                    yield Call("enabled_store", (p, value)), OP_WRITE, path + "enabled", str(value), False
                if cfg.force:
                    yield Call("force_store", (p,)), OP_WRITE, path + "force", "1", False
            elif enabled:
                yield Call("enabled_store", (p, 0)), OP_WRITE, path + "enabled", "0", False
        for i, work in enumerate(ck.pending()):
            kind, _, arg = work.partition(" ")
            label = (Call("klp_try_complete_transition", ()) if kind == "transition" else
                     Call("klp_free_patch_work_fn", (arg,)) if kind == "free" else Call("work", (arg,)))
            yield label, OP_RUN_WORK, str(i), "", False
        tparams = dict(cfg.target_params)
        for name in cfg.targets:
            loaded, gone = info[name][0], info[name][1]
            if loaded:
                yield Call("klp_module_going", (name,)), OP_RMMOD_RELOAD, name, "", False
            elif not gone:
                params = tparams.get(name, ())
                args = tuple(f"{a}={b}" for a, b in params)
                yield (Call("klp_module_coming", (name, *args)), OP_INSMOD_RELOAD, name,
                       " ".join(_param_text(params)), True)
        for name in self.livepatches:
            loaded = info[name][0]
            if not loaded or name in cfg.targets or name in listed:
                continue
            if self._fact(vals, "pinned", name):
                continue
            yield Call("delete_module", (name,)), OP_RMMOD_RELOAD if reload else OP_RMMOD, name, "", False

    def next_steps(self, state: CState) -> Iterator[tuple[Call, CState, tuple[Any, ...]]]:
        if state.snap is None:
            return
        ck, snap = self.ck, state.snap
        ck.restore(snap)
        self._use()
        history = self.values(state)
        for label, op, a, b, may_fail in list(self.actions(state)):
            ab, bb = a.encode(), b.encode()
            out, facts, digest = ck.run(snap, op, ab, bb, None, may_fail)
            yield self._result(label, op, a, history, out, facts, digest)
            if may_fail:
                for point in out.points:
                    fout, ffacts, fdigest = ck.run(snap, op, ab, bb, point.encode(), False)
                    flabel = Call(label.func, (*label.args, fault_text(tuple(point.split(":", 2)))))
                    yield self._result(flabel, op, a, history, fout, ffacts, fdigest)

    def take(self, state: CState, label: Call) -> tuple[Call, CState, tuple[Any, ...]] | None:
        """The one step with this label out of the state (conformance runs a given trace), or None."""
        if state.snap is None:
            return None
        args = tuple(label.args)
        fail = args[-1][5:] if args and isinstance(args[-1], str) and args[-1].startswith("fail=") else None
        base = Call(label.func, args[:-1]) if fail is not None else label
        self.ck.restore(state.snap)
        self._use()
        for action, op, a, b, may_fail in list(self.actions(state)):
            if action != base or (fail is not None and not may_fail):
                continue
            if fail is not None:
                probe, _, _ = self.ck.run(state.snap, op, a.encode(), b.encode(), None)
                if fail not in probe.points:
                    return None       # the C passes no such fault point here
            out, facts, digest = self.ck.run(state.snap, op, a.encode(), b.encode(),
                                             fail.encode() if fail is not None else None)
            got = self._result(label, op, a, self.values(state), out, facts, digest)
            return got[0], self.keep(got[1]), got[2]
        return None

    def internal(self, label: Call) -> bool:
        """Steps a Python model takes inside others: the kernel frees a patch in a work item of its own."""
        return label.func == "klp_free_patch_work_fn"

    def _result(self, label: Call, op: int, name: str, history: tuple[int, ...], out: Any, facts: list[int],
                digest: bytes) -> tuple[Call, CState, tuple[Any, ...]]:
        log = out.log
        if op in (OP_INSMOD, OP_INSMOD_RELOAD) and out.finding is None:
            key = (id(log), name, out.ret)
            joined = self._joined.get(key)
            if joined is None or joined[0] is not log:
                joined = self._joined[key] = (log, (*log, InsmodResult(name, out.ret)))
            log = joined[1]
        if out.finding is not None:           # a dead end: the kernel as it was, and what stopped the step
            kind, _, text = out.finding.partition(": ")
            log = (*log, *finding_log(kind, text))
            vec = list(history)
            vec[self._finding] = self.tokens(out.finding)
            return label, CState(self.table.pack(vec), None), log
        return label, self._state(history, log, facts, digest), log

    # -- what the rules read: the field table ----------------------------------------------------------
    def checker(self, props: Sequence[Property]) -> Checker:
        """The properties' rules compiled for this configuration (`models._view.Checker`)."""
        return Checker(self.sig, self.table, self.vocab, props, self._vector)

    def predicate(self, prop: Property) -> Callable[..., bool]:
        if prop.rule is None:
            if prop.predicate is None:
                raise InputError(f"property {prop.name!r} has neither a rule nor a predicate")
            return prop.predicate
        return bind_rule(prop, self.sig, self.table, self.vocab, self._vector)

    def _vector(self, state: CState) -> tuple[int, ...]:
        return self.table.unpack(state.vec)

    def view(self, state: CState) -> View:
        return values_view(self.sig, self.table, self.table.unpack(state.vec))

    def step_view(self, label: Call, log: tuple[Any, ...]) -> StepView:
        from ._view import values_step

        return values_step(self.vocab, step_values(label, log, self.sig, self.vocab))

    def signature(self) -> Sig:
        return self.sig

    def symbolic_state(self, prefix: str, sig: Sig | None = None) -> tuple[View, Domain]:
        return terms_view(self.sig, self.table, prefix)

    def symbolic_step(self, prefix: str, sig: Sig | None = None) -> tuple[StepView, Domain]:
        return terms_step(self.sig, self.vocab, self.sig.events, prefix)

    def flatten_state(self, state: CState, prefix: str, sig: Sig | None = None) -> dict[str, int]:
        return self.table.as_dict(self.table.unpack(state.vec), prefix)

    def flatten_step(self, label: Call, log: tuple[Any, ...], prefix: str, sig: Sig | None = None) -> dict[str, int]:
        return step_fields(step_values(label, log, self.sig, self.vocab), self.sig.events, prefix)

    def fields(self, state: CState) -> dict[str, int]:
        vals = self.table.unpack(state.vec)
        return {f.name: v for f, v in zip(self.table.fields, vals, strict=True) if not f.token}

    def command(self, label: Call) -> str | None:
        if label.func in ("klp_try_complete_transition", "klp_free_patch_work_fn", "work"):
            return None
        return command_of(label, self.config)

    def fault(self, label: Call) -> dict[str, Any] | None:
        """The call the step makes fail, and how a shell makes it fail, if it can."""
        return fault_of(label, self.config)

    def livepatch_api(self) -> tuple[str, KernelAPI]:
        """The tree's livepatch API: the emitted kselftests' modules are written in it."""
        api = self.ck.core.api
        spec = spec_of(api)
        return ("mainline" if spec == "upstream" else spec), api

    def event_kinds(self) -> set[str]:
        return event_kinds_of(self.features)

    def event_key(self, e: Any) -> tuple[Any, ...] | None:
        return event_key_of(e)

    def describe(self, state: CState) -> str:
        vals = self.table.unpack(state.vec)
        sig = self.sig
        listed = sorted((p for p in sig.patches if self._fact(vals, "pos", p) >= 0),
                        key=lambda p: self._fact(vals, "pos", p))
        t = self._fact(vals, "transition")
        patches = []
        for p in listed:
            flags = "enabled" if self._fact(vals, "enabled", p) else "disabled"
            if t >= 0 and sig.patches[t] == p:
                flags += ", " + ("patching" if self._fact(vals, "target") == 1 else "unpatching")
            if self._fact(vals, "forced", p):
                flags += ", forced"
            patches.append(f"{p}{'r' if self._fact(vals, 'replace', p) else ''}({flags})")
        mods = [m for m in sig.modules if self._fact(vals, "loaded", m)]
        return "klp_patches: " + (" ".join(patches) or "-") + "\nmodules: " + (" ".join(mods) or "-")


def _param_text(params: tuple[tuple[str, Any], ...]) -> list[str]:
    return [f"{a}={'Y' if b is True else 'N' if b is False else b}" for a, b in params]


def module_sources(ck: CKernel, config: Config) -> dict[str, str]:
    """The C source of every module the configuration loads: the tree's test modules, else generated."""
    out: dict[str, str] = {}
    if config.fixtures is not None:
        names = [*(n for n, _ in config.livepatches), *config.targets]
        for name in dict.fromkeys(names):
            path = ck.core.tree.test_module(name)
            if path is None:
                raise InputError(f"the tree {ck.core.tree.origin} has no test module {name}.c "
                                 f"(its test modules: {', '.join(ck.core.tree.test_modules()) or 'none'})")
            out[name] = path.read_text(errors="replace")
        return out
    try:
        for src in sources(config, ck.core.api):
            out[src.name] = src.text
    except GenerateError as e:
        raise InputError(str(e)) from None
    return out


_CORES: dict[str | None, Core] = {}
SETTINGS: dict[str, str | None] = {"kernel": None, "series": None, "port": None}


def kernel_for(tree: Tree | str | None = None) -> CKernel:
    """The harness of the tree's core in this process (built on first use, from the cache after)."""
    if tree is None:
        tree = SETTINGS["kernel"]
    key = str(tree.root) if isinstance(tree, Tree) else tree
    core = _CORES.get(key)
    if core is None:
        core = _CORES[key] = build_core(tree if isinstance(tree, Tree) else open_tree(tree))
    return CKernel.load(core)


def spec_of(api: KernelAPI) -> str:
    """The Python model that specifies a tree of this API (whose presets and manifest the tree is checked
    on): mainline's; the POC's while the per-object callbacks are there, the POC series' after; v1's."""
    if not api.state_callbacks:
        return "upstream"
    if api.state_callbacks == POC_STATE_CALLBACKS:
        return "poc" if api.object_callbacks else "poc-series"
    return "v1"


def configure(settings: Mapping[str, str | None]) -> ModelDef:
    """``--kernel DIR|TARBALL`` (the tree whose C the kernel model runs), ``--series PATH`` (a posted
    series applied to it, patch by patch) and ``--port RENAMES``: checked now; the model on that tree,
    with the presets and manifest of the Python model of its API (`spec_of`)."""
    unknown = sorted(k for k, v in settings.items() if k not in SETTINGS and v is not None)
    if unknown:
        raise InputError(f"the kernel model has no setting {unknown[0]}; settings: {', '.join(SETTINGS)}")
    tree = open_tree(settings.get("kernel"))
    origin = settings.get("kernel")
    if settings.get("port") and not settings.get("series"):
        raise InputError("--port rewrites a series' patches: give --series PATH with it")
    if settings.get("series"):
        from klpmc.series import apply_series, patched_tree, read_renames

        series = Path(str(settings["series"]))
        renames = read_renames(Path(str(settings["port"]))) if settings.get("port") else None
        applied = apply_series(tree, series, renames)
        failed = [a for a in applied if a.status == "fails" and a.core]
        if failed:
            raise InputError(f"patch {failed[0].number} of {series} does not apply to {tree.origin}: "
                             f"{failed[0].hunks[0] if failed[0].hunks else 'patch failed'}; "
                             "klpmc series says more, --port RENAMES may port it")
        tree = patched_tree(tree, applied[-1], series.name, renames is not None)
        origin = str(tree.root)
    SETTINGS.update(kernel=origin, series=settings.get("series"), port=settings.get("port"))
    return make_kernel_def(tree)


# What only the C shows, on top of a Python model's manifest (reviewed: each has its trace in the note).
LEAK = ("violated", "the shadow variable of state 1, never freed when the replace P3 drops the state P1 and "
                   "P2 hold (shadow-freed-on-leave), is still allocated once every module is gone (14 steps)")
SPEAKER_LEAK = ("violated", "v1's test_klp_speaker_livepatch leaks its applause_states when klp_enable_patch() "
                            "fails: its init returns the error without kfree() and no exit runs (1 step)")
KERNEL_EXPECTED: dict[str, dict[str, dict[str, tuple[str, str]]]] = {
    "v1": {"drop": {"no-leak-when-idle": LEAK}, "selftest": {"no-leak-when-idle": SPEAKER_LEAK}},
    "poc-series": {"drop": {"no-leak-when-idle": LEAK}},
}


def expressible(config: Config, api: KernelAPI) -> bool:
    """Whether a preset means on this API what it means to its Python model: a block_disable or a version
    it cannot say would silently become another configuration (is_shadow is ignored, as the Python models
    without shadow states ignore it)."""
    for p in config.patches:
        for st in p.states:
            if (st.block_disable and not api.block_disable) or (st.version != 1 and not api.versions):
                return False
    return True


def make_kernel_def(tree: Tree | None = None) -> ModelDef:
    """The `kernel` model on a tree (none: the default tree, whose API is mainline's, opened on first use):
    the presets, scopes and manifest of the Python model of the tree's API, run on the tree's C."""
    from . import poc, poc_series, upstream, v1
    from ._config import load_config, scope_configs, scope_legend, size_estimate

    api = tree.api() if tree is not None else MAINLINE
    spec = {"upstream": upstream, "poc": poc, "poc-series": poc_series, "v1": v1}[spec_of(api)].MODEL
    # "specified": the tree's API is the one its Python model describes, so that model's manifest applies;
    # a series' patch in between (v1 01-05 keep the per-object callbacks) has verdicts but no manifest
    specified = set(api.features) == set(spec.features) - {"kernel_c"}
    features = (*api.features, "kernel_c", *(("specified",) if specified else ()))
    where = tree
    expected = {name: dict(v) for name, v in spec.expected.items()}
    for name, props in KERNEL_EXPECTED.get(spec.name, {}).items():
        expected.setdefault(name, {}).update(
            {prop: ExpectedVerdict(verdict, reason) for prop, (verdict, reason) in props.items()})

    def build(config: Config) -> KernelModel:
        return KernelModel(kernel_for(where), config, features)

    if tree is None:
        summary = "the livepatch core's own C of a kernel tree (default: linux-source-6.12), in user space"
    else:
        summary = (f"the livepatch core's own C of {tree.origin} ({tree.version}; {api.describe()}), "
                   f"on the configurations of {spec.name}")
    presets = {name: p for name, p in spec.presets.items() if expressible(p.config, api)}
    return ModelDef(
        name="kernel",
        summary=summary,
        build=build,
        presets=presets,
        default_preset=spec.default_preset,
        expected=expected,
        features=features,
        load_config=lambda path: load_config(path, "kernel", features),
        scope=lambda scope: scope_configs(scope, "kernel", features),
        replay=lambda path, check: _harness.replay_c(kernel_for(where), path, check),
        configure=configure,
        estimate=lambda cfg: size_estimate(cfg, features),
        scope_legend=lambda spec: scope_legend(spec, features),
    )


MODEL = make_kernel_def()
