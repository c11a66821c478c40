"""Random walks through every model preset, and random configurations fed to the TOML loader."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from klpmc.engine import replay
from klpmc.registry import all_models, get_model

PRESETS = sorted((name, preset) for name, mdef in all_models().items() for preset in mdef.presets)


@pytest.mark.parametrize(("model_name", "preset"), PRESETS, ids=lambda x: str(x))
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(choices=st.lists(st.integers(min_value=0, max_value=1_000), max_size=25))
def test_random_walk(model_name: str, preset: str, choices: list[int]) -> None:
    """Labels are unique per state, steps never change their input, a walk replays from its labels."""
    mdef = get_model(model_name)
    model = mdef.build(mdef.preset(preset).config)
    state = model.init_states()[0]
    walk = [state]
    labels = []
    for c in choices:
        frozen = repr(state)
        steps = list(model.next_steps(state))
        assert repr(state) == frozen
        if not steps:
            break
        assert len({label for label, _, _ in steps}) == len(steps)
        label, state, log = steps[c % len(steps)]
        hash(state)
        assert all(isinstance(item, str) or hasattr(item, "as_json") for item in log)
        labels.append(label)
        walk.append(state)
    rebuilt = replay(model, labels, init=walk[0])
    assert [s.state for s in rebuilt] == walk[1:]


names = st.sampled_from(["P1", "P2", "mod_a", "vmlinux", "x"])
scalars = st.one_of(st.booleans(), st.integers(-3, 5), names)
fields = st.sampled_from(["name", "replace", "objects", "states", "callbacks", "replace_set", "id", "version",
                          "block_disable", "is_shadow", "setup", "pre_patch", "reverse", "force", "reload",
                          "typo"])
tables = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                        st.dictionaries(fields, inner, max_size=4)), max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(data=st.dictionaries(st.sampled_from(["patch", "module", "faults", "actions", "name", "oops"]), tables,
                            max_size=4))
def test_config_loader_never_crashes(data: dict[str, Any]) -> None:
    """Any parsed TOML gives a configuration or a one-line ConfigProblem, never another exception."""
    from klpmc.models._config import ConfigProblem, config_from_dict

    try:
        config_from_dict(data, "fuzz.toml", "v1", ("state_callbacks", "shadow_states", "block_disable"))
    except ConfigProblem as e:
        assert "\n" not in str(e) and str(e)
