"""Kernel modules built out of tree with kbuild, cached by the hash of their sources and the headers.

The selftest modules come from the kernel's own tree (``tools/testing/selftests/livepatch/test_modules/``
of Debian's ``linux-source-6.12``), extracted at run time into the cache; the two module-function modules
that 6.12 lacks are klpmc's own (``klpmc/realkernel/modules/``).
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from klpmc.model import InputError

from .kernel import Headers, cache_dir

SOURCE_TARBALL = Path("/usr/src/linux-source-6.12.tar.xz")
SELFTEST_DIR = "tools/testing/selftests/livepatch/test_modules"
OWN_MODULES = Path(__file__).resolve().parent / "modules"
BUILD_TIMEOUT = 600


class BuildError(Exception):
    """A module that kbuild did not build; the message has the compiler's first error."""


def _headers_key(headers: Headers) -> str:
    h = hashlib.sha256(headers.release.encode())
    for name in ("Module.symvers", ".config"):
        f = headers.path / name
        if f.is_file():
            h.update(f.read_bytes())
    return h.hexdigest()


def build_modules(headers: Headers, sources: dict[str, str]) -> dict[str, Path]:
    """{module name: .ko} for {module name: C source}, built together against HEADERS (cached)."""
    if not sources:
        return {}
    h = hashlib.sha256(_headers_key(headers).encode())
    for name in sorted(sources):
        h.update(name.encode() + b"\0" + sources[name].encode() + b"\0")
    out = cache_dir() / "modules" / h.hexdigest()[:24]
    kos = {name: out / f"{name}.ko" for name in sources}
    if all(p.is_file() for p in kos.values()):
        return kos
    if shutil.which("make") is None or shutil.which("gcc") is None:
        raise InputError("building kernel modules needs make and gcc; apt-get install build-essential")
    with tempfile.TemporaryDirectory(prefix="klpmc-kbuild.") as tmp:
        src = Path(tmp)
        for name, text in sources.items():
            (src / f"{name}.c").write_text(text)
        (src / "Makefile").write_text("obj-m += " + " ".join(f"{n}.o" for n in sorted(sources)) + "\n")
        # modules need no BTF here (and pahole may be missing): leave it out
        cmd = ["make", "-s", "-C", str(headers.path), f"M={src}", "CONFIG_DEBUG_INFO_BTF_MODULES=", "modules"]
        try:
            run = subprocess.run(cmd, capture_output=True, text=True, timeout=BUILD_TIMEOUT, check=False)
        except subprocess.TimeoutExpired:
            raise BuildError(f"kbuild did not finish in {BUILD_TIMEOUT} s") from None
        if run.returncode != 0:
            errors = [ln for ln in run.stderr.splitlines() if "error" in ln.lower()] or run.stderr.splitlines()
            raise BuildError("kbuild failed: " + (errors[0].strip() if errors else f"exit {run.returncode}"))
        staging = Path(tempfile.mkdtemp(prefix="build.", dir=_mkdir(out.parent)))
        for name in sources:
            shutil.copy2(src / f"{name}.ko", staging / f"{name}.ko")
        (staging / "Makefile").write_text((src / "Makefile").read_text())
    if out.exists():
        shutil.rmtree(staging, ignore_errors=True)
    else:
        try:
            staging.rename(out)
        except OSError:   # built by another run at the same time
            shutil.rmtree(staging, ignore_errors=True)
    return kos


def _mkdir(p: Path) -> Path:
    p.mkdir(parents=True, exist_ok=True)
    return p


def selftest_sources(tarball: Path = SOURCE_TARBALL) -> dict[str, str]:
    """The selftest modules of the kernel tree (test_klp_*.c), plus klpmc's module-function pair."""
    if not tarball.is_file():
        raise InputError(f"no {tarball}: the selftest modules are built from it; apt-get install linux-source-6.12")
    st = tarball.stat()
    where = cache_dir() / "linux-source" / f"{tarball.name}-{st.st_size}-{int(st.st_mtime)}"
    if not (where / "done").is_file():
        staging = Path(tempfile.mkdtemp(prefix="src.", dir=_mkdir(where.parent)))
        top = _tar_top(tarball)
        run = subprocess.run(["tar", "-xJf", str(tarball), "-C", str(staging), "--strip-components=1",
                              "--wildcards", f"{top}/{SELFTEST_DIR}/*.c"], capture_output=True, text=True,
                             check=False)
        if run.returncode != 0:
            raise InputError(f"cannot extract {SELFTEST_DIR} from {tarball}: {run.stderr.strip()[:200]}")
        (staging / "done").write_text("")
        if where.exists():
            shutil.rmtree(staging, ignore_errors=True)
        else:
            staging.rename(where)
    sources = {p.stem: p.read_text() for p in sorted((where / SELFTEST_DIR).glob("test_klp_*.c"))}
    for p in sorted(OWN_MODULES.glob("*.c")):
        sources.setdefault(p.stem, p.read_text())
    return sources


def _tar_top(tarball: Path) -> str:
    m = re.match(r"(linux-source-[\d.]+)\.tar", tarball.name)
    return m.group(1) if m else "linux-source-6.12"


def is_livepatch(ko: Path) -> bool:
    """Whether a built module says MODULE_INFO(livepatch, "Y") (its .modinfo has livepatch=Y)."""
    return b"\0livepatch=Y\0" in ko.read_bytes()


__all__ = ["BuildError", "build_modules", "is_livepatch", "selftest_sources"]
