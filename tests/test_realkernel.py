"""The real kernel under qemu: the kselftest scenarios replay on it, and counterexamples are confirmed,
found to differ, or could not run (a panic, a hang, a script past its timeout), each reported and the run
going on.

These boot Debian's 6.12 (`klpmc fetch-kernel`); without qemu or the image they skip, unless
KLPMC_REQUIRE_REAL_KERNEL=1 (CI sets it), where they fail.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from klpmc import cli
from klpmc.registry import InputError

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
SCENARIOS = sorted((DATA / "kselftest").glob("*.txt")) + sorted((DATA / "kselftest-extra").glob("*.txt"))
HAND_MADE = DATA / "confirm" / "small" / "objects-cleaned-before-free"


@pytest.fixture(scope="module")
def real_kernel() -> None:
    from klpmc.realkernel.commands import kernel_and_headers

    try:
        kernel_and_headers(None, None)
    except InputError as e:
        if os.environ.get("KLPMC_REQUIRE_REAL_KERNEL") == "1":
            pytest.fail(f"no real kernel: {e}")
        pytest.skip(f"no real kernel: {e}")


def test_the_20_kselftest_logs_replay_on_the_real_kernel(real_kernel: None,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert len(SCENARIOS) == 20
    status = cli.run(["replay", "upstream", *map(str, SCENARIOS), "--real-kernel", "--check", "--jobs", "2"])
    out = capsys.readouterr().out
    assert out.splitlines()[-1].startswith("20 of 20 scenarios match the real kernel 6.12."), out
    assert status == 0


def _panicking(d: Path) -> None:
    """A counterexample whose module panics the guest at insmod."""
    shutil.copytree(HAND_MADE, d)
    src = d / "test_modules" / "test_klpmc_P1.c"
    src.write_text(src.read_text().replace("return klp_enable_patch(&patch);",
                                           'panic("klpmc test: a module that panics");'))


def _stuck(d: Path) -> None:
    """A counterexample whose module's init waits until the guest's timeout kills insmod."""
    shutil.copytree(HAND_MADE, d)
    src = d / "test_modules" / "test_klpmc_P2.c"
    more = "#include <linux/delay.h>\n#include <linux/sched/signal.h>"
    text = src.read_text().replace("#include <linux/livepatch.h>", f"#include <linux/livepatch.h>\n{more}")
    src.write_text(text.replace("return klp_enable_patch(&patch);",
                                "while (!fatal_signal_pending(current))\n\t\tmsleep_interruptible(100);\n"
                                "\treturn -EINTR;"))


def _hanging(d: Path) -> None:
    """A counterexample whose module stops the guest's only CPU for good (interrupts off, spinning)."""
    shutil.copytree(HAND_MADE, d)
    src = d / "test_modules" / "test_klpmc_P1.c"
    src.write_text(src.read_text().replace("return klp_enable_patch(&patch);",
                                           "local_irq_disable();\n\tfor (;;)\n\t\tcpu_relax();\n\treturn 0;"))


def test_confirm_tells_confirmed_differs_could_not_run_and_not_expressible(
        real_kernel: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "st"
    shutil.copytree(HAND_MADE, root / "a-confirmed")
    wrong = root / "b-differs"
    shutil.copytree(HAND_MADE, wrong)
    meta = json.loads((wrong / "klpmc.json").read_text())
    i = meta["expected_log"].index("test_klpmc_P1: post_patch_callback: vmlinux")
    meta["expected_log"][i] = "test_klpmc_P1: post_unpatch_callback: vmlinux"
    (wrong / "klpmc.json").write_text(json.dumps(meta))
    _panicking(root / "c-panics")
    _stuck(root / "d-stuck")
    unsaid = root / "e-not-expressible"
    unsaid.mkdir()
    (unsaid / "klpmc.json").write_text(json.dumps({
        "model": "upstream", "rule": "r", "modules": {}, "expected_log": [], "expressible": False,
        "why_not": "a task asleep in a patched function for exactly one retry"}))
    shutil.copytree(HAND_MADE, root / "f-after-the-panic")
    _hanging(root / "g-hangs")

    status = cli.run(["confirm", str(root), "--jobs", "2", "--timeout", "8", "--json"])
    report = json.loads(capsys.readouterr().out)
    got = {c["counterexample"]: c for c in report["counterexamples"]}
    assert {k: v["status"] for k, v in got.items()} == {
        "a-confirmed": "confirmed", "b-differs": "differs", "c-panics": "could not run",
        "d-stuck": "could not run", "e-not-expressible": "not expressible", "f-after-the-panic": "confirmed",
        "g-hangs": "could not run"}
    assert status == 1
    assert got["b-differs"]["detail"][0] == f"first difference at line {i + 1}:"
    assert any(r.startswith("  ! test_klpmc_P1: post_unpatch_callback: vmlinux") and
               r.endswith("| test_klpmc_P1: post_patch_callback: vmlinux") for r in got["b-differs"]["detail"])
    assert got["c-panics"]["detail"][0] == "the kernel panicked"
    assert any("klpmc test: a module that panics" in d for d in got["c-panics"]["detail"])
    assert got["d-stuck"]["detail"][0] == "the test did not finish within --timeout 8 s"
    assert got["g-hangs"]["detail"][0] == "the guest hung: its harness said nothing for 23 s"
    assert got["e-not-expressible"]["detail"] == ["a task asleep in a patched function for exactly one retry"]


def test_conform_runs_a_sample_of_traces_on_the_real_kernel(real_kernel: None,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    status = cli.run(["conform", "upstream", "--real-kernel", "--preset", "kselftest-state", "--sample", "4",
                      "--jobs", "2", "--json"])
    report = json.loads(capsys.readouterr().out)
    ran = [t for t in report["results"] if t["status"] != "not expressible"]
    assert len(ran) == 4 and report["run"] == 4
    assert [t["status"] for t in ran] == ["confirmed"] * 4, [t["detail"] for t in ran]
    assert report["not_expressible"] + report["expressible"] == report["traces"] == report["states"] - 1
    assert status == 0


def test_conform_runs_generated_modules_on_the_real_kernel(real_kernel: None,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """A preset of generated modules: each trace a kselftest (modules generated and built, a script), the
    longest a script can say run as `confirm` runs them; the rest counted with why."""
    status = cli.run(["conform", "upstream", "--real-kernel", "--preset", "small", "--jobs", "2", "--json"])
    report = json.loads(capsys.readouterr().out)
    ran = [t for t in report["results"] if t["status"] != "not expressible"]
    assert [t["status"] for t in ran] == ["confirmed"] * report["run"], [t["detail"] for t in ran]
    assert report["run"] == report["longest"] >= 5 and report["states"] == 58
    assert report["not_expressible"] + report["expressible"] == report["traces"] == 57
    why = {t["detail"][0] for t in report["results"] if t["status"] == "not expressible"}
    assert any("reverses the transition of test_klpmc_p" in w for w in why), why
    assert status == 0
