"""Scopes: every configuration of patches=2,states=2 gives the verdicts recorded in the model's manifest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from klpmc.engine import check
from klpmc.registry import get_model, select_properties

MANIFESTS = Path(__file__).resolve().parent.parent / "models" / "manifests"
RECORDED = sorted(p.stem for p in MANIFESTS.glob("*.json"))


@pytest.mark.parametrize("model_name", RECORDED)
def test_scope_matches_manifest(model_name: str) -> None:
    data = json.loads((MANIFESTS / f"{model_name}.json").read_text())
    assert all(r and r != "REASON NEEDED" for r in data["reasons"].values()), "every finding needs a reason"
    mdef = get_model(model_name)
    props = select_properties(mdef)
    assert mdef.scope is not None
    for spec, recorded in data["scopes"].items():
        configs = mdef.scope(spec)
        assert set(recorded) <= {name for name, _ in configs}
        for name, cfg in configs:
            r = check(mdef.build(cfg), props)
            violated = sorted(p.prop.name for p in r.properties if p.verdict == "violated")
            assert violated == sorted(recorded.get(name, [])), name
            assert all(p.verdict != "undetermined" for p in r.properties)


def test_scope_collapses_renamed_states() -> None:
    """P1{1} and P1{2} are the same configuration up to the name of the state: listed once."""
    names = [name for name, _ in get_model("upstream").scope("patches=1,states=2")]
    assert "P1{1}" in names and "P1{2}" not in names
    assert len(names) == len(set(names))
