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


def _shape(cfg: object) -> tuple[object, ...]:
    """What a scope configuration is, up to the names of its state ids: per patch (replace, ids, flags)."""
    from itertools import permutations

    patches = cfg.patches  # type: ignore[attr-defined]
    ids = sorted({s.id for p in patches for s in p.states})
    best = None
    for perm in permutations(ids):
        rename = dict(zip(ids, perm, strict=True))
        key = tuple((p.replace, tuple(sorted((rename[s.id], s.block_disable) for s in p.states))) for p in patches)
        best = key if best is None or key < best else best
    return best or ()


@pytest.mark.parametrize(("model_name", "spec", "count"), [
    ("refcount", "patches=2,states=2", 112), ("refcount", "patches=3,states=2", 960),
    ("upstream", "patches=2,states=2", 40), ("upstream", "patches=3,states=2", 288),
])
def test_scope_counts_each_configuration_once(model_name: str, spec: str, count: int) -> None:
    """No two configurations of a scope are the same stack (a block_disable on a state no patch holds is none)."""
    mdef = get_model(model_name)
    assert mdef.scope is not None
    configs = mdef.scope(spec)
    shapes = [_shape(cfg) for _, cfg in configs]
    assert len(set(shapes)) == len(shapes) == count
    for name, cfg in configs:
        held = {s.id for p in cfg.patches for s in p.states}
        flagged = {s.id for p in cfg.patches for s in p.states if s.block_disable}
        assert flagged <= held
        assert ("block_disable" in name) == bool(flagged)
        assert len(cfg.patches) == int(spec.split(",")[0].split("=")[1])    # exactly N patches


@pytest.mark.parametrize(("spec", "message"), [
    ("", "empty scope ''"),
    (",", "empty scope ','"),
    (" , ", "empty scope"),
    ("patches=²", "bad scope part 'patches=²'"),
    ("patches=٣", "bad scope part"),
    ("patches=2,patches=3", "scope 'patches=2,patches=3' gives patches twice"),
    ("patches=0", "scope patches=0: a scope needs at least 1 patch"),
    ("patches=5", "scope patches=5 is too large"),
    ("states=4", "scope states=4 is too large"),
    ("patches=-1", "bad scope part"),
    ("patches=1e3", "bad scope part"),
    ("patches=99999999999999999999", "bad scope part"),
    ("frobs=2", "bad scope part 'frobs=2'"),
    ("patches", "bad scope part 'patches'"),
])
def test_bad_scope_is_one_line(spec: str, message: str) -> None:
    from klpmc.registry import ConfigError

    mdef = get_model("refcount")
    assert mdef.scope is not None
    with pytest.raises(ConfigError) as e:
        mdef.scope(spec)
    assert str(e.value).startswith(message) and "\n" not in str(e.value)
