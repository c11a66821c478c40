"""`klpmc coverage`: what of a model's code no run reaches."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from klpmc import registry
from klpmc.commands.common import (
    INTERRUPTED,
    ProgressDisplay,
    config_option,
    guard_size,
    json_option,
    max_states_option,
    model_argument,
    options,
    property_option,
    quiet_option,
    read_configs,
    run_one,
    scope_option,
)
from klpmc.output import (
    Report,
)


@click.command("coverage")
@model_argument
@click.option("--preset", "presets", multiple=True, help="Run this preset (repeatable; default: the default).")
@click.option("--all-presets", is_flag=True, help="Run every preset; report what none of them reached.")
@options(config_option, scope_option, property_option, max_states_option(), json_option, quiet_option)
def coverage_cmd(
    model: str, presets: tuple[str, ...], all_presets: bool, config: Path | None, scope: str | None,
    properties: tuple[str, ...], max_states: int | None, as_json: bool, quiet: bool,
) -> int:
    """Check MODEL under branch coverage of its own file; list the functions and branches that never ran.

    Exit 0 when every run finished with the verdicts the manifest expects, 1 when one did not (the runs are
    checks: a bounded run's undetermined differs too), 130 when Ctrl-C ended it (the coverage of what ran
    is shown)."""
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
    for n, cfg, _ in runs:
        guard_size(mdef, f"{source} {n}", cfg, max_states)
    props = registry.select_properties(mdef, properties)
    path = model_file(mdef)
    display = ProgressDisplay(enabled=not quiet and sys.stderr.isatty())

    def run_all() -> list[Report]:
        bounds = {"max_states": max_states}
        done: list[Report] = []
        try:
            for n, cfg, notes in runs:
                done.append(run_one(mdef, source, n, cfg, notes, props, bounds, display))
                if done[-1].interrupted:
                    break
        except KeyboardInterrupt:
            pass
        return done

    reports, report = measure(path, run_all)
    interrupted = len(reports) < len(runs) or any(r.interrupted for r in reports)
    ok = all(r.ok and r.result.complete for r in reports)
    shown = shown_path(path, [Path(__file__).resolve().parent.parent.parent])
    if as_json:
        runs_json = [{source: r.config_name, "states": r.result.stats.states, "complete": r.result.complete,
                      "stop_reason": r.result.stop_reason, "ok": r.ok} for r in reports]
        click.echo(json.dumps({"model": mdef.name, "ok": ok, "complete": not interrupted, "runs": runs_json,
                               **coverage_json(report, shown)}, indent=2))
    else:
        sizes = ", ".join(
            f"{r.config_name} ({r.result.stats.states:,} states"
            + ("" if r.result.complete else f", INCOMPLETE ({r.result.stop_reason})")
            + ("" if r.ok else ", verdicts UNEXPECTED (klpmc check says which)")
            + ")"
            for r in reports
        )
        if source == "scope":
            states = sum(r.result.stats.states for r in reports)
            bad = sum(not r.ok for r in reports)
            sizes = f"{scope} ({len(reports)} configurations, {states:,} states" + \
                (f", {bad} with verdicts UNEXPECTED" if bad else "") + ")"
        heading = (f"coverage of {shown} by {mdef.name}, "
                   f"{source}{'s' * (len(reports) != 1 and source != 'scope')} {sizes}")
        click.echo("\n".join(format_coverage(report, heading, shown)))
        if interrupted:
            click.echo(f"interrupted: {len(runs) - len(reports)} of {len(runs)} runs never ran; what ran is above")
    if interrupted:
        return INTERRUPTED
    return 0 if ok else 1
