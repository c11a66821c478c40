"""The check every pinned preset goes through, shared by the model tests."""

from __future__ import annotations

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
