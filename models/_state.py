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
STRUCTURES = ("rest.patches", "shadows", "rest.tasks", "rest.gone", "rest.world", "rest.statics", "finding")


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
        self._derived: dict[int, tuple[int, ...]] = {}     # token of klp_patches -> its fields' values
        self._shadowed: dict[int, tuple[int, ...]] = {}    # token of the shadow table -> the sh fields
        self._interned: dict[int, int] = {}                # id of an interned value -> its token
        self._last: tuple[bytes, tuple[int, ...]] = (b"", ())
        # the vector is the kernel's fields, the history, then the structures' tokens (`Table` order): a
        # kernel's values are its fields then its tokens, and a state's vector three slices joined
        self._k = len(kernel_fields(sig))
        self._h = self._k + len(history)
        self._no_history = (0,) * len(history)
        if self.kernel_slots != (*range(self._k), *range(self._h, self.n)):
            raise ValueError("the field table is not kernel fields, history, tokens")

    # -- tokens ---------------------------------------------------------------------------------------
    def token(self, value: Any) -> int:
        """The token of a value; the values the tokens keep are known by identity, so asking is cheap."""
        got = self._interned.get(id(value))
        if got is not None:
            return got
        got = self.tokens(value)
        self._interned[id(self.tokens.values[got])] = got
        return got

    def _patch_fields(self, tok: int, patches: tuple[PatchS, ...]) -> tuple[int, ...]:
        """The values of klp_patches' fields, in the table's order, worked out once per token."""
        got = self._derived.get(tok)
        if got is not None:
            return got
        sig = self.sig
        at = {p.mod: (i, p) for i, p in enumerate(patches)}
        out: list[int] = []
        for name in sig.patches:
            i, p = at.get(name, (-1, None))
            out += [i, int(p is not None and p.enabled), int(p is not None and p.forced),
                    int(p is not None and p.replace)]
            states = {st.id: st for st in p.states} if p is not None else {}
            for sid in sig.sids:
                st = states.get(sid)
                out += [int(st is not None), 0 if st is None else st.version,
                        int(st is not None and "setup" in st.callbacks)]
        got = self._derived[tok] = tuple(out)
        return got

    def _shadow_fields(self, tok: int, shadows: Any) -> tuple[int, ...]:
        """The sh fields (a shadow variable of the state id is allocated), once per token."""
        got = self._shadowed.get(tok)
        if got is None:
            held = {entry[1] for entry in shadows}
            got = self._shadowed[tok] = tuple(int(sid in held) for sid in self.sig.sids)
        return got

    # -- packing ----------------------------------------------------------------------------------------
    def kernel_values(self, ks: KState) -> tuple[int, ...]:
        """The values of the fields a frozen kernel gives (all but the history), in `kernel_slots` order."""
        token = self.token
        toks = (token(ks.patches), token(ks.shadows), token(ks.tasks), token(ks.gone), token(ks.world),
                token(ks.statics), token(ks.finding))
        by_name = {m.name: m for m in ks.modules}
        flags: list[int] = []
        mods: list[int] = []
        for name, _, _, _ in self._mods:
            m = by_name.pop(name, None)
            flags += (m is not None, m is not None and m.pinned)
            mods.append(token(m))
        if by_name:
            raise ValueError(f"a loaded module is not in the vocabulary: {sorted(by_name)}")
        return (-1 if ks.transition is None else self._index[ks.transition], ks.target,
                *self._patch_fields(toks[0], ks.patches), *self._shadow_fields(toks[1], ks.shadows),
                *map(int, flags), *toks, *mods)

    def kernel_of(self, vec: tuple[int, ...]) -> tuple[int, ...]:
        """The kernel's values (`kernel_values`) out of a state's vector."""
        return vec[:self._k] + vec[self._h:]

    def encode(self, ks: KState, history: Sequence[int] | None = None, log: Sequence[Any] = ()) -> bytes:
        """The vector of a frozen kernel; the history is ``history``'s (a vector) updated by the log."""
        return self.encode_values(self.kernel_values(ks), history, log)

    def encode_values(self, kernel: tuple[int, ...], history: Sequence[int] | None, log: Sequence[Any]) -> bytes:
        """`encode` from a kernel's `kernel_values`, worked out once for the kernel."""
        k = self._k
        vec = [*kernel[:k], *(self._no_history if history is None else history[k:self._h]), *kernel[k:]]
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
        patches, shadows, tasks, gone, world, statics, finding = (v[vec[i]] for i in self._tok)
        t = vec[self._transition]
        modules = tuple(m for m in (v[vec[mi]] for _, mi, _, _ in self._mods) if m is not None)
        return KState(patches, None if t < 0 else self.sig.patches[t], vec[self._target],
                      tuple(sorted(modules, key=_name)), shadows, tasks, gone, world, statics, finding)


def _name(m: ModS) -> str:
    return m.name


__all__ = ["STRUCTURES", "Layout"]
