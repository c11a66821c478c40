"""`klpmc graph`: the whole reachable state graph of a model."""

from __future__ import annotations

import shutil
from pathlib import Path

import click

from klpmc.commands.common import TreeChoice, get_model, kernel_option, read_configs
from klpmc.output import (
    SVG_HINT,
)
from klpmc.registry import InputError


@click.command("graph")
@click.argument("model")
@click.option("--preset", help="Draw this preset (default: the model's default preset).")
@click.option("--config", type=click.Path(path_type=Path, dir_okay=False), help="Draw a TOML configuration.")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), required=True, help="Write under DIR.")
@click.option("--max-states", type=click.IntRange(min=1), help="Keep the first N states (BFS order).")
@kernel_option
def graph_cmd(model: str, preset: str | None, config: Path | None, out: Path, max_states: int | None,
              kernel: TreeChoice | None) -> int:
    """Write the whole reachable state graph of MODEL as node-link JSON, DOT, GraphML (and SVG if small)."""
    from klpmc import graphs  # networkx only for this command

    mdef = get_model(model, kernel)
    source, [(name, cfg, notes)] = read_configs(mdef, preset, config, None)
    limit = graphs.GRAPH_LIMIT if max_states is None else max_states
    g, complete = graphs.state_graph(mdef.build(cfg), limit)
    if not complete and max_states is None:
        raise InputError(
            f"the state graph of {mdef.name} ({source} {name}) has more than {limit:,} states; "
            "--max-states N writes its first N states"
        )
    for note in notes:
        click.echo(f"note: {note}")
    nodes, edges = g.number_of_nodes(), g.number_of_edges()
    picture = nodes <= graphs.SVG_LIMIT
    written = graphs.write_graph(g, out, "graph", svg=picture, edge_logs=False, json_name="graph.json")
    how = "complete" if complete else f"PARTIAL: the first {nodes:,} states in BFS order, frontier dashed"
    click.echo(f"{mdef.name} ({source} {name}): {nodes:,} states, {edges:,} transitions, {how}")
    for path in written:
        click.echo(f"  {path}")
    if not picture:
        click.echo(
            f"klpmc: no SVG picture: {nodes:,} states are more than {graphs.SVG_LIMIT:,}, too many to read; "
            "graph.dot is there for other tools",
            err=True,
        )
    elif shutil.which("dot") is None:
        click.echo(SVG_HINT, err=True)
    return 0
