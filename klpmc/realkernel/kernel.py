"""The kernel a guest boots and the headers its modules build against: found, fetched, checked.

The default is Debian's 6.12 image, downloaded with ``apt-get download`` (the image alone, not the package
with its initramfs rebuild) and unpacked under the cache by ``klpmc fetch-kernel``; a bzImage is booted as
the uncompressed ELF ``vmlinux`` inside it (qemu's PVH entry: half the boot time of the bzImage).
"""

from __future__ import annotations

import hashlib
import lzma
import os
import re
import shutil
import struct
import subprocess
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from klpmc.model import InputError

DEBIAN_SERIES = "6.12"
FETCH_HINT = "run `klpmc fetch-kernel` (apt-get download of Debian's linux-image-6.12 and its headers)"


def cache_dir() -> Path:
    """Where klpmc keeps kernels, built modules and guests: $KLPMC_CACHE, else ~/.cache/klpmc."""
    env = os.environ.get("KLPMC_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "klpmc"


@dataclass(frozen=True)
class Kernel:
    """A bootable kernel: the ELF vmlinux qemu starts through PVH, and the release it reports."""

    image: Path          # what the user named (a bzImage or a vmlinux)
    vmlinux: Path        # the uncompressed ELF, cached
    release: str         # uname -r, e.g. 6.12.117+deb12-amd64


@dataclass(frozen=True)
class Headers:
    """A kbuild tree for out-of-tree modules (``make -C DIR M=...``) and the release it builds for."""

    path: Path
    release: str


def _release_of_bzimage(data: bytes) -> str | None:
    if len(data) < 0x250 or data[0x202:0x206] != b"HdrS":
        return None
    (off,) = struct.unpack_from("<H", data, 0x20E)
    text = data[0x200 + off:0x200 + off + 256].split(b"\0")[0].decode("ascii", "replace")
    return text.split(" ")[0] or None


def _release_of_elf(data: bytes) -> str | None:
    m = re.search(rb"Linux version (\S+) \(", data)
    return m.group(1).decode("ascii", "replace") if m else None


def _decompress(payload: bytes) -> bytes:
    """The kernel inside a bzImage payload (gzip, xz, zstd; zstd through the zstd program)."""
    if payload[:2] == b"\x1f\x8b":
        return zlib.decompressobj(31).decompress(payload)
    if payload[:6] == b"\xfd7zXZ\x00":
        return lzma.LZMADecompressor(lzma.FORMAT_XZ).decompress(payload)
    if payload[:4] == b"\x28\xb5\x2f\xfd":
        if shutil.which("zstd") is None:
            raise InputError("the kernel image is compressed with zstd and there is no zstd program; "
                             "apt-get install zstd")
        # the build appends the uncompressed size (4 bytes) after the zstd frame
        run = subprocess.run(["zstd", "-dcq"], input=payload[:-4], capture_output=True, check=False)
        return run.stdout
    raise InputError(f"the kernel image's payload is compressed in a way klpmc does not read "
                     f"(magic {payload[:4].hex()}); pass the uncompressed vmlinux")


def prepare_kernel(image: Path) -> Kernel:
    """The bootable vmlinux of IMAGE (a bzImage or an ELF vmlinux), extracted once into the cache."""
    if not image.is_file():
        raise InputError(f"no such kernel image: {image}; {FETCH_HINT} or pass --kernel-image")
    data = image.read_bytes()
    if data[:4] == b"\x7fELF":
        release = _release_of_elf(data)
        if release is None:
            raise InputError(f"{image} is an ELF file but not a Linux kernel (no 'Linux version' string)")
        return Kernel(image, image, release)
    release = _release_of_bzimage(data)
    if release is None:
        raise InputError(f"{image} is not a Linux kernel image (neither a bzImage nor an ELF vmlinux)")
    digest = hashlib.sha256(data).hexdigest()[:20]
    out = cache_dir() / "vmlinux" / f"{release}-{digest}"
    if not out.is_file():
        setup_sects = data[0x1F1] or 4
        offset, length = struct.unpack_from("<II", data, 0x248)
        start = (setup_sects + 1) * 512 + offset
        elf = _decompress(data[start:start + length])
        if elf[:4] != b"\x7fELF":
            raise InputError(f"could not extract the vmlinux of {image}; pass the uncompressed vmlinux")
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp")
        tmp.write_bytes(elf)
        tmp.replace(out)
    return Kernel(image, out, release)


def headers_release(path: Path) -> str | None:
    """The release a kbuild tree builds for (include/generated/utsrelease.h), or None."""
    for f in (path / "include" / "config" / "kernel.release", path / "include" / "generated" / "utsrelease.h"):
        if f.is_file():
            text = f.read_text(errors="replace")
            m = re.search(r'UTS_RELEASE\s+"([^"]+)"', text)
            return m.group(1) if m else text.strip() or None
    return None


def _debian_roots() -> list[Path]:
    root = cache_dir() / "debian"
    if not root.is_dir():
        return []
    return sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: _version_key(p.name), reverse=True)


def _version_key(release: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", release))


def default_image() -> Path:
    """Debian's 6.12 image: the newest under the cache (klpmc fetch-kernel), else in /boot."""
    for root in _debian_roots():
        found = sorted((root / "boot").glob(f"vmlinuz-{DEBIAN_SERIES}.*"))
        if found:
            return found[-1]
    boot = sorted(Path("/boot").glob(f"vmlinuz-{DEBIAN_SERIES}.*"), key=lambda p: _version_key(p.name))
    if boot:
        return boot[-1]
    raise InputError(f"no Debian {DEBIAN_SERIES} kernel image in {cache_dir() / 'debian'} or /boot; "
                     f"{FETCH_HINT} or pass --kernel-image")


def find_headers(kernel: Kernel, given: Path | None) -> Headers:
    """The kbuild tree for KERNEL: --headers DIR, else the unpacked Debian headers, /usr/src, /lib/modules."""
    if given is not None:
        if not (given / "Makefile").is_file():
            raise InputError(f"{given} is not a kernel headers directory (no Makefile); "
                             f"pass the build tree of {kernel.release}")
        release = headers_release(given)
        if release != kernel.release:
            raise InputError(f"the headers in {given} are for {release or 'an unknown release'}, the kernel "
                             f"image is {kernel.release}; pass the matching headers "
                             f"(linux-headers-{kernel.release})")
        return Headers(given, kernel.release)
    candidates = [root / "usr" / "src" / f"linux-headers-{kernel.release}" for root in _debian_roots()]
    candidates += [Path("/usr/src") / f"linux-headers-{kernel.release}",
                   Path("/lib/modules") / kernel.release / "build"]
    for c in candidates:
        if (c / "Makefile").is_file() and headers_release(c) == kernel.release:
            return Headers(c, kernel.release)
    raise InputError(f"no headers for {kernel.release} (looked in {cache_dir() / 'debian'}, /usr/src, "
                     f"/lib/modules); install linux-headers-{kernel.release}, {FETCH_HINT}, or pass --headers")


def qemu_binary() -> str:
    """qemu-system-x86_64 on PATH, or a one-line error naming the package."""
    q = shutil.which("qemu-system-x86_64")
    if q is None:
        raise InputError("no qemu-system-x86_64; apt-get install qemu-system-x86")
    return q


# --------------------------------------------------------------------------------------------------------
# klpmc fetch-kernel
# --------------------------------------------------------------------------------------------------------

def _apt_newest_image() -> str:
    out = subprocess.run(["apt-cache", "search", "--names-only", rf"^linux-image-{re.escape(DEBIAN_SERIES)}\."],
                         capture_output=True, text=True, check=False).stdout
    names = re.findall(rf"^linux-image-({re.escape(DEBIAN_SERIES)}\.\d+\+deb\d+-amd64)-unsigned ", out, re.M)
    if not names:
        raise InputError(f"apt knows no linux-image-{DEBIAN_SERIES}.*-amd64-unsigned; run apt-get update "
                         "(Debian 12 has them in bookworm-security)")
    return str(max(names, key=_version_key))


def fetch_debian(release: str | None = None) -> Path:
    """apt-get download Debian's image, headers and kbuild for RELEASE and unpack them under the cache."""
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        raise InputError("fetch-kernel needs apt-get and dpkg-deb (Debian); pass --kernel-image and --headers")
    release = release or _apt_newest_image()
    m = re.fullmatch(r"(\d+\.\d+\.\d+)\+(deb\d+)-amd64", release)
    if m is None:
        raise InputError(f"not a Debian amd64 kernel release: {release!r} (e.g. 6.12.117+deb12-amd64)")
    base = f"{m.group(1)}+{m.group(2)}"
    root = cache_dir() / "debian" / release
    if (root / "boot" / f"vmlinuz-{release}").is_file() and headers_release(
            root / "usr" / "src" / f"linux-headers-{release}") == release:
        return root
    packages = [f"linux-image-{release}-unsigned", f"linux-headers-{release}",
                f"linux-headers-{base}-common", f"linux-kbuild-{base}"]
    with tempfile.TemporaryDirectory(prefix="klpmc-fetch.") as tmp:
        run = subprocess.run(["apt-get", "download", "-qq", *packages], cwd=tmp, capture_output=True, text=True,
                             check=False)
        if run.returncode != 0:
            last = (run.stderr.strip().splitlines() or ["?"])[-1]
            raise InputError(f"apt-get download {' '.join(packages)} failed: {last}")
        staging = Path(tempfile.mkdtemp(prefix=f"{release}.", dir=_mkdir(root.parent)))
        for deb in sorted(Path(tmp).glob("*.deb")):
            if deb.name.startswith("linux-image-"):   # the image alone, not its 400 MB of modules
                cmd = f"dpkg-deb --fsys-tarfile '{deb}' | tar -x -C '{staging}' --wildcards './boot/*'"
                done = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, check=False)
            else:
                done = subprocess.run(["dpkg-deb", "-x", str(deb), str(staging)], capture_output=True, text=True,
                                      check=False)
            if done.returncode != 0:
                shutil.rmtree(staging, ignore_errors=True)
                raise InputError(f"cannot unpack {deb.name}: {done.stderr.strip()[:200]}")
    if root.exists():
        shutil.rmtree(root)
    staging.rename(root)
    _relocate_headers(root, release, base)
    return root


def _mkdir(p: Path) -> Path:
    p.mkdir(parents=True, exist_ok=True)
    return p


def _relocate_headers(root: Path, release: str, base: str) -> None:
    """Debian's headers Makefile includes /usr/src/linux-headers-*-common by absolute path: point it here."""
    mk = root / "usr" / "src" / f"linux-headers-{release}" / "Makefile"
    if mk.is_file():
        text = mk.read_text()
        common = root / "usr" / "src" / f"linux-headers-{base}-common"
        mk.write_text(re.sub(r"^include \S*/linux-headers-[^/\s]*-common/Makefile",
                             f"include {common}/Makefile", text, flags=re.M))


__all__ = ["Headers", "Kernel", "cache_dir", "default_image", "fetch_debian", "find_headers", "prepare_kernel",
           "qemu_binary"]
