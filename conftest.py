"""Make a source checkout import like an installed klpmc.

Installed, ``models/`` is ``klpmc.models`` and ``properties/`` is ``klpmc.properties`` (see the package-dir
mapping in pyproject.toml).  ``python -m pytest`` imports klpmc from the checkout instead, so map the two
folders here the same way.  Import them as ``klpmc.models.*`` everywhere, never as top-level ``models``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import klpmc

ROOT = Path(__file__).resolve().parent


def _alias(name: str, folder: Path) -> None:
    if name in sys.modules or not (folder / "__init__.py").is_file():
        return
    if (Path(klpmc.__file__).parent / name.rsplit(".", 1)[1]).is_dir():
        return  # an installed klpmc that already holds the package
    spec = importlib.util.spec_from_file_location(
        name, folder / "__init__.py", submodule_search_locations=[str(folder)]
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    setattr(klpmc, name.rsplit(".", 1)[1], module)
    spec.loader.exec_module(module)


if Path(klpmc.__file__).resolve().parent == ROOT / "klpmc":
    _alias("klpmc.models", ROOT / "models")
    _alias("klpmc.properties", ROOT / "properties")
