"""`klpmc check`: explore a model on a preset, a configuration or a scope; verdicts against the manifest."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import click

from klpmc import registry
from klpmc.commands.common import (
    INTERRUPTED,
    OutDir,
    ProgressDisplay,
    TreeChoice,
    free_folders,
    get_model,
    given,
    guard_size,
    json_option,
    kernel_option,
    max_depth_option,
    max_states_option,
    model_argument,
    options,
    out_option,
    property_option,
    quiet_option,
    read_configs,
    run_one,
    source_options,
    timeout_option,
    vacuity_report,
    writable_file,
    writing,
)
from klpmc.output import (
    SVG_HINT,
    Report,
    ScopeRun,
    format_report,
    format_scope_line,
    format_scope_rules,
    format_scope_total,
    report_json,
)
from klpmc.registry import InputError


@click.command("check")
@model_argument
@source_options()
@options(property_option, json_option,
         out_option("Write each violation's trace (JSON, ITF, graphs) under DIR/[configuration/]property/."))
@click.option("--html", type=click.Path(path_type=Path, dir_okay=False),
              help="Write an HTML report with a sequence chart of each trace to FILE.")
@click.option("--emit-selftest", type=OutDir(), metavar="DIR",
              help="Write each violation as a kselftest (script, module sources, klpmc.json) under DIR.")
@options(max_states_option(), max_depth_option)
@click.option("--stop-on-violation", is_flag=True,
              help="Stop at the first violated always/step property; what it did not settle is undetermined.")
@click.option("--vacuity", is_flag=True,
              help="Before each run, ask z3 whether each property can fail and can hold at all.")
@timeout_option(5.0, "Seconds each z3 call of --vacuity may take (only with --vacuity).")
@quiet_option
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Run a --scope's configurations in N processes (the output is --jobs 1's).")
@click.option("--dask", metavar="ADDRESS", help="Run a --scope's configurations on the Dask scheduler at ADDRESS.")
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
    jobs: int,
    dask: str | None,
    kernel: TreeChoice | None,
) -> int:
    """Check MODEL on a preset, a configuration file or a scope; exit 1 if a verdict is unexpected.

    With --vacuity, z3 first checks every property over the configuration's vocabulary: a property that
    no state can violate (or that every state violates) is named with the reason; this does not change
    the exit status. Ctrl-C ends the run: what it settled is printed, the rest is undetermined, exit 130.
    """
    if given("timeout") and not vacuity:
        raise click.UsageError("--timeout is the time of each z3 call of --vacuity; give --vacuity too, or drop it")
    mdef = get_model(model, kernel)
    source, configs = read_configs(mdef, preset, config, scope)
    props = registry.select_properties(mdef, properties)
    for name, cfg, _ in configs:
        guard_size(mdef, f"{source} {name}", cfg, max_states)
    per_config = source == "scope"
    for where in (out, emit_selftest):
        if where is not None:
            free_folders(where, ([name, p.name] if per_config else [p.name] for name, _, _ in configs for p in props))
    if html is not None:
        writable_file(html)
    bounds = {"max_states": max_states, "max_depth": max_depth, "stop_on_violation": stop_on_violation}
    if jobs > 1 or dask is not None:
        from klpmc.parallel import check_scope, refused

        why = refused(source, out=out, emit_selftest=emit_selftest, vacuity=vacuity)
        if why:
            raise InputError(why)
        return check_scope(mdef, kernel.settings() if kernel else {}, str(scope), [n for n, _, _ in configs],
                           properties, bounds, as_json, html, jobs, dask, click.echo)
    display = ProgressDisplay(enabled=not quiet and sys.stderr.isatty())
    reports: list[Report] = []      # a scope keeps only the runs it prints whole at the end
    runs: list[ScopeRun] = []
    configurations: list[dict[str, Any]] = []
    written: list[Path] = []
    emitted: list[Any] = []
    width = max(len(name) for name, _, _ in configs)
    sane: dict[str, list[dict[str, Any]]] = {}
    interrupted = False
    if per_config and not as_json and mdef.scope_legend is not None:
        click.echo(f"scope {scope} of {mdef.name}: {len(configs):,} configurations; {mdef.scope_legend(str(scope))}")
    try:
        for name, cfg, notes in configs:
            if vacuity:
                sane[name] = vacuity_report(mdef, name, mdef.build(cfg), props, timeout, not as_json)
            report = run_one(mdef, source, name, cfg, notes, props, bounds, display)
            runs.append(ScopeRun.of(report))
            if per_config and (as_json or html is not None):
                configurations.append(report_json(report))
            # a model per configuration would hold every configuration's caches until the scope ends
            if not per_config or not report.ok:
                reports.append(report)
            if not as_json:  # as each run ends: a long scope shows its progress
                click.echo(format_scope_line(report, width) if per_config else format_report(report))
            with writing(out or emit_selftest):
                if out is not None:
                    from klpmc.artifacts import write_artifacts  # networkx only when --out asks for it

                    written += write_artifacts(out, report, per_config=per_config)
                if emit_selftest is not None:
                    from klpmc.selftest import emit_selftests

                    emitted += emit_selftests(emit_selftest, mdef.name, report_json(report), cfg, report.model,
                                              per_config=per_config)
            if report.interrupted:
                interrupted = True
                break  # Ctrl-C ends a whole scope, not one configuration of it
    except KeyboardInterrupt:      # between two runs, or while one was written out
        interrupted = True
    if not runs:
        click.echo(f"interrupted: {len(configs)} configuration{'s' * (len(configs) != 1)} never ran"
                   if per_config else "interrupted before the run finished")
        return INTERRUPTED
    if written and shutil.which("dot") is None:
        click.echo(SVG_HINT, err=True)
    if as_json or html is not None:
        if per_config:
            obj: dict[str, Any] = {
                "model": mdef.name,
                "scope": scope,
                "configurations_in_scope": len(configs),
                "states": sum(r.states for r in runs),
                "seconds": round(sum(r.seconds for r in runs), 6),
                "complete": not interrupted and all(r.complete for r in runs),
                "stop_reason": "interrupted" if interrupted else None,
                "ok": all(r.ok for r in runs),
                "configurations": configurations,
            }
        else:
            obj = report_json(reports[0])
        if vacuity:
            obj["vacuity"] = sane if per_config else sane.get(reports[0].config_name, [])
        if html is not None:
            from klpmc.report import write_check_report

            with writing(html):
                write_check_report(html, obj, reports[0].model if not per_config else None)
    if as_json:
        click.echo(json.dumps(obj, indent=2))
    elif per_config:
        for r in reports:
            if not r.ok and not r.interrupted:
                click.echo()
                click.echo(format_report(r))
        click.echo()
        click.echo("\n".join(format_scope_rules(runs, len(configs))))
        click.echo(format_scope_total(str(scope), runs, len(configs)))
    for what, path in (("report", html), ("selftests", emit_selftest)):
        if path is not None:
            count = f" ({len(emitted)} counterexamples)" if what == "selftests" else ""
            click.echo(f"klpmc: {what} written to {path}{count}", err=True)
    if interrupted:
        return INTERRUPTED
    return 0 if all(r.ok for r in runs) else 1
