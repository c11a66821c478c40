"""The v1 series models: v1, refcount (v1 made a refcount) and replace-set (v1 scoped by replace_set).

Every v1 selftest log (the shared oracles and the ones rebuilt in the notes) replays byte for byte on v1 and
on refcount; replace-set differs on the two logs whose patches its v2 rules refuse or keep apart. Distinct
states, transitions, depth, verdicts and shortest-trace lengths are pinned per preset; the two v1 findings
are pinned on their smallest configurations; refcount holds every always/step property of the catalogue on
the presets and on the scope patches=2,states=2 (patches=3,states=2 with KLPMC_SLOW=1), except the rule
the manifests mark "catalogue:".
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from presets import check_pinned, pinned_presets

from klpmc.engine import check
from klpmc.registry import get_model, select_properties

DATA = Path(__file__).parent / "data"
SHARED = sorted((DATA / "series").glob("v1__*.txt"))
EXTRA = sorted((DATA / "series-extra").glob("v1__*.txt"))
# replace-set keeps these two logs apart by design: replace=false is a set of its own (see klp_replace_set)
REPLACE_SET_DIFFERS = {"v1__test-state-callbacks__07_atomic_replace",
                       "v1__test-livepatch__03_atomic_replace_livepatch"}


def _replay(model: str, path: Path) -> tuple[list[str], list[str]]:
    from klpmc.models._harness import read_scenario

    lines, _ = get_model(model).replay(str(path), False)
    return read_scenario(str(path)), lines


def _assert_replays(model: str, path: Path) -> None:
    lines, ok = get_model(model).replay(str(path), True)
    assert ok, "\n".join(lines)


def test_series_files_present() -> None:
    assert (len(SHARED), len(EXTRA)) == (10, 9)


@pytest.mark.parametrize("path", SHARED + EXTRA, ids=lambda p: f"{p.parent.name}/{p.stem}")
@pytest.mark.parametrize("model", ["v1", "refcount"])
def test_v1_selftest_replays(model: str, path: Path) -> None:
    _assert_replays(model, path)


@pytest.mark.parametrize("path", SHARED + EXTRA, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_v1_selftest_on_replace_set(path: Path) -> None:
    if path.stem not in REPLACE_SET_DIFFERS:
        _assert_replays("replace-set", path)
        return
    expected, got = _replay("replace-set", path)
    assert got != expected


def test_replace_set_refuses_a_state_shared_across_sets() -> None:
    """v2: livepatch (replace=0, its own set) and livepatch2 (replace=1, set 0) may not share state 10."""
    _, got = _replay("replace-set", DATA / "series" / "v1__test-state-callbacks__07_atomic_replace.txt")
    i = got.index("% insmod test_modules/test_klp_speaker_livepatch2.ko replace=1 applause=1 applause2=1")
    lp2 = "test_klp_speaker_livepatch2"
    assert got[i + 1:i + 3] == [
        f"livepatch: Livepatch patch ({lp2}) is not compatible with the already installed livepatches.",
        f"insmod: ERROR: could not insert module test_modules/{lp2}.ko: Invalid parameters"]


def _scenario(model: str, commands: list[str]) -> list[str]:
    """What the model prints for harness commands (the model's own answer, pinned; not an oracle)."""
    import importlib

    from klpmc.models._config import Config
    from klpmc.models._harness import PythonMachine, replay_lines

    get_model(model)  # maps klpmc.models in a source checkout
    variant = importlib.import_module(f"klpmc.models.{model.replace('-', '_')}")
    config = Config("scenario", fixtures=variant.FIXTURES, module_dir=variant.FIXTURES.module_dir)
    features = variant.MODEL.build(config).features
    return replay_lines(PythonMachine(variant, config, features), [f"% {c}" for c in commands])


def test_block_disable_refuses_disable() -> None:
    """04/19: enabled_store() refuses to disable a patch with a block_disable state, with the mail's text."""
    out = _scenario("v1", ["insmod test_modules/test_klp_state.ko state_block_disable=1",
                           "echo 0 > /sys/kernel/livepatch/test_klp_state/enabled"])
    assert out[-2:] == ["% echo 0 > /sys/kernel/livepatch/test_klp_state/enabled",
                        "livepatch: The livepatch 'test_klp_state' does not support disable"]


def test_blocked_worker_runs_the_version_of_its_patch_state() -> None:
    """The worker blocking the enable still runs the original speaker_welcome when it is released."""
    out = _scenario("v1", ["insmod test_modules/test_klp_speaker.ko block_doors=1",
                           "insmod test_modules/test_klp_speaker_livepatch.ko",
                           "cat /sys/module/test_klp_speaker/parameters/block_doors",
                           "echo 1 > /sys/module/test_klp_speaker/parameters/block_doors",
                           "echo 0 > /sys/module/test_klp_speaker/parameters/block_doors"])
    i = out.index("% cat /sys/module/test_klp_speaker/parameters/block_doors")
    assert out[i:] == [
        "% cat /sys/module/test_klp_speaker/parameters/block_doors",
        "test_klp_speaker: The doors are blocked.",
        "% echo 1 > /sys/module/test_klp_speaker/parameters/block_doors",
        "test_klp_speaker: block_doors_set: The doors are already blocked.",
        "% echo 0 > /sys/module/test_klp_speaker/parameters/block_doors",
        "test_klp_speaker: do_block_doors: Stopped blocking doors.",
        "test_klp_speaker: speaker_welcome: Hello, World! <--- from blocked doors",
        "livepatch: 'test_klp_speaker_livepatch': completing patching transition",
        "livepatch: 'test_klp_speaker_livepatch': patching complete"]


@pytest.mark.parametrize(("model", "preset"),
                         [(m, p) for m in ("v1", "refcount", "replace-set") for p in pinned_presets(m)],
                         ids=lambda x: str(x))
def test_pinned_counts_and_verdicts(model: str, preset: str) -> None:
    """Distinct states, transitions, depth, verdicts and shortest violations: the model's manifest."""
    check_pinned(model, preset)


def _scope_config(model: str, spec: str, name: str):  # type: ignore[no-untyped-def]
    return dict(get_model(model).scope(spec))[name]


# the two v1 findings on their smallest configurations: (scope, configuration, property, trace length)
FINDINGS = [
    ("patches=2,states=1", "P1r{} P2{1}", "release-only-when-gone", 7),
    ("patches=2,states=1", "P1r{} P2{1}", "set-up-while-held", 7),
    ("patches=3,states=1", "P1{1} P2{1} P3r{}", "released-on-leave", 6),
    ("patches=3,states=1", "P1{1} P2{1} P3r{}", "shadow-freed-on-leave", 6),
]


@pytest.mark.parametrize(("spec", "name", "prop", "length"), FINDINGS, ids=lambda x: str(x))
def test_v1_finding_and_refcount_fix(spec: str, name: str, prop: str, length: int) -> None:
    results = {}
    for model in ("v1", "refcount"):
        mdef = get_model(model)
        [p] = select_properties(mdef, [prop])
        results[model] = check(mdef.build(_scope_config(model, spec, name)), [p])[prop]
    assert results["v1"].verdict == "violated"
    assert results["v1"].trace is not None and len(results["v1"].trace.steps) == length
    assert results["refcount"].verdict == "holds"


def _holds_on_scope(model: str, spec: str) -> dict[str, list[str]]:
    mdef = get_model(model)
    props = [p for p in select_properties(mdef) if p.kind != "sometimes"]
    broken: dict[str, list[str]] = {}
    for name, config in mdef.scope(spec):
        for r in check(mdef.build(config), props).properties:
            if r.verdict != "holds":
                broken.setdefault(r.name, []).append(name)
    return broken


def test_refcount_holds_on_scope_2_2() -> None:
    assert _holds_on_scope("refcount", "patches=2,states=2") == {}


def test_v1_breaks_on_scope_2_2() -> None:
    broken = _holds_on_scope("v1", "patches=2,states=2")
    assert sorted(broken) == ["no-callback-on-kept-state", "release-only-when-gone", "released-on-leave",
                              "reversal-restores", "set-up-while-held", "shadow-free-once", "state-lifecycle"]
    assert "P1r{} P2{1}" in broken["release-only-when-gone"]


def test_replace_set_holds_on_scope_2_2() -> None:
    assert _holds_on_scope("replace-set", "patches=2,states=2") == {}


@pytest.mark.skipif(not os.environ.get("KLPMC_SLOW"), reason="about 30 s a model; set KLPMC_SLOW=1")
@pytest.mark.parametrize("model", ["refcount", "replace-set"])
def test_holds_on_scope_3_2(model: str) -> None:
    assert _holds_on_scope(model, "patches=3,states=2") == {}
