"""Scopes: every configuration of a recorded scope gives the verdicts and the totals in the model's manifest."""

from __future__ import annotations

from pathlib import Path

import pytest
from klpmc.models._manifest import NEEDED, read

from klpmc.engine import check
from klpmc.registry import get_model, select_properties

MANIFESTS = Path(__file__).resolve().parent.parent / "models" / "manifests"
RECORDED = sorted(p.stem for p in MANIFESTS.glob("*.json") if read(p.stem).scopes)


@pytest.mark.parametrize("model_name", RECORDED)
def test_scope_matches_manifest(model_name: str) -> None:
    manifest = read(model_name)
    mdef = get_model(model_name)
    props = select_properties(mdef)
    assert mdef.scope is not None
    for spec, recorded in manifest.scopes.items():
        assert all(manifest.reasons[r] != NEEDED for r in recorded.reasons.values()), "every finding needs a reason"
        configs = mdef.scope(spec)
        assert set(recorded.violated) <= {name for name, _ in configs}
        states = transitions = 0
        for name, cfg in configs:
            r = check(mdef.build(cfg), props)
            violated = sorted(p.prop.name for p in r.properties if p.verdict == "violated")
            assert violated == sorted(recorded.violated.get(name, [])), name
            assert all(p.verdict != "undetermined" for p in r.properties)
            states, transitions = states + r.stats.states, transitions + r.stats.transitions
        assert (len(configs), states, transitions) == (recorded.configurations, recorded.states, recorded.transitions)


def test_scope_collapses_renamed_states() -> None:
    """P1{1} and P1{2} are the same configuration up to the name of the state: listed once."""
    names = [name for name, _ in get_model("upstream").scope("patches=1,states=2")]
    assert "P1{1}" in names and "P1{2}" not in names
    assert len(names) == len(set(names))
