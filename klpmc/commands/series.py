"""`klpmc series`: a posted series applied patch by patch to the kernel's C, each patch verdicted."""

from __future__ import annotations

import json
from pathlib import Path

import click

from klpmc.commands.common import json_option, writable_file, writing


@click.command("series")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--kernel", metavar="DIR|TARBALL", help="The kernel tree to apply it to (default: linux-source-6.12).")
@click.option("--port", type=click.Path(path_type=Path, dir_okay=False),
              help="Rewrite the patches with these 'old new' renames first (a series for an older base).")
@click.option("--preset", "presets", multiple=True,
              help="Check this preset after each patch (repeatable; default: the presets of the tree's API "
                   "that generated modules express).")
@click.option("--config", type=click.Path(path_type=Path, dir_okay=False), help="Check a TOML configuration.")
@click.option("--scope", help="Check every configuration of the scope SPEC (e.g. patches=2,states=1).")
@click.option("--max-states", type=click.IntRange(min=1), default=200_000, show_default=True,
              help="Stop each check after N states (it is then reported incomplete).")
@click.option("--jobs", type=click.IntRange(min=1), default=2, show_default=True, help="Checks run at once.")
@json_option
@click.option("--html", type=click.Path(path_type=Path, dir_okay=False), help="Write the report as HTML to FILE.")
@click.option("--no-traces", is_flag=True, help="Leave the traces of new violations and rejected hunks out.")
def series_cmd(path: Path, kernel: str | None, port: Path | None, presets: tuple[str, ...], config: Path | None,
               scope: str | None, max_states: int, jobs: int, as_json: bool, html: Path | None,
               no_traces: bool) -> int:
    """Apply a posted series (an mbox file, or a folder of them in name order) patch by patch and, after
    each patch that touches the core, build its C and check it: how each patch applies, whether it builds,
    the verdicts, and the violations new or gone since the patch before, with their traces.  Exit 0 when
    every patch applies, builds and keeps its expected verdicts, 1 otherwise."""
    from klpmc.seriescheck import check_series, format_series, series_json, write_series_report

    if sum(bool(x) for x in (presets, config, scope)) > 1:
        raise click.UsageError("--preset, --config and --scope exclude each other; give one")
    if html is not None:
        writable_file(html)     # before the run, not after it
    res = check_series(kernel, path, port, presets, config, max_states, jobs, scope)
    if html is not None:
        with writing(html):
            write_series_report(html, res)
    if as_json:
        click.echo(json.dumps(series_json(res), indent=2))
    else:
        click.echo("\n".join(format_series(res, traces=not no_traces)))
        if html is not None:
            click.echo(f"report: {html}")
    return 0 if res.ok else 1
