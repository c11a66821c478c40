"""The manifests (models/manifests/<model>.json): one per model, every preset pinned, every reason used, and a
malformed one named in one line (the counts themselves are checked by each model's tests)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from klpmc.models._config import presets_for
from klpmc.models._def import make_model_def
from klpmc.models._manifest import ManifestProblem, dumps, manifest_path, parse, read

from klpmc import registry

MODELS = registry.all_models()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_preset_is_in_the_manifest_and_pinned(name: str) -> None:
    mdef = MODELS[name]
    manifest = read(name)
    assert manifest_path(name).exists()
    assert list(manifest.presets) == list(mdef.presets)
    for preset, entry in manifest.presets.items():
        assert entry.pinned is not None, preset
        for prop in entry.pinned.steps:   # a pinned trace length is that of an expected violation
            assert mdef.expected[preset][prop].verdict == "violated", (preset, prop)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_reason_is_used(name: str) -> None:
    manifest = read(name)
    used = {e.reason for p in manifest.presets.values() for e in p.expected.values()}
    used |= {r for s in manifest.scopes.values() for r in s.reasons.values()}
    assert set(manifest.reasons) == used


def test_the_file_is_as_dumps_writes_it() -> None:
    """The recorder rewrites a manifest with `dumps`: a file written by hand in another layout would churn."""
    for name in MODELS:
        text = manifest_path(name).read_text(encoding="utf-8")
        assert text == dumps(json.loads(text)) + "\n", name


GOOD: dict[str, Any] = {
    "reasons": {"why": "because"},
    "presets": {"small": {"summary": "s", "expected": {"p": {"verdict": "violated", "reason": "why"}},
                          "pinned": {"states": 1, "transitions": 0, "depth": 0, "steps": {"p": 1}}}},
    "scopes": {"patches=1": {"configurations": 1, "states": 1, "transitions": 0, "reasons": {"p": "why"},
                             "violated": {"P1{}": ["p"]}}},
}


def test_a_good_manifest_reads() -> None:
    m = parse("m", GOOD, "m.json")
    assert m.expected() == {"small": {"p": ("violated", "because")}, "P1{}": {"p": ("violated", "because")}}


@pytest.mark.parametrize(("path", "value", "message"), [
    (("presets", "small", "expected", "p", "reason"), "who", "m.json: preset 'small', p: reason 'who' is not in "
                                                             "reasons; reasons: why"),
    (("presets", "small", "expected", "p", "verdict"), "broken", "m.json: preset 'small', p: unknown verdict "
                                                                 "'broken'; verdicts: holds, violated, reachable, "
                                                                 "unreachable, undetermined"),
    (("presets", "small", "pinnned"), 1, "m.json: preset 'small': unknown key 'pinnned'; keys: expected, pinned, "
                                         "summary"),
    (("scopes", "patches=1", "reasons"), {}, "m.json: scope 'patches=1': p is violated but has no reason"),
    (("presets", "small", "pinned", "depth"), None, "m.json: preset 'small', pinned lacks depth"),
])
def test_a_bad_manifest_is_named(path: tuple[str, ...], value: Any, message: str) -> None:
    data = copy.deepcopy(GOOD)
    at = data
    for key in path[:-1]:
        at = at[key]
    if value is None:
        del at[path[-1]]
    else:
        at[path[-1]] = value
    with pytest.raises(ManifestProblem) as e:
        parse("m", data, "m.json")
    assert str(e.value) == message


def test_a_preset_without_an_entry_is_refused() -> None:
    """A configuration in the code that the manifest does not describe is named when the model loads."""
    extra = {"extra": presets_for(())["small"]}
    with pytest.raises(ManifestProblem, match=r"upstream.json: no entry for preset 'extra'"):
        make_model_def("klpmc.models.upstream", "upstream", "s", ("object_callbacks",), presets=extra)


def test_the_kernel_manifest_names_the_spec_of_the_default_tree() -> None:
    """The C's counts are pinned on the default tree (mainline's API), checked on upstream's presets."""
    from klpmc.models.kernel import spec_of

    from klpmc.kmodgen import MAINLINE

    assert read("kernel").verdicts_of == spec_of(MAINLINE) == "upstream"
