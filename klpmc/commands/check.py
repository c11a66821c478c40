"""`klpmc check`: explore a model on a preset, a configuration or a scope; verdicts against the manifest."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import click

from klpmc import registry
from klpmc.commands.common import ProgressDisplay, get_model, kernel_option, read_configs, run_one, vacuity_report
from klpmc.output import (
    SVG_HINT,
    Report,
    format_report,
    format_scope_line,
    format_scope_total,
    report_json,
)


@click.command("check")
@click.argument("model")
@click.option("--preset", help="Run this preset (default: the model's default preset).")
@click.option("--config", type=click.Path(path_type=Path, dir_okay=False), help="Run a TOML configuration.")
@click.option("--scope", help="Run every configuration the model's scope SPEC enumerates.")
@click.option("--property", "properties", multiple=True, help="Check only this property (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), help="Write traces under DIR.")
@click.option("--html", type=click.Path(path_type=Path, dir_okay=False),
              help="Write an HTML report with a sequence chart of each trace to FILE.")
@click.option("--emit-selftest", type=click.Path(path_type=Path, file_okay=False),
              help="Write each violation as a kselftest (script, module sources, klpmc.json) under DIR.")
@click.option("--max-states", type=click.IntRange(min=1), help="Stop after N distinct states.")
@click.option("--max-depth", type=click.IntRange(min=0), help="Explore at most N steps deep.")
@click.option("--stop-on-violation", is_flag=True, help="Stop at the first violated always/step property.")
@click.option("--vacuity", is_flag=True,
              help="Before each run, ask z3 whether each property can fail and can hold at all.")
@click.option("--timeout", type=click.FloatRange(min=0.001), default=5.0, show_default=True,
              help="Seconds each z3 call may take (with --vacuity).")
@click.option("--quiet", "-q", is_flag=True, help="No progress display.")
@kernel_option
def check_cmd(
    model: str,
    preset: str | None,
    config: Path | None,
    scope: str | None,
    properties: tuple[str, ...],
    as_json: bool,
    out: Path | None,
    html: Path | None,
    emit_selftest: Path | None,
    max_states: int | None,
    max_depth: int | None,
    stop_on_violation: bool,
    vacuity: bool,
    timeout: float,
    quiet: bool,
    kernel: str | None,
) -> int:
    """Check MODEL on a preset, a configuration file or a scope; exit 1 if a verdict is unexpected.

    With --vacuity, z3 first checks every property over the configuration's vocabulary: a property that
    no state can violate (or that every state violates) is named with the reason; this does not change
    the exit status.
    """
    mdef = get_model(model, kernel)
    source, configs = read_configs(mdef, preset, config, scope)
    props = registry.select_properties(mdef, properties)
    bounds = {"max_states": max_states, "max_depth": max_depth, "stop_on_violation": stop_on_violation}
    display = ProgressDisplay(enabled=not quiet and sys.stderr.isatty())
    reports: list[Report] = []
    written: list[Path] = []
    emitted: list[Any] = []
    width = max(len(name) for name, _, _ in configs)
    sane: dict[str, list[dict[str, Any]]] = {}
    for name, cfg, notes in configs:
        if vacuity:
            sane[name] = vacuity_report(mdef, name, mdef.build(cfg), props, timeout, not as_json)
        report = run_one(mdef, source, name, cfg, notes, props, bounds, display)
        reports.append(report)
        if not as_json:  # as each run ends: a long scope shows its progress
            click.echo(format_scope_line(report, width) if source == "scope" else format_report(report))
        if out is not None:
            from klpmc.artifacts import write_artifacts  # networkx only when --out asks for it

            written += write_artifacts(out, report, per_config=source == "scope")
        if emit_selftest is not None:
            from klpmc.selftest import emit_selftests

            emitted += emit_selftests(emit_selftest, mdef.name, report_json(report), cfg, report.model,
                                      per_config=source == "scope")
        if report.result.stop_reason == "interrupted":
            break  # Ctrl-C ends a whole scope, not one configuration of it
    if written and shutil.which("dot") is None:
        click.echo(SVG_HINT, err=True)
    if as_json or html is not None:
        if source == "scope":
            obj: dict[str, Any] = {
                "model": mdef.name,
                "scope": scope,
                "states": sum(r.result.stats.states for r in reports),
                "seconds": round(sum(r.result.stats.seconds for r in reports), 6),
                "ok": all(r.ok for r in reports),
                "configurations": [report_json(r) for r in reports],
            }
        else:
            obj = report_json(reports[0])
        if vacuity:
            obj["vacuity"] = sane if source == "scope" else sane[reports[0].config_name]
        if html is not None:
            from klpmc.report import write_check_report

            write_check_report(html, obj, reports[0].model if source != "scope" else None)
    if as_json:
        click.echo(json.dumps(obj, indent=2))
    elif source == "scope":
        for r in reports:
            if not r.ok:
                click.echo()
                click.echo(format_report(r))
        click.echo()
        click.echo(format_scope_total(str(scope), reports))
    for what, path in (("report", html), ("selftests", emit_selftest)):
        if path is not None:
            count = f" ({len(emitted)} counterexamples)" if what == "selftests" else ""
            click.echo(f"klpmc: {what} written to {path}{count}", err=True)
    return 0 if all(r.ok for r in reports) else 1
