"""The relational model of a variant (``models/<variant>.rml``) beside its Python model.

`klpmc prove MODEL --unbounded` checks the rules of ``properties/states.rml`` on the relational model for
every stack; this module is what ties it to the Python model of the same semantics:

- a configuration as a stack (the constant relations), and a stack z3 found as a configuration;
- a Python state, read through the view the rules read (`model.view`), and a relational state, as the same
  projection: klp_patches in order, enabled, forced, the transition and its target, the phase of each state
  id, which livepatch modules are loaded and pinned. Left out of it: per-object callbacks, target modules,
  shadow variables, tasks, and the relational model's own bookkeeping (pre_patch_succeeded, the static
  flag, gone modules);
- a relational step as the label the Python model gives the same step, and both steps' state callbacks
  in the order they ran (setup/pre_patch ... by position, a failing setup apart), so that a path found in
  the relational model replays in the Python one (`klpmc.engine.replay`).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from klpmc import epr

from ._config import Config, PatchConfig, StateConfig

# state callbacks by position, in the vocabulary of the relational models
KIND = {"setup": "setup", "pre_patch": "setup", "enable": "enable", "post_patch": "enable",
        "disable": "disable", "pre_unpatch": "disable", "release": "release", "post_unpatch": "release"}
PHASES = ("none", "set_up", "enabled", "disabled")     # the order of properties._view's NONE..DISABLED

Projection = tuple[Any, ...]
Event = tuple[str, str, int]


@functools.cache
def load(path: str, rules: tuple[str, str]) -> tuple[epr.Model, epr.Explicit]:
    """A relational model with the rules (their source name and text), parsed and compiled once."""
    model = epr.parse([(Path(path).name, Path(path).read_text(encoding="utf-8")), rules])
    return model, epr.Explicit(model)


def path_of(variant: ModuleType) -> Path | None:
    """models/<variant>.rml when the variant has a relational model."""
    path = Path(variant.__file__ or "").with_suffix(".rml")
    return path if path.exists() else None


@dataclass
class Relational:
    """A variant's relational model, with the mapping to and from its Python model."""

    name: str
    path: Path
    rules: tuple[str, str]      # the rules in first-order form: source name, text (the registry reads them)
    build: Any                  # config -> the Python model (ModelDef.build)
    object_callbacks: bool      # the variant has per-object callbacks (a pre_patch fault fails late)
    # constants a smaller counterexample does without (each tried empty, in this order)
    optional: tuple[str, ...] = ("block", "may_reload", "may_force", "patching_may_fail", "setup_may_fail",
                                 "replace", "may_reverse")
    # what a run may do; a counterexample's stack is explored with all of them on
    options: tuple[str, ...] = ("may_reverse", "may_force", "may_reload", "setup_may_fail", "patching_may_fail")

    @property
    def source(self) -> str:
        """What the proof is about, in one line."""
        m = self.model
        return (f"{self.name}: relational model models/{self.path.name} ({len(m.actions)} actions over "
                f"{len(m.mutable)} relations), rules of {self.rules[0]}, for every stack of patches")

    @property
    def model(self) -> epr.Model:
        return load(str(self.path), self.rules)[0]

    @property
    def explicit(self) -> epr.Explicit:
        return load(str(self.path), self.rules)[1]

    # -- stacks and configurations ------------------------------------------------------------------
    def stack_of(self, config: Config) -> epr.Stack:
        """The constants of a configuration of patches that each have one vmlinux object and all callbacks."""
        patches = tuple(p.name for p in config.patches)
        sids = tuple(sorted({s.id for p in config.patches for s in p.states}))
        faults = config.faults
        constants: dict[str, Any] = {
            "carries": frozenset((p.name, s.id) for p in config.patches for s in p.states),
            "replace": frozenset(p.name for p in config.patches if p.replace),
            "block": frozenset((p.name, s.id) for p in config.patches for s in p.states if s.block_disable),
            "state_lt": frozenset((a, b) for a in sids for b in sids if a < b),
            "may_reverse": config.reverse, "may_force": config.force, "may_reload": config.reload,
            "setup_may_fail": "setup" in faults,
            "patching_may_fail": "patch_object" in faults or (self.object_callbacks and "pre_patch" in faults),
        }
        return epr.Stack({"patch": patches, "state": sids}, constants)

    def config_of(self, stack: epr.Stack) -> Config:
        """The configuration of a stack: each patch with its states, one vmlinux object, every callback."""
        k = stack.constants
        faults = frozenset(f for f, on in (("setup", k["setup_may_fail"]),
                                           ("patch_object", k["patching_may_fail"])) if on)
        patches = tuple(PatchConfig(p, p in k["replace"], ("vmlinux",),
                                    tuple(StateConfig(s, 1, (p, s) in k["block"], True)
                                          for s in stack.universes["state"] if (p, s) in k["carries"]))
                        for p in stack.universes["patch"])
        return Config(self.stack_name(stack), patches, faults=faults, reverse=bool(k["may_reverse"]),
                      force=bool(k["may_force"]), reload=bool(k["may_reload"]))

    def grow(self, stack: epr.Stack) -> list[epr.Stack]:
        """The stack with one patch more: replace or not, carrying any subset of the stack's states."""
        k = stack.constants
        pats, sids = stack.universes["patch"], stack.universes["state"]
        new = f"P{len(pats) + 1}"
        out = []
        for replace in (False, True):
            for mask in range(1 << len(sids)):
                carried = {(new, s) for i, s in enumerate(sids) if mask >> i & 1}
                out.append(epr.Stack({"patch": (*pats, new), "state": sids},
                                     {**k, "carries": k["carries"] | carried,
                                      "replace": k["replace"] | ({new} if replace else set())}))
        return out

    def stack_name(self, stack: epr.Stack) -> str:
        """Like a scope configuration's name: P1r{1,2} P2{1}, then the actions and faults it allows."""
        k = stack.constants
        parts = [f"{p}{'r' if p in k['replace'] else ''}{{"
                 + ",".join(str(s) for s in stack.universes["state"] if (p, s) in k["carries"]) + "}"
                 for p in stack.universes["patch"]]
        blocked = sorted({f"{p}:{s}" for p, s in k["block"]})
        if blocked:
            parts.append("block_disable=" + ",".join(blocked))
        allowed = [name for name, key in (("reverse", "may_reverse"), ("force", "may_force"),
                                          ("reload", "may_reload"), ("setup fails", "setup_may_fail"),
                                          ("patching fails", "patching_may_fail")) if k[key]]
        return " ".join(parts) + (f" ({', '.join(allowed)})" if allowed else "")

    def from_model(self, universes: dict[str, tuple[str, ...]], relations: dict[str, frozenset[Any]],
                   version: dict[str, str]) -> tuple[epr.Stack, epr.State, dict[str, Any]]:
        """A stack and state z3 gave (element names of its own): patches P1.. in list order, ids 1.. in order."""
        m = self.model
        before = relations[version["before"]]
        listed = {x for (x,) in relations[version["listed"]]}
        pats = sorted(universes["patch"], key=lambda x: (x not in listed, sum(1 for _, b in before if b == x), x))
        lt = relations["state_lt"]
        sts = sorted(universes["state"], key=lambda x: sum(1 for _, b in lt if b == x))
        rename: dict[str, Any] = {x: f"P{i + 1}" for i, x in enumerate(pats)}
        rename.update({x: i + 1 for i, x in enumerate(sts)})

        def value(name: str, rel: frozenset[Any]) -> Any:
            sorts = m.relations[name]
            if not sorts:
                return () in rel
            if len(sorts) == 1:
                return frozenset(rename[t[0]] for t in rel)
            return frozenset(tuple(rename[x] for x in t) for t in rel)

        stack = epr.Stack({"patch": tuple(rename[x] for x in pats), "state": tuple(rename[x] for x in sts)},
                          {c: value(c, relations[c]) for c in m.constants})
        state = tuple(value(r, relations[version[r]]) for r in m.mutable)
        return stack, state, rename

    # -- projections --------------------------------------------------------------------------------
    def project(self, stack: epr.Stack, state: epr.State) -> Projection:
        """A relational state as the fields both models have."""
        ex = self.explicit
        listed = ex.value(state, "listed")
        order = tuple(p for p in epr._ordered(stack.universes["patch"], ex.value(state, "before")) if p in listed)
        trans = next(iter(ex.value(state, "trans")), None)
        target = 1 if ex.value(state, "patching") else 0 if ex.value(state, "unpatching") else -1
        phases = tuple(next((i for i, v in enumerate(PHASES[1:], 1) if s in ex.value(state, f"phase={v}")), 0)
                       for s in stack.universes["state"])
        return (order, ex.value(state, "enabled"), ex.value(state, "forced"), trans, target, phases,
                ex.value(state, "loaded"), ex.value(state, "pinned"))

    @staticmethod
    def project_python(model: Any, s: Any, patches: Sequence[str], sids: Sequence[int]) -> Projection:
        """A Python model state, read through the view the rules read (``model.view``), as the fields both
        models have."""
        v = model.view(s)
        pos = {p: v.pos(p) for p in patches}
        order = tuple(sorted((p for p in patches if pos[p] >= 0), key=pos.__getitem__))
        trans = v.transition
        return (order, frozenset(p for p in order if v.enabled(p)), frozenset(p for p in order if v.forced(p)),
                None if trans == v.NOPATCH else v.sig.patches[trans], v.target,
                tuple(v.wstate(sid) for sid in sids),
                frozenset(p for p in patches if v.loaded(p)), frozenset(p for p in patches if v.pinned(p)))

    @staticmethod
    def events(evs: epr.Events) -> tuple[Event, ...]:
        """The callbacks of a relational step, in order."""
        return tuple((kind, t[0], t[1]) for kind, tuples in evs for t in tuples)

    @staticmethod
    def python_events(log: Iterable[Any]) -> tuple[Event, ...]:
        """The state callbacks of a Python step, in order (shadow frees and object callbacks left out)."""
        out = []
        for e in log:
            kind = KIND.get(getattr(e, "callback", None) or "")
            if kind is None or getattr(e, "state", None) is None:
                continue
            out.append(("setup_fails" if kind == "setup" and e.ret else kind, e.patch, e.state))
        return tuple(out)

    def label(self, stack: epr.Stack, pre: epr.State, action: str, params: tuple[Any, ...]) -> str:
        """The label the Python model gives the same step."""
        t = params[0] if params else None
        if action == "klp_enable_patch":
            return f"klp_enable_patch({t})"
        if action == "klp_enable_patch_setup_fails":
            return f"klp_enable_patch({t}, fail=setup:{t}:{params[1]})"
        if action == "klp_enable_patch_patching_fails":
            return f"klp_enable_patch({t}, fail=patch_object:{t}:vmlinux)"
        if action == "enabled_store_disable":
            return f"enabled_store({t}, 0)"
        if action == "enabled_store_reverse":
            return f"enabled_store({t}, {0 if t in self.explicit.value(pre, 'enabled') else 1})"
        if action == "force_store":
            return f"force_store({t})"
        if action == "klp_try_complete_transition":
            return "klp_try_complete_transition()"
        if action == "delete_module":
            return f"delete_module({t})"
        raise ValueError(f"no Python label for action {action}")

    def describe(self, stack: epr.Stack, state: epr.State) -> list[str]:
        """A relational state for people, like the Python model's describe()."""
        ex = self.explicit
        order, enabled, forced, trans, target, phases, loaded, pinned = self.project(stack, state)
        k = stack.constants
        pats = []
        for p in order:
            flags = "enabled" if p in enabled else "disabled"
            if p == trans:
                flags += ", " + ("patching" if target == 1 else "unpatching")
            if p in forced:
                flags += ", forced"
            pats.append(f"{p}{'r' if p in k['replace'] else ''}({flags})")
        lines = ["klp_patches: " + (" ".join(pats) or "-")]
        world = [f"{s}={PHASES[ph]}" for s, ph in zip(stack.universes["state"], phases, strict=True) if ph]
        lines.append("state callbacks left: " + (" ".join(world) or "nothing set up"))
        extra = []
        succeeded = sorted(ex.value(state, "succeeded"))
        if succeeded:
            extra.append("pre_patch_succeeded: " + " ".join(f"{p}:{s}" for p, s in succeeded))
        if "replaced_called" in ex.index and ex.value(state, "replaced_called"):
            extra.append("klp_states_pre_unpatch_replaced_called")
        mods = [p + ("(pinned)" if p in pinned else "") for p in stack.universes["patch"] if p in loaded]
        extra.append("modules: " + (" ".join(mods) or "-"))
        return lines + extra

    def python_model(self, config: Config) -> Any:
        return self.build(config)

    # -- both models' graphs, projected (tests/test_relational.py) ----------------------------------
    def graph(self, config: Config, rules: Sequence[Any]) -> Graph:
        """The reachable states and steps of the Python model on a configuration, projected.

        ``rules`` are catalogue properties: each state carries the verdicts of the always-rules, each step
        those of the step rules. A step that changes nothing projected and runs no state callback (rmmod
        of a module nobody looks at, an insmod refused with -EBUSY) is left out.
        """
        model = self.build(config)
        patches = [p.name for p in config.patches]
        sids = sorted({s.id for p in config.patches for s in p.states})
        always = [model.predicate(r) for r in rules if r.kind == "always"]
        steps = [model.predicate(r) for r in rules if r.kind == "step"]
        states: set[Any] = set()
        edges: set[Any] = set()
        init = list(model.init_states())
        seen, queue = set(init), list(init)
        proj: dict[Any, Projection] = {}
        i = 0
        while i < len(queue):
            s = queue[i]
            i += 1
            ps = proj.get(s) or proj.setdefault(s, self.project_python(model, s, patches, sids))
            states.add((ps, tuple(r(s) for r in always)))
            for label, t, log in model.next_steps(s):
                pt = proj.get(t) or proj.setdefault(t, self.project_python(model, t, patches, sids))
                evs = self.python_events(log)
                if pt != ps or evs:
                    edges.add((ps, str(label), evs, pt, tuple(r(s, label, log, t) for r in steps)))
                if t not in seen:
                    seen.add(t)
                    queue.append(t)
        return Graph(frozenset(states), frozenset(edges))

    def relational_graph(self, config: Config, rules: Sequence[Any]) -> Graph:
        """The same for the relational model on the configuration's stack, its rules of the same names."""
        ex = self.explicit
        stack = self.stack_of(config)
        found = ex.explore(stack)
        always = [r.name for r in rules if r.kind == "always"]
        steps = [r.name for r in rules if r.kind == "step"]
        projected = [self.project(stack, st) for st in found.states]
        states = frozenset((p, tuple(ex.holds(r, stack, st) for r in always))
                           for p, st in zip(projected, found.states, strict=True))
        edges = set()
        for i, action, params, j, evs in found.edges:
            ps, pt, ev = projected[i], projected[j], self.events(evs)
            if pt != ps or ev:
                pre, post = found.states[i], found.states[j]
                edges.add((ps, self.label(stack, pre, action, params), ev, pt,
                           tuple(ex.step_holds(r, action, stack, pre, post, evs) for r in steps)))
        return Graph(states, frozenset(edges))


@dataclass(frozen=True)
class Graph:
    """Reachable states and steps, projected, with the rules' verdicts on each."""

    states: frozenset[Any]
    steps: frozenset[Any]


def relational(variant: ModuleType, name: str, build: Any, features: tuple[str, ...],
               rules: tuple[str, str]) -> Relational | None:
    """The relational model of a variant, if it has one (``models/<variant>.rml``), with ``rules``."""
    path = path_of(variant)
    if path is None:
        return None
    return Relational(name, path, rules, build, "object_callbacks" in features)
