"""The mainline model: the kernel's selftest logs replay byte for byte; pinned state counts and verdicts."""

from __future__ import annotations

from pathlib import Path

import pytest
from presets import check_preset

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


# distinct states, transitions, depth, and the verdicts that are not holds/reachable, measured with
# `klpmc check upstream --preset NAME --json`
PINNED = {
    "small": (58, 137, 8, {"objects-cleaned-before-free": "violated",
                           "reach-module-in-transition": "unreachable"}),
    "drop": (264, 843, 12, {"reach-module-in-transition": "unreachable"}),
    "modules": (586, 3528, 19, {"objects-cleaned-before-free": "violated"}),
    "kselftest": (2048, 10032, 14, {"objects-cleaned-before-free": "violated"}),
    "kselftest-state": (812, 2996, 24, {"objects-cleaned-before-free": "violated",
                                        "reach-module-in-transition": "unreachable"}),
}


@pytest.mark.parametrize("preset", sorted(PINNED))
def test_preset_pinned(preset: str) -> None:
    result = check_preset("upstream", preset)
    states, transitions, depth, odd = PINNED[preset]
    assert (result.stats.states, result.stats.transitions, result.stats.depth) == (states, transitions, depth)
    got = {r.prop.name: r.verdict for r in result.properties if r.verdict not in ("holds", "reachable")}
    assert got == odd


def test_replace_leaves_objects_set_up() -> None:
    """The shortest trace of mainline's design asymmetry: P2 replaces P1, P1's objects never unpatch."""
    mdef = get_model("upstream")
    model = mdef.build(mdef.preset("small").config)
    (res,) = check(model, select_properties(mdef, ["objects-cleaned-before-free"])).properties
    assert [str(label) for label in res.trace.labels] == [
        "klp_enable_patch(P1)", "klp_try_complete_transition()", "klp_enable_patch(P2)",
        "klp_try_complete_transition()"]
