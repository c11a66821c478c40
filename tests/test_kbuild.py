"""The modules of emitted kselftests build against a real kernel's headers, out of tree with kbuild.

Only the mainline API can build against a released kernel: the counterexamples of the `upstream` model are
built with their own ``test_modules/Makefile`` against Debian's ``linux-headers-6.1.*-amd64`` (installed by
.ci/run; ``KLPMC_KDIR`` names another build tree). The series' APIs build in the `kernel` model's harness.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from klpmc import cli
from klpmc.selftest import makefile_text


def kdir() -> Path | None:
    """A kernel build tree: $KLPMC_KDIR, else Debian's newest linux-headers-6.1.*-amd64."""
    if os.environ.get("KLPMC_KDIR"):
        return Path(os.environ["KLPMC_KDIR"])
    found = sorted(Path("/usr/src").glob("linux-headers-6.1.*-amd64"))
    return found[-1] if found else None


KDIR = kdir()
pytestmark = [
    pytest.mark.skipif(KDIR is None or not (KDIR / "Makefile").is_file(),
                       reason="no kernel headers (apt-get install linux-headers-amd64)"),
    pytest.mark.skipif(shutil.which("make") is None or shutil.which("gcc") is None, reason="no make or gcc"),
]


@pytest.mark.parametrize("preset", ["small", "modules"])
def test_mainline_modules_build(preset: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "st"
    assert cli.run(["check", "upstream", "--preset", preset, "-q", "--emit-selftest", str(out)]) == 0
    capsys.readouterr()
    folders = sorted(out.iterdir())
    assert folders
    for folder in folders:
        meta = json.loads((folder / "klpmc.json").read_text())
        assert meta["api"] == "mainline"
        if meta.get("sources_missing"):
            pytest.skip(f"no module sources: {meta['sources_missing']}")
        done = subprocess.run(["make", "-C", str(folder / "test_modules"), f"KDIR={KDIR}"],
                              capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert "warning:" not in done.stderr, done.stderr[-3000:]
        for name, m in meta["modules"].items():
            ko = (folder / "test_modules" / f"{name}.ko").read_bytes()
            assert (b"livepatch=Y" in ko) == m["livepatch"], name


TARBALL = Path("/usr/src/linux-source-6.12.tar.xz")
SELFTEST_MODULES = "linux-source-6.12/tools/testing/selftests/livepatch/test_modules"


@pytest.mark.skipif(not TARBALL.is_file(), reason="no linux-source-6.12 (apt-get install linux-source-6.12)")
def test_emitted_makefile_builds_the_kernels_own_test_modules(tmp_path: Path) -> None:
    """The Makefile an emitted test carries builds a livepatch module and its target out of tree: here
    the kernel's own test_klp_callbacks_demo and test_klp_callbacks_mod, taken from the source package at
    run time (never kept in klpmc)."""
    names = ["test_klp_callbacks_demo", "test_klp_callbacks_mod"]
    subprocess.run(["tar", "-xJf", str(TARBALL), "-C", str(tmp_path),
                    *(f"{SELFTEST_MODULES}/{n}.c" for n in names)], check=True, timeout=300)
    mods = tmp_path / "test_modules"
    (tmp_path / SELFTEST_MODULES).rename(mods)
    (mods / "Makefile").write_text(makefile_text(names))
    done = subprocess.run(["make", "-C", str(mods), f"KDIR={KDIR}"], capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert b"livepatch=Y" in (mods / "test_klp_callbacks_demo.ko").read_bytes()
    assert b"livepatch=Y" not in (mods / "test_klp_callbacks_mod.ko").read_bytes()
