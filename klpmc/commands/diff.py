"""`klpmc diff`: two models on one configuration, the shortest traces after which they part."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from klpmc import registry
from klpmc.commands.common import (
    INTERRUPTED,
    ProgressDisplay,
    TreeChoice,
    get_model,
    guard_size,
    json_option,
    kernel_option,
    max_states_option,
    property_option,
    quiet_option,
    run_one,
    same_config,
    source_options,
    writable_file,
    writing,
)
from klpmc.output import Report, command_of_label, format_report, format_stats, report_json


def format_verdicts_side_by_side(a: Report, b: Report) -> list[str]:
    """Properties of either model with each model's verdict ('-' where it does not have the property)."""
    verdicts_a = {p.result.name: p.result for p in a.properties}
    verdicts_b = {p.result.name: p.result for p in b.properties}
    names = list(verdicts_a) + [n for n in verdicts_b if n not in verdicts_a]
    rows = [("property", "kind", a.model_name, b.model_name, "")]
    for n in names:
        ra, rb = verdicts_a.get(n), verdicts_b.get(n)
        either = ra if ra is not None else rb
        kind = either.kind if either is not None else ""
        va = ra.verdict if ra is not None else "-"
        vb = rb.verdict if rb is not None else "-"
        rows.append((n, kind, va, vb, "differs" if ra is not None and rb is not None and va != vb else ""))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return [
        ("  ".join(cell.ljust(w) for cell, w in zip(r[:4], widths, strict=True)) + "  " + r[4]).rstrip()
        for r in rows
    ]


@click.command("diff")
@click.argument("model_a")
@click.argument("model_b")
@source_options(scope=False)
@property_option
@max_states_option("Explore at most N distinct states: in each model's run, and N pairs of states in the "
                   "comparison (default there: 200,000).")
@click.option("--limit", type=click.IntRange(min=1), default=5, show_default=True,
              help="Report at most N distinguishing traces.")
@json_option
@click.option("--html", type=click.Path(path_type=Path, dir_okay=False),
              help="Write an HTML report with the two sides' sequence charts to FILE.")
@quiet_option
@kernel_option
def diff_cmd(
    model_a: str, model_b: str, preset: str | None, config: Path | None, properties: tuple[str, ...],
    max_states: int | None, limit: int, as_json: bool, html: Path | None, quiet: bool, kernel: TreeChoice | None,
) -> int:
    """Compare two models on one configuration: verdicts side by side, then the shortest traces after
    which they behave differently.  Exit 0 when nothing differs, 1 when something does, 130 when Ctrl-C
    ended it (what ran is shown)."""
    from klpmc.diff import DEFAULT_MAX_PAIRS, Distinction, distinction_json, distinguish, format_distinction

    ma, mb = registry.get_model(model_a), registry.get_model(model_b)
    if kernel is not None:
        if ma.configure is None and mb.configure is None:
            get_model(ma.name, kernel)      # says which models take --kernel
        ma, mb = (m if m.configure is None else m.configure(kernel.settings()) for m in (ma, mb))
    what, cfg_a, cfg_b = same_config(ma, mb, preset, config)
    source, name = what.split(" ", 1)
    runs = [(ma, cfg_a, registry.select_properties(ma, properties)),
            (mb, cfg_b, registry.select_properties(mb, properties))]
    for mdef, cfg, _ in runs:
        guard_size(mdef, what, cfg, max_states)
    if html is not None:
        writable_file(html)
    display = ProgressDisplay(enabled=not quiet and sys.stderr.isatty())
    reports: list[Report] = []
    found: Distinction | None = None
    interrupted = False
    try:
        for mdef, cfg, props in runs:
            reports.append(run_one(mdef, source, name, cfg, [], props, {"max_states": max_states}, display))
            if reports[-1].interrupted:
                raise KeyboardInterrupt
        found = distinguish(reports[0].model, reports[1].model, max_pairs=max_states or DEFAULT_MAX_PAIRS,
                            limit=limit)
        interrupted = found.stop_reason == "interrupted"
    except KeyboardInterrupt:       # one Ctrl-C ends the whole comparison
        interrupted = True
    names = (ma.name, mb.name) if ma.name != mb.name else (f"{ma.name} (A)", f"{mb.name} (B)")
    if len(reports) < 2 or found is None:
        never = ", ".join([*(f"{n}'s run" for n in names[len(reports):]), "the comparison"])
        if as_json:
            click.echo(json.dumps({"a": ma.name, "b": mb.name, source: name, "complete": False,
                                   "stop_reason": "interrupted", "never_ran": never,
                                   "runs": [report_json(r) for r in reports]}, indent=2))
        else:
            for r in reports:
                click.echo(format_report(r))
            click.echo(f"interrupted: {never} never ran")
        return INTERRUPTED
    report_a, report_b = reports
    verdicts_a, verdicts_b = report_a.result.verdicts(), report_b.result.verdicts()
    same_verdicts = all(verdicts_b.get(n, v) == v for n, v in verdicts_a.items())
    differs = bool(found.differences) or not found.complete or not same_verdicts

    def command(label: Any) -> str | None:
        return command_of_label(report_a.model, label)

    if as_json or html is not None:
        obj = {
            "a": ma.name,
            "b": mb.name,
            source: name,
            "differs": differs,
            "verdicts": {n: {"a": verdicts_a.get(n), "b": verdicts_b.get(n)}
                         for n in [*verdicts_a, *(n for n in verdicts_b if n not in verdicts_a)]},
            "states": {"a": report_a.result.stats.states, "b": report_b.result.stats.states},
            "stop_reason": "interrupted" if interrupted else None,
            **distinction_json(found, command),
        }
        if html is not None:
            from klpmc.report import write_diff_report

            with writing(html):
                write_diff_report(html, obj)
            click.echo(f"klpmc: report written to {html}", err=True)
    if as_json:
        click.echo(json.dumps(obj, indent=2))
        return INTERRUPTED if interrupted else 1 if differs else 0
    click.echo(f"{ma.name} vs {mb.name} ({what})")
    click.echo("\n".join(format_verdicts_side_by_side(report_a, report_b)))
    for n, r in zip(names, reports, strict=True):
        click.echo(f"{n}: {format_stats(r.result)}")
    click.echo()
    click.echo("\n".join(format_distinction(found, names, command, limit)))
    if interrupted:
        click.echo("interrupted: the comparison did not finish")
    return INTERRUPTED if interrupted else 1 if differs else 0
