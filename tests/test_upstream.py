"""The mainline model: the kernel's selftest logs replay byte for byte; pinned state counts and verdicts."""

from __future__ import annotations

from pathlib import Path

import pytest
from presets import check_pinned, pinned_presets

from klpmc.engine import check
from klpmc.registry import get_model, select_properties

DATA = Path(__file__).parent / "data"
SELFTESTS = sorted((DATA / "kselftest").glob("*.txt")) + sorted((DATA / "kselftest-extra").glob("*.txt"))


def test_selftest_files_present() -> None:
    assert len(SELFTESTS) == 20


@pytest.mark.parametrize("path", SELFTESTS, ids=lambda p: p.stem)
def test_selftest_replays_byte_for_byte(path: Path) -> None:
    lines, ok = get_model("upstream").replay(str(path), True)
    assert ok, "\n".join(lines)  # on a mismatch the lines are the unified diff


@pytest.mark.parametrize("preset", pinned_presets("upstream"))
def test_preset_pinned(preset: str) -> None:
    """Distinct states, transitions, depth, verdicts and shortest violations: models/manifests/upstream.json."""
    check_pinned("upstream", preset)


def test_replace_leaves_objects_set_up() -> None:
    """The shortest trace of mainline's design asymmetry: P2 replaces P1, P1's objects never unpatch."""
    mdef = get_model("upstream")
    model = mdef.build(mdef.preset("small").config)
    (res,) = check(model, select_properties(mdef, ["objects-cleaned-before-free"])).properties
    assert [str(label) for label in res.trace.labels] == [
        "klp_enable_patch(P1)", "klp_try_complete_transition()", "klp_enable_patch(P2)",
        "klp_try_complete_transition()"]


def test_a_replay_into_a_hang_is_one_line_not_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The busy module's init never ends when the demo already patches its work function: replaying that
    says so in one line (exit 2), as the kernel's C does, where it used to raise the finding."""
    from klpmc.cli import run

    scenario = tmp_path / "hang.txt"
    scenario.write_text("% insmod test_modules/test_klp_callbacks_demo.ko\n"
                        "% insmod test_modules/test_klp_callbacks_busy.ko block_transition=Y\n")
    assert run(["replay", "upstream", str(scenario), "--check"]) == 2
    err = capsys.readouterr().err
    assert "the model stopped: hang: wait_for_completion" in err and "Traceback" not in err
