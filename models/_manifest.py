"""The manifest of a model, `models/manifests/<model>.json`: presets, scopes, pinned counts, expected verdicts.

One file per model, as the TLA+ Examples keep a manifest.json: what each preset is (a one-line summary;
its configuration stays in the model's code), the verdicts it is expected to give with one line of reason
each, and the counts measured on it (distinct states, transitions, depth, the length of each violation's
shortest trace); per scope spec the configurations that violate something, with the same reasons, and the
scope's totals. The model files and `make_model_def` read it for the verdicts the CLI expects; the tests
read it for the counts they pin; `scripts/record_scope_manifest.py` writes its scopes. Reasons are named
once in ``reasons`` and referred to by name.

A model may take its presets and verdicts from another and keep only its own counts: the kernel model runs
a tree's C on the presets and verdicts of the Python model of the tree's API (models/kernel.py, spec_of);
its manifest pins the counts of the default tree, whose model it names (``"verdicts_of": "upstream"``).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from klpmc.props import VERDICTS

__all__ = ["Expect", "Manifest", "Pinned", "PresetEntry", "ScopeEntry", "dumps", "manifest_path", "read"]

FOLDER = Path(__file__).parent / "manifests"
NEEDED = "REASON NEEDED"   # what the recorder writes for a finding nobody has explained yet


@dataclass(frozen=True)
class Expect:
    """A verdict a preset is expected to give, and the name of its reason."""

    verdict: str
    reason: str


@dataclass(frozen=True)
class Pinned:
    """Counts measured on one preset: distinct states, transitions, depth, shortest violation per property."""

    states: int
    transitions: int
    depth: int
    steps: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class PresetEntry:
    """One preset: its summary, the verdicts that are not the default ones, its pinned counts."""

    summary: str
    expected: Mapping[str, Expect]
    pinned: Pinned | None


@dataclass(frozen=True)
class ScopeEntry:
    """One scope spec: totals over its configurations and the properties each configuration violates."""

    configurations: int
    states: int
    transitions: int
    reasons: Mapping[str, str]              # violated property -> reason name
    violated: Mapping[str, tuple[str, ...]]  # configuration name -> violated properties


@dataclass(frozen=True)
class Manifest:
    """A model's manifest as read from its JSON file."""

    model: str
    reasons: Mapping[str, str]
    presets: Mapping[str, PresetEntry]
    scopes: Mapping[str, ScopeEntry]
    verdicts_of: str | None = None

    def expected(self) -> dict[str, dict[str, tuple[str, str]]]:
        """``{preset or scope configuration: {property: (verdict, reason)}}``, the reasons written out."""
        out = {name: {prop: (e.verdict, self.reasons[e.reason]) for prop, e in p.expected.items()}
               for name, p in self.presets.items()}
        for scope in self.scopes.values():
            for config, props in scope.violated.items():
                out[config] = {prop: ("violated", self.reasons[scope.reasons[prop]]) for prop in props}
        return out

    def summaries(self) -> dict[str, str]:
        """Each preset's one-line summary, in the manifest's order."""
        return {name: p.summary for name, p in self.presets.items()}


def manifest_path(model: str) -> Path:
    """Where the manifest of ``model`` lives."""
    return FOLDER / f"{model}.json"


class ManifestProblem(ValueError):
    """A manifest that does not read: the message names the file and the culprit."""


def _keys(where: str, obj: Any, required: set[str], optional: Collection[str] = ()) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise ManifestProblem(f"{where} must be an object")
    missing = sorted(required - set(obj))
    extra = sorted(set(obj) - required - set(optional))
    if missing:
        raise ManifestProblem(f"{where} lacks {', '.join(missing)}")
    if extra:
        raise ManifestProblem(f"{where}: unknown key {extra[0]!r}; keys: {', '.join(sorted(required | set(optional)))}")
    return obj


def _reason(where: str, name: str, reasons: Mapping[str, str]) -> str:
    if name not in reasons:
        raise ManifestProblem(f"{where}: reason {name!r} is not in reasons; reasons: {', '.join(reasons)}")
    return name


def _pinned(where: str, obj: Any) -> Pinned:
    d = _keys(where, obj, {"states", "transitions", "depth"}, {"steps"})
    return Pinned(d["states"], d["transitions"], d["depth"], dict(d.get("steps", {})))


def parse(model: str, data: Any, where: str) -> Manifest:
    """Check and read a manifest's JSON object; `ManifestProblem` names what is wrong."""
    d = _keys(where, data, set(), {"reasons", "presets", "scopes", "verdicts_of"})
    reasons = dict(d.get("reasons", {}))
    presets: dict[str, PresetEntry] = {}
    for name, raw in d.get("presets", {}).items():
        pw = f"{where}: preset {name!r}"
        p = _keys(pw, raw, {"summary"} if "verdicts_of" not in d else set(), {"expected", "pinned", "summary"})
        expected = {}
        for prop, e in p.get("expected", {}).items():
            ew = f"{pw}, {prop}"
            e = _keys(ew, e, {"verdict", "reason"})
            if e["verdict"] not in VERDICTS:
                raise ManifestProblem(f"{ew}: unknown verdict {e['verdict']!r}; verdicts: {', '.join(VERDICTS)}")
            expected[prop] = Expect(e["verdict"], _reason(ew, e["reason"], reasons))
        pinned = _pinned(f"{pw}, pinned", p["pinned"]) if "pinned" in p else None
        presets[name] = PresetEntry(p.get("summary", ""), expected, pinned)
    scopes: dict[str, ScopeEntry] = {}
    for spec, raw in d.get("scopes", {}).items():
        sw = f"{where}: scope {spec!r}"
        s = _keys(sw, raw, {"configurations", "states", "transitions", "reasons", "violated"})
        because = {prop: _reason(f"{sw}, {prop}", r, reasons) for prop, r in s["reasons"].items()}
        violated = {config: tuple(props) for config, props in s["violated"].items()}
        unexplained = sorted({p for props in violated.values() for p in props} - set(because))
        if unexplained:
            raise ManifestProblem(f"{sw}: {unexplained[0]} is violated but has no reason")
        scopes[spec] = ScopeEntry(s["configurations"], s["states"], s["transitions"], because, violated)
    return Manifest(model, reasons, presets, scopes, d.get("verdicts_of"))


def read(model: str) -> Manifest:
    """The manifest of ``model`` (an empty one when it has no file)."""
    path = manifest_path(model)
    if not path.exists():
        return Manifest(model, {}, {}, {})
    return parse(model, json.loads(path.read_text(encoding="utf-8")), f"models/manifests/{path.name}")


def dumps(data: Any, level: int = 0, used: int = 0, width: int = 116) -> str:
    """JSON as the manifests are written: an object or list that fits on its line stays on one line."""
    flat = json.dumps(data, ensure_ascii=False)
    if not isinstance(data, dict | list) or not data or (level > 0 and used + len(flat) <= width):
        return flat
    pad = " " * (level + 1)
    if isinstance(data, list):
        items = [pad + dumps(x, level + 1, len(pad), width) for x in data]
    else:
        items = []
        for k, v in data.items():
            prefix = f"{pad}{json.dumps(k, ensure_ascii=False)}: "
            items.append(prefix + dumps(v, level + 1, len(prefix), width))
    close = "]" if isinstance(data, list) else "}"
    return ("[" if isinstance(data, list) else "{") + "\n" + ",\n".join(items) + "\n" + " " * level + close
