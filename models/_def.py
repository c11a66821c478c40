"""The `ModelDef` of a livepatch variant: how the registry and the CLI see a model module.

Each variant module (`models/upstream.py`, ...) ends with ``MODEL = make_model_def(__name__, ...)``: its
presets, its manifest of expected verdicts, its configuration loader, scopes and selftest replay.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from klpmc.model import ExpectedVerdict, ModelDef, Preset

from . import _harness
from ._config import Config, load_config, presets_for, scope_configs, scope_legend, size_estimate
from ._model import KlpModel


def make_model_def(modname: str, name: str, summary: str, features: tuple[str, ...],
                   expected: dict[str, dict[str, tuple[str, str]]] | None = None,
                   default_preset: str = "small",
                   extra_presets: dict[str, tuple[str, Config]] | None = None) -> ModelDef:
    """The registry entry of a variant module: build, presets, manifest, config loader, scope, replay.

    ``features`` say what the variant has (object_callbacks, state_callbacks, versions, block_disable,
    shadow_states, replace_set); the registry checks the catalogue properties whose requirements they meet.
    ``expected[preset][property] = (verdict, one-line reason)`` is the manifest; scope configurations
    are named in it by their scope name.
    """
    variant = sys.modules[modname]
    all_presets = dict(presets_for(name, features))
    all_presets.update(extra_presets or {})
    presets = {pname: Preset(psummary, cfg) for pname, (psummary, cfg) in all_presets.items()}
    manifest = {
        preset: {prop: ExpectedVerdict(verdict, reason) for prop, (verdict, reason) in props.items()}
        for preset, props in (expected or {}).items()
    }
    manifest.update(scope_manifest(name, ExpectedVerdict))
    return ModelDef(
        name=name,
        summary=summary,
        build=lambda config: KlpModel(variant, config, features),
        presets=presets,
        default_preset=default_preset,
        expected=manifest,
        features=features,
        load_config=lambda path: load_config(path, name, features),
        scope=lambda spec: scope_configs(spec, name, features),
        replay=lambda path, check: _harness.replay_file(variant, name, path, check, features),
        estimate=lambda cfg: size_estimate(cfg, features),
        scope_legend=lambda spec: scope_legend(spec, features),
    )


def scope_manifest(name: str, verdict: Any) -> dict[str, dict[str, Any]]:
    """The recorded verdicts of the model's scope configurations (models/manifests/<name>.json).

    ``scopes[spec][configuration]`` lists the properties that configuration violates; ``reasons[property]``
    says why in one line. Written by scripts/record_scope_manifest.py and reviewed by hand.
    """
    path = Path(__file__).parent / "manifests" / f"{name}.json"
    if not path.exists():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    reasons = data.get("reasons", {})
    out: dict[str, dict[str, Any]] = {}
    for configs in data.get("scopes", {}).values():
        for config, props in configs.items():
            out[config] = {p: verdict("violated", reasons.get(p, "recorded")) for p in props}
    return out
