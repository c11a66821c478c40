"""Building a kernel tree's livepatch core and test modules in user space, for the `kernel` model.

The tree (`klpmc.ktree`: a directory or a tarball, by default Debian's ``linux-source-6.12``) is compiled
at run time against klpmc's stubs (``models/_c``); nothing of the kernel's is ever part of klpmc. Each
core file is its own translation unit, as in the kernel's build; what the tree's
``include/linux/livepatch.h`` declares (its API: `klpmc.kmodgen.api_of`) decides which callbacks the
harness hooks.

Everything built goes to a cache (``$KLPMC_CACHE``, else ``~/.cache/klpmc``) under the hash of every
input (the tree's files, the stubs and harness, the compiler's version and flags), so a second run
reuses it: the core as one shared object, each module as one more.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from klpmc.kmodgen import KernelAPI
from klpmc.ktree import DEFAULT_TARBALL, HEADERS, TEST_MODULE_DIRS, Tree, cache_dir, open_tree
from klpmc.ktree import digest as _digest
from klpmc.model import InputError

HERE = Path(__file__).resolve().parent / "_c"
# a module's own code as the kernel builds it for ftrace and the reliable unwinder: every function starts
# with a call of __fentry__ (module_stub.c), and frame pointers chain its stack
MODULE_CFLAGS = ("-pg", "-mfentry", "-fcf-protection=none", "-fno-omit-frame-pointer",
                 "-fno-optimize-sibling-calls")
CFLAGS = ("-std=gnu11", "-O2", "-g0", "-fPIC", "-fno-strict-aliasing", "-Wall", "-Wno-unused-but-set-variable",
          "-Wno-unused-function", "-Wno-unused-variable")


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
    """The core's shared object built from a tree, the names of the fake vmlinux's functions, the API."""

    library: Path
    vmlinux: tuple[str, ...]
    tree: Tree
    key: str
    api: KernelAPI


def _includes(tree: Tree, work: Path) -> list[str]:
    """The stubs first; the tree's livepatch headers through a folder that holds just them."""
    real = work / "real" / "linux"
    real.mkdir(parents=True, exist_ok=True)
    for h in HEADERS:
        target = real / h
        if not target.exists():
            shutil.copyfile(tree.root / "include" / "linux" / h, target)
    return ["-I", str(HERE / "include"), "-I", str(work / "real"), "-I", str(tree.root / "kernel" / "livepatch")]


def api_defines(api: KernelAPI) -> list[str]:
    """The harness's view of the API: which callbacks and fields `harness.c` may name."""
    out = []
    if api.object_callbacks:
        out.append("-DKLPMC_OBJECT_CALLBACKS")
    if api.versions:
        out.append("-DKLPMC_STATE_VERSION")
    if api.is_shadow:
        out.append("-DKLPMC_STATE_IS_SHADOW")
    if len(api.state_callbacks) == 4:
        out.append("-DKLPMC_STATE_CALLBACKS")
        out += [f"-DKLPMC_SCB{i}={name}" for i, name in enumerate(api.state_callbacks)]
    return out


def _unit(tree: Tree, src: Path, work: Path) -> Path:
    """A wrapper unit for one core file: the file itself, then the accessors klpmc needs of its statics
    (``models/_c/access_<file>.c``, when there is one). No kernel line is edited."""
    unit = work / f"unit_{src.stem}.c"
    text = f'#define KBUILD_MODNAME "livepatch"\n#include "{src.name}"\n'
    access = HERE / f"access_{src.stem}.c"
    if access.is_file():
        text += f'#include "{access}"\n'
    unit.write_text(text)
    return unit


def build_core(tree: Tree) -> Core:
    """The livepatch core of the tree with the harness, as one shared object (cached)."""
    gcc = _gcc()
    api = tree.api()
    units = tree.units()
    missing = sorted({p.name for p in HERE.glob("access_*.c")} - {f"access_{p.stem}.c" for p in units})
    if missing:
        raise BuildError(f"the livepatch core of {tree.origin}",
                         f"kernel/livepatch/{missing[0][7:]} is gone: klpmc's harness reads its statics")
    defines = api_defines(api)
    inputs = [p.name.encode() + p.read_bytes() for p in units]
    inputs += [tree.livepatch(f).read_bytes() for f in sorted(os.listdir(tree.root / "kernel" / "livepatch"))
               if f.endswith(".h")]
    inputs += [(tree.root / "include" / "linux" / h).read_bytes() for h in HEADERS]
    key = _digest(*inputs, _stub_digest(), _gcc_version(gcc), " ".join(CFLAGS), " ".join(defines))
    work = cache_dir() / "core" / key
    lib = work / "libklp.so"
    names = work / "vmlinux.txt"
    if lib.is_file() and names.is_file():
        return Core(lib, tuple(names.read_text().split()), tree, key, api)
    work.mkdir(parents=True, exist_ok=True)
    inc = _includes(tree, work)
    objs = []
    sources = [(_unit(tree, p, work), f"the livepatch core of {tree.origin} (kernel/livepatch/{p.name})")
               for p in units]
    sources += [(HERE / src, f"klpmc's {src}") for src in ("harness.c", "vmlinux.c")]
    for src, what in sources:
        obj = work / (src.stem + ".o")
        run = subprocess.run([gcc, *CFLAGS, *defines, *inc, "-c", str(src), "-o", str(obj)],
                             capture_output=True, text=True, check=False)
        if run.returncode:
            raise BuildError(what, _first_errors(run.stderr.replace(f"{tree.root}/", "")))
        objs.append(str(obj))
    tmp = work / "libklp.so.tmp"
    run = subprocess.run([gcc, "-shared", "-Wl,-z,now", "-Wl,--wrap=klp_shadow_free_all",
                          "-Wl,--no-undefined", "-o", str(tmp), *objs,
                          "-ldl"], capture_output=True, text=True, check=False)
    if run.returncode:
        raise BuildError("the core's shared object", _first_errors(run.stderr))
    vm = [n for n, _, _ in symbols(work / "vmlinux.o") if n]
    names.write_text("\n".join(vm) + "\n")
    tmp.replace(lib)
    return Core(lib, tuple(vm), tree, key, api)


def build_module(core: Core, name: str, source: str) -> Path:
    """A module's shared object from its C source, against the same stubs (cached)."""
    gcc = _gcc()
    key = _digest(name, source, core.key, " ".join(MODULE_CFLAGS))
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
    flags = [*CFLAGS, *api_defines(core.api), *inc, *module_dirs, "-DKLPMC_MODULE", f"-DKBUILD_MODNAME=\"{name}\"",
             "-Dklp_enable_patch=klpmc_enable_patch"]
    objs = []
    for source_file, extra in ((src, MODULE_CFLAGS), (HERE / "module_stub.c", ())):
        obj = work / f"{source_file.stem}.o"
        run = subprocess.run([gcc, *flags, *extra, "-c", "-o", str(obj), str(source_file)], capture_output=True,
                             text=True, check=False)
        if run.returncode:
            raise BuildError(f"module {name}", _first_errors(run.stderr))
        objs.append(str(obj))
    run = subprocess.run([gcc, "-shared", "-Wl,-z,now", "-o", str(tmp), *objs], capture_output=True, text=True,
                         check=False)
    if run.returncode:
        raise BuildError(f"module {name}", _first_errors(run.stderr))
    missing = sorted(undefined(tmp) - exported(core.library))
    if missing:
        raise BuildError(f"module {name}", f"it calls {', '.join(missing[:6])}, which klpmc's stubs "
                         "(models/_c) do not provide")
    tmp.replace(lib)
    return lib


def undefined(path: Path) -> set[str]:
    """The symbols a shared object needs from elsewhere, but not from the C library (versioned) or weakly."""
    run = subprocess.run(["nm", "-u", str(path)], capture_output=True, text=True, check=False)
    return {parts[1] for parts in (line.split() for line in run.stdout.splitlines())
            if len(parts) == 2 and parts[0] == "U" and "@" not in parts[1]}


_EXPORTED: dict[Path, set[str]] = {}


def exported(path: Path) -> set[str]:
    """The dynamic symbols a shared object defines."""
    got = _EXPORTED.get(path)
    if got is None:
        run = subprocess.run(["nm", "-D", "--defined-only", str(path)], capture_output=True, text=True, check=False)
        got = _EXPORTED[path] = {line.split()[-1] for line in run.stdout.splitlines() if line.split()}
    return got


def symbols(path: Path) -> list[tuple[str, int, int]]:
    """(name, value, size) of the functions and data an object defines, as nm reads them."""
    run = subprocess.run(["nm", "--defined-only", "-S", str(path)], capture_output=True, text=True, check=False)
    out = []
    for line in run.stdout.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2] in "tTdDbBrR":
            out.append((parts[3], int(parts[0], 16), int(parts[1], 16)))
    return out


__all__ = ["DEFAULT_TARBALL", "BuildError", "Core", "Tree", "api_defines", "build_core", "build_module", "cache_dir",
           "open_tree", "symbols"]
