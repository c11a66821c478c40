"""How the Python models' kernel structures pack into the field table's vector, and back.

A step thaws the kernel's structures (`_klp.KState`: klp_patches, the modules, the shadow table, ...) into
a working copy, runs kernel-shaped code on it, and freezes it again. `Layout` turns a frozen `KState` and
the callback history into the state vector the engine stores (``bytes``, one small integer per field of
`models._fields`): the fields the properties read are computed from the structures, and each structure
is kept as a token (a number standing for the interned value), so the vector says everything and
decodes back to the `KState` it came from.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._fields import Sig, Table, Tokens, ghost_fields, kernel_fields, token_fields
from ._ghost import Observer
from ._klp import KState, ModS, PatchS

# the structures kept as tokens, in the order of the table
STRUCTURES = ("rest.patches", "shadows", "rest.tasks", "rest.gone", "rest.world", "rest.statics")


class Layout:
    """One configuration's field table, with the tokens of its structures."""

    def __init__(self, sig: Sig, tokens: Tokens | None = None) -> None:
        self.sig = sig
        self.tokens = tokens if tokens is not None else Tokens()
        keys: list[tuple[Any, ...]] = [(s,) for s in STRUCTURES] + [("mod", m) for m in sig.modules]
        self.table = Table(kernel_fields(sig) + ghost_fields(sig) + token_fields(keys))
        self.observer = Observer(self.table)
        slot = self.table.slot
        self.n = len(self.table.fields)
        self._transition = slot[("transition",)]
        self._target = slot[("target",)]
        self._tok = [slot[(s,)] for s in STRUCTURES]
        self._mods = [(m, slot[("mod", m)], slot[("loaded", m)], slot[("pinned", m)]) for m in sig.modules]
        self._index = {p: i for i, p in enumerate(sig.patches)}
        self._kernel = (self._transition, self._target, *self._tok, *(mi for _, mi, _, _ in self._mods))
        history = {f.key for f in ghost_fields(sig)}
        self.kernel_slots = tuple(i for i, f in enumerate(self.table.fields) if f.key not in history)
        self._sh = {sid: slot[("sh", sid)] for sid in sig.sids}
        self._derived: dict[int, list[tuple[int, int]]] = {}     # token of klp_patches -> its field values
        self._interned: dict[int, int] = {}                      # id of an interned value -> its token
        self._last: tuple[bytes, tuple[int, ...]] = (b"", ())

    # -- tokens ---------------------------------------------------------------------------------------
    def token(self, value: Any) -> int:
        """The token of a value; the values the tokens keep are known by identity, so asking is cheap."""
        got = self._interned.get(id(value))
        if got is not None:
            return got
        got = self.tokens(value)
        self._interned[id(self.tokens.values[got])] = got
        return got

    def _patch_fields(self, tok: int, patches: tuple[PatchS, ...]) -> list[tuple[int, int]]:
        got = self._derived.get(tok)
        if got is not None:
            return got
        slot, sig = self.table.slot, self.sig
        at = {p.mod: (i, p) for i, p in enumerate(patches)}
        out = []
        for name in sig.patches:
            i, p = at.get(name, (-1, None))
            out += [(slot[("pos", name)], i), (slot[("enabled", name)], int(p is not None and p.enabled)),
                    (slot[("forced", name)], int(p is not None and p.forced)),
                    (slot[("replace", name)], int(p is not None and p.replace))]
            states = {st.id: st for st in p.states} if p is not None else {}
            for sid in sig.sids:
                st = states.get(sid)
                out += [(slot[("holds", name, sid)], int(st is not None)),
                        (slot[("version", name, sid)], 0 if st is None else st.version),
                        (slot[("setup", name, sid)], int(st is not None and "setup" in st.callbacks))]
        self._derived[tok] = out
        return out

    # -- packing ----------------------------------------------------------------------------------------
    def kernel_values(self, ks: KState) -> tuple[int, ...]:
        """The values of the fields a frozen kernel gives (all but the history), in `kernel_slots` order."""
        vec = [0] * self.n
        vec[self._transition] = -1 if ks.transition is None else self._index[ks.transition]
        vec[self._target] = ks.target
        structures = (ks.patches, ks.shadows, ks.tasks, ks.gone, ks.world, ks.statics)
        for i, value in zip(self._tok, structures, strict=True):
            vec[i] = self.token(value)
        for i, v in self._patch_fields(vec[self._tok[0]], ks.patches):
            vec[i] = v
        sh = self._sh
        for entry in ks.shadows:
            i = sh.get(entry[1])
            if i is not None:
                vec[i] = 1
        by_name = {m.name: m for m in ks.modules}
        if len(by_name) > sum(1 for m in self._mods if m[0] in by_name):
            raise ValueError(f"a loaded module is not in the vocabulary: {sorted(by_name)}")
        for name, mi, li, pi in self._mods:
            m = by_name.get(name)
            vec[mi] = self.token(m)
            vec[li] = int(m is not None)
            vec[pi] = int(m is not None and m.pinned)
        return tuple(vec[i] for i in self.kernel_slots)

    def encode(self, ks: KState, history: Sequence[int] | None = None, log: Sequence[Any] = ()) -> bytes:
        """The vector of a frozen kernel; the history is ``history``'s (a vector) updated by the log."""
        return self.encode_values(self.kernel_values(ks), history, log)

    def encode_values(self, kernel: tuple[int, ...], history: Sequence[int] | None, log: Sequence[Any]) -> bytes:
        """`encode` from a kernel's `kernel_values`, worked out once for the kernel."""
        vec = list(history) if history is not None else [0] * self.n
        for i, v in zip(self.kernel_slots, kernel, strict=True):
            vec[i] = v
        if log:
            self.observer.apply(vec, log)
        return self.table.pack(vec)

    def kernel_part(self, vec: tuple[int, ...]) -> tuple[int, ...]:
        """What of a state vector the kernel's code reads: the structures' tokens and the transition."""
        return tuple(vec[i] for i in self._kernel)

    def values(self, s: bytes) -> tuple[int, ...]:
        """The integers of a state vector (the last one asked for is kept)."""
        last = self._last
        if last[0] is s:
            return last[1]
        got = self.table.unpack(s)
        self._last = (s, got)
        return got

    def decode(self, s: bytes) -> KState:
        """The frozen kernel a state vector stands for."""
        vec = self.values(s)
        v = self.tokens.values
        patches, shadows, tasks, gone, world, statics = (v[vec[i]] for i in self._tok)
        t = vec[self._transition]
        modules = tuple(m for m in (v[vec[mi]] for _, mi, _, _ in self._mods) if m is not None)
        return KState(patches, None if t < 0 else self.sig.patches[t], vec[self._target],
                      tuple(sorted(modules, key=_name)), shadows, tasks, gone, world, statics)


def _name(m: ModS) -> str:
    return m.name


__all__ = ["STRUCTURES", "Layout"]
