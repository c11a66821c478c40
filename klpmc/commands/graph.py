"""`klpmc graph`: the whole reachable state graph of a model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import click

from klpmc.commands.common import (
    INTERRUPTED,
    TreeChoice,
    get_model,
    json_option,
    kernel_option,
    max_states_option,
    model_argument,
    out_option,
    read_configs,
    source_options,
    writing,
)
from klpmc.output import SVG_HINT
from klpmc.registry import InputError


@click.command("graph")
@model_argument
@source_options(scope=False)
@out_option("Write graph.json (node-link), graph.dot, graph.graphml (and graph.svg if small) under DIR.",
            required=True)
@max_states_option("Keep the first N distinct states (BFS order); without it a graph of more than 50,000 is "
                   "refused when the search reaches that many.")
@json_option
@kernel_option
def graph_cmd(model: str, preset: str | None, config: Path | None, out: Path, max_states: int | None,
              as_json: bool, kernel: TreeChoice | None) -> int:
    """Write the whole reachable state graph of MODEL as node-link JSON, DOT, GraphML (and SVG if small).

    Ctrl-C ends the search: the states found so far are written as a partial graph, exit 130."""
    from klpmc import graphs  # networkx only for this command

    mdef = get_model(model, kernel)
    source, [(name, cfg, notes)] = read_configs(mdef, preset, config, None)
    limit = graphs.GRAPH_LIMIT if max_states is None else max_states
    g, complete, stop = graphs.state_graph(mdef.build(cfg), limit, build_partial=max_states is not None)
    if g is None:
        raise InputError(
            f"the state graph of {mdef.name} ({source} {name}) has more than {limit:,} states; "
            "--max-states N writes its first N states"
        )
    interrupted = stop == "interrupted"
    nodes, edges = g.number_of_nodes(), g.number_of_edges()
    picture = nodes <= graphs.SVG_LIMIT and not interrupted
    with writing(out):
        written = graphs.write_graph(g, out, "graph", svg=picture, edge_logs=False, json_name="graph.json")
    how = ("complete" if complete else
           f"PARTIAL ({'interrupted' if interrupted else 'max_states'}): the first {nodes:,} states in BFS order, "
           "frontier dashed")
    if as_json:
        click.echo(json.dumps({"model": mdef.name, source: name, "states": nodes, "transitions": edges,
                               "complete": complete, "stop_reason": stop, "notes": notes,
                               "files": [str(p) for p in written]}, indent=2))
    else:
        for note in notes:
            click.echo(f"note: {note}")
        click.echo(f"{mdef.name} ({source} {name}): {nodes:,} states, {edges:,} transitions, {how}")
        for path in written:
            click.echo(f"  {path}")
    if nodes > graphs.SVG_LIMIT:
        click.echo(
            f"klpmc: no SVG picture: {nodes:,} states are more than {graphs.SVG_LIMIT:,}, too many to read; "
            "graph.dot is there for other tools",
            err=True,
        )
    elif picture and shutil.which("dot") is None:
        click.echo(SVG_HINT, err=True)
    return INTERRUPTED if interrupted else 0
