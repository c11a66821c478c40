"""The field table: what a livepatch kernel state is made of, for one configuration's vocabulary.

Every model of klpmc, the Python transcriptions and the kernel's own C alike, gives its states as one
vector of small integers laid out by this table. The properties read the named fields (through
`models._view.View`), z3 reads the same names as integer variables, and the engine hashes the packed
vector. There is no second description of a state.

Fields of a `Sig` (one configuration's patches, state ids, objects with callbacks and modules):

==================  ===========================================================
``transition``      index of the transition patch in ``Sig.patches``, -1: none
``target``          klp_target_state: -1 idle, 0 unpatched, 1 patched
``pos[P]``          index of patch P in klp_patches, -1 when it is not listed
``enabled[P]``      0/1, and likewise ``forced``, ``replace``
``holds[P,S]``      0/1: listed patch P carries state S; ``version``, ``setup``
                    (it has a setup callback) of that entry
``sh[S]``           0/1: a shadow variable with id S exists
``loaded[M]``       0/1, and ``pinned[M]`` (a forced livepatch module)
``ws[S]``           history: phase of state S (0 none, 1 set up, 2 enabled,
                    3 disabled), from the callbacks that ran
``start[S]``        history: phase of S when the pending transition started;
                    ``started``, ``reversed`` (it was reversed an odd number
                    of times)
``wo[P,O]``         history: phase of object O of patch P (per-object callbacks)
tokens              numbers for values only compared for equality: the rest of
                    the model's state (``rest.*``, ``shadows``, ``mod[M]``; the C
                    model's memory digest ``mem``)
==================  ===========================================================

The history fields are written by one observer of the kernel log (`models._ghost`), never by the kernel
code: they are what the callbacks did, as a reviewer reads it off dmesg.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

# phases of a state or object in the history: not set up, set up, enabled, disabled
NONE, SETUP, ENABLED, DISABLED = 0, 1, 2, 3
TOKEN_MAX = (1 << 32) - 1


@dataclass(frozen=True)
class Sig:
    """The finite vocabulary of one configuration (or of a scope's union): what the fields range over."""

    patches: tuple[str, ...]
    sids: tuple[int, ...]
    objects: tuple[tuple[str, str], ...]    # (patch, object) pairs that have per-object callbacks
    modules: tuple[str, ...]
    events: int = 8                         # event slots of a symbolic step
    max_version: int = 3

    def union(self, other: Sig) -> Sig:
        """The vocabulary of two configurations at once (a scope)."""
        return Sig(tuple(dict.fromkeys(self.patches + other.patches)),
                   tuple(sorted(set(self.sids) | set(other.sids))),
                   tuple(dict.fromkeys(self.objects + other.objects)),
                   tuple(dict.fromkeys(self.modules + other.modules)),
                   max(self.events, other.events), max(self.max_version, other.max_version))


@dataclass(frozen=True)
class Field:
    """One integer of the state vector: its key (``("pos", "P1")``), printed name and range."""

    key: tuple[Any, ...]
    name: str
    lo: int
    hi: int

    @property
    def token(self) -> bool:
        return self.hi == TOKEN_MAX


def field_name(key: tuple[Any, ...]) -> str:
    """``("holds", "P1", 1)`` -> ``holds[P1,1]``; a key of one part is its own name."""
    if len(key) == 1:
        return str(key[0])
    return f"{key[0]}[{','.join(str(k) for k in key[1:])}]"


class Table:
    """An ordered field table with its packing: a state is ``bytes``, one small integer per field."""

    def __init__(self, fields: Iterable[Field]) -> None:
        self.fields: tuple[Field, ...] = tuple(fields)
        self.slot: dict[tuple[Any, ...], int] = {f.key: i for i, f in enumerate(self.fields)}
        self.by_name: dict[str, int] = {f.name: i for i, f in enumerate(self.fields)}
        if len(self.slot) != len(self.fields):
            raise ValueError("two fields of a table have the same key")
        fmt = "".join("b" if f.lo >= -128 and f.hi <= 127 else "I" if f.lo >= 0 else "i"
                      for f in self.fields)
        self._struct = struct.Struct("<" + fmt)
        self.size = self._struct.size

    def pack(self, values: Sequence[int]) -> bytes:
        return self._struct.pack(*values)

    def unpack(self, data: bytes) -> tuple[int, ...]:
        return self._struct.unpack(data)

    def names(self) -> list[str]:
        return [f.name for f in self.fields]

    def bounds(self) -> dict[str, tuple[int, int]]:
        return {f.name: (f.lo, f.hi) for f in self.fields}

    def as_dict(self, values: Sequence[int], prefix: str = "") -> dict[str, int]:
        """The values by field name (with a prefix: the names of z3 variables)."""
        return {prefix + f.name: v for f, v in zip(self.fields, values, strict=True)}


FLAG = (0, 1)
PHASE = (NONE, DISABLED)


def kernel_fields(sig: Sig) -> list[Field]:
    """The fields the kernel's structures give: klp_patches, the transition, shadows, modules."""
    n = len(sig.patches)
    out: list[tuple[tuple[Any, ...], tuple[int, int]]] = [(("transition",), (-1, n - 1)), (("target",), (-1, 1))]
    for p in sig.patches:
        out += [(("pos", p), (-1, n - 1)), (("enabled", p), FLAG), (("forced", p), FLAG), (("replace", p), FLAG)]
        for sid in sig.sids:
            out += [(("holds", p, sid), FLAG), (("version", p, sid), (0, sig.max_version)),
                    (("setup", p, sid), FLAG)]
    out += [(("sh", sid), FLAG) for sid in sig.sids]
    for m in sig.modules:
        out += [(("loaded", m), FLAG), (("pinned", m), FLAG)]
    return [Field(k, field_name(k), lo, hi) for k, (lo, hi) in out]


def ghost_fields(sig: Sig) -> list[Field]:
    """The history of the callbacks, as the observer of the log keeps it."""
    out: list[tuple[Any, ...]] = [("ws", sid) for sid in sig.sids]
    out += [("start", sid) for sid in sig.sids]
    out += [("wo", p, o) for p, o in sig.objects]
    fields = [Field(k, field_name(k), *PHASE) for k in out]
    return [*fields, Field(("started",), "started", *FLAG), Field(("reversed",), "reversed", *FLAG)]


def token_fields(keys: Iterable[tuple[Any, ...]]) -> list[Field]:
    return [Field(k, field_name(k), 0, TOKEN_MAX) for k in keys]


class Tokens:
    """Numbers for values a field only compares for equality; the value of a number is kept."""

    def __init__(self) -> None:
        self._ids: dict[Any, int] = {}
        self.values: list[Any] = []

    def __call__(self, value: Any) -> int:
        got = self._ids.get(value)
        if got is None:
            got = self._ids[value] = len(self.values)
            self.values.append(value)
        return got

    def __len__(self) -> int:
        return len(self.values)


# --------------------------------------------------------------------------------------------------
# Steps: the label and the events of a transition, as fields
# --------------------------------------------------------------------------------------------------

FUNCS = ("klp_enable_patch", "enabled_store", "force_store", "klp_try_complete_transition",
         "klp_module_coming", "klp_module_going", "delete_module")
CALLBACKS = ("setup", "pre_patch", "enable", "post_patch", "disable", "pre_unpatch", "release", "post_unpatch",
             "shadow_free_all")
ERRNO_MIN = -4095
EVENT_FIELDS = ("present", "callback", "patch", "object", "state", "ret")


class Vocab:
    """The names a step's fields number: entry points and callbacks, open to the ones a run meets."""

    def __init__(self) -> None:
        self.funcs: list[str] = list(FUNCS)
        self.callbacks: list[str] = list(CALLBACKS)
        self._func = {n: i for i, n in enumerate(self.funcs)}
        self._cb = {n: i for i, n in enumerate(self.callbacks)}

    def func(self, name: str) -> int:
        got = self._func.get(name)
        if got is None:
            got = self._func[name] = len(self.funcs)
            self.funcs.append(name)
        return got

    def callback(self, name: str) -> int:
        got = self._cb.get(name)
        if got is None:
            got = self._cb[name] = len(self.callbacks)
            self.callbacks.append(name)
        return got


def step_bounds(sig: Sig, vocab: Vocab, slots: int, prefix: str = "step.") -> dict[str, tuple[int, int]]:
    """The range of every field of a step with ``slots`` event slots."""
    out = {prefix + "func": (0, len(vocab.funcs) - 1), prefix + "value": (-1, 1),
           prefix + "insmod_ret": (ERRNO_MIN, 0)}
    sid_hi = max(sig.sids, default=0)
    for j in range(slots):
        f = f"{prefix}ev{j}."
        out.update({f + "present": FLAG, f + "callback": (0, len(vocab.callbacks) - 1),
                    f + "patch": (-1, len(sig.patches) - 1), f + "object": (-1, len(sig.objects) - 1),
                    f + "state": (-1, sid_hi), f + "ret": (ERRNO_MIN, -ERRNO_MIN)})
    return out


__all__ = ["CALLBACKS", "DISABLED", "ENABLED", "EVENT_FIELDS", "FUNCS", "NONE", "SETUP", "Field", "Sig", "Table",
           "Tokens", "Vocab", "field_name", "ghost_fields", "kernel_fields", "step_bounds", "token_fields"]
