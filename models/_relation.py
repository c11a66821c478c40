"""The transition relation of a configuration, read off the model code by watching what each step touches.

z3 needs the models' transition relation as a formula; writing it by hand would be a second copy of
every model. Instead each step runs, on every reachable state, on a working copy that records which parts
of the kernel state the code reads (`WatchedKernel`, `WatchedDict`) and which it writes. The body of a
step is deterministic, so the step does the same thing on *every* state that agrees on what it read: the
step becomes a guarded update ``(values read) -> (values written)`` over the fields of the field table
(`models._fields`: the fields the properties read, plus tokens for the rest of the state). The history
of the callbacks is the observer's (`models._ghost`), which tells what it read and wrote the same way. Such a
rule also applies to states the BFS never met (another callback history, another shadow table, another
module), which is what makes induction over it say something.

Granularity: a read of klp_patches (or of the transition patch) reads every patch field; the world and
the module list are watched key by key; the shadow table, tasks, gone modules and statics as wholes. A
field that changes without being read or written is a hole in the watching and stops the extraction.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from klpmc.engine import Visitor, explore

from ._fields import TOKEN_MAX, Sig
from ._klp import Call, Kernel, KState, fault_text
from ._view import step_fields, step_values

ALL = object()     # the whole component was read or written

_WATCHED = frozenset({"patches", "transition", "target", "shadows", "tasks", "gone", "statics", "world",
                      "modules"})


class Watch:
    """What one step read and wrote, as (component, key) pairs; key ALL for the whole component."""

    __slots__ = ("on", "reads", "writes")

    def __init__(self) -> None:
        self.reads: set[tuple[str, Any]] = set()
        self.writes: set[tuple[str, Any]] = set()
        self.on = True

    def read(self, component: str, key: Any = ALL) -> None:
        if self.on:
            self.reads.add((component, key))

    def write(self, component: str, key: Any = ALL) -> None:
        if self.on:
            self.writes.add((component, key))


class WatchedDict(dict):  # type: ignore[type-arg]
    """A dict (the world, the loaded modules) that tells its Watch which keys the code touched."""

    __slots__ = ("_tag", "_watch")

    def __init__(self, items: dict[Any, Any], watch: Watch, tag: str) -> None:
        super().__init__(items)
        self._watch = watch
        self._tag = tag

    def __getitem__(self, key: Any) -> Any:
        self._watch.read(self._tag, key)
        return super().__getitem__(key)

    def get(self, key: Any, default: Any = None) -> Any:
        self._watch.read(self._tag, key)
        return super().get(key, default)

    def __contains__(self, key: object) -> bool:
        self._watch.read(self._tag, key)
        return super().__contains__(key)

    def __setitem__(self, key: Any, value: Any) -> None:
        self._watch.write(self._tag, key)
        super().__setitem__(key, value)

    def __delitem__(self, key: Any) -> None:
        self._watch.read(self._tag, key)
        self._watch.write(self._tag, key)
        super().__delitem__(key)

    def pop(self, key: Any, *default: Any) -> Any:
        self._watch.read(self._tag, key)      # the caller may look at what was there
        self._watch.write(self._tag, key)
        return super().pop(key, *default)

    def setdefault(self, key: Any, default: Any = None) -> Any:
        self._watch.read(self._tag, key)
        self._watch.write(self._tag, key)
        return super().setdefault(key, default)

    def _whole(self) -> None:
        self._watch.read(self._tag)

    def keys(self) -> Any:
        self._whole()
        return super().keys()

    def values(self) -> Any:
        self._whole()
        return super().values()

    def items(self) -> Any:
        self._whole()
        return super().items()

    def __iter__(self) -> Iterator[Any]:
        self._whole()
        return super().__iter__()

    def __len__(self) -> int:
        self._whole()
        return super().__len__()

    def copy(self) -> dict[Any, Any]:
        self._whole()
        return dict(super().items())

    def update(self, *args: Any, **kwargs: Any) -> None:
        self._watch.write(self._tag)
        super().update(*args, **kwargs)

    def clear(self) -> None:
        self._watch.write(self._tag)
        super().clear()


class WatchedKernel(Kernel):
    """The working copy of `Kernel`, telling a Watch which components the step's code reads and writes."""

    __slots__ = ("_watch",)

    def __init__(self) -> None:
        object.__setattr__(self, "_watch", None)
        super().__init__()

    def __getattribute__(self, name: str) -> Any:
        if name in _WATCHED and name not in ("world", "modules"):
            w = object.__getattribute__(self, "_watch")
            if w is not None:
                w.read(name)
                if name == "transition":        # the transition patch's data is klp_patches' data
                    w.read("patches")
        return object.__getattribute__(self, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _WATCHED:
            w = object.__getattribute__(self, "_watch")
            if w is not None:
                w.write(name)
        object.__setattr__(self, name, value)

    @classmethod
    def watched(cls, s: KState, env: Any, faults: frozenset[str], fail_at: Any, watch: Watch) -> WatchedKernel:
        k = cls.thaw(s, env, faults, fail_at)
        assert isinstance(k, WatchedKernel)
        object.__setattr__(k, "world", WatchedDict(k.world, watch, "world"))
        object.__setattr__(k, "modules", WatchedDict(k.modules, watch, "modules"))
        object.__setattr__(k, "env", WatchedEnv(env, watch))
        object.__setattr__(k, "_watch", watch)
        return k


class WatchedEnv:
    """The run's Env: a module spec the code asks for is configuration the step reads."""

    __slots__ = ("_env", "_watch")

    def __init__(self, env: Any, watch: Watch) -> None:
        self._env = env
        self._watch = watch

    def spec_of(self, name: str, params: Any) -> Any:
        self._watch.read("cfg.spec", name)
        return self._env.spec_of(name, params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._env, name)


class WatchedState:
    """A frozen state whose attribute reads (by the action enumeration) are told to a Watch."""

    __slots__ = ("_s", "_watch")

    def __init__(self, s: KState, watch: Watch) -> None:
        self._s = s
        self._watch = watch

    def __getattr__(self, name: str) -> Any:
        self._watch.read(name)
        if name == "transition":
            self._watch.read("patches")
        return getattr(self._s, name)


# -- from components to fields ----------------------------------------------------------------------

# the fields of the table that encode each component of the kernel's structures (by field kind)
_COMPONENT_FIELDS = {
    "patches": ("pos", "enabled", "forced", "replace", "holds", "version", "setup", "rest.patches"),
    "transition": ("transition",), "target": ("target",), "shadows": ("sh", "shadows"),
    "tasks": ("rest.tasks",), "gone": ("rest.gone",), "statics": ("rest.statics",), "world": ("rest.world",),
    "modules": ("loaded", "pinned", "mod"),
}
_BY_COMPONENT: dict[Any, dict[str, list[str]]] = {}


def _fields_by_component(model: Any, sig: Sig) -> dict[str, list[str]]:
    """The field table's names grouped by the `Kernel` attribute each field encodes."""
    got = _BY_COMPONENT.get(sig)
    if got is None:
        kind = {k: c for c, kinds in _COMPONENT_FIELDS.items() for k in kinds}
        got = _BY_COMPONENT[sig] = {}
        for f in model.layout_of(sig).table.fields:
            c = kind.get(f.key[0])
            if c is not None:
                got.setdefault(c, []).append(f.name)
    return got


def _fields_of(model: Any, sig: Sig, component: str, key: Any) -> list[str]:
    """The fields that encode one component of the state (or one key of the world or module list)."""
    if component == "cfg.spec":
        return [f"cfg.spec[{key}]"] if key in sig.patches else ["cfg.run"]
    if component == "cfg.run":
        return ["cfg.run"]
    if component == "history":
        return [key]
    if key is ALL or component == "world":
        return _fields_by_component(model, sig).get(component, [])
    if component == "modules":
        if key not in sig.modules:
            raise KeyError(f"module {key!r} is not in the configuration's vocabulary")
        return [f"loaded[{key}]", f"pinned[{key}]", f"mod[{key}]"]
    raise KeyError(component)


@dataclass(frozen=True)
class Rule:
    """One guarded update: when the state has the ``guard`` values, step ``label`` sets ``effect``."""

    label: Any
    guard: tuple[tuple[str, int], ...]
    effect: tuple[tuple[str, int], ...]
    step: Any       # the step's fields (label, events) for step properties; StepParts while exploring


class WatchHole(Exception):
    """A step changed a field that it neither read nor wrote as far as the watch could see."""


def _run(model: Any, s: bytes, ks: KState, body: Callable[[Kernel], Any], fail_at: Any,
         watch: Watch) -> tuple[bytes, tuple[Any, ...], list[Any]]:
    """KlpModel.run on a watched working copy; the observer's reads and writes of the history go to the watch."""
    k = WatchedKernel.watched(ks, model.env, model.faults, fail_at, watch)
    body(k)
    watch.on = False
    succ, log = k.freeze(), tuple(k.log)
    layout = model.layout
    history = list(layout.values(s))
    read: set[int] = set()
    wrote: set[int] = set()
    layout.observer.apply(history, log, (read, wrote))
    names = layout.table.fields
    watch.reads |= {("history", names[i].name) for i in read}
    watch.writes |= {("history", names[i].name) for i in wrote}
    return layout.encode(succ, history), log, k.fault_points


def rules_of_state(model: Any, s: bytes, sig: Sig, disabled: type[BaseException],
                   config: dict[str, int]) -> Iterator[tuple[Rule, bytes]]:
    """The guarded updates of every step out of s, each with the successor it leads to.

    ``config`` holds the configuration's field values: what the run does (``cfg.run``, read by every
    step) and each patch's module spec (``cfg.spec[P]``, read for the listed patches, whose working
    copies carry it, and when the code loads a module).
    """
    ks = model.kernel(s)
    enum = Watch()
    enum.read("cfg.run")
    for p in ks.patches:
        enum.read("cfg.spec", p.mod)
    actions = list(model.actions(WatchedState(ks, enum)))
    pre = {**model.flatten_state(s, "", sig), **config}
    for label, body, may_fail in actions:
        base = Watch()
        base.reads |= enum.reads
        if label.func == "klp_enable_patch":     # its label carries the module's parameters
            base.read("cfg.spec", label.args[0])
        try:
            succ, log, points = _run(model, s, ks, body, None, base)
        except disabled:
            continue
        yield _rule(model, sig, label, s, pre, succ, log, base), succ
        if may_fail and points:
            for point in points:
                w = Watch()
                w.reads |= base.reads
                fsucc, flog, _ = _run(model, s, ks, body, point, w)
                flabel = Call(label.func, (*label.args, fault_text(point)))
                yield _rule(model, sig, flabel, s, pre, fsucc, flog, w), fsucc


def _rule(model: Any, sig: Sig, label: Any, s: bytes, pre: dict[str, int], succ: bytes, log: tuple[Any, ...],
          watch: Watch) -> Rule:
    post = {**model.flatten_state(succ, "", sig), **{f: v for f, v in pre.items() if f.startswith("cfg.")}}
    read = {f for c, key in watch.reads for f in _fields_of(model, sig, c, key)}
    wrote = {f for c, key in watch.writes for f in _fields_of(model, sig, c, key)}
    # one key of the world's catch-all field: its value after the step depends on the keys not written
    read |= {"rest.world" for c, key in watch.writes if c == "world" and key is not ALL}
    changed = {f for f in post if post[f] != pre[f]}
    if not changed <= read | wrote:
        raise WatchHole(f"{label}: fields {sorted(changed - read - wrote)} changed unseen")
    guard = tuple(sorted((f, pre[f]) for f in read))
    effect = tuple(sorted((f, post[f]) for f in (wrote | changed)))
    return Rule(label, guard, effect, step_values(label, log, sig, model.vocab))


@dataclass
class Relation:
    """A configuration's transition relation over the fields of a `Sig`, and the states it came from."""

    sig: Any
    fields: dict[str, tuple[int, int]]
    init: list[dict[str, int]]
    rules: list[Rule]
    states: dict[tuple[int, ...], bytes]       # every reachable state by its field values
    transitions: int
    diameter: int                               # the longest shortest path from an initial state
    owner: dict[tuple[int, ...], Any]           # the model (configuration) each state belongs to
    names: dict[tuple[int, ...], str]           # ... and that configuration's name

    @property
    def opaque(self) -> frozenset[str]:
        """The fields that are tokens (numbers only compared for equality), not values the properties read."""
        return frozenset(f for f in self.fields if _opaque(f))


def _opaque(f: str) -> bool:
    return f.startswith(("cfg.", "rest.", "mod[")) or f == "shadows"


def config_fields(model: Any, sig: Any) -> dict[str, int]:
    """The configuration as field values: tokens for what the run does and for each patch's module spec.

    ``cfg.run`` is what every step depends on (which modules the run may load, its options); a patch's
    parameters and spec are ``cfg.spec[P]``, read only by steps that look at P (a listed P's working copy,
    or loading P). Configurations that differ only in a spec share every rule that does not read it.
    """
    cfg = model.config
    run = (tuple(name for name, _ in cfg.livepatches), cfg.targets, cfg.target_params, cfg.reverse, cfg.force,
           cfg.reload, tuple(sorted(cfg.faults)), None if cfg.fixtures is None else id(cfg.fixtures))
    out = {"cfg.run": model.token(run)}
    for p in sig.patches:
        specs = tuple((params, model.env.spec_of(name, params)) for name, params in cfg.livepatches if name == p)
        out[f"cfg.spec[{p}]"] = model.token(specs)
    return out

MAX_STATES = 1_000_000      # states a relation is read off unless told otherwise


class RelationVisitor(Visitor):
    """Reads the rules off each state as the exploration finds it, and checks the watched steps are the
    model's steps (`next_steps`), one by one."""

    steps = True

    def __init__(self, model: Any, sig: Sig, disabled: type[BaseException], config: dict[str, int],
                 names: list[str]) -> None:
        self.model, self.sig, self.disabled, self.config, self.names = model, sig, disabled, config, names
        self.rules: dict[Rule, None] = {}
        self.states: dict[tuple[int, ...], bytes] = {}
        self.pending: dict[int, list[tuple[str, bytes]]] = {}

    def on_state(self, j: int, s: bytes) -> bool:
        flat = {**self.model.flatten_state(s, "", self.sig), **self.config}
        self.states[tuple(flat[n] for n in self.names)] = s
        got = []
        for rule, succ in rules_of_state(self.model, s, self.sig, self.disabled, self.config):
            self.rules[rule] = None
            got.append((str(rule.label), succ))
        self.pending[j] = got
        return False

    def on_step(self, i: int, s: bytes, k: int, label: Any, log: Any, t: bytes) -> bool:
        got = self.pending[i]
        if k >= len(got) or got[k] != (str(label), t):
            raise WatchHole(f"watched steps differ from next_steps in state {self.model.describe(s)!r}")
        if k == len(got) - 1:
            got.clear()
        return False

    def finish(self) -> None:
        for i, got in self.pending.items():
            if got:
                raise WatchHole(f"the watched steps of state {i} include {got[0][0]}, which next_steps lacks")


def extract(model: Any, sig: Sig, disabled: type[BaseException], max_states: int | None = None,
            name: str = "", finish: bool = True, progress: Any = None) -> Relation:
    """Run every step on every reachable state with the watch on; collect the distinct guarded updates.

    A visitor of the engine's one exploration loop. The watched steps must lead where `next_steps` leads
    (checked on every state), so the rules cover the model's reachable transitions exactly; on other
    states they do what the code would do there.
    """
    config = config_fields(model, sig)
    table = model.layout_of(sig).table
    names = [*table.names(), *config]
    visitor = RelationVisitor(model, sig, disabled, config, names)
    max_states = MAX_STATES if max_states is None else max_states
    run = explore(model, [visitor], max_states=max_states, progress=progress)
    if run.stop_reason == "interrupted":
        raise KeyboardInterrupt
    if not run.complete:
        from klpmc.model import InputError

        raise InputError(f"{name or 'the configuration'} has more than {max_states:,} states, and prove reads its "
                         "relation off every one; --max-states N raises the bound (check explores as many faster)")
    visitor.finish()
    init = list(model.init_states())
    bounds = {**table.bounds(), **{f: (0, TOKEN_MAX) for f in config}}
    tokens = model.tokens_used()
    for f, (lo, hi) in bounds.items():
        if hi == TOKEN_MAX:       # a token: only the numbers handed out so far
            bounds[f] = (lo, max(tokens - 1, 0))
    states = visitor.states
    rel = Relation(sig, bounds, [{**model.flatten_state(s, "", sig), **config} for s in init], list(visitor.rules),
                   states, run.transitions, run.depth(), dict.fromkeys(states, model), dict.fromkeys(states, name))
    return finished(rel) if finish else rel


def finished(rel: Relation) -> Relation:
    """The rules' steps as fields, with as many event slots as the busiest step needs."""
    slots = max([(len(r.step) - 3) // 6 for r in rel.rules] + [1])
    rel.sig = dataclasses.replace(rel.sig, events=slots)
    steps = {r.step: tuple(sorted(step_fields(r.step, slots, "").items())) for r in rel.rules}
    rel.rules = list(dict.fromkeys(dataclasses.replace(r, step=steps[r.step]) for r in rel.rules))
    return rel


def merge(relations: list[Relation], tokens: int) -> Relation:
    """One relation for a scope: the configurations' relations (unfinished) side by side, equal rules shared.

    A rule carries the configuration fields it read in its guard, so a rule two configurations share
    (the same label, guard, effect and step) is one rule; init is every configuration's initial state.
    """
    first = relations[0]
    rules: dict[Rule, None] = {}
    out = Relation(first.sig, dict(first.fields), [], [], {}, 0, 0, {}, {})
    for rel in relations:
        out.init.extend(rel.init)
        rules.update(dict.fromkeys(rel.rules))
        out.states.update(rel.states)
        out.owner.update(rel.owner)
        out.names.update(rel.names)
        out.transitions += rel.transitions
        out.diameter = max(out.diameter, rel.diameter)
    out.rules = list(rules)
    for f, (lo, _hi) in out.fields.items():
        if _opaque(f):
            out.fields[f] = (lo, max(tokens - 1, 0))
    return finished(out)
