"""The real-kernel plumbing without a kernel: archives, scenario scripts, reading what a guest reported."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from klpmc import cli
from klpmc.realkernel import guest, kernel, vm
from klpmc.realkernel.confirm import find_counterexamples, first_difference
from klpmc.realkernel.scenario import read_scenario
from klpmc.registry import InputError

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
SCENARIOS = sorted((DATA / "kselftest").glob("*.txt")) + sorted((DATA / "kselftest-extra").glob("*.txt"))
CONFIRM = DATA / "confirm"


@pytest.mark.skipif(shutil.which("cpio") is None, reason="needs cpio to read the archive back")
def test_cpio_archive_reads_back_with_cpio(tmp_path: Path) -> None:
    a = guest.Cpio()
    a.dir("lp")
    a.file("lp/x.sh", b"echo hi\n", 0o755)
    a.symlink("lp/f", "/lp/x.sh")
    data = a.bytes()
    assert len(data) % 512 == 0
    listing = subprocess.run(["cpio", "-itv"], input=data, capture_output=True, check=True).stdout.decode()
    names = [line.split()[-1] if "->" not in line else line.split()[-3] for line in listing.splitlines()]
    assert names == ["lp", "lp/x.sh", "lp/f"]
    assert "-rwxr-xr-x" in listing and "lrwxrwxrwx" in listing
    subprocess.run(["cpio", "-id", "--quiet"], input=data, cwd=tmp_path, check=True)
    assert (tmp_path / "lp" / "x.sh").read_bytes() == b"echo hi\n"


def test_run_archive_makes_the_parents_of_extra_files() -> None:
    t = guest.GuestTest("c000", "t.sh", "true\n", files={"a/b/c.txt": b"x"})
    data = guest.run_archive([t], 30)
    assert b"lp/t/c000/a\0" in data and b"lp/t/c000/a/b\0" in data
    assert data.index(b"lp/t/c000/a/b\0") < data.index(b"lp/t/c000/a/b/c.txt\0")


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_every_scenario_becomes_a_guest_script(path: Path) -> None:
    s = read_scenario(path)
    commands = [ln for ln in s.expected if ln.startswith("% ")]
    body = s.script.splitlines()
    assert body[:2] == [". ./functions.sh", "setup_config"] and body[-1] == "check_result"
    assert len([ln for ln in body if ln.startswith(("klpmc_insmod", "klpmc_rmmod", "klpmc_write"))]) == len(commands)
    assert s.modules and all(m.startswith("test_klp_") for m in s.modules)


def test_grep_lines_become_one_grep_per_block() -> None:
    s = read_scenario(DATA / "kselftest" / "test-livepatch__02_multiple_livepatches.txt")
    assert s.script.count("klpmc_grep_live_patched") == 3


def test_a_command_the_guest_cannot_run_is_bad_input(tmp_path: Path) -> None:
    f = tmp_path / "s.txt"
    f.write_text("% modprobe test_klp_livepatch\nlivepatch: enabling patch 'test_klp_livepatch'\n")
    with pytest.raises(InputError, match="cannot run '% modprobe"):
        read_scenario(f)


def test_guest_reports_are_split_per_test_and_filtered() -> None:
    kmsg = ["1;boot noise livepatch: early", "2;@@klpmc begin s000", "3;livepatch: kernel.ftrace_enabled = 1",
            "4;@@klpmc start_test 1", "5;===== TEST: x =====", "6;% insmod test_modules/test_klp_a.ko",
            "7;test_klp_a: module verification failed: signature and/or required key missing - tainting kernel",
            "8;livepatch: enabling patch 'test_klp_a'", "9;unrelated line", "10;@@klpmc check_result 1",
            "11;@@klpmc end s000", "12;@@klpmc begin s001", "13;@@klpmc start_test 1", "14;% rmmod test_klp_a"]
    ctl = ["boot 6.12", "begin s000", "start_test 1 x", "check_result 1", "| % insmod test_modules/test_klp_a.ko",
           "check_result_end", "end s000 rc=0 clean", "begin s001", "start_test 1 y"]
    tests = [guest.GuestTest(i, "t.sh", "") for i in ("s000", "s001", "s002")]
    b = vm._parse(tests, kmsg, ctl, ["[ 9.0] Kernel panic - not syncing: boom"], "exited", 3.0)
    first = b.outcomes["s000"]
    assert first.ran and first.rc == 0
    assert [s.log for s in first.segments] == [["% insmod test_modules/test_klp_a.ko",
                                                "livepatch: enabling patch 'test_klp_a'"]]
    assert first.segments[0].expected == ["% insmod test_modules/test_klp_a.ko"]
    second = b.outcomes["s001"]
    assert not second.ran and second.reason == "the kernel panicked"
    assert second.console == ["[ 9.0] Kernel panic - not syncing: boom"]
    assert b.not_begun == ["s002"]


def test_a_guest_that_never_reached_its_tests_fails_them_all_without_a_retry() -> None:
    tests = [guest.GuestTest(i, "t.sh", "") for i in ("a", "b")]
    b = vm._parse(tests, [], [], ["no init found"], "the guest did not finish in 60 s", 60.0)
    assert b.not_begun == []
    assert {o.reason for o in b.outcomes.values()} == {"the guest did not finish in 60 s"}


def test_first_difference_is_side_by_side() -> None:
    rows = first_difference(["a", "b", "c"], ["a", "x", "c", "d"])
    assert rows[0] == "first difference at line 2:"
    assert any(r.startswith("  ! b") and r.endswith("| x") for r in rows)
    assert any("(end of log)" in r and r.endswith("| d") for r in rows)


def test_the_hand_made_counterexample_directory_is_read() -> None:
    [cx] = find_counterexamples(CONFIRM)
    assert cx.name == "small/objects-cleaned-before-free"
    assert cx.script is not None and cx.script.name == "test-klpmc-objects-cleaned-before-free.sh"
    assert set(cx.meta["modules"]) == {"test_klpmc_P1", "test_klpmc_P2"}


def test_confirm_bad_input_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.run(["confirm", str(tmp_path / "nowhere")]) == 2
    assert "no such directory" in capsys.readouterr().err
    assert cli.run(["confirm", str(tmp_path)]) == 2
    assert "no counterexample under" in capsys.readouterr().err
    d = tmp_path / "r"
    d.mkdir()
    (d / "klpmc.json").write_text(json.dumps({"model": "upstream", "rule": "r"}))
    assert cli.run(["confirm", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("klpmc: ") and "no modules, expected_log" in err and len(err.splitlines()) == 1


def test_an_image_that_is_not_a_kernel_is_bad_input(tmp_path: Path) -> None:
    f = tmp_path / "vmlinuz"
    f.write_bytes(b"\x7fELF" + b"\0" * 100)
    with pytest.raises(InputError, match="not a Linux kernel"):
        kernel.prepare_kernel(f)
    f.write_bytes(b"hello")
    with pytest.raises(InputError, match="not a Linux kernel image"):
        kernel.prepare_kernel(f)
    with pytest.raises(InputError, match="no such kernel image"):
        kernel.prepare_kernel(tmp_path / "absent")


def test_headers_for_another_release_are_bad_input(tmp_path: Path) -> None:
    h = tmp_path / "headers"
    (h / "include" / "generated").mkdir(parents=True)
    (h / "Makefile").write_text("")
    (h / "include" / "generated" / "utsrelease.h").write_text('#define UTS_RELEASE "6.1.0-99-amd64"\n')
    k = kernel.Kernel(tmp_path / "img", tmp_path / "img", "6.12.117+deb12-amd64")
    with pytest.raises(InputError, match=r"are for 6\.1\.0-99-amd64, the kernel image is 6\.12\.117"):
        kernel.find_headers(k, h)


def test_no_qemu_is_bad_input(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    scenario = str(SCENARIOS[0])
    assert cli.run(["replay", "upstream", scenario, "--real-kernel", "--check"]) == 2
    assert "no qemu-system-x86_64; apt-get install qemu-system-x86" in capsys.readouterr().err


def test_conform_traces_reach_every_state_and_the_expressible_ones_replay_on_the_model(tmp_path: Path) -> None:
    from klpmc import registry
    from klpmc.realkernel.conform import _expressible, longest, shortest_traces

    mdef = registry.get_model("upstream")
    model = mdef.build(mdef.preset("kselftest-state").config)
    traces, states = shortest_traces(model, 100_000)
    assert len(traces) == states - len(model.init_states())
    assert len({tuple(t.labels) for t in traces}) == len(traces)
    said, reasons = [], set()
    for t in traces:
        why = _expressible(mdef, t, tmp_path)
        if why is None:
            said.append(t)
        else:
            reasons.add(why.split(";")[0].split(",")[0])
    assert said and len(said) < len(traces)
    assert reasons == {"it types a command while a transition that no task blocks is pending",
                       "it ends while a transition that no task blocks is pending"}
    runs = longest(said)
    assert len(runs) < len(said)
    heads = {tuple(r.labels[:k]) for r in runs for k in range(len(r.labels) + 1)}
    assert all(tuple(t.labels) in heads for t in said)
    scenario = runs[0].scenario()
    assert scenario[0].startswith("% insmod test_modules/test_klp_state")
    assert not any("# " in line for line in scenario if line.startswith("% "))


def test_a_test_that_leaves_modules_behind_is_noted_and_the_rest_wait_for_the_next_boot() -> None:
    kmsg = ["1;@@klpmc begin a", "2;@@klpmc start_test 1", "3;@@klpmc check_result 1", "4;@@klpmc end a"]
    ctl = ["begin a", "start_test 1 t", "check_result 1", "check_result_end", "end a rc=0 dirty test_klp_x "]
    tests = [guest.GuestTest(i, "t.sh", "") for i in ("a", "b")]
    b = vm._parse(tests, kmsg, ctl, [], "exited", 1.0)
    assert b.outcomes["a"].ran and b.outcomes["a"].notes == ["left behind: test_klp_x"]
    assert b.not_begun == ["b"]


def test_tests_are_spread_over_as_many_boots_as_jobs_at_least() -> None:
    tests = [guest.GuestTest(str(i), "t.sh", "") for i in range(5)]
    assert [len(b) for b in vm._batches(tests, 2, 8)] == [3, 2]
    assert [len(b) for b in vm._batches(tests, 1, 2)] == [2, 2, 1]
    assert sorted(t.id for b in vm._batches(tests, 2, 2) for t in b) == [str(i) for i in range(5)]


def test_fetch_kernel_refuses_a_release_that_is_not_debians() -> None:
    if shutil.which("apt-get") is None:
        pytest.skip("no apt-get")
    with pytest.raises(InputError, match="not a Debian amd64 kernel release"):
        kernel.fetch_debian("6.12-custom")
