"""Where the CLI finds models and properties: `ModelDef` manifests in ``klpmc.models``, ``CATALOGUE``.

Every module ``models/<name>.py`` that is a model exports ``MODEL: ModelDef``; modules whose name starts
with ``_`` hold shared vocabulary and are skipped.  The property catalogue is ``klpmc.properties.CATALOGUE``,
a tuple of `Property`.  Both packages are imported only when asked for, so ``klpmc check`` loads just the
one model it runs.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import pkgutil
import sys
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Final

from klpmc.engine import Model
from klpmc.props import VERDICTS, Property, Verdict

__all__ = [
    "MODELS_PACKAGE",
    "PROPERTIES_PACKAGE",
    "ConfigError",
    "ExpectedVerdict",
    "InputError",
    "ModelDef",
    "Preset",
    "UnknownNameError",
    "all_models",
    "broken_modules",
    "catalogue",
    "get_model",
    "load_toml",
    "select_properties",
]

MODELS_PACKAGE: Final = "klpmc.models"
PROPERTIES_PACKAGE: Final = "klpmc.properties"


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
    * ``properties``: catalogue names that apply to this model (the default selection).
    * ``load_config(path) -> (config, notes)``: reads ``--config FILE.toml``; raises `ConfigError`.
    * ``scope(spec) -> [(config name, config), ...]``: the configurations ``--scope SPEC`` enumerates.
    * ``replay(path, check) -> (output lines, ok)``: the selftest scenario harness.
    """

    name: str
    summary: str
    build: Callable[[Any], Model]
    presets: Mapping[str, Preset]
    default_preset: str
    expected: Mapping[str, Mapping[str, ExpectedVerdict]] = field(default_factory=dict)
    properties: Sequence[str] = ()
    load_config: Callable[[Path], tuple[Any, list[str]]] | None = None
    scope: Callable[[str], list[tuple[str, Any]]] | None = None
    replay: Callable[[Path, bool], tuple[list[str], bool]] | None = None

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


# --------------------------------------------------------------------------------------------------------
# discovery
# --------------------------------------------------------------------------------------------------------

_broken: dict[str, str] = {}  # module name -> one-line error, from the last all_models()


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def _import_model_module(module_name: str) -> ModuleType:
    try:
        return importlib.import_module(module_name)
    except Exception as e:
        if os.environ.get("KLPMC_DEBUG"):
            raise
        raise InputError(
            f"model module {module_name} failed to import ({_one_line(e)}); "
            "KLPMC_DEBUG=1 shows the traceback"
        ) from None


def map_source_checkout() -> None:
    """In a source checkout, import ``models/`` and ``properties/`` as ``klpmc.models``/``klpmc.properties``.

    Installed, pyproject.toml's package-dir mapping puts them there.  Run from a checkout (``python -m
    klpmc``, ``python -m pytest``), klpmc comes from ``klpmc/`` beside them and has no such subpackages.
    """
    pkg = sys.modules["klpmc"]
    here = Path(pkg.__file__ or "").resolve().parent
    root = here.parent
    if not (root / "pyproject.toml").is_file():
        return  # an installed klpmc
    for name in (MODELS_PACKAGE, PROPERTIES_PACKAGE):
        short = name.rsplit(".", 1)[1]
        folder = root / short
        if name in sys.modules or (here / short).is_dir() or not (folder / "__init__.py").is_file():
            continue
        spec = importlib.util.spec_from_file_location(
            name, folder / "__init__.py", submodule_search_locations=[str(folder)]
        )
        if spec is None or spec.loader is None:
            continue
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        setattr(pkg, short, module)
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            delattr(pkg, short)
            raise


def _models_package() -> ModuleType | None:
    map_source_checkout()
    try:
        return importlib.import_module(MODELS_PACKAGE)
    except ModuleNotFoundError:
        return None


def _model_of(module: ModuleType) -> ModelDef | None:
    model = getattr(module, "MODEL", None)
    if model is None:
        return None
    if not isinstance(model, ModelDef):
        raise InputError(f"{module.__name__}.MODEL is a {type(model).__name__}, not a ModelDef")
    return model


def all_models() -> dict[str, ModelDef]:
    """Every model in ``klpmc.models``, by name, in module order; modules that fail go to `broken_modules`."""
    pkg = _models_package()
    models: dict[str, ModelDef] = {}
    _broken.clear()  # each scan starts afresh: what failed before may import now, and the reverse
    if pkg is None:
        return models
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module_name = f"{MODELS_PACKAGE}.{info.name}"
        try:
            model = _model_of(_import_model_module(module_name))
        except InputError as e:
            _broken[module_name] = str(e)
            continue
        if model is None:
            continue
        if model.name in models:
            raise InputError(f"two model modules define a model named {model.name!r}")
        models[model.name] = model
    return models


def broken_modules() -> dict[str, str]:
    """Model modules that failed to import during the last `all_models`, with a one-line reason."""
    return dict(_broken)


def get_model(name: str) -> ModelDef:
    """The model called ``name``: first from the module of the same name, else by scanning every module."""
    pkg = _models_package()
    if pkg is not None and name and not name.startswith("_"):
        module_name = f"{MODELS_PACKAGE}.{name.replace('-', '_')}"
        if all(part.isidentifier() for part in module_name.split(".")):
            try:
                spec = importlib.util.find_spec(module_name)
            except (ImportError, ValueError):
                spec = None
            if spec is not None:
                model = _model_of(_import_model_module(module_name))
                if model is not None and model.name == name:
                    return model
    models = all_models()
    if name in models:
        return models[name]
    known = ", ".join(models) or "none installed"
    raise UnknownNameError(f"unknown model {name!r}; models: {known}")


def catalogue() -> dict[str, Property]:
    """``klpmc.properties.CATALOGUE`` by name; empty when there is no catalogue yet."""
    map_source_checkout()
    try:
        pkg = importlib.import_module(PROPERTIES_PACKAGE)
    except ModuleNotFoundError:
        return {}
    props: dict[str, Property] = {}
    for p in getattr(pkg, "CATALOGUE", ()):
        if not isinstance(p, Property):
            raise InputError(f"{PROPERTIES_PACKAGE}.CATALOGUE holds {p!r}, which is not a Property")
        if p.name in props:
            raise InputError(f"{PROPERTIES_PACKAGE}.CATALOGUE has two properties named {p.name!r}")
        props[p.name] = p
    return props


def select_properties(model: ModelDef, names: Sequence[str] = ()) -> list[Property]:
    """The properties to check: ``names`` from the catalogue, or else every property the model lists."""
    cat = catalogue()
    wanted = list(names) if names else list(model.properties)
    chosen: list[Property] = []
    for n in wanted:
        if n not in cat:
            mine = ", ".join(model.properties) or "none"
            if names:
                raise UnknownNameError(f"unknown property {n!r}; properties of {model.name}: {mine}")
            raise InputError(f"model {model.name!r} lists property {n!r}, which is not in the catalogue")
        if cat[n] not in chosen:
            chosen.append(cat[n])
    return chosen


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
