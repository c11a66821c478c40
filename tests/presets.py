"""The check every pinned preset goes through, shared by the model tests; the numbers are the manifest's."""

from __future__ import annotations

from klpmc.models._manifest import read

from klpmc.engine import Result, check, replay
from klpmc.registry import get_model, select_properties


def check_preset(model_name: str, preset: str) -> Result:
    """Run a preset with the model's properties: complete, every verdict the manifest's, every trace replays."""
    mdef = get_model(model_name)
    model = mdef.build(mdef.preset(preset).config)
    result = check(model, select_properties(mdef))
    assert result.complete
    for r in result.properties:
        assert r.verdict == mdef.expectation(preset, r.prop).verdict, r.prop.name
        if r.trace is not None:
            rebuilt = replay(model, r.trace.labels, init=r.trace.init)
            assert [s.state for s in rebuilt] == [s.state for s in r.trace.steps]
    return result


def pinned_presets(model_name: str) -> list[str]:
    """The presets whose counts the model's manifest pins."""
    return [name for name, p in read(model_name).presets.items() if p.pinned is not None]


def check_pinned(model_name: str, preset: str) -> Result:
    """`check_preset`, and the distinct states, transitions, depth and shortest violations the manifest pins."""
    result = check_preset(model_name, preset)
    pinned = read(model_name).presets[preset].pinned
    assert pinned is not None
    got = (result.stats.states, result.stats.transitions, result.stats.depth)
    assert got == (pinned.states, pinned.transitions, pinned.depth), f"{model_name} {preset}: {got}"
    steps = {r.name: len(r.trace.steps) for r in result.properties if r.verdict == "violated" and r.trace}
    assert steps == dict(pinned.steps)
    return result
