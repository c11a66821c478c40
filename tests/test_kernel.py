"""The kernel model: the livepatch core's own C of linux-source-6.12, built in user space and explored.

These tests need gcc and Debian's linux-source-6.12 tarball; without them they skip, unless
KLPMC_REQUIRE_KERNEL_C is set (CI installs both and sets it, so there they run or fail).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from klpmc.models._manifest import read
from presets import pinned_presets

from klpmc.cli import run
from klpmc.conform import conform
from klpmc.engine import check, replay
from klpmc.registry import get_model, select_properties

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
TARBALL = Path("/usr/src/linux-source-6.12.tar.xz")
HAVE = TARBALL.is_file() and shutil.which("gcc") is not None
if not HAVE and os.environ.get("KLPMC_REQUIRE_KERNEL_C"):
    raise RuntimeError("KLPMC_REQUIRE_KERNEL_C is set but gcc or linux-source-6.12 is missing")
pytestmark = pytest.mark.skipif(not HAVE, reason="needs gcc and linux-source-6.12 (apt-get install)")

SCENARIOS = sorted((DATA / "kselftest").glob("*.txt")) + sorted((DATA / "kselftest-extra").glob("*.txt"))
# 6.12 has not the module-function pair of test-livepatch.sh's tests 4 and 5: klpmc's own stand in, the
# ones the real-kernel harness builds for Debian's 6.12
OWN_IN_612 = {"test-livepatch__04_module_function_patching.txt",
              "test-livepatch__05_module_function_patching_livepatch_first.txt"}


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.name)
def test_kselftest_logs_replay_on_the_c(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The selftests' logs, byte for byte, from the kernel's C and the tree's own test modules."""
    code = run(["replay", "kernel", str(path), "--check"])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert out.endswith("lines\n") and "matches the expected log" in out


def test_the_module_function_pair_is_klpmcs_own_where_the_tree_lacks_it() -> None:
    from klpmc.models._harness import CMachine
    from klpmc.models.kernel import kernel_for

    machine = CMachine(kernel_for())
    assert set(machine.own) == {"test_klp_mod_target", "test_klp_mod_patch"}
    assert {"test_klp_livepatch", *machine.own} <= set(machine.modules())
    assert len(OWN_IN_612 & {p.name for p in SCENARIOS}) == 2


@pytest.mark.parametrize("preset", pinned_presets("kernel"))
def test_preset_pinned(preset: str) -> None:
    """The C's own distinct states, transitions, depth and shortest violations (models/manifests/kernel.json),
    with upstream's verdicts, as `klpmc check kernel --preset NAME` gives them in a process of its own (see
    test_a_replay_leaves_the_c_as_it_found_it for why not in this one)."""
    done = subprocess.run([sys.executable, "-m", "klpmc", "check", "kernel", "--preset", preset, "--json", "-q"],
                          capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr
    out = json.loads(done.stdout)
    pinned = read("kernel").presets[preset].pinned
    assert pinned is not None
    assert (out["states"], out["transitions"], out["depth"]) == (pinned.states, pinned.transitions, pinned.depth)
    steps = {p["name"]: len(p["trace"]) for p in out["properties"] if p["verdict"] == "violated"}
    assert steps == dict(pinned.steps)


def test_a_replay_leaves_the_c_as_it_found_it(capsys: pytest.CaptureFixture[str]) -> None:
    """What a run of the C finds does not depend on what ran before it in the process."""
    pinned = read("kernel").presets["kselftest"].pinned
    assert pinned is not None
    run(["replay", "kernel", str(DATA / "kselftest-extra" / "test-callbacks__09_busy_target_module.txt"), "--check"])
    capsys.readouterr()
    _, result = _run("kselftest")
    assert (result.stats.states, result.stats.transitions) == (pinned.states, pinned.transitions)


def _run(preset: str) -> tuple[Any, Any]:
    mdef = get_model("kernel")
    model = mdef.build(mdef.preset(preset).config)
    return model, check(model, select_properties(mdef))


@pytest.mark.parametrize("preset", ["small", "drop"])
def test_mainline_c_keeps_every_rule_but_the_designed_one(preset: str) -> None:
    """On 6.12's C every rule holds except what the upstream manifest says mainline breaks by design."""
    mdef = get_model("kernel")
    _, result = _run(preset)
    for r in result.properties:
        assert r.verdict == mdef.expectation(preset, r.prop).verdict, r.name
    assert result.complete


def test_the_designed_violation_has_the_python_models_shortest_trace() -> None:
    """objects-cleaned-before-free on small: the same four commands on the C as in the upstream model."""
    _, c = _run("small")
    up = get_model("upstream")
    py = check(up.build(up.preset("small").config), select_properties(up))
    assert c["objects-cleaned-before-free"].trace is not None
    assert [str(x) for x in c["objects-cleaned-before-free"].trace.labels] == [
        str(x) for x in py["objects-cleaned-before-free"].trace.labels]


def test_traces_replay_on_the_c() -> None:
    """A trace of the C rebuilds from its labels: the steps are deterministic, states are restored."""
    model, result = _run("small")
    trace = result["objects-cleaned-before-free"].trace
    assert trace is not None
    steps = replay(model, trace.labels)
    assert [s.state for s in steps] == [s.state for s in trace.steps]
    assert [s.log for s in steps] == [s.log for s in trace.steps]


def test_states_differing_only_in_allocation_order_are_one() -> None:
    """Enabling then disabling P1 and then P2, or P2 and then P1, leaves equal kernels: one state."""
    mdef = get_model("kernel")
    model = mdef.build(mdef.preset("small").config)
    init = model.init_states()[0]

    def walk(labels: list[str]) -> Any:
        state = init
        for want in labels:
            state = model.keep(next(t for label, t, _ in model.next_steps(state) if str(label) == want))
        return state

    a = walk(["klp_enable_patch(P1, fail=pre_patch:P1:vmlinux)", "klp_enable_patch(P2, fail=pre_patch:P2:vmlinux)"])
    b = walk(["klp_enable_patch(P2, fail=pre_patch:P2:vmlinux)", "klp_enable_patch(P1, fail=pre_patch:P1:vmlinux)"])
    assert a.vec == b.vec and a.snap != b.snap


@pytest.mark.parametrize("preset", ["small", "drop", "modules", "kselftest-state", "kselftest"])
def test_upstream_conforms_to_the_c(preset: str) -> None:
    """Every shortest trace of the upstream model runs on 6.12's C with the same log and callbacks."""
    up, k = get_model("upstream"), get_model("kernel")
    spec, impl = up.build(up.preset(preset).config), k.build(k.preset(preset).config)
    r = conform(spec, impl, impl.internal)
    assert r.steps == r.traces - 1 and r.differences == [] and r.not_expressible == []


REVERSED_THEN_BUSY = ["klp_enable_patch(test_klp_callbacks_demo)", "enabled_store(test_klp_callbacks_demo, 0)",
                      "klp_module_coming(test_klp_callbacks_busy, block_transition=True)"]


def test_a_command_runs_in_a_process_that_has_switched() -> None:
    """The shell switches on its way back to user mode (exit_to_user_mode), so the next command's process,
    and the kworker it starts, run the reversed transition's target: busy's work is the original (the C
    ran the demo's patched_work_func and hung while the shell kept the state it had)."""
    mdef = get_model("kernel")
    steps = replay(mdef.build(mdef.preset("kselftest").config), REVERSED_THEN_BUSY)
    log = [x for x in steps[-1].log if isinstance(x, str)]
    assert "test_klp_callbacks_busy: busymod_work_func enter" in log
    assert not any("patched_work_func" in x or "hang" in x for x in log), log


def test_enable_switches_the_tasks_that_can_before_its_own_step() -> None:
    """__klp_enable_patch()'s klp_try_complete_transition() switches every task its stack lets switch, in the
    Python model as in the C: busy's kworker, asleep in the original busymod_work_func (it started while the
    demo was forced off), switches to a replace patch whose nop stands for the demo's version, and then
    blocks the reversal (a nop's new function is the original). The model completed it."""
    labels = [*REVERSED_THEN_BUSY[:2], "force_store(test_klp_callbacks_demo)", REVERSED_THEN_BUSY[2],
              "enabled_store(test_klp_callbacks_demo, 1)", "force_store(test_klp_callbacks_demo)",
              "klp_try_complete_transition()", "klp_enable_patch(test_klp_callbacks_demo2, replace=1)",
              "enabled_store(test_klp_callbacks_demo2, 0)"]
    for name in ("upstream", "kernel"):
        mdef = get_model(name)
        model = mdef.build(mdef.preset("kselftest").config)
        last = replay(model, labels)[-1].state
        offered = {str(label): [x for x in log if isinstance(x, str)] for label, _, log in model.next_steps(last)}
        assert offered.get("klp_try_complete_transition()", []) == [], (name, offered)


def test_a_tree_without_the_core_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "kernel").mkdir()
    assert run(["check", "kernel", "--kernel", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no kernel/livepatch/core.c" in err
    junk = tmp_path / "linux.tar.xz"
    junk.write_text("not a tarball")
    assert run(["check", "kernel", "--kernel", str(junk)]) == 2
    assert "neither a directory nor a tarball" in capsys.readouterr().err
    assert run(["check", "upstream", "--kernel", str(junk)]) == 2
    assert "takes no --kernel" in capsys.readouterr().err


def test_no_gcc_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from klpmc.models._kbuild import build_core, open_tree

    from klpmc.model import InputError

    tree = open_tree(None)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(InputError, match=r"gcc is not installed \(apt-get install gcc\)"):
        build_core(tree)


def test_jobs_2_on_the_c_prints_what_jobs_1_prints(capsys: pytest.CaptureFixture[str]) -> None:
    """Each worker process loads its own copy of the C: a scope spread over two gives the same JSON."""
    timing = re.compile(r'"(seconds|states_per_second|peak_memory)": [\d.]+')
    outs = []
    for jobs in ("1", "2"):
        assert run(["check", "kernel", "--scope", "patches=2,states=1", "--json", "--jobs", jobs]) == 0
        outs.append(timing.sub("T", capsys.readouterr().out))
    assert outs[0] == outs[1] and outs[0].count('"scope": ') == 1 + 16


def test_the_kernels_allocations_may_fail(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """[faults] alloc: each kmalloc() of a call may fail on the C; the error paths leak nothing, free
    nothing twice. The Python models do not model allocations and say so."""
    toml = tmp_path / "alloc.toml"
    toml.write_text('name = "alloc"\n[[patch]]\nname = "P1"\nstates = [{id = 1}]\n'
                    '[[patch]]\nname = "P2"\nreplace = true\nstates = [{id = 1}]\n[faults]\nalloc = true\n')
    mdef = get_model("kernel")
    cfg, _ = mdef.load_config(toml)
    model = mdef.build(cfg)
    labels = {str(label) for label, _, _ in model.next_steps(model.init_states()[0])}
    assert "klp_enable_patch(P1, fail=alloc::1)" in labels
    result = check(model, select_properties(mdef))
    for name in ("no-leak-when-idle", "no-bad-free", "no-crash", "no-warn", "no-hang"):
        assert result[name].verdict == "holds", name
    assert run(["check", "upstream", "--config", str(toml)]) == 2
    assert "does not model allocations" in capsys.readouterr().err


def test_diff_follows_the_c_past_its_first_step() -> None:
    """diff walks the product of a Python model and the C (the C keeps each successor it offers), and the
    C's own free work parts nothing; what is left on small is the one real difference: an rmmod the C
    refuses while the patch's free work is pending, where upstream's model frees at once."""
    from klpmc.diff import distinguish

    up, k = get_model("upstream"), get_model("kernel")
    d = distinguish(up.build(up.preset("small").config), k.build(k.preset("small").config))
    assert d.complete and d.pairs > 100
    assert [(x.kind, str(x.last.label)) for x in d.differences] == [("only-b", "delete_module(P1)")]


def test_real_kernel_traces_of_the_c_reach_every_state() -> None:
    """conform kernel --real-kernel takes its traces from klpmc's BFS: one to each state the C reaches (its
    own search once stopped after 4 states, keying the C's states by their snapshots)."""
    from klpmc.realkernel.conform import shortest_traces

    mdef = get_model("kernel")
    model = mdef.build(mdef.preset("kselftest-state").config)
    traces, states = shortest_traces(model, 100_000)
    assert states == check(model, []).stats.states > 1_000
    assert len(traces) == states - len(list(model.init_states()))
    assert len({tuple(t.labels) for t in traces}) == len(traces)
    assert traces[-1].commands[0] is not None and traces[-1].commands[0].startswith("insmod ")
