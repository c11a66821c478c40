"""Boot a kernel under qemu (TCG, one vCPU, no network) with tests in its initramfs, and read what they did.

The guest has three serial ports: ttyS0 the console (kept for a guest that panics or hangs), ttyS1 every
kernel log record as ``SEQ;TEXT`` (from /dev/kmsg, so console log levels do not matter), ttyS2 the
harness's own reports (test begun, ended with its exit status, check_result's expected text, notes).
Several tests share a boot; a test that leaves modules behind ends the boot, and the tests after it run
in the next one.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from .guest import GuestTest, base_initramfs, run_archive
from .kernel import Kernel, qemu_binary

RESULT_FILTER = re.compile(r"livepatch:|test_klp")
TAINT_FILTER = re.compile(r"(tainting|taints) kernel")
BOOT_SECONDS = 60          # a guest that has not started its harness by then is killed
SILENCE_GRACE = 15         # past a test's timeout, the seconds the harness may take to report (tidying up)
CONSOLE_TAIL = 40          # lines of console shown for a test that could not run


def selftest_filter(lines: list[str]) -> list[str]:
    """The lines check_result keeps: 'livepatch:' or 'test_klp', not '(tainting|taints) kernel'."""
    return [ln for ln in lines if RESULT_FILTER.search(ln) and not TAINT_FILTER.search(ln)]


@dataclass
class Segment:
    """The kernel log of one start_test .. check_result stretch, and the text check_result was given."""

    log: list[str]
    expected: list[str] | None
    complete: bool = True        # False: the script ended before its check_result


@dataclass
class Outcome:
    """What one test did in the guest, or why it could not run."""

    id: str
    ran: bool
    reason: str = ""                                  # why it could not run
    rc: int | None = None                             # the script's exit status
    log: list[str] = field(default_factory=list)      # the test's whole kernel log, filtered
    raw: list[str] = field(default_factory=list)      # ... unfiltered
    segments: list[Segment] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)    # the harness's notes and the script's output
    console: list[str] = field(default_factory=list)  # the console's tail, for a test that could not run
    seconds: float = 0.0                              # the boot's wall time, shared by its tests


@dataclass
class Boot:
    """One qemu run: the outcomes of the tests that ended, and the tests it never began."""

    outcomes: dict[str, Outcome]
    not_begun: list[str]
    seconds: float


def _qemu_command(kernel: Kernel, initrd: Path, d: Path, memory: int) -> list[str]:
    # setpriv (util-linux): qemu dies with the thread that started it, not left running if klpmc is killed
    guard = ["setpriv", "--pdeathsig", "KILL"] if shutil.which("setpriv") else []
    return [*guard, qemu_binary(), "-accel", "tcg", "-cpu", "max", "-m", str(memory), "-smp", "1",
            "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot", "-nic", "none",
            "-kernel", str(kernel.vmlinux), "-initrd", str(initrd),
            "-append", "console=ttyS0 quiet loglevel=4 panic=-1 printk.devkmsg=on",
            "-serial", f"file:{d / 'console.log'}", "-serial", f"file:{d / 'kmsg.log'}",
            "-serial", f"file:{d / 'ctl.log'}"]


def _read(p: Path) -> list[str]:
    if not p.is_file():
        return []
    return p.read_bytes().decode("utf-8", "replace").replace("\r", "").splitlines()


def boot(kernel: Kernel, tests: list[GuestTest], timeout: int, memory: int = 512) -> Boot:
    """Run TESTS in one boot of KERNEL; each may take TIMEOUT seconds."""
    base = base_initramfs()
    with tempfile.TemporaryDirectory(prefix="klpmc-qemu.") as tmp:
        d = Path(tmp)
        initrd = d / "initrd.cpio"
        initrd.write_bytes(base.read_bytes() + run_archive(tests, timeout))
        t0 = time.monotonic()
        with (d / "qemu.out").open("wb") as out, subprocess.Popen(
                _qemu_command(kernel, initrd, d, memory), stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT) as proc:
            status = _watch(proc, d / "ctl.log", timeout)
        seconds = time.monotonic() - t0
        console = _read(d / "console.log")
        kmsg = _read(d / "kmsg.log")
        ctl = _read(d / "ctl.log")
        qemu_out = (d / "qemu.out").read_text(errors="replace").strip()
    if proc.returncode not in (0, None) and status == "exited":
        status = f"qemu exited with {proc.returncode}: {qemu_out[:300]}"
    return _parse(tests, kmsg, ctl, console, status, seconds)


def _watch(proc: subprocess.Popen[bytes], ctl: Path, timeout: int) -> str:
    """Wait for qemu; kill a guest that does not boot, or whose harness goes silent past a test's timeout."""
    start = last = time.monotonic()
    seen = 0
    booted = False
    while proc.poll() is None:
        time.sleep(0.25)
        now = time.monotonic()
        size = ctl.stat().st_size if ctl.exists() else 0
        if size != seen:
            seen, last, booted = size, now, True
        if not booted and now - start > BOOT_SECONDS:
            proc.kill()
            proc.wait()
            return f"the guest did not boot in {BOOT_SECONDS} s"
        if booted and now - last > timeout + SILENCE_GRACE:
            proc.kill()
            proc.wait()
            return f"the guest hung: its harness said nothing for {timeout + SILENCE_GRACE} s"
    return "exited"


def _parse(tests: list[GuestTest], kmsg: list[str], ctl: list[str], console: list[str], status: str,
           seconds: float) -> Boot:
    records: dict[str, list[str]] = {}
    lost: set[str] = set()
    current: str | None = None
    for line in kmsg:
        _, _, text = line.partition(";")
        m = re.fullmatch(r"@@klpmc (begin|end) (\S+)", text)
        if m:
            current = m.group(2) if m.group(1) == "begin" else None
            if current is not None:
                records[current] = []
            continue
        if current is not None:
            if text.startswith("@@lost"):
                lost.add(current)
            records[current].append(text)
    begun: list[str] = []
    ended: dict[str, tuple[int, str]] = {}
    expected: dict[str, dict[int, list[str]]] = {}
    notes: dict[str, list[str]] = {}
    current = None
    collecting: list[str] | None = None
    for line in ctl:
        if collecting is not None:
            if line == "check_result_end":
                collecting = None
            else:
                collecting.append(line[2:] if line.startswith("| ") else line.lstrip("|"))
            continue
        word, _, rest = line.partition(" ")
        if word == "begin":
            current = rest
            begun.append(rest)
            expected[rest] = {}
            notes[rest] = []
        elif word == "end":
            tid, _, tail = rest.partition(" ")
            m = re.match(r"rc=(\d+) (\w+)(.*)", tail)
            if m:
                ended[tid] = (int(m.group(1)), m.group(2) + m.group(3))
        elif word == "check_result" and current is not None:
            n = int(rest.split()[0]) if rest.split() else 0
            collecting = expected[current].setdefault(n, [])
        elif word in ("note", "out") and current is not None:
            notes[current].append(rest.partition(" ")[2])
    outcomes: dict[str, Outcome] = {}
    not_begun = [t.id for t in tests if t.id not in begun]
    for tid in begun:
        raw = records.get(tid, [])
        if tid not in ended:
            why = status if status != "exited" else "the guest stopped during this test"
            if any("Kernel panic" in ln for ln in console):
                why = "the kernel panicked"
            outcomes[tid] = Outcome(tid, False, why, raw=raw, log=selftest_filter(raw), notes=notes[tid],
                                    console=console[-CONSOLE_TAIL:], seconds=seconds)
            continue
        rc, state = ended[tid]
        if tid in lost:
            outcomes[tid] = Outcome(tid, False, "kernel log records were lost", rc=rc, raw=raw,
                                    notes=notes[tid], seconds=seconds)
            continue
        out = Outcome(tid, True, rc=rc, raw=raw, log=selftest_filter(raw), notes=notes[tid], seconds=seconds,
                      segments=_segments(raw, expected[tid]))
        if state.startswith("dirty"):
            out.notes.append(f"left behind: {state[len('dirty'):].strip()}")
        outcomes[tid] = out
    if not begun:   # the guest never reached the first test: no point booting it again
        why = status if status != "exited" else "the guest never ran its tests"
        if any("Kernel panic" in ln for ln in console):
            why = "the kernel panicked before the tests"
        for t in tests:
            outcomes[t.id] = Outcome(t.id, False, why, console=console[-CONSOLE_TAIL:], seconds=seconds)
        not_begun = []
    return Boot(outcomes, not_begun, seconds)


def _segments(raw: list[str], expected: dict[int, list[str]]) -> list[Segment]:
    out: list[Segment] = []
    cur: list[str] | None = None
    for text in raw:
        m = re.fullmatch(r"@@klpmc (start_test|check_result) (\d+)", text)
        if m and m.group(1) == "start_test":
            cur = []
        elif m:
            if cur is not None:
                out.append(Segment(selftest_filter(cur), expected.get(int(m.group(2)))))
            cur = None
        elif cur is not None:
            cur.append(text)
    if cur is not None:
        out.append(Segment(selftest_filter(cur), None, complete=False))
    return out


def run_tests(kernel: Kernel, tests: list[GuestTest], *, jobs: int = 1, timeout: int = 120,
              per_boot: int = 12, progress: Callable[[Outcome], None] | None = None) -> dict[str, Outcome]:
    """Run TESTS in as few boots as PER_BOOT allows, JOBS qemus at a time; every test gets an outcome."""
    base_initramfs()   # build it once, before the threads
    pending = list(tests)
    by_id = {t.id: t for t in tests}
    results: dict[str, Outcome] = {}
    while pending:
        batches = _batches(pending, jobs, per_boot)
        pending = []
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            for b in pool.map(lambda batch: boot(kernel, batch, timeout), batches):
                for tid, o in b.outcomes.items():
                    results[tid] = o
                    if progress is not None:
                        progress(o)
                pending += [by_id[tid] for tid in b.not_begun]
    return results


def _batches(tests: list[GuestTest], jobs: int, per_boot: int) -> list[list[GuestTest]]:
    n = max(jobs, -(-len(tests) // per_boot))
    n = min(n, len(tests))
    return [tests[i::n] for i in range(n)] if n else []


__all__ = ["Boot", "Outcome", "Segment", "boot", "run_tests", "selftest_filter"]
