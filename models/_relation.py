"""The transition relation of a configuration, read off the model code by watching what each step touches.

z3 needs the models' transition relation as a formula; writing it by hand would be a second copy of
every model. Instead each step runs, on every reachable state, on a working copy that records which parts
of the kernel state the code reads (`WatchedKernel`, `WatchedDict`) and which it writes. The body of a
step is deterministic, so the step does the same thing on *every* state that agrees on what it read: the
step becomes a guarded update ``(values read) -> (values written)`` over the fields of
`klpmc.properties._view` (the fields the properties read, plus tokens for the rest of the state). Such a
rule also applies to states the BFS never met (another callback history, another shadow table, another
module), which is what makes induction over it say something.

Granularity: a read of klp_patches (or of the transition patch) reads every patch field; the world and
the module list are watched key by key; the shadow table, tasks, gone modules and ghosts as wholes. A
field that changes without being read or written is a hole in the watching and stops the extraction.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ._klp import Kernel, KState

ALL = object()     # the whole component was read or written

_WATCHED = frozenset({"patches", "transition", "target", "shadows", "tasks", "gone", "ghost", "world", "modules"})


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


_BY_COMPONENT: dict[Any, dict[str, list[str]]] = {}


def _fields_by_component(sig: Any) -> dict[str, list[str]]:
    """`properties._view.fields(sig)` grouped by the Kernel attribute each field encodes."""
    got = _BY_COMPONENT.get(sig)
    if got is None:
        from klpmc.properties._view import component_of, fields

        got = _BY_COMPONENT[sig] = {}
        for f in fields(sig):
            got.setdefault(component_of(f), []).append(f)
    return got


def _fields_of(sig: Any, component: str, key: Any) -> list[str]:
    """The fields that encode one component of the state (or one key of the world or module list)."""
    from klpmc.properties._view import _key

    if component == "cfg.spec":
        return [f"cfg.spec[{key}]"] if key in sig.patches else ["cfg.run"]
    if component == "cfg.run":
        return ["cfg.run"]
    if key is ALL:
        return _fields_by_component(sig).get(component, [])
    if component == "modules":
        if key not in sig.modules:
            raise KeyError(f"module {key!r} is not in the configuration's vocabulary")
        return [f"loaded[{key}]", f"pinned[{key}]", f"mod[{key}]"]
    if component == "world":
        if key[0] == "state":
            return [f"ws[{key[1]}]"]
        if key[0] == "obj":
            if (key[1], key[2]) not in sig.objects:
                raise KeyError(f"object {key[1:]} is not in the configuration's vocabulary")
            return [f"wo[{_key(key[1], key[2])}]"]
        if key[0] == "@start":
            return ["started", *(f"start[{sid}]" for sid in sig.sids)]
        if key[0] == "@reversed":
            return ["reversed"]
        return ["rest.world"]
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


def _run(model: Any, s: KState, body: Callable[[Kernel], Any], fail_at: Any,
         watch: Watch) -> tuple[KState, tuple[Any, ...], list[Any]]:
    """KlpModel.run on a watched working copy."""
    k = WatchedKernel.watched(s, model.env, model.faults, fail_at, watch)
    body(k)
    watch.on = False
    return k.freeze(), tuple(k.log), k.fault_points


def rules_of_state(model: Any, s: KState, sig: Any, disabled: type[BaseException],
                   config: dict[str, int]) -> Iterator[tuple[Rule, KState]]:
    """The guarded updates of every step out of s, each with the successor it leads to.

    ``config`` holds the configuration's field values: what the run does (``cfg.run``, read by every
    step) and each patch's module spec (``cfg.spec[P]``, read for the listed patches, whose working
    copies carry it, and when the code loads a module).
    """
    enum = Watch()
    enum.read("cfg.run")
    for p in s.patches:
        enum.read("cfg.spec", p.mod)
    actions = list(model.actions(WatchedState(s, enum)))
    pre = {**model.flatten_state(s, "", sig), **config}
    for label, body, may_fail in actions:
        base = Watch()
        base.reads |= enum.reads
        if label.func == "klp_enable_patch":     # its label carries the module's parameters
            base.read("cfg.spec", label.args[0])
        try:
            succ, log, points = _run(model, s, body, None, base)
        except disabled:
            continue
        yield _rule(model, sig, label, s, pre, succ, log, base), succ
        if may_fail and points:
            from ._model import Call, fault_text

            for point in points:
                w = Watch()
                w.reads |= base.reads
                fsucc, flog, _ = _run(model, s, body, point, w)
                flabel = Call(label.func, (*label.args, fault_text(point)))
                yield _rule(model, sig, flabel, s, pre, fsucc, flog, w), fsucc


def _rule(model: Any, sig: Any, label: Any, s: KState, pre: dict[str, int], succ: KState, log: tuple[Any, ...],
          watch: Watch) -> Rule:
    from klpmc.properties._view import step_parts

    post = {**model.flatten_state(succ, "", sig), **{f: v for f, v in pre.items() if f.startswith("cfg.")}}
    read = {f for c, key in watch.reads for f in _fields_of(sig, c, key)}
    wrote = {f for c, key in watch.writes for f in _fields_of(sig, c, key)}
    # one key of the world's catch-all field: its value after the step depends on the keys not written
    read |= {"rest.world" for c, key in watch.writes if c == "world" and key is not ALL
             and _fields_of(sig, c, key) == ["rest.world"]}
    changed = {f for f in post if post[f] != pre[f]}
    if not changed <= read | wrote:
        raise WatchHole(f"{label}: fields {sorted(changed - read - wrote)} changed unseen")
    guard = tuple(sorted((f, pre[f]) for f in read))
    effect = tuple(sorted((f, post[f]) for f in (wrote | changed)))
    return Rule(label, guard, effect, step_parts(label, log))


@dataclass
class Relation:
    """A configuration's transition relation over the fields of a `Sig`, and the states it came from."""

    sig: Any
    fields: dict[str, tuple[int, int]]
    init: list[dict[str, int]]
    rules: list[Rule]
    states: dict[tuple[int, ...], KState]      # every reachable state by its field values
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

def extract(model: Any, sig: Any, disabled: type[BaseException], max_states: int = 1_000_000,
            name: str = "", finish: bool = True) -> Relation:
    """Run every step on every reachable state with the watch on; collect the distinct guarded updates.

    The watched steps must lead where `next_steps` leads (checked on every state), so the rules cover the
    model's reachable transitions exactly; on other states they do what the code would do there.
    """
    from klpmc.properties._view import fields as view_fields

    config = config_fields(model, sig)
    names = [*view_fields(sig), *config]
    init = list(model.init_states())
    seen = {s: 0 for s in init}
    queue = list(init)
    rules: dict[Rule, None] = {}
    states: dict[tuple[int, ...], KState] = {}
    transitions = 0
    i = 0
    while i < len(queue):
        s = queue[i]
        i += 1
        flat = {**model.flatten_state(s, "", sig), **config}
        states[tuple(flat[n] for n in names)] = s
        got = []
        for rule, succ in rules_of_state(model, s, sig, disabled, config):
            rules[rule] = None
            got.append((str(rule.label), succ))
            if succ not in seen:
                if len(seen) >= max_states:
                    raise ValueError(f"more than {max_states} states")
                seen[succ] = seen[s] + 1
                queue.append(succ)
        want = [(str(label), succ) for label, succ, _ in model.next_steps(s)]
        if got != want:
            raise WatchHole(f"watched steps differ from next_steps in state {s}")
        transitions += len(got)
    bounds = {**view_fields(sig), **{f: (0, 1 << 20) for f in config}}
    tokens = model.tokens_used()
    for f, (lo, hi) in bounds.items():
        if hi == 1 << 20:       # a token: only the numbers handed out so far
            bounds[f] = (lo, max(tokens - 1, 0))
    rel = Relation(sig, bounds, [{**model.flatten_state(s, "", sig), **config} for s in init], list(rules),
                   states, transitions, max(seen.values()), dict.fromkeys(states, model), dict.fromkeys(states, name))
    return finished(rel) if finish else rel


def finished(rel: Relation) -> Relation:
    """The rules' steps as fields, with as many event slots as the busiest step needs."""
    from klpmc.properties._view import step_fields

    slots = max([len(r.step.events) for r in rel.rules] + [1])
    rel.sig = dataclasses.replace(rel.sig, events=slots)
    steps = {r.step: tuple(sorted(step_fields(r.step, rel.sig, "").items())) for r in rel.rules}
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
