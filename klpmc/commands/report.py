"""`klpmc report`: the HTML page of a saved result."""

from __future__ import annotations

from pathlib import Path

import click

from klpmc.registry import InputError


@click.command("report")
@click.argument("result", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--html", type=click.Path(path_type=Path, dir_okay=False),
              help="Write the page to FILE (default: RESULT with .html).")
@click.option("--no-graph", is_flag=True, help="Do not rebuild the model to draw its state graph.")
def report_cmd(result: Path, html: Path | None, no_graph: bool) -> int:
    """Write the HTML report of a saved `check --json` or `diff --json` RESULT."""
    from klpmc.report import report_file

    target = html if html is not None else result.with_suffix(".html")
    if target.resolve() == result.resolve():
        raise InputError(f"the report would overwrite {result}; give --html FILE")
    what = report_file(result, target, graph=not no_graph)
    click.echo(f"klpmc: {what} report written to {target}", err=True)
    return 0
