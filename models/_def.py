"""The `ModelDef` of a livepatch variant: how the registry and the CLI see a model module.

Each variant module (`models/upstream.py`, ...) ends with ``MODEL = make_model_def(__name__, ...)``: its
presets' configurations, its configuration loader, scopes and selftest replay; what each preset is and the
verdicts it is expected to give are in its manifest (`models/_manifest.py`).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping

from klpmc.model import ExpectedVerdict, ModelDef, Preset

from . import _harness
from ._config import Config, load_config, presets_for, scope_configs, scope_legend, size_estimate
from ._manifest import Manifest, ManifestProblem, read
from ._model import KlpModel


def make_model_def(modname: str, name: str, summary: str, features: tuple[str, ...],
                   presets: Mapping[str, Config] | None = None, default_preset: str = "small") -> ModelDef:
    """The registry entry of a variant module: build, presets, manifest, config loader, scope, replay.

    ``features`` say what the variant has (object_callbacks, state_callbacks, versions, block_disable,
    shadow_states, replace_set); the registry checks the catalogue properties whose requirements they meet.
    ``presets`` are the variant's own configurations beside the ones every variant ships
    (`presets_for`); the manifest, models/manifests/<name>.json, names every preset with its summary and
    its expected verdicts, and the scope configurations' verdicts.
    """
    variant = sys.modules[modname]
    manifest = read(name)
    configs = {**presets_for(features), **(presets or {})}
    summaries = manifest.summaries()
    if set(configs) != set(summaries):
        missing = sorted(set(configs) - set(summaries))
        extra = sorted(set(summaries) - set(configs))
        problem = (f"no entry for preset {missing[0]!r}" if missing
                   else f"preset {extra[0]!r} has no configuration in {variant.__file__}")
        raise ManifestProblem(f"models/manifests/{name}.json: {problem}")
    return ModelDef(
        name=name,
        summary=summary,
        build=lambda config: KlpModel(variant, config, features),
        presets={pname: Preset(psummary, configs[pname]) for pname, psummary in summaries.items()},
        default_preset=default_preset,
        expected=expected_verdicts(manifest),
        features=features,
        load_config=lambda path: load_config(path, name, features),
        scope=lambda spec: scope_configs(spec, name, features),
        replay=lambda path, check: _harness.replay_file(variant, name, path, check, features),
        estimate=lambda cfg: size_estimate(cfg, features),
        scope_legend=lambda spec: scope_legend(spec, features),
    )


def expected_verdicts(manifest: Manifest) -> dict[str, dict[str, ExpectedVerdict]]:
    """The manifest's expected verdicts of presets and scope configurations, as `ModelDef.expected` holds them."""
    return {config: {prop: ExpectedVerdict(verdict, reason) for prop, (verdict, reason) in props.items()}
            for config, props in manifest.expected().items()}
