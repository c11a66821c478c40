"""Building a kernel tree's livepatch core and test modules in user space, for the `kernel` model.

The tree is a directory or a tarball (default: the one Debian's ``linux-source-6.12`` installs); from a
tarball only what is needed is extracted: ``kernel/livepatch``, ``include/linux/livepatch*.h``, the
selftests' test modules and the top ``Makefile`` (for the version). Nothing of the kernel's is ever part
of klpmc: it is compiled at run time, against klpmc's stubs (``models/_c``).

Everything built goes to a cache (``$KLPMC_CACHE``, else ``~/.cache/klpmc``) under the hash of every
input (the tree's files, the stubs and harness, the compiler's version and flags), so a second run
reuses it: the core as one shared object, each module as one more.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from klpmc.model import InputError

DEFAULT_TARBALL = Path("/usr/src/linux-source-6.12.tar.xz")
HERE = Path(__file__).resolve().parent / "_c"
CORE_FILES = ("core.c", "patch.c", "transition.c", "state.c", "shadow.c", "core.h", "patch.h", "transition.h",
              "state.h")
HEADERS = ("livepatch.h", "livepatch_sched.h")
TEST_MODULE_DIRS = ("tools/testing/selftests/livepatch/test_modules", "lib/livepatch")
CFLAGS = ("-std=gnu11", "-O2", "-g0", "-fPIC", "-fno-strict-aliasing", "-Wall", "-Wno-unused-but-set-variable",
          "-Wno-unused-function", "-Wno-unused-variable")
SKIP_MODULES: frozenset[str] = frozenset()


def cache_dir() -> Path:
    root = os.environ.get("KLPMC_CACHE") or os.path.join(os.environ.get("XDG_CACHE_HOME") or
                                                          os.path.expanduser("~/.cache"), "klpmc")
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _digest(*parts: bytes | str) -> str:
    h = hashlib.sha256()
    for p in parts:
        data = p.encode() if isinstance(p, str) else p
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()[:24]


def _gcc() -> str:
    gcc = shutil.which("gcc")
    if gcc is None:
        raise InputError("the kernel model compiles the kernel's C: gcc is not installed (apt-get install gcc)")
    return gcc


_GCC_VERSION: dict[str, str] = {}


def _gcc_version(gcc: str) -> str:
    got = _GCC_VERSION.get(gcc)
    if got is None:
        got = _GCC_VERSION[gcc] = subprocess.run([gcc, "--version"], capture_output=True, text=True,
                                                 check=False).stdout.splitlines()[0]
    return got


@dataclass(frozen=True)
class Tree:
    """A kernel tree with what the kernel model reads of it, and the version its Makefile says."""

    root: Path
    origin: str            # the directory or tarball the user named
    version: str

    def livepatch(self, name: str) -> Path:
        return self.root / "kernel" / "livepatch" / name

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


# -- compiling ---------------------------------------------------------------------------------------


class BuildError(InputError):
    """The C did not compile: the compiler's first errors (a finding when it is a patch's C)."""

    def __init__(self, what: str, errors: str) -> None:
        super().__init__(f"{what} does not compile: {errors.splitlines()[0] if errors else '?'}")
        self.what = what
        self.errors = errors


def _first_errors(stderr: str, n: int = 6) -> str:
    lines = [line for line in stderr.splitlines() if "error" in line]
    return "\n".join(lines[:n] or stderr.splitlines()[:n])


def _stub_files() -> list[Path]:
    return sorted(p for p in HERE.rglob("*") if p.suffix in (".c", ".h"))


def _stub_digest() -> str:
    return _digest(*(p.relative_to(HERE).as_posix() + p.read_text() for p in _stub_files()))


@dataclass(frozen=True)
class Core:
    """The core's shared object built from a tree, and the names of the fake vmlinux's functions."""

    library: Path
    vmlinux: tuple[str, ...]
    tree: Tree
    key: str


def _includes(tree: Tree, work: Path) -> list[str]:
    """The stubs first; the tree's livepatch headers through a folder that holds just them."""
    real = work / "real" / "linux"
    real.mkdir(parents=True, exist_ok=True)
    for h in HEADERS:
        target = real / h
        if not target.exists():
            shutil.copyfile(tree.root / "include" / "linux" / h, target)
    return ["-I", str(HERE / "include"), "-I", str(work / "real"), "-I", str(tree.root / "kernel" / "livepatch")]


def build_core(tree: Tree) -> Core:
    """The livepatch core of the tree with the harness, as one shared object (cached)."""
    gcc = _gcc()
    inputs = [tree.livepatch(f).read_bytes() for f in CORE_FILES]
    inputs += [(tree.root / "include" / "linux" / h).read_bytes() for h in HEADERS]
    key = _digest(*inputs, _stub_digest(), _gcc_version(gcc), " ".join(CFLAGS))
    work = cache_dir() / "core" / key
    lib = work / "libklp.so"
    names = work / "vmlinux.txt"
    if lib.is_file() and names.is_file():
        return Core(lib, tuple(names.read_text().split()), tree, key)
    work.mkdir(parents=True, exist_ok=True)
    inc = _includes(tree, work)
    objs = []
    for src in ("units.c", "harness.c", "vmlinux.c"):
        obj = work / (src[:-2] + ".o")
        run = subprocess.run([gcc, *CFLAGS, *inc, "-c", str(HERE / src), "-o", str(obj)],
                             capture_output=True, text=True, check=False)
        if run.returncode:
            what = f"the livepatch core of {tree.origin}" if src == "units.c" else f"klpmc's {src}"
            raise BuildError(what, _first_errors(run.stderr))
        objs.append(str(obj))
    tmp = work / "libklp.so.tmp"
    run = subprocess.run([gcc, "-shared", "-Wl,-z,now", "-o", str(tmp), *objs, "-ldl"], capture_output=True,
                         text=True, check=False)
    if run.returncode:
        raise BuildError("the core's shared object", _first_errors(run.stderr))
    vm = [n for n, _, _ in symbols(work / "vmlinux.o") if n]
    names.write_text("\n".join(vm) + "\n")
    tmp.replace(lib)
    return Core(lib, tuple(vm), tree, key)


def build_module(core: Core, name: str, source: str) -> Path:
    """A module's shared object from its C source, against the same stubs (cached)."""
    gcc = _gcc()
    key = _digest(name, source, core.key)
    work = cache_dir() / "modules" / key
    lib = work / f"{name}.so"
    if lib.is_file():
        return lib
    work.mkdir(parents=True, exist_ok=True)
    src = work / f"{name}.c"
    src.write_text(source)
    inc = _includes(core.tree, work)
    module_dirs = [f"-I{core.tree.root / d}" for d in TEST_MODULE_DIRS if (core.tree.root / d).is_dir()]
    tmp = work / f"{name}.so.tmp"
    run = subprocess.run([gcc, *CFLAGS, *inc, *module_dirs, "-DKLPMC_MODULE", f"-DKBUILD_MODNAME=\"{name}\"",
                          "-Dklp_enable_patch=klpmc_enable_patch", "-shared", "-Wl,-z,now", "-o", str(tmp),
                          str(src), str(HERE / "module_stub.c")], capture_output=True, text=True, check=False)
    if run.returncode:
        raise BuildError(f"module {name}", _first_errors(run.stderr))
    tmp.replace(lib)
    return lib


def symbols(path: Path) -> list[tuple[str, int, int]]:
    """(name, value, size) of the functions and data an object defines, as nm reads them."""
    run = subprocess.run(["nm", "--defined-only", "-S", str(path)], capture_output=True, text=True, check=False)
    out = []
    for line in run.stdout.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2] in "tTdDbBrR":
            out.append((parts[3], int(parts[0], 16), int(parts[1], 16)))
    return out


__all__ = ["DEFAULT_TARBALL", "BuildError", "Core", "Tree", "build_core", "build_module", "cache_dir", "open_tree",
           "symbols"]
