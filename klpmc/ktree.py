"""A kernel source tree: the livepatch core, its headers and selftest modules, and the version it says.

The tree is a directory or a tarball (default: the one Debian's ``linux-source-6.12`` installs); from a
tarball only what klpmc reads is extracted, once, into the cache: ``kernel/livepatch``,
``include/linux/livepatch*.h``, the selftests' test modules and the top ``Makefile`` (for the version).
Nothing of the kernel's is ever part of klpmc.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from klpmc.kmodgen import KernelAPI, api_of
from klpmc.model import InputError

DEFAULT_TARBALL = Path("/usr/src/linux-source-6.12.tar.xz")
CORE_FILES = ("core.c", "patch.c", "transition.c", "state.c", "shadow.c", "core.h", "patch.h", "transition.h",
              "state.h")      # what every tree since 5.x has; a series may add files (all are built)
HEADERS = ("livepatch.h", "livepatch_sched.h")
TEST_MODULE_DIRS = ("tools/testing/selftests/livepatch/test_modules", "lib/livepatch")
SKIP_MODULES: frozenset[str] = frozenset()


def cache_dir() -> Path:
    root = os.environ.get("KLPMC_CACHE") or os.path.join(os.environ.get("XDG_CACHE_HOME") or
                                                          os.path.expanduser("~/.cache"), "klpmc")
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass(frozen=True)
class Tree:
    """A kernel tree with what the kernel model reads of it, and the version its Makefile says."""

    root: Path
    origin: str            # the directory or tarball the user named
    version: str

    def livepatch(self, name: str) -> Path:
        return self.root / "kernel" / "livepatch" / name

    def units(self) -> list[Path]:
        """The core's C files, each one translation unit as in the kernel's build."""
        return sorted((self.root / "kernel" / "livepatch").glob("*.c"))

    def api(self) -> KernelAPI:
        """What the tree's include/linux/livepatch.h lets a livepatch say."""
        return api_of((self.root / "include" / "linux" / "livepatch.h").read_text(errors="replace"))

    def test_module(self, name: str) -> Path | None:
        for d in TEST_MODULE_DIRS:
            path = self.root / d / f"{name}.c"
            if path.is_file():
                return path
        return None

    def test_modules(self) -> list[str]:
        """The selftests' test modules of this tree, by name."""
        for d in TEST_MODULE_DIRS:
            folder = self.root / d
            if folder.is_dir():
                return sorted(p.stem for p in folder.glob("test_klp*.c") if p.stem not in SKIP_MODULES)
        return []


def _version(root: Path) -> str:
    try:
        text = (root / "Makefile").read_text(errors="replace")
    except OSError:
        return "unknown"
    fields = {}
    for line in text.splitlines()[:12]:
        key, _, value = line.partition("=")
        fields[key.strip()] = value.strip()
    parts = [fields.get("VERSION", "?"), fields.get("PATCHLEVEL", "?"), fields.get("SUBLEVEL", "?")]
    return ".".join(parts) + fields.get("EXTRAVERSION", "")


def _check_tree(root: Path, origin: str) -> Tree:
    missing = [f for f in CORE_FILES if not (root / "kernel" / "livepatch" / f).is_file()]
    if missing:
        raise InputError(f"{origin} is not a kernel tree with the livepatch core: no kernel/livepatch/{missing[0]}; "
                         f"pass --kernel DIR|TARBALL (default {DEFAULT_TARBALL}, apt-get install linux-source-6.12)")
    for h in HEADERS:
        if not (root / "include" / "linux" / h).is_file():
            raise InputError(f"{origin} has kernel/livepatch but no include/linux/{h}")
    return Tree(root, origin, _version(root))


def _tarball_key(path: Path) -> str:
    """The hash of a tarball, kept beside the cache by path, size and modification time."""
    st = path.stat()
    index = cache_dir() / "tarballs.json"
    try:
        known = json.loads(index.read_text())
    except (OSError, ValueError):
        known = {}
    key = f"{path.resolve()}:{st.st_size}:{st.st_mtime_ns}"
    if key not in known:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        known[key] = h.hexdigest()[:24]
        tmp = index.with_suffix(".tmp")
        tmp.write_text(json.dumps(known))
        tmp.replace(index)
    return str(known[key])


def open_tree(arg: str | Path | None) -> Tree:
    """The tree ``--kernel`` names (a directory or a tarball), extracting a tarball once."""
    path = Path(arg) if arg is not None else DEFAULT_TARBALL
    origin = str(path)
    if not path.exists():
        if arg is None:
            raise InputError(f"no kernel tree: {DEFAULT_TARBALL} is missing (apt-get install linux-source-6.12, "
                             "or pass --kernel DIR|TARBALL)")
        raise InputError(f"no such kernel tree or tarball: {path}")
    if path.is_dir():
        return _check_tree(path, origin)
    if not tarfile.is_tarfile(path):
        raise InputError(f"{path} is neither a directory nor a tarball; pass --kernel DIR|TARBALL")
    dest = cache_dir() / "trees" / _tarball_key(path)
    done = dest / ".klpmc-extracted"
    if not done.is_file():
        dest.mkdir(parents=True, exist_ok=True)
        patterns = ["*/kernel/livepatch/*", "*/include/linux/livepatch*.h", "*/Makefile",
                    *(f"*/{d}/*" for d in TEST_MODULE_DIRS)]
        run = subprocess.run(["tar", "-xf", str(path), "-C", str(dest), "--wildcards", "--no-anchored",
                              *patterns], capture_output=True, text=True, check=False)
        tops = [p for p in dest.iterdir() if p.is_dir()]
        if run.returncode not in (0, 2) or not tops:
            raise InputError(f"{path}: could not extract the livepatch core: {run.stderr.strip()[:200]}")
        done.write_text(tops[0].name)
    return _check_tree(dest / done.read_text().strip(), origin)



def digest(*parts: bytes | str) -> str:
    """A short hash of the parts (each length-prefixed): the cache's keys."""
    h = hashlib.sha256()
    for p in parts:
        data = p.encode() if isinstance(p, str) else p
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()[:24]


__all__ = ["CORE_FILES", "DEFAULT_TARBALL", "HEADERS", "TEST_MODULE_DIRS", "Tree", "cache_dir", "digest", "open_tree"]
