"""The POC models: poc (mainline + [POC 1/7]) and poc-series (the POC after 7/7).

The POC selftest logs replay byte for byte on poc-series, the mainline selftest logs still replay on poc
(1/7 changes no selftest), and the state counts, depths, verdicts and shortest-trace lengths per preset
are pinned, together with the shortest trace of each finding.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from presets import check_pinned, pinned_presets

from klpmc.engine import check
from klpmc.registry import get_model, select_properties

DATA = Path(__file__).parent / "data"
SERIES = sorted((DATA / "series").glob("poc__*.txt")) + sorted((DATA / "series-extra").glob("poc__*.txt"))
SELFTESTS = sorted((DATA / "kselftest").glob("*.txt")) + sorted((DATA / "kselftest-extra").glob("*.txt"))


def _replays(model: str, path: Path) -> None:
    from klpmc.models._harness import diff_lines, read_scenario

    lines, ok = get_model(model).replay(str(path), True)
    assert ok, "\n".join(diff_lines(read_scenario(str(path)), lines, model))


def test_series_files_present() -> None:
    assert len(SERIES) == 15


@pytest.mark.parametrize("path", SERIES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_poc_selftest_replays_on_poc_series(path: Path) -> None:
    _replays("poc-series", path)


@pytest.mark.parametrize("path", SELFTESTS, ids=lambda p: p.stem)
def test_mainline_selftest_replays_on_poc(path: Path) -> None:
    _replays("poc", path)


@pytest.mark.parametrize("preset", ["kselftest", "kselftest-state"])
def test_poc_explores_what_upstream_does_without_state_callbacks(preset: str) -> None:
    """Mainline's selftest modules have no state callbacks: poc and upstream reach the same states."""
    counts = []
    for name in ("upstream", "poc"):
        mdef = get_model(name)
        st = check(mdef.build(mdef.preset(preset).config)).stats
        counts.append((st.states, st.transitions, st.depth))
    assert counts[0] == counts[1]


def _scenario(model: str, commands: list[str]) -> list[str]:
    """What the model prints for harness commands (not an oracle: the model's own answer, pinned)."""
    import importlib

    from klpmc.models._config import Config
    from klpmc.models._harness import PythonMachine, replay_lines

    get_model(model)  # maps klpmc.models in a source checkout
    variant = importlib.import_module(f"klpmc.models.{model.replace('-', '_')}")
    fixtures = variant.FIXTURES
    config = Config("scenario", fixtures=fixtures, module_dir=fixtures.module_dir)
    features = variant.MODEL.build(config).features
    return replay_lines(PythonMachine(variant, config, features), [f"% {c}" for c in commands])


def test_block_disable_refuses_disable() -> None:
    """7/7: enabled_store() refuses to disable a patch whose state has block_disable, with the mail's text."""
    out = _scenario("poc-series", ["modprobe test_klp_state2 block_state_disable=1",
                                   "echo 0 > /sys/kernel/livepatch/test_klp_state2/enabled"])
    assert out[-2:] == ["% echo 0 > /sys/kernel/livepatch/test_klp_state2/enabled",
                        "livepatch: The livepatch 'test_klp_state2' does not support disable"]


def test_waiting_worker_blocks_until_reversed() -> None:
    """The speaker's worker sleeps in the original call_speaker: patching stalls until it is reversed."""
    out = _scenario("poc-series", [
        "modprobe test_klp_speaker waiting_welcome=1",
        "modprobe test_klp_speaker_livepatch add_applause=1",
        "echo 0 > /sys/module/test_klp_speaker/parameters/waiting_welcome",
    ])
    assert out == [
        "% modprobe test_klp_speaker waiting_welcome=1",
        "test_klp_speaker: call_speaker: Calling speaker.",
        "test_klp_speaker: speaker_wait_and_welcome: Speaker started waiting.",
        "test_klp_speaker: test_klp_speaker_init",
        "% modprobe test_klp_speaker_livepatch add_applause=1",
        "livepatch: enabling patch 'test_klp_speaker_livepatch'",
        "livepatch: 'test_klp_speaker_livepatch': initializing patching transition",
        "test_klp_speaker_livepatch: setup_applause_callback: state 1",
        "livepatch: 'test_klp_speaker_livepatch': starting patching transition",
        # the worker wakes in the unpatched state: the original welcome; then the transition completes
        "% echo 0 > /sys/module/test_klp_speaker/parameters/waiting_welcome",
        "test_klp_speaker: speaker_welcome: Hello, World!",
        "livepatch: 'test_klp_speaker_livepatch': completing patching transition",
        "test_klp_speaker_livepatch: enable_applause_callback: state 1",
        "livepatch: 'test_klp_speaker_livepatch': patching complete",
    ]


@pytest.mark.parametrize(("model_name", "preset"),
                         [(m, p) for m in ("poc", "poc-series") for p in pinned_presets(m)], ids=lambda x: x)
def test_preset_pinned(model_name: str, preset: str) -> None:
    """Distinct states, transitions, depth, verdicts and shortest violations: the model's manifest."""
    check_pinned(model_name, preset)


def _shortest(model_name: str, preset: str, prop: str) -> list[str]:
    mdef = get_model(model_name)
    model = mdef.build(mdef.preset(preset).config)
    (res,) = check(model, select_properties(mdef, [prop])).properties
    assert res.trace is not None
    return [str(label) for label in res.trace.labels]


def test_poc_1_releases_twice_on_failing_pre_patch() -> None:
    """1/7 alone: err_states releases, then klp_cancel_transition() releases again."""
    assert _shortest("poc", "small", "release-after-setup") == [
        "klp_enable_patch(P1, fail=pre_patch:P1:vmlinux)"]


def test_release_obsolete_releases_a_newer_patchs_state() -> None:
    """A reversed disable of the replace patch P3 completes as a replace and releases newer P1's state."""
    assert _shortest("poc", "drop", "release-only-when-gone") == [
        "klp_enable_patch(P3)", "klp_try_complete_transition()", "klp_enable_patch(P1)",
        "klp_try_complete_transition()", "enabled_store(P3, 0)", "enabled_store(P3, 1)",
        "klp_try_complete_transition()"]


def test_state_shared_by_replaced_patches_leaks() -> None:
    """P1 and P2 share state 1; P3 replaces both without it: neither releases it, its shadow stays."""
    assert _shortest("poc-series", "drop", "shadow-freed-on-leave") == [
        "klp_enable_patch(P1)", "klp_try_complete_transition()", "klp_enable_patch(P2)",
        "klp_try_complete_transition()", "klp_enable_patch(P3)", "klp_try_complete_transition()"]


def test_reversed_replace_leaves_obsolete_state_disabled() -> None:
    """The POC has no post_patch_replaced: after a reversed replace, P1's state is disabled a second time."""
    assert _shortest("poc-series", "drop", "state-lifecycle") == [
        "klp_enable_patch(P1)", "klp_try_complete_transition()", "klp_enable_patch(P3)",
        "enabled_store(P3, 0)", "klp_try_complete_transition()", "enabled_store(P1, 0)"]
