"""The kernel's C in this process: the harness's calls, through ctypes (models/_c/harness.c).

One built core per process: the harness maps its memory at fixed addresses and the core's symbols are
global, so a second tree needs a second process (klpmc's series runs each patch in one). Modules are
added to the process as a configuration needs them and stay.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from klpmc.model import InputError

from ._kbuild import Core, build_module, symbols
from ._klp import Event

OP_INSMOD, OP_INSMOD_RELOAD, OP_RMMOD, OP_RMMOD_RELOAD, OP_WRITE, OP_RUN_WORK, OP_GREP, _OP_SETTLE, OP_READ = range(9)
FAULT_KINDS = ("setup", "pre_patch", "patch_object", "module_coming", "alloc")


@dataclass(frozen=True)
class Outcome:
    """What one call of the harness did: its return value, its log (lines and events), the fault points
    it passed, and a finding that ended it (a crash, a deadlock, a double free), if any."""

    ret: int
    log: tuple[Any, ...]
    points: tuple[str, ...]
    finding: str | None


class CKernel:
    """The harness of one built core, loaded into this process."""

    _loaded: CKernel | None = None

    def __init__(self, core: Core) -> None:
        lib = ctypes.CDLL(str(core.library), mode=ctypes.RTLD_GLOBAL)
        self.lib = lib
        self.core = core
        c = ctypes
        lib.klpmc_init.restype = c.c_int
        lib.klpmc_step.argtypes = [c.c_int, c.c_char_p, c.c_char_p, c.c_char_p, c.POINTER(c.c_int)]
        lib.klpmc_step.restype = c.c_int
        lib.klpmc_log.argtypes = [c.POINTER(c.c_size_t)]
        lib.klpmc_log.restype = c.c_void_p
        lib.klpmc_points.restype = c.c_char_p
        lib.klpmc_finding_text.restype = c.c_char_p
        lib.klpmc_snapshot.argtypes = [c.POINTER(c.c_size_t)]
        lib.klpmc_snapshot.restype = c.c_void_p
        lib.klpmc_restore.argtypes = [c.c_char_p, c.c_size_t]
        lib.klpmc_digest.argtypes = [c.c_char_p]
        lib.klpmc_facts.argtypes = [c.POINTER(c.c_int)]
        lib.klpmc_facts.restype = c.c_int
        lib.klpmc_pending.argtypes = [c.c_char_p, c.c_size_t]
        lib.klpmc_module_info.argtypes = [c.c_char_p, c.POINTER(c.c_int)]
        lib.klpmc_add_module.argtypes = [c.c_char_p, c.c_char_p]
        lib.klpmc_activate.argtypes = [c.c_int]
        lib.klpmc_base.argtypes = [c.c_int]
        lib.klpmc_base.restype = c.c_ulong
        lib.klpmc_add_symbol.argtypes = [c.c_int, c.c_char_p, c.c_ulong, c.c_ulong]
        lib.klpmc_set_vocabulary.argtypes = [c.c_char_p, c.c_char_p, c.c_char_p]
        lib.klpmc_set_faults.argtypes = [c.c_uint]
        lib.klpmc_run.argtypes = [c.c_char_p, c.c_size_t, c.c_int, c.c_char_p, c.c_char_p, c.c_char_p,
                                  c.POINTER(c.c_int), c.POINTER(c.c_int), c.c_char_p, c.POINTER(c.c_size_t)]
        lib.klpmc_run.restype = c.c_int
        ret = lib.klpmc_init()
        if ret:
            raise InputError(f"the kernel harness cannot start ({ret}): its memory at fixed addresses is taken")
        base = lib.klpmc_base(-1)
        vm = set(core.vmlinux)
        for name, value, size in symbols(core.library):
            if name in vm:
                lib.klpmc_add_symbol(-1, name.encode(), base + value, size)
        self.modules: dict[tuple[str, str], int] = {}
        self._ret = ctypes.c_int()
        self._len = ctypes.c_size_t()
        self._digest = ctypes.create_string_buffer(16)
        self._ret_ref, self._len_ref = ctypes.byref(self._ret), ctypes.byref(self._len)
        self._run = lib.klpmc_run
        self._logp = lib.klpmc_log(ctypes.byref(ctypes.c_size_t()))   # S->log: one address for good
        self._pending = ctypes.create_string_buffer(8192)
        self._info = (ctypes.c_int * 4)()
        self._facts: Any = None
        self.pristine = self.snapshot()      # the booted kernel: no module, nothing allocated
        self.owner: Any = None               # the model whose modules, fields and faults are set

    @classmethod
    def load(cls, core: Core) -> CKernel:
        """The process's harness; a second, different core cannot be loaded beside the first."""
        if cls._loaded is None:
            cls._loaded = cls(core)
        elif cls._loaded.core.key != core.key:
            raise InputError("this process already runs another kernel tree's core; run one tree per process")
        return cls._loaded

    def add_module(self, name: str, source: str) -> int:
        """Build a module's source (the tree's test module, or one klpmc generated), load it once, and make
        it the variant of its name that answers to it (two configurations may have two P1s)."""
        key = (name, source)
        index = self.modules.get(key)
        if index is None:
            lib = build_module(self.core, name, source)
            index = self.lib.klpmc_add_module(name.encode(), str(lib).encode())
            if index < 0:
                raise InputError(f"module {name}: the harness cannot load {lib} ({index})")
            base = self.lib.klpmc_base(index)
            for sym, value, size in symbols(lib):
                self.lib.klpmc_add_symbol(index, sym.encode(), base + value, size)
            self.modules[key] = index
        if self.lib.klpmc_activate(index):
            raise InputError(f"module {name}: another variant of it is loaded")
        return index

    def set_vocabulary(self, patches: tuple[str, ...], sids: tuple[int, ...], modules: tuple[str, ...]) -> None:
        self.lib.klpmc_set_vocabulary(" ".join(patches).encode(), " ".join(map(str, sids)).encode(),
                                      " ".join(modules).encode())
        self.nfacts = 4 + len(patches) * (4 + 3 * len(sids)) + len(sids) + 2 * len(modules)
        self._facts = (ctypes.c_int * self.nfacts)()

    def set_faults(self, kinds: frozenset[str]) -> None:
        self.lib.klpmc_set_faults(sum(1 << i for i, k in enumerate(FAULT_KINDS) if k in kinds))

    def step(self, op: int, a: str = "", b: str = "", fail_at: str | None = None) -> Outcome:
        rc = self.lib.klpmc_step(op, a.encode(), b.encode(), fail_at.encode() if fail_at else None,
                                 ctypes.byref(self._ret))
        p = self.lib.klpmc_log(ctypes.byref(self._len))
        text = ctypes.string_at(p, self._len.value).decode(errors="replace") if self._len.value else ""
        points = self.lib.klpmc_points().decode()
        finding = self.lib.klpmc_finding_text().decode() if rc else None
        return Outcome(self._ret.value, parse_log(text), tuple(points.split()), finding)

    def run(self, snap: bytes, op: int, a: bytes, b: bytes, fail_at: bytes | None,
            points: bool = True) -> tuple[Outcome, list[int], bytes]:
        """One step from a saved state: (what it did, the facts and the digest of where it leads); the
        fault points it passed only if asked for."""
        rc = self._run(snap, len(snap), op, a, b, fail_at, self._ret_ref, self._facts, self._digest, self._len_ref)
        n = self._len.value
        raw = ctypes.string_at(self._logp, n) if n else b""
        log = _LOG_CACHE.get(raw)
        if log is None:
            log = parse_log(raw.decode(errors="replace"))
            if len(_LOG_CACHE) < 65536:
                _LOG_CACHE[raw] = log
        passed = self.lib.klpmc_points() if points else None
        finding = self.lib.klpmc_finding_text().decode() if rc else None
        out = Outcome(self._ret.value, log, tuple(passed.decode().split()) if passed else (), finding)
        if rc:
            return out, [], b""
        return out, list(self._facts[:self.nfacts]), self._digest.raw

    def snapshot(self) -> bytes:
        p = self.lib.klpmc_snapshot(ctypes.byref(self._len))
        return ctypes.string_at(p, self._len.value)

    def restore(self, snap: bytes) -> None:
        self.lib.klpmc_restore(snap, len(snap))

    def digest(self) -> bytes:
        self.lib.klpmc_digest(self._digest)
        return self._digest.raw

    def facts(self) -> list[int]:
        n = self.lib.klpmc_facts(self._facts)
        return list(self._facts[:n])

    def pending(self) -> list[str]:
        self.lib.klpmc_pending(self._pending, len(self._pending))
        return self._pending.value.decode().splitlines()

    def module_info(self, name: str) -> tuple[int, int, int, int]:
        """(loaded, gone, reference count, is a livepatch) of a module the harness has."""
        if self.lib.klpmc_module_info(name.encode(), self._info) < 0:
            return (0, 0, 0, 0)
        return (self._info[0], self._info[1], self._info[2], self._info[3])


_EVENT_CACHE: dict[str, Event] = {}
_LOG_CACHE: dict[bytes, tuple[Any, ...]] = {}     # the same log text is the same log, the same object


def parse_log(text: str) -> tuple[Any, ...]:
    """The harness's log: kernel lines as strings, and its event lines (``\\1callback\\tpatch\\t...``) as
    the `Event` items the Python models log."""
    out: list[Any] = []
    for line in text.split("\n")[:-1] if text else ():
        if line.startswith("\x01"):
            ev = _EVENT_CACHE.get(line)
            if ev is None:
                callback, patch, obj, state, ret = line[1:].split("\t")
                ev = Event(callback, patch or None, obj or None, None if state == "-1" else int(state), int(ret))
                if len(_EVENT_CACHE) < 4096:
                    _EVENT_CACHE[line] = ev
            out.append(ev)
        else:
            out.append(line)
    return tuple(out)


def read_source(path: Path) -> str:
    return path.read_text(errors="replace")


__all__ = [
    "FAULT_KINDS",
    "OP_GREP",
    "OP_INSMOD",
    "OP_INSMOD_RELOAD",
    "OP_READ",
    "OP_RMMOD",
    "OP_RMMOD_RELOAD",
    "OP_RUN_WORK",
    "OP_WRITE",
    "CKernel",
    "Outcome",
    "parse_log",
]
