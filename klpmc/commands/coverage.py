"""`klpmc coverage`: what of a model's code no run reaches."""

from __future__ import annotations

import json
from pathlib import Path

import click

from klpmc import registry
from klpmc.commands.common import ProgressDisplay, read_configs, run_one
from klpmc.output import (
    Report,
)


@click.command("coverage")
@click.argument("model")
@click.option("--preset", "presets", multiple=True, help="Run this preset (repeatable; default: the default).")
@click.option("--all-presets", is_flag=True, help="Run every preset; report what none of them reached.")
@click.option("--config", type=click.Path(path_type=Path, dir_okay=False), help="Run a TOML configuration.")
@click.option("--scope", help="Run every configuration the model's scope SPEC enumerates.")
@click.option("--max-states", type=click.IntRange(min=1), help="Stop each run after N distinct states.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
def coverage_cmd(
    model: str, presets: tuple[str, ...], all_presets: bool, config: Path | None, scope: str | None,
    max_states: int | None, as_json: bool,
) -> int:
    """Check MODEL under branch coverage of its own file; list the functions and branches that never ran."""
    from klpmc.cover import coverage_json, format_coverage, measure, model_file, shown_path

    mdef = registry.get_model(model)
    if sum(bool(x) for x in (presets or all_presets, config, scope)) > 1:
        raise click.UsageError("--preset/--all-presets, --config and --scope exclude each other; give one")
    if all_presets:
        presets = tuple(mdef.presets)
    if config is not None or scope is not None:
        source, runs = read_configs(mdef, None, config, scope)
    else:
        runs = [(n, mdef.preset(n).config, []) for n in (presets or (mdef.default_preset,))]
        source = "preset"
    props = registry.select_properties(mdef)
    path = model_file(mdef)

    def run_all() -> list[Report]:
        bounds = {"max_states": max_states}
        return [run_one(mdef, source, n, cfg, notes, props, bounds, ProgressDisplay(False))
                for n, cfg, notes in runs]

    reports, report = measure(path, run_all)
    shown = shown_path(path, [Path(__file__).resolve().parent.parent.parent])
    if as_json:
        runs_json = [{source: r.config_name, "states": r.result.stats.states, "complete": r.result.complete}
                     for r in reports]
        click.echo(json.dumps({"model": mdef.name, "runs": runs_json, **coverage_json(report, shown)}, indent=2))
        return 0
    sizes = ", ".join(
        f"{r.config_name} ({r.result.stats.states:,} states"
        + ("" if r.result.complete else f", INCOMPLETE ({r.result.stop_reason})")
        + ")"
        for r in reports
    )
    if source == "scope":
        states = sum(r.result.stats.states for r in reports)
        sizes = f"{scope} ({len(reports)} configurations, {states:,} states)"
    heading = f"coverage of {shown} by {mdef.name}, {source}{'s' * (len(reports) != 1 and source != 'scope')} {sizes}"
    click.echo("\n".join(format_coverage(report, heading, shown)))
    return 0
