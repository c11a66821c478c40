"""What the properties read of a state and of a step: the field table, through one class, two readers.

A rule is a function over a `View` (a state) or ``(View, StepView, View)`` (a transition), written with
the connectives of `klpmc.logic`. The view's methods read fields of the table of `models._fields`; the
reader decides what a field is: its integer value in a concrete state (`Values`, the BFS) or a z3
integer variable (`Terms`, the proofs). Rules branch in Python only on the configuration (which
patches, states and objects exist), never on a field, so one rule gives a bool or a formula.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

from klpmc.logic import AND, IF, IMPLIES, NOT, OR, Domain, all_of, any_of, sum_of, sym_int

from ._fields import DISABLED, ENABLED, EVENT_FIELDS, NONE, SETUP, Sig, Table, Vocab, step_bounds

IDLE = -1
PATCHED = 1
UNPATCHED = 0

FIRST = ("setup", "pre_patch")          # brings a state or object in
SECOND = ("enable", "post_patch")
THIRD = ("disable", "pre_unpatch")
LAST = ("release", "post_unpatch")       # takes it out
STATE_CALLBACKS = FIRST + SECOND + THIRD + LAST


class View:
    """A state as the rules see it: the fields of its table, by what they mean."""

    NOPATCH = -1

    def __init__(self, sig: Sig, table: Table, read: Any) -> None:
        self.sig = sig
        self.table = table
        self.read = read                       # slot -> value or term
        slot = table.slot
        self.transition = read(slot[("transition",)])
        self.target = read(slot[("target",)])

    def f(self, *key: Any) -> Any:
        return self.read(self.table.slot[key])

    def _flag(self, *key: Any) -> Any:
        return self.read(self.table.slot[key]) == 1

    # universes: every name a rule may quantify over
    def patch_names(self) -> Sequence[str]:
        return self.sig.patches

    def state_ids(self) -> Sequence[int]:
        return self.sig.sids

    def obj_keys(self) -> Sequence[int]:
        return range(len(self.sig.objects))

    def module_names(self) -> Sequence[str]:
        return self.sig.modules

    # primitive fields
    def pid(self, name: str) -> int:
        return self.sig.patches.index(name) if name in self.sig.patches else -2

    def pos(self, p: str) -> Any:
        return self.f("pos", p)

    def enabled(self, p: str) -> Any:
        return self._flag("enabled", p)

    def forced(self, p: str) -> Any:
        return self._flag("forced", p)

    def replace(self, p: str) -> Any:
        return self._flag("replace", p)

    def holds(self, p: str, sid: int) -> Any:
        return self._flag("holds", p, sid)

    def version(self, p: str, sid: int) -> Any:
        return self.f("version", p, sid)

    def has_setup(self, p: str, sid: int) -> Any:
        return self._flag("setup", p, sid)

    def wstate(self, sid: int) -> Any:
        return self.f("ws", sid)

    def obj_key_patch(self, key: int) -> str:
        return self.sig.objects[key][0]

    def wobj_key(self, key: int) -> Any:
        return self.f("wo", *self.sig.objects[key])

    def start(self, sid: int) -> Any:
        return self.f("start", sid)

    def reversed(self) -> Any:
        return self._flag("reversed")

    def has_shadow(self, sid: int) -> Any:
        return self._flag("sh", sid)

    def shadows(self) -> Any:
        return self.f("shadows")

    def finding(self) -> Any:
        """0, or the token of what stopped the step that led here (a hang, a crash, a double free)."""
        return self.f("finding")

    def loaded(self, m: str) -> Any:
        return self._flag("loaded", m)

    def pinned(self, m: str) -> Any:
        return self._flag("pinned", m)

    def same_as(self, other: View) -> Any:
        return all_of(self.read(i) == other.read(i) for i in range(len(self.table.fields)))

    # derived helpers
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
        return all_of(self.wstate(sid) == other.wstate(sid) for sid in self.state_ids())

    def same_order(self, other: View) -> Any:
        return all_of(self.pos(p) == other.pos(p) for p in self.patch_names())


class Event:
    """One event slot of a step: present, callback, patch, object, state, ret (values or terms)."""

    __slots__ = ("callback", "object", "patch", "present", "ret", "state")

    def __init__(self, present: Any, callback: Any, patch: Any, obj: Any, state: Any, ret: Any) -> None:
        self.present = present
        self.callback = callback
        self.patch = patch
        self.object = obj
        self.state = state
        self.ret = ret


class StepView:
    """A step (its label and the events of its log) as the rules see it."""

    def __init__(self, vocab: Vocab, func: Any, value: Any, insmod_ret: Any, events: Sequence[Event]) -> None:
        self.vocab = vocab
        self.func = func
        self.value = value              # the value written by enabled_store, else -1
        self.insmod_ret = insmod_ret    # what insmod returned in this step (0 if it did not run or succeeded)
        self.events = events

    def fid(self, name: str) -> int:
        return self.vocab.func(name)

    def called(self, name: str) -> Any:
        return self.func == self.fid(name)

    def present(self, e: Event) -> Any:
        return e.present

    def failed(self, e: Event) -> Any:
        return e.ret != 0

    def cb(self, e: Event, names: Sequence[str]) -> Any:
        return any_of(e.callback == self.vocab.callback(n) for n in names)

    def is_state_event(self, e: Event) -> Any:
        return e.state >= 0

    def is_obj_event(self, e: Event) -> Any:
        return e.object >= 0

    def ev_patch(self, e: Event) -> Any:
        return e.patch

    def ev_obj(self, e: Event) -> Any:
        return e.object


# --------------------------------------------------------------------------------------------------
# Readers: concrete values (the BFS), z3 variables (the proofs)
# --------------------------------------------------------------------------------------------------

def values_view(sig: Sig, table: Table, values: Sequence[int]) -> View:
    """A concrete state: its fields are the integers of its vector."""
    return View(sig, table, values.__getitem__)


def terms_view(sig: Sig, table: Table, prefix: str) -> tuple[View, Domain]:
    """A symbolic state: its fields are z3 integer variables named ``<prefix><field>``; and their domain."""
    names = [prefix + f.name for f in table.fields]
    view = View(sig, table, lambda i: sym_int(names[i]))
    return view, Domain({prefix + f.name: (f.lo, f.hi) for f in table.fields}, tuple(well_formed(view)))


def well_formed(v: View) -> list[Any]:
    """What every state of a kernel meets: klp_patches is a list, an unlisted patch holds nothing."""
    sig, extra = v.sig, []
    for i, p in enumerate(sig.patches):
        off = NOT(v.listed(p))
        extra.append(IMPLIES(off, AND(NOT(v.enabled(p)), NOT(v.forced(p)), NOT(v.replace(p)))))
        extra.extend(OR(off, v.pos(p) != v.pos(q)) for q in sig.patches[i + 1:])
        for sid in sig.sids:
            extra.append(IMPLIES(off, NOT(v.holds(p, sid))))
            extra.append(IF(v.holds(p, sid), v.version(p, sid) >= 1,
                            AND(v.version(p, sid) == 0, NOT(v.has_setup(p, sid)))))
    if sig.patches:
        count = sum_of(IF(v.listed(p), 1, 0) for p in sig.patches)
        extra.extend(v.pos(p) < count for p in sig.patches)
    extra.extend(IMPLIES(v.pinned(m), v.loaded(m)) for m in sig.modules)
    return [x for x in extra if x is not True]


def values_step(vocab: Vocab, values: Sequence[int]) -> StepView:
    """A concrete step from its field vector (`step_vector`): as many event slots as it has events."""
    events = [Event(*values[i:i + 6]) for i in range(3, len(values), 6)]
    return StepView(vocab, values[0], values[1], values[2], events)


def terms_step(sig: Sig, vocab: Vocab, slots: int, prefix: str = "step.") -> tuple[StepView, Domain]:
    """A symbolic step with ``slots`` event slots, and its domain (used slots first)."""
    def var(name: str) -> Any:
        return sym_int(prefix + name)

    events = [Event(var(f"ev{j}.present") == 1, var(f"ev{j}.callback"), var(f"ev{j}.patch"),
                    var(f"ev{j}.object"), var(f"ev{j}.state"), var(f"ev{j}.ret")) for j in range(slots)]
    t = StepView(vocab, var("func"), var("value"), var("insmod_ret"), events)
    extra: list[Any] = [IMPLIES(b.present, a.present) for a, b in itertools.pairwise(events)]
    for e in events:
        extra.append(IMPLIES(OR(t.is_obj_event(e), t.is_state_event(e)), e.patch >= 0))
        extra.append(IMPLIES(t.is_obj_event(e), NOT(t.is_state_event(e))))
        extra.append(IMPLIES(NOT(e.present), AND(e.patch == -1, e.object == -1, e.state == -1, e.ret == 0)))
    return t, Domain(step_bounds(sig, vocab, slots, prefix), tuple(extra))


def step_values(label: Any, log: Sequence[Any], sig: Sig, vocab: Vocab) -> tuple[int, ...]:
    """A step as field values: entry point, value written, insmod's return, then six per event.

    Nothing the rules can read is lost: every entry point and callback name gets a number, return values
    are kept as they are.
    """
    func = str(getattr(label, "func", label))
    args = tuple(getattr(label, "args", ()))
    value = args[1] if len(args) == 2 and type(args[1]) is int else -1
    out = [vocab.func(func), value, 0]
    objects = sig.objects
    patches = sig.patches
    for e in log:
        callback = getattr(e, "callback", None)
        if callback is None:
            continue
        if callback == "insmod":
            out[2] = int(e.ret)
            continue
        patch = patches.index(e.patch) if e.patch in patches else -1
        obj = e.object
        oi = objects.index((e.patch, obj)) if obj is not None and (e.patch, obj) in objects else -1
        out += [1, vocab.callback(callback), patch, oi, -1 if e.state is None else e.state, int(e.ret)]
    return tuple(out)


def step_fields(values: tuple[int, ...], slots: int, prefix: str = "step.") -> dict[str, int]:
    """A step's field values by the names of `terms_step`'s variables (absent slots are empty)."""
    events = (len(values) - 3) // 6
    if events > slots:
        raise ValueError(f"step has {events} events, the signature {slots} slots")
    out = {prefix + "func": values[0], prefix + "value": values[1], prefix + "insmod_ret": values[2]}
    for j in range(slots):
        got = values[3 + 6 * j: 9 + 6 * j] if j < events else (0, 0, -1, -1, -1, 0)
        for name, v in zip(EVENT_FIELDS, got, strict=True):
            out[f"{prefix}ev{j}.{name}"] = v
    return out


def bind_rule(prop: Any, sig: Sig, table: Table, vocab: Vocab,
              vector: Callable[[Any], Sequence[int] | None]) -> Callable[..., bool]:
    """A property's rule as the predicate the engine runs on a model's states.

    ``vector(state)`` gives a state's field values (None for a state the rule cannot read: a step that
    ended in a finding leads nowhere a rule looks at). The views of the last few states are kept: the
    step rules of one transition read the same two states.
    """
    rule = prop.rule
    views: dict[Any, View | None] = {}

    def view(s: Any) -> View | None:
        got = views.get(s, False)
        if got is False:
            if len(views) > 2:
                views.clear()
            values = vector(s)
            got = views[s] = None if values is None else values_view(sig, table, values)
        return got  # type: ignore[return-value]

    if not prop.on_steps:
        def on_state(s: Any) -> bool:
            v = view(s)
            return True if v is None else bool(rule(v))
        return on_state
    steps: dict[int, tuple[tuple[Any, ...], StepView]] = {}

    def on_step(before: Any, label: Any, log: tuple[Any, ...], after: Any) -> bool:
        got = steps.get(id(log))
        if got is None or got[0] is not log:
            if len(steps) > 64:
                steps.clear()
            got = steps[id(log)] = (log, values_step(vocab, step_values(label, log, sig, vocab)))
        b, a = view(before), view(after)
        if b is None or a is None:
            return prop.kind != "sometimes"
        return bool(rule(b, got[1], a))
    return on_step


# Compiled rules are shared by every configuration with the same vocabulary, field table and properties
# (a scope's configurations mostly are): (sig, fields, properties) -> (state function, {(vocabulary, step
# key): step function}). The step functions also depend on how the vocabulary numbers names, so that is
# part of their key.
_SHARED: dict[tuple[Any, ...], tuple[Any, dict[tuple[Any, ...], Any]]] = {}


class Checker:
    """The rules of a configuration's properties, compiled: what the engine runs on every state and step.

    A state rule is read once with views whose fields are terms (`klpmc.logic.var`) and becomes one
    Python function of the state's field vector. A step rule is read once per distinct step (its label
    and events, as `step_values` encodes them), with the step concrete and the two states as terms: what
    is left after the step's facts are folded in is usually nothing (a step with no callback) or a few
    comparisons; the functions are cached by step. All rules of one kind are evaluated by one call.
    """

    def __init__(self, sig: Sig, table: Table, vocab: Vocab, props: Sequence[Any],
                 vector: Callable[[Any], Sequence[int] | None]) -> None:
        from klpmc.logic import compile_terms, var

        self.sig, self.table, self.vocab, self.vector = sig, table, vocab, vector
        self.state_props = [p for p in props if not p.on_steps]
        self.step_props = [p for p in props if p.on_steps]
        self._var = var
        self._compile = compile_terms
        shared_key = (sig, tuple((f.key, f.lo, f.hi) for f in table.fields),
                      tuple((p.name, id(p.rule)) for p in props))
        shared = _SHARED.get(shared_key)
        if shared is None:
            if len(_SHARED) > 256:
                _SHARED.clear()
            view = View(sig, table, lambda i: var("s", i))
            shared = _SHARED[shared_key] = (self._build([p.rule(view) for p in self.state_props], "s"), {})
        self._state_fn, self._shared_steps = shared
        self._vocab_key: tuple[Any, ...] = ()
        self._b = View(sig, table, lambda i: var("b", i))
        self._a = View(sig, table, lambda i: var("a", i))
        self._steps: dict[tuple[int, ...], Callable[[Any, Any], tuple[Any, ...]] | None] = {}
        self._values: dict[Any, Sequence[int] | None] = {}
        self._keys: dict[int, tuple[tuple[Any, ...], Any, tuple[int, ...]]] = {}
        self.all_true = tuple(True for _ in self.step_props)

    def _build(self, terms: list[Any], params: str) -> Callable[..., tuple[Any, ...]] | None:
        from klpmc.logic import Term

        if not any(isinstance(t, Term) for t in terms):
            consts = tuple(bool(t) for t in terms)
            return None if all(consts) else (lambda *_: consts)
        return self._compile(terms, params)  # type: ignore[no-any-return]

    def values(self, s: Any) -> Sequence[int] | None:
        cache = self._values
        got = cache.get(s, cache)
        if got is cache:
            if len(cache) > 4:
                cache.clear()
            got = cache[s] = self.vector(s)
        return got  # type: ignore[return-value]

    def state(self, s: Any) -> tuple[Any, ...]:
        """The state rules' values on s, in the order of the state properties."""
        fn = self._state_fn
        vals = self.values(s)
        if fn is None or vals is None:
            return tuple(True for _ in self.state_props)
        return fn(vals)

    def step(self, before: Any, label: Any, log: tuple[Any, ...], after: Any) -> tuple[Any, ...]:
        """The step rules' values on a transition, in the order of the step properties."""
        known = self._keys.get(id(log))    # a model that keeps its logs (the kernel's C) hands the same one
        if known is not None and known[0] is log and known[1] == label:
            key = known[2]
        else:
            key = step_values(label, log, self.sig, self.vocab)
            if len(self._keys) > 4096:
                self._keys.clear()
            self._keys[id(log)] = (log, label, key)
        steps = self._steps
        fn = steps.get(key, steps)
        if fn is steps:
            vocab = self.vocab
            if len(self._vocab_key) != 2 or len(self._vocab_key[0]) != len(vocab.funcs) or \
                    len(self._vocab_key[1]) != len(vocab.callbacks):
                self._vocab_key = (tuple(vocab.funcs), tuple(vocab.callbacks))
            shared = self._shared_steps
            skey = (self._vocab_key, key)
            fn = shared.get(skey, shared)
            if fn is shared:
                t = values_step(vocab, key)
                fn = shared[skey] = self._build([p.rule(self._b, t, self._a) for p in self.step_props], "b, a")
            steps[key] = fn
        if fn is None:
            return self.all_true
        b, a = self.values(before), self.values(after)
        if b is None or a is None:      # a step that ended in a finding: nothing for the rules to read
            return tuple(p.kind != "sometimes" for p in self.step_props)
        return fn(b, a)


__all__ = ["DISABLED", "ENABLED", "FIRST", "IDLE", "LAST", "NONE", "PATCHED", "SECOND", "SETUP", "STATE_CALLBACKS",
           "THIRD", "UNPATCHED", "Checker", "Event", "StepView", "View", "bind_rule", "step_fields", "step_values",
           "terms_step",
           "terms_view", "values_step", "values_view", "well_formed"]
