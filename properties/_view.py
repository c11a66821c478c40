"""What the properties read of a model state and a step, concretely for the BFS and symbolically for z3.

Every livepatch model shares the state vocabulary of `klpmc.models._klp`: ``KState.patches`` is
klp_patches (oldest first), ``KState.world`` keeps the life-cycle phase each callback left its object or
state in, and a step's log carries `Event` items for the callbacks that ran.

A rule reads a state through a *view* and a step through a *step view*. `KView` and `KStep` read a frozen
state and a step's log directly (the BFS path, no solver). `ZView` and `ZStep` give the same fields as z3
integer variables over a `Sig`, the finite vocabulary of one configuration (its patches, state ids,
objects, modules) or of a whole scope, so the same rule builds a formula. `flatten` writes a concrete
state as the values of those variables, which is how the two are tested against each other.

Fields and their encoding (the symbolic names are ``<prefix><field>``):

==================  ===========================================================
``pos[P]``          index of patch P in klp_patches, -1 when it is not listed
``enabled[P]``      0/1, and likewise ``forced``, ``replace``
``holds[P,S]``      0/1: listed patch P carries state S; ``version``, ``shadow``,
                    ``block``, ``setup`` (it has a setup callback) of that entry
``transition``      the transition patch, -1 for none; ``target`` -1/0/1
``ws[S]``           phase of state S: 0 not set up, 1 set up, 2 enabled, 3 disabled
``wo[P,O]``         phase of object O of patch P (per-object callbacks)
``start[S]``        phase of S when the pending transition started; ``reversed``
``sh[S]``           0/1: a shadow variable with id S exists; ``shadows``: all of
                    them, as one token
``loaded[M]``       0/1, and ``pinned[M]`` (a forced livepatch module); ``mod[M]``
                    the module's data, as a token
``started``         the world holds the snapshot taken when a transition started
``rest.*``          tokens for the rest: the patches' objects and state entries,
                    other world entries, tasks, modules that are gone, ghosts
==================  ===========================================================
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from klpmc.logic import AND, IF, IMPLIES, NOT, OR, Domain, all_of, any_of, sum_of, sym_int
from klpmc.props import Kind, Property

IDLE = -1
PATCHED = 1
UNPATCHED = 0

FIRST = ("setup", "pre_patch")          # brings a state or object in
SECOND = ("enable", "post_patch")
THIRD = ("disable", "pre_unpatch")
LAST = ("release", "post_unpatch")       # takes it out
STATE_CALLBACKS = FIRST + SECOND + THIRD + LAST
CALLBACKS = (*STATE_CALLBACKS, "shadow_free_all", "other")
FUNCS = ("klp_enable_patch", "enabled_store", "force_store", "klp_try_complete_transition",
         "klp_module_coming", "klp_module_going", "delete_module", "other")

# phases of a state or object in the world: not set up, set up, enabled, disabled
NONE, SETUP, ENABLED, DISABLED = 0, 1, 2, 3
PHASE = {None: NONE, "setup": SETUP, "enabled": ENABLED, "disabled": DISABLED}


@dataclass(frozen=True)
class Sig:
    """The finite vocabulary a symbolic view ranges over: one configuration's, or a scope's union."""

    patches: tuple[str, ...]
    sids: tuple[int, ...]
    objects: tuple[tuple[str, str], ...]    # (patch, object) pairs that have per-object callbacks
    modules: tuple[str, ...]
    events: int = 8                         # event slots of a step
    max_version: int = 3


# --------------------------------------------------------------------------------------------------
# Rules are written against these methods; derived helpers are defined once, in View.
# --------------------------------------------------------------------------------------------------

class View:
    """A state as the rules see it; subclasses give the primitive fields."""

    NOPATCH: Any = None

    # universes: every name a rule may quantify over (concrete: what the state mentions)
    def patch_names(self) -> Sequence[str]: raise NotImplementedError
    def state_ids(self) -> Sequence[int]: raise NotImplementedError
    def obj_keys(self) -> Sequence[Any]: raise NotImplementedError
    def module_names(self) -> Sequence[str]: raise NotImplementedError
    # primitive fields
    def pid(self, name: str) -> Any: raise NotImplementedError
    def pos(self, p: str) -> Any: raise NotImplementedError
    def enabled(self, p: str) -> Any: raise NotImplementedError
    def forced(self, p: str) -> Any: raise NotImplementedError
    def replace(self, p: str) -> Any: raise NotImplementedError
    def holds(self, p: str, sid: int) -> Any: raise NotImplementedError
    def version(self, p: str, sid: int) -> Any: raise NotImplementedError
    def has_setup(self, p: str, sid: int) -> Any: raise NotImplementedError
    def wstate(self, sid: int) -> Any: raise NotImplementedError
    def wobj_key(self, key: Any) -> Any: raise NotImplementedError
    def obj_key_patch(self, key: Any) -> str: raise NotImplementedError
    def start(self, sid: int) -> Any: raise NotImplementedError
    def reversed(self) -> Any: raise NotImplementedError
    def has_shadow(self, sid: int) -> Any: raise NotImplementedError
    def shadows(self) -> Any: raise NotImplementedError
    def loaded(self, m: str) -> Any: raise NotImplementedError
    def pinned(self, m: str) -> Any: raise NotImplementedError
    def same_as(self, other: Any) -> Any: raise NotImplementedError
    transition: Any
    target: Any

    # derived helpers, the same for both views
    def listed(self, p: str) -> Any:
        return self.pos(p) >= 0

    def idle(self) -> Any:
        return self.transition == self.NOPATCH

    def is_transition(self, p: str) -> Any:
        return self.transition == self.pid(p)

    def held(self, sid: int) -> Any:
        """Some listed patch carries state sid."""
        return any_of(self.holds(p, sid) for p in self.patch_names())

    def held_by_other(self, sid: int, p: str) -> Any:
        return any_of(self.holds(q, sid) for q in self.patch_names() if q != p)

    def shared(self, sid: int) -> Any:
        """Two listed patches carry state sid."""
        names = self.patch_names()
        return any_of(AND(self.holds(p, sid), self.holds(q, sid))
                      for i, p in enumerate(names) for q in names[i + 1:])

    def transition_listed(self) -> Any:
        return any_of(AND(self.is_transition(p), self.listed(p)) for p in self.patch_names())

    def transition_replace(self) -> Any:
        """The transition patch is an atomic-replace patch."""
        return any_of(AND(self.is_transition(p), self.replace(p)) for p in self.patch_names())

    def being_replaced(self, p: str) -> Any:
        """p is listed before a replace patch in transition: being replaced, or (reversed) kept."""
        return any_of(AND(self.is_transition(t), self.replace(t), self.listed(p), self.pos(p) < self.pos(t))
                      for t in self.patch_names())

    def max_version(self, sid: int) -> Any:
        """The highest version of state sid a listed patch carries (0 when none does)."""
        best: Any = 0
        for p in self.patch_names():
            ver = self.version(p, sid)
            best = IF(AND(self.holds(p, sid), ver > best), ver, best)
        return best

    def state_world_equals(self, other: View) -> Any:
        return all_of(self.wstate(sid) == other.wstate(sid) for sid in union(self.state_ids(),
                                                                              other.state_ids()))

    def same_order(self, other: View) -> Any:
        return all_of(self.pos(p) == other.pos(p) for p in union(self.patch_names(), other.patch_names()))


def union(a: Sequence[Any], b: Sequence[Any]) -> list[Any]:
    if a is b:
        return list(a)
    out = list(a)
    out.extend(x for x in b if x not in a)
    return out


class Step:
    """A step (label and log) as the rules see it."""

    func: Any
    value: Any          # the value written by enabled_store, else -1
    insmod_ret: Any     # what insmod returned in this step (0 if it did not run or succeeded)
    events: Sequence[Any]

    def fid(self, name: str) -> Any: raise NotImplementedError
    def present(self, e: Any) -> Any: raise NotImplementedError
    def failed(self, e: Any) -> Any: raise NotImplementedError
    def cb(self, e: Any, names: Sequence[str]) -> Any: raise NotImplementedError
    def is_state_event(self, e: Any) -> Any: raise NotImplementedError
    def is_obj_event(self, e: Any) -> Any: raise NotImplementedError
    def ev_patch(self, e: Any) -> Any: raise NotImplementedError
    def ev_obj(self, e: Any) -> Any: raise NotImplementedError

    def called(self, name: str) -> Any:
        return self.func == self.fid(name)


# --------------------------------------------------------------------------------------------------
# Concrete: read a frozen KState and a step's log
# --------------------------------------------------------------------------------------------------

class KView(View):
    """A frozen `KState` read directly; quantifiers range over what the state mentions."""

    __slots__ = ("_by", "_ids", "_mods", "s", "target", "transition")

    def __init__(self, s: Any) -> None:
        self.s = s
        self.transition = s.transition
        self.target = s.target
        self._by: dict[str, tuple[int, Any]] | None = None
        self._ids: list[int] | None = None
        self._mods: dict[str, bool] | None = None

    @staticmethod
    def of(s: Any) -> KView:
        """The view of s; the rules of one step read the same two states in a row, so two are kept."""
        c = _recent
        if c[0] is s:
            return c[1]  # type: ignore[no-any-return]
        if c[2] is s:
            return c[3]  # type: ignore[no-any-return]
        view = KView(s)
        c[:] = [s, view, c[0], c[1]]
        return view

    def _modules(self) -> dict[str, bool]:
        mods = self._mods
        if mods is None:
            mods = self._mods = {m.name: m.pinned for m in self.s.modules}
        return mods

    def _patches(self) -> dict[str, tuple[int, Any]]:
        by = self._by
        if by is None:
            by = self._by = {p.mod: (i, p) for i, p in enumerate(self.s.patches)}
        return by

    def _entry(self, p: str, sid: int) -> Any:
        hit = self._patches().get(p)
        if hit is not None:
            for st in hit[1].states:
                if st.id == sid:
                    return st
        return None

    def patch_names(self) -> Sequence[str]:
        return [p.mod for p in self.s.patches]

    def state_ids(self) -> Sequence[int]:
        ids = self._ids
        if ids is None:
            found = {st.id for p in self.s.patches for st in p.states}
            for key, value in self.s.world:
                if key[0] == "state":
                    found.add(key[1])
                elif key[0] == "@start":
                    found.update(k[1] for k, _ in value)
            found.update(sh[1] for sh in self.s.shadows)
            ids = self._ids = sorted(found)
        return ids

    def obj_keys(self) -> Sequence[tuple[str, str]]:
        return [(key[1], key[2]) for key, _ in self.s.world if key[0] == "obj"]

    def module_names(self) -> Sequence[str]:
        return [m.name for m in self.s.modules]

    def pid(self, name: str) -> Any:
        return name

    def pos(self, p: str) -> Any:
        hit = self._patches().get(p)
        return -1 if hit is None else hit[0]

    def listed(self, p: str) -> Any:
        return p in self._patches()

    def enabled(self, p: str) -> Any:
        hit = self._patches().get(p)
        return hit is not None and hit[1].enabled

    def forced(self, p: str) -> Any:
        hit = self._patches().get(p)
        return hit is not None and hit[1].forced

    def replace(self, p: str) -> Any:
        hit = self._patches().get(p)
        return hit is not None and hit[1].replace

    def holds(self, p: str, sid: int) -> Any:
        return self._entry(p, sid) is not None

    def version(self, p: str, sid: int) -> Any:
        st = self._entry(p, sid)
        return 0 if st is None else st.version

    def has_setup(self, p: str, sid: int) -> Any:
        st = self._entry(p, sid)
        return st is not None and "setup" in st.callbacks

    def wstate(self, sid: int) -> Any:
        for key, phase in self.s.world:
            if key[0] == "state" and key[1] == sid:
                return PHASE[phase]
        return NONE

    def obj_key_patch(self, key: Any) -> str:
        return str(key[0])

    def wobj_key(self, key: Any) -> Any:
        p, o = key
        for k, phase in self.s.world:
            if k[0] == "obj" and k[1] == p and k[2] == o:
                return PHASE[phase]
        return NONE

    def start(self, sid: int) -> Any:
        for key, value in self.s.world:
            if key[0] == "@start":
                for k, phase in value:
                    if k[1] == sid:
                        return PHASE[phase]
        return NONE

    def reversed(self) -> Any:
        return any(key[0] == "@reversed" for key, _ in self.s.world)

    def has_shadow(self, sid: int) -> Any:
        return any(sh[1] == sid for sh in self.s.shadows)

    def shadows(self) -> Any:
        return self.s.shadows

    def loaded(self, m: str) -> Any:
        return m in self._modules()

    def pinned(self, m: str) -> Any:
        return self._modules().get(m, False)

    def same_as(self, other: Any) -> Any:
        return bool(self.s == other.s)

    # fast paths of derived helpers (same answers as View's; the tests compare them)
    def held(self, sid: int) -> Any:
        return any(st.id == sid for p in self.s.patches for st in p.states)

    def idle(self) -> Any:
        return self.s.transition is None

    def being_replaced(self, p: str) -> Any:
        t = self.s.transition
        if t is None:
            return False
        by = self._patches()
        tp, mine = by.get(t), by.get(p)
        return tp is not None and mine is not None and tp[1].replace and mine[0] < tp[0]


# the last log, its events and insmod's return value: every rule of a step reuses the split
_last: list[Any] = [None, (), 0]
_recent: list[Any] = [None, None, None, None]   # the last two states and their views
_step: list[Any] = [None] * 6                  # the last (log, before, after) and their views


class KStep(Step):
    """A step's label and log read directly; events are the log's `Event` items."""

    __slots__ = ("events", "func", "insmod_ret", "value")

    def __init__(self, label: Any, log: tuple[Any, ...]) -> None:
        self.func = str(getattr(label, "func", label))
        args = tuple(getattr(label, "args", ()))
        self.value = args[1] if len(args) == 2 and type(args[1]) is int else -1
        if _last[0] is not log:
            _last[0] = log
            _last[1] = tuple(e for e in log if getattr(e, "callback", "insmod") != "insmod")
            _last[2] = next((int(e.ret) for e in log if getattr(e, "callback", None) == "insmod"), 0)
        self.events = _last[1]
        self.insmod_ret = _last[2]

    def fid(self, name: str) -> Any:
        return name

    def present(self, e: Any) -> Any:
        return True

    def failed(self, e: Any) -> Any:
        return e.ret != 0

    def cb(self, e: Any, names: Sequence[str]) -> Any:
        return e.callback in names

    def is_state_event(self, e: Any) -> Any:
        return e.state is not None

    def is_obj_event(self, e: Any) -> Any:
        return e.object is not None

    def ev_patch(self, e: Any) -> Any:
        return e.patch

    def ev_obj(self, e: Any) -> Any:
        return (e.patch, e.object)


# --------------------------------------------------------------------------------------------------
# Symbolic: the same fields as z3 integers over a Sig
# --------------------------------------------------------------------------------------------------

def _key(*parts: Any) -> str:
    return ",".join(str(p) for p in parts)


def fields(sig: Sig) -> dict[str, tuple[int, int]]:
    """Every field of a view over sig with its lowest and highest value, in a fixed order."""
    n, flag, phase = len(sig.patches), (0, 1), (NONE, DISABLED)
    out: dict[str, tuple[int, int]] = {"transition": (-1, n - 1), "target": (-1, 1), "reversed": flag,
                                       "started": flag, "shadows": TOKEN}
    out.update({f: TOKEN for f in REST})
    for p in sig.patches:
        out.update({f"pos[{p}]": (-1, n - 1), f"enabled[{p}]": flag, f"forced[{p}]": flag,
                    f"replace[{p}]": flag})
        for sid in sig.sids:
            out.update({f"holds[{_key(p, sid)}]": flag, f"version[{_key(p, sid)}]": (0, sig.max_version),
                        f"setup[{_key(p, sid)}]": flag})
    for sid in sig.sids:
        out.update({f"ws[{sid}]": phase, f"start[{sid}]": phase, f"sh[{sid}]": flag})
    out.update({f"wo[{_key(p, o)}]": phase for p, o in sig.objects})
    for m in sig.modules:
        out.update({f"loaded[{m}]": flag, f"pinned[{m}]": flag, f"mod[{m}]": TOKEN})
    return out


# tokens: what the rules only compare for equality, numbered as they are met
TOKEN = (0, 1 << 20)
REST = ("rest.patches", "rest.world", "rest.tasks", "rest.gone", "rest.ghost")

# the part of a frozen state (a `Kernel` attribute) each field encodes, by the field's name before "["
_COMPONENT = {"transition": "transition", "target": "target", "reversed": "world", "started": "world",
              "shadows": "shadows", "rest.patches": "patches", "rest.world": "world", "rest.tasks": "tasks",
              "rest.gone": "gone", "rest.ghost": "ghost", "pos": "patches", "enabled": "patches",
              "forced": "patches", "replace": "patches", "holds": "patches", "version": "patches",
              "setup": "patches", "ws": "world", "start": "world", "sh": "shadows", "wo": "world",
              "loaded": "modules", "pinned": "modules", "mod": "modules"}


def component_of(field: str) -> str:
    """The `Kernel` attribute whose value a field encodes (klp_patches, the world, the modules, ...)."""
    return _COMPONENT[field.split("[", 1)[0]]


class ZView(View):
    """A state whose fields are z3 integer variables named ``<prefix><field>``."""

    NOPATCH = -1

    def __init__(self, sig: Sig, prefix: str) -> None:
        self.sig = sig
        self.prefix = prefix
        self.fields = fields(sig)
        self.transition = self._var("transition")
        self.target = self._var("target")

    def _var(self, field: str) -> Any:
        return sym_int(self.prefix + field)

    def _flag(self, field: str) -> Any:
        return sym_int(self.prefix + field) == 1

    def patch_names(self) -> Sequence[str]:
        return self.sig.patches

    def state_ids(self) -> Sequence[int]:
        return self.sig.sids

    def obj_keys(self) -> Sequence[Any]:
        return range(len(self.sig.objects))

    def module_names(self) -> Sequence[str]:
        return self.sig.modules

    def pid(self, name: str) -> Any:
        return self.sig.patches.index(name) if name in self.sig.patches else -2

    def pos(self, p: str) -> Any:
        return self._var(f"pos[{p}]")

    def enabled(self, p: str) -> Any:
        return self._flag(f"enabled[{p}]")

    def forced(self, p: str) -> Any:
        return self._flag(f"forced[{p}]")

    def replace(self, p: str) -> Any:
        return self._flag(f"replace[{p}]")

    def holds(self, p: str, sid: int) -> Any:
        return self._flag(f"holds[{_key(p, sid)}]")

    def version(self, p: str, sid: int) -> Any:
        return self._var(f"version[{_key(p, sid)}]")

    def has_setup(self, p: str, sid: int) -> Any:
        return self._flag(f"setup[{_key(p, sid)}]")

    def wstate(self, sid: int) -> Any:
        return self._var(f"ws[{sid}]")

    def obj_key_patch(self, key: Any) -> str:
        return self.sig.objects[key][0]

    def wobj_key(self, key: Any) -> Any:
        return self._var(f"wo[{_key(*self.sig.objects[key])}]")

    def start(self, sid: int) -> Any:
        return self._var(f"start[{sid}]")

    def reversed(self) -> Any:
        return self._flag("reversed")

    def has_shadow(self, sid: int) -> Any:
        return self._flag(f"sh[{sid}]")

    def shadows(self) -> Any:
        return self._var("shadows")

    def loaded(self, m: str) -> Any:
        return self._flag(f"loaded[{m}]")

    def pinned(self, m: str) -> Any:
        return self._flag(f"pinned[{m}]")

    def same_as(self, other: Any) -> Any:
        return all_of(self._var(f) == other._var(f) for f in self.fields)

    def domain(self) -> Domain:
        """Bounds of every field, and what every frozen state meets: klp_patches is a list of patches."""
        sig, extra = self.sig, []
        for i, p in enumerate(sig.patches):
            off = NOT(self.listed(p))
            extra.append(IMPLIES(off, AND(NOT(self.enabled(p)), NOT(self.forced(p)), NOT(self.replace(p)))))
            extra.extend(OR(off, self.pos(p) != self.pos(q)) for q in sig.patches[i + 1:])
            for sid in sig.sids:
                extra.append(IMPLIES(off, NOT(self.holds(p, sid))))
                extra.append(IF(self.holds(p, sid), self.version(p, sid) >= 1,
                                AND(self.version(p, sid) == 0, NOT(self.has_setup(p, sid)))))
        if sig.patches:
            count = sum_of(IF(self.listed(p), 1, 0) for p in sig.patches)
            extra.extend(self.pos(p) < count for p in sig.patches)
        extra.extend(IMPLIES(self.pinned(m), self.loaded(m)) for m in sig.modules)
        bounds = {self.prefix + f: b for f, b in self.fields.items()}
        return Domain(bounds, tuple(x for x in extra if x is not True))


class ZEvent:
    """One event slot of a symbolic step: present, callback, patch, object, state, ret."""

    def __init__(self, step: ZStep, j: int) -> None:
        sig = step.sig
        self.present = step.var(f"ev{j}.present", 0, 1) == 1
        self.callback = step.var(f"ev{j}.callback", 0, len(CALLBACKS) - 1)
        self.patch = step.var(f"ev{j}.patch", -1, len(sig.patches) - 1)
        self.object = step.var(f"ev{j}.object", -1, len(sig.objects) - 1)
        self.state = step.var(f"ev{j}.state", -1, max(sig.sids, default=0))
        self.ret = step.var(f"ev{j}.ret", 0, 1)


class ZStep(Step):
    """A symbolic step: label fields and `Sig.events` event slots, as z3 integers."""

    def __init__(self, sig: Sig, prefix: str = "step.") -> None:
        self.sig = sig
        self.prefix = prefix
        self.bounds: dict[str, tuple[int, int]] = {}
        self.func = self.var("func", 0, len(FUNCS) - 1)
        self.value = self.var("value", -1, 1)
        self.insmod_ret = self.var("insmod_ret", -1, 0)
        self.events = [ZEvent(self, j) for j in range(sig.events)]

    def var(self, field: str, lo: int, hi: int) -> Any:
        name = self.prefix + field
        self.bounds[name] = (lo, hi)
        return sym_int(name)

    def fid(self, name: str) -> Any:
        return FUNCS.index(name)

    def present(self, e: Any) -> Any:
        return e.present

    def failed(self, e: Any) -> Any:
        return e.ret == 1

    def cb(self, e: Any, names: Sequence[str]) -> Any:
        return any_of(e.callback == CALLBACKS.index(n) for n in names if n in CALLBACKS)

    def is_state_event(self, e: Any) -> Any:
        return e.state >= 0

    def is_obj_event(self, e: Any) -> Any:
        return e.object >= 0

    def ev_patch(self, e: Any) -> Any:
        return e.patch

    def ev_obj(self, e: Any) -> Any:
        return e.object

    def domain(self) -> Domain:
        """Bounds of every field; used slots come first; a callback event names its patch."""
        extra: list[Any] = [IMPLIES(b.present, a.present) for a, b in zip(self.events, self.events[1:],
                                                                           strict=False)]
        for e in self.events:
            extra.append(IMPLIES(OR(self.is_obj_event(e), self.is_state_event(e)), e.patch >= 0))
            extra.append(IMPLIES(self.is_obj_event(e), NOT(self.is_state_event(e))))
        return Domain(dict(self.bounds), tuple(extra))


# --------------------------------------------------------------------------------------------------
# Writing a concrete state as field values
# --------------------------------------------------------------------------------------------------

class Tokens:
    """Numbers for values a field only compares for equality (the shadow table, the rest of the state)."""

    def __init__(self) -> None:
        self._ids: dict[Any, int] = {}

    def __call__(self, value: Any) -> int:
        return self._ids.setdefault(value, len(self._ids))

    def __len__(self) -> int:
        return len(self._ids)


def flatten(s: Any, sig: Sig, prefix: str, tokens: Tokens) -> dict[str, int]:
    """A frozen state as the values of the fields a `ZView(sig, prefix)` has."""
    k = KView(s)
    out: dict[str, int] = {}

    def put(field: str, value: Any) -> None:
        out[prefix + field] = int(value)

    index = {p: i for i, p in enumerate(sig.patches)}
    put("transition", -1 if s.transition is None else index[s.transition])
    put("target", s.target)
    put("reversed", k.reversed())
    put("started", any(key[0] == "@start" for key, _ in s.world))
    put("shadows", tokens(s.shadows))
    put("rest.patches", tokens(tuple((p.mod, p.objs, p.states) for p in s.patches)))
    put("rest.world", tokens(tuple(item for item in s.world
                                   if item[0][0] not in ("state", "obj", "@start", "@reversed"))))
    put("rest.tasks", tokens(s.tasks))
    put("rest.gone", tokens(s.gone))
    put("rest.ghost", tokens(s.ghost))
    mods = {m.name: m for m in s.modules}
    for p in sig.patches:
        put(f"pos[{p}]", k.pos(p))
        put(f"enabled[{p}]", k.enabled(p))
        put(f"forced[{p}]", k.forced(p))
        put(f"replace[{p}]", k.replace(p))
        for sid in sig.sids:
            put(f"holds[{_key(p, sid)}]", k.holds(p, sid))
            put(f"version[{_key(p, sid)}]", k.version(p, sid))
            put(f"setup[{_key(p, sid)}]", k.has_setup(p, sid))
    for sid in sig.sids:
        put(f"ws[{sid}]", k.wstate(sid))
        put(f"start[{sid}]", k.start(sid))
        put(f"sh[{sid}]", k.has_shadow(sid))
    for p, o in sig.objects:
        put(f"wo[{_key(p, o)}]", k.wobj_key((p, o)))
    for m in sig.modules:
        put(f"loaded[{m}]", k.loaded(m))
        put(f"pinned[{m}]", k.pinned(m))
        put(f"mod[{m}]", tokens(mods.get(m)))
    return out


class StepParts(NamedTuple):
    """What a step's fields are made of (as `KStep` has them): hashable, kept by the relation's rules."""

    func: str
    value: int
    insmod_ret: int
    events: tuple[Any, ...]


def step_parts(label: Any, log: tuple[Any, ...]) -> StepParts:
    t = KStep(label, log)
    return StepParts(t.func, t.value, t.insmod_ret, tuple(t.events))


def flatten_step(label: Any, log: tuple[Any, ...], sig: Sig, prefix: str = "step.") -> dict[str, int]:
    """A concrete step as the values of the fields a `ZStep(sig, prefix)` has."""
    return step_fields(step_parts(label, log), sig, prefix)


def step_fields(t: StepParts, sig: Sig, prefix: str = "step.") -> dict[str, int]:
    """`flatten_step` of a step's parts."""
    out = {prefix + "func": FUNCS.index(t.func) if t.func in FUNCS else FUNCS.index("other"),
           prefix + "value": t.value, prefix + "insmod_ret": max(-1, min(0, t.insmod_ret))}
    if len(t.events) > sig.events:
        raise ValueError(f"step has {len(t.events)} events, the signature {sig.events} slots")
    objs = {po: i for i, po in enumerate(sig.objects)}
    for j in range(sig.events):
        e = t.events[j] if j < len(t.events) else None
        f = f"{prefix}ev{j}."
        out[f + "present"] = int(e is not None)
        cb = "other" if e is None or e.callback not in CALLBACKS else e.callback
        out[f + "callback"] = CALLBACKS.index(cb)
        out[f + "patch"] = sig.patches.index(e.patch) if e is not None and e.patch in sig.patches else -1
        out[f + "object"] = objs.get((e.patch, e.object), -1) if e is not None and e.object is not None else -1
        out[f + "state"] = e.state if e is not None and e.state is not None else -1
        out[f + "ret"] = int(bool(e.ret)) if e is not None else 0
    return out


# --------------------------------------------------------------------------------------------------
# Catalogue entries: a rule over views, and the predicate the BFS runs, which is the rule on KView/KStep
# --------------------------------------------------------------------------------------------------

def state_property(name: str, kind: Kind, description: str, rule: Callable[[View], Any]) -> Property:
    """An ``always`` or state ``sometimes`` property from a rule over one view."""
    def predicate(s: Any) -> bool:
        return bool(rule(KView.of(s)))

    predicate.__doc__ = rule.__doc__
    return Property(name, kind, description, predicate, "state", rule)


def step_property(name: str, kind: Kind, description: str,
                  rule: Callable[[View, Step, View], Any]) -> Property:
    """A ``step`` or step ``sometimes`` property from a rule over (before, step, after)."""
    def predicate(before: Any, label: Any, log: tuple[Any, ...], after: Any) -> bool:
        c = _step
        if c[0] is not log or c[1] is not before or c[2] is not after:
            c[:] = [log, before, after, KView.of(before), KStep(label, log), KView.of(after)]
        return bool(rule(c[3], c[4], c[5]))

    predicate.__doc__ = rule.__doc__
    return Property(name, kind, description, predicate, "step", rule)
