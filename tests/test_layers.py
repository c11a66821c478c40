"""The layers of klpmc: no import circle, the engine apart from livepatch, models apart from properties.

Read off the source with `ast` (imports inside functions count too): modules are nodes, ``import`` and
``from ... import`` are edges. A circle is a strongly connected component of more than one module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {"klpmc": ROOT / "klpmc", "klpmc.commands": ROOT / "klpmc" / "commands", "klpmc.models": ROOT / "models",
            "klpmc.properties": ROOT / "properties"}


def _modules() -> dict[str, Path]:
    out = {}
    for pkg, folder in PACKAGES.items():
        for path in folder.glob("*.py"):
            out[pkg if path.stem == "__init__" else f"{pkg}.{path.stem}"] = path
    return out


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    package = name if path.stem == "__init__" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                up = parts[: len(parts) - (node.level - 1)]
                base = ".".join(up + ([base] if base else []))
            for a in node.names:
                sub = f"{base}.{a.name}"
                found.add(sub if sub in known else base)
    return {m for m in found if m in known and m != name}


def _graph() -> nx.DiGraph:
    mods = _modules()
    g = nx.DiGraph()
    g.add_nodes_from(mods)
    for name, path in mods.items():
        g.add_edges_from((name, dep) for dep in _imports(name, path, set(mods)))
    return g


def test_the_graph_sees_imports() -> None:
    """Edges the reader must find: absolute, relative, and inside a function."""
    g = _graph()
    assert g.has_edge("klpmc.cli", "klpmc.registry")
    assert g.has_edge("klpmc.models._def", "klpmc.models._harness")     # from . import _harness
    assert g.has_edge("klpmc.models._model", "klpmc.models._relation")  # inside a method
    assert g.has_edge("klpmc.properties.states", "klpmc.models")


def test_no_import_circle() -> None:
    circles = [sorted(c) for c in nx.strongly_connected_components(_graph()) if len(c) > 1]
    assert circles == []


def test_the_engine_knows_nothing_of_livepatch() -> None:
    g = _graph()
    core = [n for n in g if n.startswith("klpmc.") and not n.startswith(("klpmc.models", "klpmc.properties"))]
    for n in core:
        assert not any(d.startswith(("klpmc.models", "klpmc.properties")) for d in g.successors(n)), n


def test_models_do_not_import_properties_or_the_cli() -> None:
    g = _graph()
    for n in g:
        if n.startswith("klpmc.models"):
            bad = [d for d in g.successors(n)
                   if d.startswith("klpmc.properties") or d in ("klpmc.cli", "klpmc.registry")]
            assert bad == [], n


def test_properties_read_models_through_their_public_names() -> None:
    g = _graph()
    for n in g:
        if n.startswith("klpmc.properties"):
            private = [d for d in g.successors(n) if d.startswith("klpmc.models.")]
            assert private == [], n
