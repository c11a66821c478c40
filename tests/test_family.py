"""The family tree of the variants: each model file names its base and the functions it changes, adds and
removes; every other top-level function is its base's, character for character.

A fix to shared code is then made in one file and copied down the tree, and this test says where a copy was
forgotten (or a change was not declared): the whole-file variants stay, so `diff models/upstream.py
models/poc.py` still reads like the patch.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path
from types import ModuleType

import pytest

MODELS = Path(__file__).resolve().parent.parent / "models"
ROOT = "upstream"
VARIANTS = ("poc", "poc_series", "v1", "refcount", "replace_set")


def functions(source: str) -> dict[str, str]:
    """The source text of each top-level function (decorators included), by name, in file order."""
    out = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            assert node.end_lineno is not None
            out[node.name] = "\n".join(source.splitlines()[first - 1:node.end_lineno])
    return out


def problems(variant: str, base: str, changes: tuple[str, ...], adds: tuple[str, ...],
             removes: tuple[str, ...]) -> list[str]:
    """What the declaration of a variant (its source) against its base's source gets wrong, one line each."""
    mine, theirs = functions(variant), functions(base)
    out = []
    declared = [*changes, *adds, *removes]
    out += [f"{n} is declared twice" for n in sorted({n for n in declared if declared.count(n) > 1})]
    for name, text in mine.items():
        if name in adds:
            if name in theirs:
                out.append(f"{name} is declared added but the base has it")
        elif name not in theirs:
            out.append(f"{name} is not in the base: declare it in ADDS")
        elif name in changes:
            if text == theirs[name]:
                out.append(f"{name} is declared changed but is the base's, character for character")
        elif text != theirs[name]:
            out.append(f"{name} differs from the base's: copy the base's or declare it in CHANGES")
    for name in theirs:
        if name not in mine and name not in removes:
            out.append(f"{name} of the base is missing: declare it in REMOVES")
    for name in removes:
        if name in mine or name not in theirs:
            out.append(f"{name} is declared removed but {'is still here' if name in mine else 'the base lacks it'}")
    for name in changes:
        if name not in mine or name not in theirs:
            out.append(f"{name} is declared changed but is not in both files")
    for name in adds:
        if name not in mine:
            out.append(f"{name} is declared added but is not here")
    return out


def module(stem: str) -> ModuleType:
    return importlib.import_module(f"klpmc.models.{stem}")


def source(stem: str) -> str:
    return (MODELS / f"{stem}.py").read_text(encoding="utf-8")


def test_the_tree_has_one_root_and_reaches_every_python_variant() -> None:
    """Mainline is the root; every variant's chain of bases ends there; no model file is left out."""
    assert module(ROOT).BASE is None
    for stem in VARIANTS:
        seen = [stem]
        while (base := module(seen[-1]).BASE) is not None:
            assert base not in seen, f"a circle in the family tree: {' -> '.join([*seen, base])}"
            seen.append(base)
        assert seen[-1] == ROOT
    with_def = {p.stem for p in MODELS.glob("[!_]*.py") if "make_model_def(" in p.read_text(encoding="utf-8")}
    assert with_def == {ROOT, *VARIANTS}


@pytest.mark.parametrize("stem", VARIANTS)
def test_undeclared_functions_are_the_bases(stem: str) -> None:
    """Every top-level function a variant does not declare is its base's; every declared change differs."""
    mod = module(stem)
    assert problems(source(stem), source(mod.BASE), mod.CHANGES, mod.ADDS, mod.REMOVES) == []


def test_a_drift_is_named() -> None:
    """The check itself: a shared function edited in one file only, or a change not declared, is named."""
    base = source(ROOT)
    drifted = base.replace("': starting {direction} transition\")", "': start {direction}\")", 1)
    assert drifted != base
    found = problems(drifted, base, (), (), ())
    assert found == ["klp_start_transition differs from the base's: copy the base's or declare it in CHANGES"]
    assert problems(drifted, base, ("klp_start_transition",), (), ()) == []
    assert problems(base, base, ("klp_start_transition",), (), ()) == [
        "klp_start_transition is declared changed but is the base's, character for character"]
    mod = module("poc")
    assert problems(source("poc"), base, mod.CHANGES, (), ()) == [
        f"{name} is not in the base: declare it in ADDS" for name in mod.ADDS]
