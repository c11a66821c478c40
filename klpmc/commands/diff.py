"""`klpmc diff`: two models on one configuration, the shortest traces after which they part."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from klpmc import registry
from klpmc.commands.common import ProgressDisplay, TreeChoice, get_model, kernel_option, run_one, same_config
from klpmc.output import (
    Report,
    command_of_label,
    format_stats,
)


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
@click.option("--preset", help="Run both on this preset (default: MODEL_A's default preset).")
@click.option("--config", type=click.Path(path_type=Path, dir_okay=False), help="Run both on a TOML file.")
@click.option("--max-states", type=click.IntRange(min=1), help="Explore at most N state pairs.")
@click.option("--limit", type=click.IntRange(min=1), default=5, show_default=True,
              help="Report at most N distinguishing traces.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
@click.option("--html", type=click.Path(path_type=Path, dir_okay=False),
              help="Write an HTML report with the two sides' sequence charts to FILE.")
@click.option("--quiet", "-q", is_flag=True, help="No progress display.")
@kernel_option
def diff_cmd(
    model_a: str, model_b: str, preset: str | None, config: Path | None, max_states: int | None, limit: int,
    as_json: bool, html: Path | None, quiet: bool, kernel: TreeChoice | None,
) -> int:
    """Compare two models on one configuration: verdicts side by side, then the shortest traces after
    which they behave differently.  Exit 0 when nothing differs, 1 when something does."""
    from klpmc.diff import DEFAULT_MAX_PAIRS, distinction_json, distinguish, format_distinction

    ma, mb = registry.get_model(model_a), registry.get_model(model_b)
    if kernel is not None:
        if ma.configure is None and mb.configure is None:
            get_model(ma.name, kernel)      # says which models take --kernel
        ma, mb = (m if m.configure is None else m.configure(kernel.settings()) for m in (ma, mb))
    what, cfg_a, cfg_b = same_config(ma, mb, preset, config)
    display = ProgressDisplay(enabled=not quiet and sys.stderr.isatty())
    source, name = what.split(" ", 1)
    reports = []
    for mdef, cfg in ((ma, cfg_a), (mb, cfg_b)):
        props = registry.select_properties(mdef)
        reports.append(run_one(mdef, source, name, cfg, [], props, {}, display))
    report_a, report_b = reports
    found = distinguish(
        report_a.model, report_b.model, max_pairs=max_states or DEFAULT_MAX_PAIRS, limit=limit
    )
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
            **distinction_json(found, command),
        }
        if html is not None:
            from klpmc.report import write_diff_report

            write_diff_report(html, obj)
            click.echo(f"klpmc: report written to {html}", err=True)
    if as_json:
        click.echo(json.dumps(obj, indent=2))
        return 1 if differs else 0
    names = (ma.name, mb.name) if ma.name != mb.name else (f"{ma.name} (A)", f"{mb.name} (B)")
    click.echo(f"{ma.name} vs {mb.name} ({what})")
    click.echo("\n".join(format_verdicts_side_by_side(report_a, report_b)))
    for n, r in zip(names, reports, strict=True):
        click.echo(f"{n}: {format_stats(r.result)}")
    click.echo()
    click.echo("\n".join(format_distinction(found, names, command, limit)))
    return 1 if differs else 0
