"""The guest's initramfs: busybox, klpmc's static insmod/kmsg helper, /init and functions.sh, then the tests.

The base archive (newc cpio) is built once and cached by its inputs; each run appends an archive holding
its tests (the kernel unpacks concatenated archives in turn). Neither is compressed: the kernel finds the
end of a gzip'd archive too late for an appended one, and unpacking 4 MB as they are takes no time.
"""

from __future__ import annotations

import hashlib
import shutil
import stat
import struct
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from klpmc.model import InputError

from .kernel import cache_dir

GUEST_DIR = Path(__file__).resolve().parent / "guest"
BUSYBOX_CANDIDATES = (Path("/bin/busybox"), Path("/usr/bin/busybox"))


class Cpio:
    """A newc cpio archive written in memory (directories, files, symlinks, device nodes)."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.ino = 1

    def _entry(self, name: str, mode: int, data: bytes = b"", rdev: tuple[int, int] = (0, 0)) -> None:
        raw = name.encode() + b"\0"
        fields = (self.ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(raw), 0)
        self.ino += 1
        head = b"070701" + b"".join(f"{v:08x}".encode() for v in fields) + raw
        self.parts.append(head + b"\0" * (-len(head) % 4))
        self.parts.append(data + b"\0" * (-len(data) % 4))

    def dir(self, name: str) -> None:
        self._entry(name, stat.S_IFDIR | 0o755)

    def file(self, name: str, data: bytes, mode: int = 0o644) -> None:
        self._entry(name, stat.S_IFREG | mode, data)

    def symlink(self, name: str, target: str) -> None:
        self._entry(name, stat.S_IFLNK | 0o777, target.encode())

    def chardev(self, name: str, major: int, minor: int) -> None:
        self._entry(name, stat.S_IFCHR | 0o600, rdev=(major, minor))

    def bytes(self) -> bytes:
        """The archive with its trailer."""
        trailer = Cpio()
        trailer.ino = 0
        trailer._entry("TRAILER!!!", 0)
        out = b"".join(self.parts) + b"".join(trailer.parts)
        return out + b"\0" * (-len(out) % 512)


def _busybox() -> Path:
    for p in BUSYBOX_CANDIDATES:
        if p.is_file() and _is_static(p):
            return p
    raise InputError("no static busybox for the guest; apt-get install busybox-static")


def _is_static(p: Path) -> bool:
    """An ELF executable without a program interpreter (no PT_INTERP program header)."""
    data = p.read_bytes()
    if data[:5] != b"\x7fELF\x02":
        return False
    (phoff,) = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    return all(struct.unpack_from("<I", data, phoff + i * phentsize)[0] != 3 for i in range(phnum))


def _helper(out_dir: Path) -> Path:
    """klpmc-guest, compiled static from its C source (cached by the source's hash)."""
    src = GUEST_DIR / "klpmc-guest.c"
    digest = hashlib.sha256(src.read_bytes()).hexdigest()[:16]
    exe = out_dir / f"klpmc-guest-{digest}"
    if exe.is_file():
        return exe
    if shutil.which("gcc") is None:
        raise InputError("building the guest's helper needs gcc; apt-get install build-essential")
    tmp = exe.with_suffix(".tmp")
    run = subprocess.run(["gcc", "-static", "-Os", "-o", str(tmp), str(src)], capture_output=True, text=True,
                         check=False)
    if run.returncode != 0:
        raise InputError(f"cannot build the guest's static helper: {(run.stderr.strip().splitlines() or ['?'])[0]}"
                         " (needs libc6-dev)")
    tmp.replace(exe)
    return exe


def base_initramfs() -> Path:
    """The base archive: busybox, /bin/klpmc-guest, /init, /lp/functions.sh (built once, cached)."""
    out_dir = cache_dir() / "guest"
    out_dir.mkdir(parents=True, exist_ok=True)
    busybox = _busybox()
    helper = _helper(out_dir)
    h = hashlib.sha256()
    for p in (busybox, helper, GUEST_DIR / "init", GUEST_DIR / "functions.sh"):
        h.update(p.read_bytes())
    path = out_dir / f"base-{h.hexdigest()[:16]}.cpio"
    if path.is_file():
        return path
    a = Cpio()
    for d in ("bin", "dev", "proc", "sys", "tmp", "lp", "lp/t"):
        a.dir(d)
    a.chardev("dev/console", 5, 1)
    a.file("bin/busybox", busybox.read_bytes(), 0o755)
    a.symlink("bin/sh", "busybox")
    a.file("bin/klpmc-guest", helper.read_bytes(), 0o755)
    a.file("init", (GUEST_DIR / "init").read_bytes(), 0o755)
    a.file("lp/functions.sh", (GUEST_DIR / "functions.sh").read_bytes())
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(a.bytes())
    tmp.replace(path)
    return path


@dataclass
class GuestTest:
    """One test of a boot: a script run in its own directory with its modules under test_modules/."""

    id: str
    script_name: str
    script: str
    modules: dict[str, Path] = field(default_factory=dict)   # name -> .ko
    files: dict[str, bytes] = field(default_factory=dict)    # more files, relative to the test's directory


def run_archive(tests: list[GuestTest], timeout: int) -> bytes:
    """The per-run archive: /lp/tests.list, /lp/timeout and each test's directory."""
    a = Cpio()
    a.file("lp/tests.list", "".join(f"{t.id}\n" for t in tests).encode())
    a.file("lp/timeout", f"{timeout}\n".encode())
    for t in tests:
        base = f"lp/t/{t.id}"
        a.dir(base)
        a.dir(f"{base}/test_modules")
        a.file(f"lp/t/{t.id}.script", t.script_name.encode())
        a.file(f"{base}/{t.script_name}", t.script.encode(), 0o755)
        a.symlink(f"{base}/functions.sh", "/lp/functions.sh")
        for name, ko in sorted(t.modules.items()):
            a.file(f"{base}/test_modules/{name}.ko", ko.read_bytes())
        made = {"test_modules"}
        for rel, data in sorted(t.files.items()):
            parts = rel.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                d = "/".join(parts[:i])
                if d not in made:
                    made.add(d)
                    a.dir(f"{base}/{d}")
            a.file(f"{base}/{rel}", data)
    return a.bytes()


__all__ = ["Cpio", "GuestTest", "base_initramfs", "run_archive"]
