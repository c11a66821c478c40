"""Files a counterexample leaves under ``--out DIR``: its trace as JSON, as ITF, and as a graph.

Each artifact is one function in `ARTIFACT_WRITERS`; a new kind of output is one more function there.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from klpmc import graphs
from klpmc.itf import trace_itf
from klpmc.output import SVG_HINT, PropertyReport, Report, folder_name
from klpmc.steps import trace_json

__all__ = ["ARTIFACT_WRITERS", "SVG_HINT", "write_artifacts"]

ArtifactWriter = Callable[[Path, Report, PropertyReport], None]



def _write_trace_json(folder: Path, report: Report, prop: PropertyReport) -> None:
    steps = trace_json(report.model, prop.result)
    (folder / "trace.json").write_text(json.dumps(steps, indent=2) + "\n")


def _write_trace_itf(folder: Path, report: Report, prop: PropertyReport) -> None:
    """``trace.itf.json``: the trace in the Informal Trace Format (`klpmc.itf`)."""
    r = prop.result
    assert r.trace is not None
    obj = trace_itf(
        report.model,
        r.trace,
        source=f"klpmc {report.model_name} ({report.source} {report.config_name})",
        description=f"{r.name} ({r.kind}) {r.verdict}: {r.prop.description}",
    )
    (folder / "trace.itf.json").write_text(json.dumps(obj, indent=1) + "\n")


def _write_trace_graph(folder: Path, report: Report, prop: PropertyReport) -> None:
    """``trace.{dot,graphml,graph.json,svg}``: the trace's states and steps with the branches out of them."""
    assert prop.result.trace is not None
    graphs.write_graph(graphs.trace_graph(report.model, prop.result.trace), folder, "trace")


ARTIFACT_WRITERS: list[ArtifactWriter] = [_write_trace_json, _write_trace_itf, _write_trace_graph]


def write_artifacts(out: Path, report: Report, per_config: bool = False) -> list[Path]:
    """For each property whose trace is shown, a folder ``out/[config/]property/`` with its artifacts."""
    written: list[Path] = []
    base = out / folder_name(report.config_name) if per_config else out
    for prop in report.properties:
        if not prop.shows_trace:
            continue
        folder = base / folder_name(prop.result.name)
        folder.mkdir(parents=True, exist_ok=True)
        for writer in ARTIFACT_WRITERS:
            writer(folder, report, prop)
        written.append(folder)
    return written
