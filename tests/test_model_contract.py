"""Every installed model keeps the engine's contract (docs/design.md), checked without knowing its meaning.

For each model found by the registry: its manifest names only catalogue properties, its default preset
builds, ``next_steps`` is pure and deterministic, and every trace the engine finds replays exactly.
"""

from __future__ import annotations

import pytest

from klpmc import registry
from klpmc.engine import check
from klpmc.testing import assert_next_steps_pure, assert_traces_replay

MODELS = registry.all_models()
BROKEN = registry.broken_modules()  # as the scan above left it, before any other test scans
BOUND = 20_000  # states per model: enough to meet every kind of step, cheap enough for CI


def test_every_model_module_imports() -> None:
    assert BROKEN == {}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_manifest_names_catalogue_properties(name: str) -> None:
    mdef = MODELS[name]
    known = registry.catalogue()
    assert [p for p in mdef.properties if p not in known] == []
    for config_name, entries in mdef.expected.items():
        assert [p for p in entries if p not in known] == [], config_name


@pytest.mark.parametrize("name", sorted(MODELS))
def test_default_preset_keeps_the_engine_contract(name: str) -> None:
    mdef = MODELS[name]
    model = mdef.build(mdef.preset(mdef.default_preset).config)
    result = check(model, registry.select_properties(mdef), max_states=BOUND)
    assert_traces_replay(model, result)
    touched = list(model.init_states())
    for r in result.properties:
        if r.trace is not None:
            touched += [s.state for s in r.trace.steps]
    assert_next_steps_pure(model, touched)
