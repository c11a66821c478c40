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
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Final

from klpmc.model import (
    ConfigError,
    ExpectedVerdict,
    InputError,
    ModelDef,
    Preset,
    UnknownNameError,
    _one_line,
    load_toml,
)
from klpmc.props import Property

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
    "properties_of",
    "select_properties",
]

MODELS_PACKAGE: Final = "klpmc.models"
PROPERTIES_PACKAGE: Final = "klpmc.properties"


# --------------------------------------------------------------------------------------------------------
# discovery
# --------------------------------------------------------------------------------------------------------

_broken: dict[str, str] = {}  # module name -> one-line error, from the last all_models()


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


def properties_of(model: ModelDef) -> tuple[str, ...]:
    """The catalogue names a model checks by default: those it lists, or those its features admit."""
    if model.properties:
        return tuple(model.properties)
    map_source_checkout()
    try:
        pkg = importlib.import_module(PROPERTIES_PACKAGE)
    except ModuleNotFoundError:
        return ()
    applicable = getattr(pkg, "applicable", None)
    return tuple(applicable(tuple(model.features))) if applicable is not None else ()


def select_properties(model: ModelDef, names: Sequence[str] = ()) -> list[Property]:
    """The properties to check: ``names`` from the catalogue, or else every property the model checks."""
    cat = catalogue()
    wanted = list(names) if names else list(properties_of(model))
    chosen: list[Property] = []
    for n in wanted:
        if n not in cat:
            mine = ", ".join(properties_of(model)) or "none"
            if names:
                raise UnknownNameError(f"unknown property {n!r}; properties of {model.name}: {mine}")
            raise InputError(f"model {model.name!r} lists property {n!r}, which is not in the catalogue")
        if cat[n] not in chosen:
            chosen.append(cat[n])
    return chosen
