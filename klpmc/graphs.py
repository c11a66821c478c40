"""State graphs for people and tools: a trace with its branches, or every reachable state; networkx lives here.

This is the one module that imports networkx (STYLE rule 12); the CLI imports it only for ``--out`` and
``klpmc graph``, so a plain ``klpmc check`` never pays for it.  A graph is a ``networkx.MultiDiGraph``:

* nodes ``s0, s1, ...`` with ``label`` (a short summary: the model's ``describe(state)`` if it has one,
  else ``str(state)`` cut short), ``state`` (the whole ``str(state)``) and ``kind`` (``init``, ``trace``,
  ``branch``; ``state`` in a whole state graph) and, in a whole state graph, ``depth`` and ``frontier``
  (a state with a step to a state that a bounded search left out);
* edges with ``action`` (the label as a call), ``command`` (what a person types, or ""), ``log`` (the kernel
  log lines, one per line), ``events`` (JSON of the structured events) and ``kind`` (``trace``, ``branch``,
  ``step``).

`write_graph` writes DOT (our own writer: no pydot or pygraphviz), GraphML and node-link JSON, and an SVG
picture when Graphviz's ``dot`` is on PATH.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import networkx as nx

from klpmc.contracts import Describes, Fingerprints
from klpmc.engine import Label, Log, Model, ModelError, Trace, Visitor, explore
from klpmc.steps import command_of_label, log_events, log_lines

__all__ = [
    "GRAPH_LIMIT",
    "SVG_LIMIT",
    "dot_available",
    "node_link",
    "read_node_link",
    "state_graph",
    "to_dot",
    "trace_graph",
    "write_graph",
]

SVG_LIMIT: Final = 2_000  # nodes: above this a picture is unreadable and dot takes minutes
GRAPH_LIMIT: Final = 50_000  # states `klpmc graph` explores when no --max-states is given
_LABEL_WIDTH: Final = 48
_LABEL_LINES: Final = 4


def dot_available() -> bool:
    """Whether Graphviz's ``dot`` is on PATH."""
    return shutil.which("dot") is not None


def _summary(model: Model, state: Any) -> str:
    """A node label: ``describe(state)`` if the model has it, else ``str(state)`` in a few short lines."""
    if isinstance(model, Describes):
        return str(model.describe(state))
    text = str(state)
    lines = [text[i : i + _LABEL_WIDTH] for i in range(0, len(text), _LABEL_WIDTH)][:_LABEL_LINES]
    if len(text) > _LABEL_WIDTH * _LABEL_LINES:
        lines[-1] = lines[-1][:-3] + "..."
    return "\n".join(lines)


def _edge_attrs(model: Model, label: Label, log: Log, kind: str) -> dict[str, Any]:
    return {
        "action": str(label),
        "command": command_of_label(model, label) or "",
        "log": "\n".join(log_lines(log)),
        "events": json.dumps(log_events(log), sort_keys=True),
        "kind": kind,
    }


def trace_graph(model: Model, trace: Trace) -> Any:
    """The trace's states and steps, plus every other step out of those states (``kind="branch"``)."""
    g = nx.MultiDiGraph(kind="trace")
    ids: dict[Any, str] = {}

    def node(state: Any, kind: str) -> str:
        if state not in ids:
            ids[state] = f"s{len(ids)}"
            g.add_node(ids[state], label=_summary(model, state), state=str(state), kind=kind)
        return ids[state]

    path = [trace.init, *(s.state for s in trace.steps)]
    for i, state in enumerate(path):
        node(state, "init" if i == 0 else "trace")
    for i, state in enumerate(path):
        taken = trace.steps[i] if i < len(trace.steps) else None
        on_trace = False
        for label, succ, log in model.next_steps(state):
            if taken is not None and not on_trace and label == taken.label and succ == taken.state:
                on_trace = True
                g.add_edge(ids[state], ids[succ], key=str(label), **_edge_attrs(model, label, log, "trace"))
                continue
            target = node(succ, "branch")
            g.add_edge(ids[state], target, key=str(label), **_edge_attrs(model, label, log, "branch"))
        if taken is not None and not on_trace:
            raise ModelError(f"next_steps is not deterministic: step {i + 1} ({taken.label}) is gone")
    return g


class GraphVisitor(Visitor):
    """Records the state graph as the exploration goes: a node per state, an edge per transition.

    Only indices and the steps' labels and logs are kept while exploring; the graph with its labels is
    built once the exploration is over (`graph`), so an exploration that ends at a bound it must not
    pass costs no more than the search.
    """

    steps = True

    def __init__(self, model: Model) -> None:
        self.model = model
        self.key_of: Callable[[Any], Any] = model.fingerprint if isinstance(model, Fingerprints) else (lambda s: s)
        self.ids: dict[Any, int] = {}
        self.states: list[Any] = []
        self.edges: list[tuple[int, int, Label, Log]] = []
        self.frontier: set[int] = set()

    def on_state(self, j: int, state: Any) -> bool:
        self.ids[self.key_of(state)] = j
        self.states.append(state)
        return False

    def on_step(self, i: int, before: Any, k: int, label: Label, log: Log, after: Any) -> bool:
        self.edges.append((i, self.ids[self.key_of(after)], label, log))
        return False

    def on_cut(self, i: int, state: Any) -> None:
        self.frontier.add(i)

    def graph(self, run: Any) -> Any:
        """The recorded states and steps as a networkx graph, with labels, depths and the frontier."""
        g = nx.MultiDiGraph(kind="states")
        for j, state in enumerate(self.states):
            path = run.path(j)
            g.add_node(f"s{j}", label=_summary(self.model, state), state=str(state),
                       kind="init" if len(path) == 1 else "state", frontier=j in self.frontier, depth=len(path) - 1)
        for i, j, label, log in self.edges:
            g.add_edge(f"s{i}", f"s{j}", key=str(label), **_edge_attrs(self.model, label, log, "step"))
        g.graph["complete"] = run.complete
        return g


def state_graph(model: Model, max_states: int, build_partial: bool = True) -> tuple[Any, bool, str | None]:
    """Every reachable state, breadth-first, up to ``max_states`` of them: (graph, complete, stop reason).

    A visitor of the one exploration loop; it stops where the bound is reached: the state whose step
    leads past it is marked ``frontier``. With ``build_partial`` False, an exploration the bound cut
    short gives no graph (None): the caller refuses it, and pays for the search only. Ctrl-C ends the
    exploration like the bound does (``complete`` False).
    """
    visitor = GraphVisitor(model)
    run = explore(model, [visitor], max_states=max_states)
    if not run.complete and not build_partial and run.stop_reason != "interrupted":
        return None, False, run.stop_reason
    return visitor.graph(run), run.complete, run.stop_reason


# --------------------------------------------------------------------------------------------------------
# writers
# --------------------------------------------------------------------------------------------------------


def _dot_string(text: str, newline: str = "\\l") -> str:
    """A DOT quoted string; lines end with ``newline`` (``\\l``: left-justified in a label)."""
    lines = text.replace("\\", "\\\\").replace('"', '\\"').split("\n")
    return '"' + newline.join(lines) + (newline if newline == "\\l" else "") + '"'


def to_dot(g: Any, edge_logs: bool = True) -> str:
    """Graphviz DOT text: trace steps bold, branches dashed grey; with ``edge_logs``, a step's label carries
    its log (a branch's only in its tooltip, or the picture drowns in the ones not taken)."""
    out = ["digraph klpmc {", '  node [shape=box, fontname="monospace", fontsize=10];',
           '  edge [fontname="monospace", fontsize=9];']
    for n, a in g.nodes(data=True):
        style = {"init": ', style="bold,filled", fillcolor="#d8e8ff"', "trace": ', style="bold"',
                 "branch": ', color="grey50", fontcolor="grey30"'}.get(a.get("kind", ""), "")
        if a.get("frontier"):
            style += ', style="dashed"'
        tooltip = a.get("state", "")[:2000]
        out.append(
            f'  {n} [label={_dot_string(n + ": " + a.get("label", ""))}, '
            f"tooltip={_dot_string(tooltip, chr(92) + 'n')}{style}];"
        )
    for u, v, a in g.edges(data=True):
        head = a.get("command") or a.get("action", "")
        if a.get("command"):
            head = f"% {head}  # {a.get('action', '')}"
        logged = edge_logs and a.get("log") and a.get("kind") != "branch"  # a branch's log: its tooltip
        text = head + ("\n" + a["log"] if logged else "")
        edge_style = {"trace": ", penwidth=2", "branch": ', style="dashed", color="grey50", fontcolor="grey30"'}
        out.append(
            f"  {u} -> {v} [label={_dot_string(text)}, "
            f"tooltip={_dot_string(a.get('log', '') or a.get('action', ''), chr(92) + 'n')}"
            f"{edge_style.get(a.get('kind', ''), '')}];"
        )
    out.append("}")
    return "\n".join(out) + "\n"


def _node_link(g: Any) -> Any:
    try:
        return nx.node_link_data(g, edges="edges")
    except TypeError:  # networkx < 3.4 calls the keyword link
        return nx.node_link_data(g, link="edges")


def node_link(g: Any) -> Any:
    """The graph as networkx node-link data (``nodes``, ``edges``), as `write_graph` writes it."""
    return _node_link(g)


def read_node_link(path: Path) -> Any:
    """A graph written by `write_graph` as node-link JSON, back as a networkx graph."""
    data = json.loads(path.read_text())
    try:
        return nx.node_link_graph(data, edges="edges")
    except TypeError:  # networkx < 3.4
        return nx.node_link_graph(data, link="edges")


def render_svg(dot_file: Path, svg_file: Path, timeout: float = 300.0) -> bool:
    """Run Graphviz's dot on ``dot_file``; False if dot is missing, fails or takes too long."""
    exe = shutil.which("dot")
    if exe is None:
        return False
    try:
        done = subprocess.run(
            [exe, "-Tsvg", "-o", str(svg_file), str(dot_file)], capture_output=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and svg_file.is_file()


def write_graph(
    g: Any, folder: Path, stem: str, *, svg: bool = True, edge_logs: bool = True, json_name: str | None = None
) -> list[Path]:
    """``stem.dot``, ``stem.graphml``, node-link JSON (``json_name``, default ``stem.graph.json``) and, if
    asked and dot is there, ``stem.svg`` in ``folder``; returns the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    dot_file = folder / f"{stem}.dot"
    dot_file.write_text(to_dot(g, edge_logs))
    graphml = folder / f"{stem}.graphml"
    nx.write_graphml(g, graphml)
    node_link = folder / (json_name or f"{stem}.graph.json")
    node_link.write_text(json.dumps(_node_link(g), indent=1) + "\n")
    written = [dot_file, graphml, node_link]
    svg_file = folder / f"{stem}.svg"
    if svg and render_svg(dot_file, svg_file):
        written.append(svg_file)
    return written
