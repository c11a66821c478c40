"""What a model is to klpmc: the `ModelDef` a model module exports, its presets and expected verdicts.

The contract between `models/` and the rest of klpmc. Model modules import this module (never the
registry or the CLI); the registry finds the `ModelDef` of each model module and the CLI runs it.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from klpmc.engine import Model
from klpmc.props import VERDICTS, Property, Verdict

__all__ = [
    "ConfigError",
    "ExpectedVerdict",
    "InputError",
    "ModelDef",
    "Preset",
    "UnknownNameError",
    "default_expectation",
    "load_toml",
]


class InputError(Exception):
    """Bad input from the person at the keyboard; the message is one line, the CLI exits 2 with it."""


class ConfigError(InputError):
    """A configuration (TOML file, scope spec, preset config) is malformed; raised by model config loaders."""


class UnknownNameError(InputError, LookupError):
    """An unknown model, preset or property; the message lists what exists instead."""


@dataclass(frozen=True)
class Preset:
    """A named configuration of a model, with a one-line summary."""

    summary: str
    config: Any


@dataclass(frozen=True)
class ExpectedVerdict:
    """The verdict a manifest expects for one property on one preset, and why."""

    verdict: Verdict
    reason: str = ""
    binding: bool = True  # False: any settled verdict is fine (sometimes-properties off the presets)

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"unknown verdict {self.verdict!r}; verdicts: {', '.join(VERDICTS)}")


def default_expectation(prop: Property) -> ExpectedVerdict:
    """What a configuration outside the manifest expects: always/step hold, sometimes is reachable."""
    if prop.kind == "sometimes":
        return ExpectedVerdict("reachable", "not in the manifest")
    return ExpectedVerdict("holds", "not in the manifest")


@dataclass(frozen=True, eq=False)
class ModelDef:
    """A model as the CLI sees it: how to build it, its presets, the verdicts they are expected to give.

    * ``build(config) -> Model``; may raise `ConfigError`.
    * ``expected[preset or config name][property name]``: manifest entries; anything missing gets
      `default_expectation`.
    * ``properties``: catalogue names this model checks by default; when empty, the registry takes the
      catalogue's properties whose required features are among the model's ``features``.
    * ``load_config(path) -> (config, notes)``: reads ``--config FILE.toml``; raises `ConfigError`.
    * ``scope(spec) -> [(config name, config), ...]``: the configurations ``--scope SPEC`` enumerates.
    * ``replay(path, check) -> (output lines, ok)``: the selftest scenario harness.
    * ``configure(settings) -> ModelDef``: the model with its own command-line settings applied
      (``--kernel``, ``--series``, ``--port`` for the kernel's C: its presets follow the tree's API);
      raises `InputError` for a bad one.
    """

    name: str
    summary: str
    build: Callable[[Any], Model]
    presets: Mapping[str, Preset]
    default_preset: str
    expected: Mapping[str, Mapping[str, ExpectedVerdict]] = field(default_factory=dict)
    properties: Sequence[str] = ()
    features: Sequence[str] = ()
    load_config: Callable[[Path], tuple[Any, list[str]]] | None = None
    scope: Callable[[str], list[tuple[str, Any]]] | None = None
    replay: Callable[[Path, bool], tuple[list[str], bool]] | None = None
    configure: Callable[[Mapping[str, str | None]], ModelDef] | None = None

    def __post_init__(self) -> None:
        where = f"ModelDef {self.name!r}"
        if not self.name or any(c.isspace() for c in self.name):
            raise ValueError(f"{where}: a model name is one word")
        if not self.presets:
            raise ValueError(f"{where}: no presets")
        if self.default_preset not in self.presets:
            raise ValueError(
                f"{where}: default preset {self.default_preset!r} is not a preset; presets: "
                + ", ".join(self.presets)
            )
        for config_name, entries in self.expected.items():
            for prop_name, exp in entries.items():
                if not isinstance(exp, ExpectedVerdict):
                    entry = f"expected[{config_name!r}][{prop_name!r}]"  # type: ignore[unreachable]
                    raise TypeError(f"{where}: {entry} is not an ExpectedVerdict")
        object.__setattr__(self, "properties", tuple(self.properties))
        object.__setattr__(self, "features", tuple(self.features))

    def preset(self, name: str) -> Preset:
        """The preset called ``name``; `UnknownNameError` lists the presets otherwise."""
        try:
            return self.presets[name]
        except KeyError:
            raise UnknownNameError(
                f"unknown preset {name!r} for model {self.name!r}; presets: {', '.join(self.presets)}"
            ) from None

    def expectation(self, config_name: str | None, prop: Property) -> ExpectedVerdict:
        """The verdict expected of ``prop`` on a preset or scope configuration (None: a config file).

        Off the presets (a scope configuration or a config file the manifest does not name), whether a
        sometimes-property is reachable depends on the configuration: it is reported, not held against it.
        """
        if config_name is not None:
            exp = self.expected.get(config_name, {}).get(prop.name)
            if exp is not None:
                return exp
        exp = default_expectation(prop)
        if prop.kind == "sometimes" and (config_name is None or config_name not in self.presets):
            return ExpectedVerdict(exp.verdict, "off the presets a reachability guard only informs", False)
        return exp


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def load_toml(path: Path) -> dict[str, Any]:
    """Read a TOML file for a config loader; any problem becomes a one-line `ConfigError`."""
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise ConfigError(f"{path} is a directory, not a TOML file") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: malformed TOML: {e}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read: {_one_line(e)}") from None
