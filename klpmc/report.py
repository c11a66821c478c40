"""The HTML report: one self-contained page a reviewer opens offline (no network, styles and script inline).

A `Page` is a title and a list of sections; `render()` gives the HTML. Sections are built from the JSON
that the commands print, never from a model or the engine's objects, so a saved ``klpmc check --json``
renders the same page (``klpmc report RESULT.json``):

* `check_sections(obj)`: the verdict table as ``check`` prints it, each violation (and each unexpected
  witness) linked to its trace, drawn as a sequence chart with the lifecycle strips under it
  (`klpmc.seqchart`); with ``--scope``, a table of the configurations and the traces of those that are
  not as expected;
* `graph_section(node_link, ...)`: a small state graph (at most `GRAPH_HTML_LIMIT` states), laid out in
  layers by depth, with pan, zoom and a click that shows a state whole (a few lines of our own script);
* `diff_sections(obj)`: ``klpmc diff``'s verdicts side by side, and each distinguishing trace as two
  charts next to each other, the step where the models part highlighted;
* `series_section(patch, before, after)`: what one patch of a series changed in the verdicts, with the
  charts of the violations it brings; a ``series`` command adds one per patch with `Page.add`.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from importlib import resources
from typing import Any, Final

from klpmc import __version__
from klpmc.seqchart import Lanes, lanes_of, lifecycle_strips, sequence_chart

__all__ = [
    "GRAPH_HTML_LIMIT",
    "Page",
    "check_page",
    "check_sections",
    "diff_page",
    "diff_sections",
    "graph_section",
    "series_section",
    "shown_properties",
]

GRAPH_HTML_LIMIT: Final = 400     # states: a larger graph is not drawn in the page
CHART_LIMIT: Final = 200          # charts in one page (a scope can have thousands of violations)

Json = Mapping[str, Any]
Describe = Callable[[str], str | None]   # a property's one-line statement, by name


def _asset(name: str) -> str:
    return resources.files("klpmc").joinpath("assets", name).read_text(encoding="utf-8")


def _anchor(*parts: str) -> str:
    return "-".join("".join(c if c.isalnum() else "_" for c in p) for p in parts)


@dataclass
class Page:
    """A report page: a title, a line under it, and sections of HTML in order."""

    title: str
    subtitle: str = ""
    sections: list[str] = field(default_factory=list)

    def add(self, *sections: str) -> None:
        """Append sections (each a piece of HTML, as the ``*_section(s)`` functions return)."""
        self.sections.extend(sections)

    def render(self) -> str:
        """The whole page: one HTML file with its style and script inline."""
        script = _asset("report.js").replace("</", "<\\/")
        return "\n".join([
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{escape(self.title)}</title>",
            f"<style>{_asset('report.css')}</style></head><body>",
            f"<h1>{escape(self.title)}</h1>",
            f'<p class="meta">{escape(self.subtitle)}</p>' if self.subtitle else "",
            *self.sections,
            f'<p class="meta">written by klpmc {escape(__version__)}</p>',
            f"<script>{script}</script>",
            "</body></html>",
        ]) + "\n"


# --------------------------------------------------------------------------------------------------------
# check
# --------------------------------------------------------------------------------------------------------


def shown_properties(obj: Json) -> list[Json]:
    """The properties whose traces a report shows: violations, and witnesses that were not expected."""
    return [p for p in obj.get("properties", ()) if p.get("trace") is not None
            and (p.get("verdict") == "violated" or not p.get("ok", True))]


def _verdict_table(obj: Json, prefix: str) -> str:
    rows = ["<table class=\"verdicts\"><tr><th>property</th><th>kind</th><th>verdict</th><th>expected</th>"
            "<th></th></tr>"]
    shown = {p["name"] for p in shown_properties(obj)}
    for p in obj.get("properties", ()):
        name = escape(str(p["name"]))
        cell = f'<a href="#{_anchor(prefix, p["name"])}">{name}</a>' if p["name"] in shown else name
        ok = p.get("ok", True)
        rows.append(f'<tr class="{"ok" if ok else "unexpected"}" data-property="{name}"><td>{cell}</td>'
                    f'<td>{escape(str(p.get("kind", "")))}</td>'
                    f'<td class="v-{escape(str(p.get("verdict", "")))}">{escape(str(p.get("verdict", "")))}</td>'
                    f'<td>{escape(str(p.get("expected", "")))}</td>'
                    f'<td class="status">{"ok" if ok else "UNEXPECTED"}</td></tr>')
    rows.append("</table>")
    return "".join(rows)


def _stats_line(obj: Json) -> str:
    if "states" not in obj or "transitions" not in obj:
        return ""
    how = "complete" if obj.get("complete", True) else f"INCOMPLETE ({obj.get('stop_reason')})"
    return (f'<p class="meta">{obj["states"]:,} states, {obj["transitions"]:,} transitions, depth '
            f'{obj.get("depth", "?")}, {float(obj.get("seconds", 0)):.2f} s, {how}</p>')


def trace_text(trace: Sequence[Json]) -> str:
    """The trace as ``check`` prints it: numbered commands (or calls), then the log lines indented."""
    width = len(str(len(trace)))
    lines = ["    (an initial state)"] if not trace else []
    for n, step in enumerate(trace, 1):
        command = step.get("command")
        head = f"% {command}    # {step.get('action')}" if command else str(step.get("action"))
        lines.append(f"  {n:>{width}}  {head}")
        lines.extend(f"  {'':>{width}}      {line}" for line in step.get("log") or ())
    return "\n".join(lines)


def _legend() -> str:
    return ('<p class="legend">life cycle: <span class="set-up">set up</span><span class="enabled">enabled</span>'
            '<span class="disabled">disabled</span><span class="released">released</span> '
            '<span>a red <b>!</b>: a callback out of setup (release | enable (disable enable)* disable '
            'release)</span></p>')


def trace_section(p: Json, *, prefix: str, lanes: Lanes | None = None, describe: Describe | None = None,
                  heading: str = "h3", graph: bool = False) -> str:
    """One property's trace: heading, the rule's statement and the manifest's reason, the chart, the
    lifecycle strips, and the text form folded away."""
    name = str(p["name"])
    trace: list[Json] = list(p.get("trace") or [])
    statement = str(p.get("description") or (describe(name) if describe else "") or "")
    verdict = str(p.get("verdict", ""))
    what = "violated" if verdict == "violated" else f"{verdict}, a witness"
    lanes = lanes or lanes_of([trace])
    mark = "breaking" if verdict == "violated" else "reached"
    anchor = _anchor(prefix, name)
    reason = p.get("reason")
    out = [f'<section class="trace" id="{anchor}" data-property="{escape(name)}" data-verdict="{escape(verdict)}">',
           f"<{heading}>{escape(name)} ({escape(str(p.get('kind', '')))}) {escape(what)}</{heading}>"]
    if statement:
        out.append(f'<p class="statement">{escape(statement)}</p>')
    if reason:
        out.append(f'<p class="reason">expected {escape(str(p.get("expected", "")))}: {escape(str(reason))}</p>')
    if graph:
        out.append(f'<p><a class="show-in-graph" href="#state-graph" data-property="{escape(name)}">'
                   "show this trace in the state graph</a></p>")
    if not trace:
        out.append('<p class="note">an initial state: no step leads here</p>')
    out.append('<div class="scroll">' + sequence_chart(trace, lanes, mark=mark, chart_id=f"chart-{anchor}",
                                                        title=f"{name}: {len(trace)} steps") + "</div>")
    out.append('<div class="scroll">' + lifecycle_strips(trace, rule=name, statement=statement, mark=mark,
                                                          strip_id=f"life-{anchor}") + "</div>")
    out.append(f'<details><summary>the trace as text</summary><pre class="trace">{escape(trace_text(trace))}'
               "</pre></details></section>")
    return "\n".join(out)


def check_sections(obj: Json, *, describe: Describe | None = None, graph: bool = False) -> list[str]:
    """The sections of a ``check --json`` result: one run, or a scope's configurations."""
    if "configurations" in obj:
        return _scope_sections(obj, describe)
    where = _where(obj)
    head = [f'<section class="run" data-model="{escape(str(obj.get("model", "")))}">',
            f"<h2>{escape(str(obj.get('model', '')))} ({escape(where)})</h2>", _stats_line(obj)]
    head += [f'<p class="note">note: {escape(str(n))}</p>' for n in obj.get("notes", ())]
    head += [_verdict_table(obj, "trace"), "</section>"]
    shown = shown_properties(obj)
    out = ["\n".join(head)]
    if shown:
        lanes = lanes_of(p["trace"] for p in shown)
        out.append(f'<section class="traces"><h2>Counterexamples ({len(shown)})</h2>{_legend()}')
        out.extend(trace_section(p, prefix="trace", lanes=lanes, describe=describe, graph=graph) for p in shown)
        out.append("</section>")
    return out


def _where(obj: Json) -> str:
    for key in ("preset", "config", "scope"):
        if key in obj:
            return f"{key} {obj[key]}"
    return ""


def _scope_sections(obj: Json, describe: Describe | None) -> list[str]:
    configs: list[Json] = list(obj.get("configurations", ()))
    bad = [c for c in configs if not c.get("ok", True)]
    rows = ['<table class="verdicts"><tr><th>configuration</th><th>states</th><th>violated</th><th></th></tr>']
    for c in configs:
        name = str(c.get("scope", ""))
        violated = ", ".join(p["name"] for p in c.get("properties", ()) if p.get("verdict") == "violated")
        ok = c.get("ok", True)
        cell = f'<a href="#{_anchor("config", name)}">{escape(name)}</a>' if not ok else escape(name)
        rows.append(f'<tr class="{"ok" if ok else "unexpected"}"><td class="mono">{cell}</td>'
                    f'<td>{c.get("states", 0):,}</td><td>{escape(violated)}</td>'
                    f'<td class="status">{"ok" if ok else "UNEXPECTED"}</td></tr>')
    rows.append("</table>")
    out = [f'<section class="run scope"><h2>{escape(str(obj.get("model", "")))} (scope {escape(str(obj.get("scope")))})'
           f'</h2><p class="meta">{len(configs)} configurations, {len(configs) - len(bad)} as expected, {len(bad)} '
           f'not; {obj.get("states", 0):,} states</p>{"".join(rows)}</section>']
    charts = 0
    for c in bad:
        name = str(c.get("scope", ""))
        shown = shown_properties(c)
        out.append(f'<section class="configuration" id="{_anchor("config", name)}"><h2>{escape(name)}</h2>'
                   + _verdict_table(c, _anchor("config", name)))
        lanes = lanes_of(p["trace"] for p in shown)
        for p in shown:
            if charts >= CHART_LIMIT:
                out.append(f'<p class="note">more traces left out: a page draws at most {CHART_LIMIT} charts</p>')
                break
            out.append(trace_section(p, prefix=_anchor("config", name), lanes=lanes, describe=describe))
            charts += 1
        out.append("</section>")
    return out


def check_page(obj: Json, *, describe: Describe | None = None, graph: Json | None = None,
               graph_note: str = "") -> Page:
    """The page of a ``check --json`` result, with its state graph when one is given."""
    title = f"klpmc check {obj.get('model', '')}"
    subtitle = _where(obj) + (" — every verdict as the manifest expects" if obj.get("ok") else
                              " — some verdicts are not as the manifest expects")
    page = Page(title, subtitle)
    page.add(*check_sections(obj, describe=describe, graph=graph is not None))
    if graph is not None:
        page.add(graph_section(graph, {p["name"]: p["trace"] for p in shown_properties(obj)}))
    elif graph_note:
        page.add(f'<section id="state-graph"><h2>State graph</h2><p class="note">{escape(graph_note)}</p></section>')
    return page


# --------------------------------------------------------------------------------------------------------
# the state graph
# --------------------------------------------------------------------------------------------------------

_DX: Final = 150
_DY: Final = 30


def _layout(nodes: Sequence[Json], edges: Sequence[Json]) -> dict[str, tuple[float, float]]:
    """Layers by BFS depth, each ordered by the mean position of its nodes' predecessors (one sweep)."""
    layers: dict[int, list[str]] = defaultdict(list)
    for n in nodes:
        layers[int(n.get("depth", 0))].append(str(n["id"]))
    preds: dict[str, list[str]] = defaultdict(list)
    for e in edges:
        if e["source"] != e["target"]:
            preds[str(e["target"])].append(str(e["source"]))
    pos: dict[str, tuple[float, float]] = {}
    for depth in sorted(layers):
        order = {nid: i for i, nid in enumerate(layers[depth])}

        def key(nid: str, order: dict[str, int] = order) -> tuple[float, int]:
            ys = [pos[p][1] for p in preds[nid] if p in pos]
            return (sum(ys) / len(ys) if ys else 0.0, order[nid])

        for i, nid in enumerate(sorted(layers[depth], key=key)):
            pos[nid] = (40 + depth * _DX, 40 + i * _DY)
    return pos


def _path_of(trace: Sequence[Json], inits: Sequence[str], out: Mapping[str, list[tuple[str, str]]]) -> list[str]:
    """The graph nodes a trace goes through, found by following its actions from an initial state."""
    for start in inits:
        path = [start]
        for step in trace:
            nxt = next((t for a, t in out.get(path[-1], ()) if a == step.get("action")), None)
            if nxt is None:
                break
            path.append(nxt)
        else:
            return path
    return []


def graph_section(node_link: Json, traces: Mapping[str, Sequence[Json]] | None = None) -> str:
    """The state graph (node-link JSON as ``klpmc graph`` writes it) drawn with pan, zoom and click; the
    traces given can be shown on it."""
    nodes: list[Json] = list(node_link.get("nodes", ()))
    edges: list[Json] = list(node_link.get("edges", node_link.get("links", ())))
    pos = _layout(nodes, edges)
    out_steps: dict[str, list[tuple[str, str]]] = defaultdict(list)
    info: dict[str, Any] = {}
    for n in nodes:
        info[str(n["id"])] = {"label": n.get("label", ""), "state": n.get("state", ""), "kind": n.get("kind", ""),
                              "depth": n.get("depth", 0), "out": []}
    drawn: set[tuple[str, str]] = set()
    parts: list[str] = []
    for e in edges:
        s, t = str(e["source"]), str(e["target"])
        info[s]["out"].append([e.get("action", ""), e.get("command", ""), t, e.get("log", "")])
        out_steps[s].append((str(e.get("action", "")), t))
        if s == t or (s, t) in drawn:
            continue
        drawn.add((s, t))
        (x1, y1), (x2, y2) = pos[s], pos[t]
        bend = 0.0 if x2 > x1 else 40.0   # a step back to an earlier layer curves away
        parts.append(f'<path class="edge" data-from="{s}" data-to="{t}" '
                     f'd="M{x1:.0f},{y1:.0f} C{(x1 + x2) / 2 + bend:.0f},{y1 + bend:.0f} '
                     f'{(x1 + x2) / 2 + bend:.0f},{y2 + bend:.0f} {x2:.0f},{y2:.0f}"/>')
    for n in nodes:
        nid = str(n["id"])
        x, y = pos[nid]
        cls = "node" + (" init" if n.get("kind") == "init" else "") + (" frontier" if n.get("frontier") else "")
        first = str(n.get("label", "")).split("\n", 1)[0]
        parts.append(f'<g class="{cls}" data-id="{nid}"><title>{escape(nid)}: {escape(first)}</title>'
                     f'<circle cx="{x:.0f}" cy="{y:.0f}" r="7"/>'
                     f'<text x="{x + 10:.0f}" y="{y + 3:.0f}">{escape(nid)}</text></g>')
    depths = sorted({int(n.get("depth", 0)) for n in nodes})
    for d in depths:
        parts.insert(0, f'<text class="depth" x="{40 + d * _DX - 10}" y="18">depth {d}</text>')
    width = 80 + (max(depths, default=0)) * _DX + 60
    height = 60 + max((y for _, y in pos.values()), default=0)
    inits = [str(n["id"]) for n in nodes if n.get("kind") == "init"]
    paths = {name: _path_of(trace, inits, out_steps) for name, trace in (traces or {}).items()}
    data = json.dumps({"nodes": info, "paths": paths}, separators=(",", ":")).replace("</", "<\\/")
    picker = ""
    if paths:
        options = "".join(f'<option value="{escape(k)}">{escape(k)}</option>' for k in paths)
        picker = (f'<label>show a trace: <select id="graph-path"><option value="">none</option>{options}'
                  "</select></label>")
    complete = node_link.get("graph", {}).get("complete", True)
    return (f'<section id="state-graph"><h2>State graph</h2><p class="meta">{len(nodes):,} states, '
            f'{len(edges):,} transitions{"" if complete else " (partial)"}; drag to pan, wheel or buttons to zoom, '
            f'click a state to see it whole. Steps that lead back to the same state are listed, not drawn.</p>'
            f"<p>{picker}</p>"
            '<div id="graph-box"><div id="graph-view"><div id="graph-tools">'
            '<button id="zoom-in" type="button">+</button><button id="zoom-out" type="button">&minus;</button>'
            '<button id="zoom-fit" type="button">fit</button></div>'
            f'<svg xmlns="http://www.w3.org/2000/svg" class="stategraph" viewBox="0 0 {width:.0f} {height:.0f}" '
            f'preserveAspectRatio="xMidYMid meet">{"".join(parts)}</svg></div>'
            '<div id="graph-panel"><p class="note">click a state</p></div></div>'
            f'<script type="application/json" id="graph-data">{data}</script></section>')


# --------------------------------------------------------------------------------------------------------
# diff
# --------------------------------------------------------------------------------------------------------


def _side(step: Json, side: str) -> Json | None:
    got = step.get(side)
    if got is None:
        return None
    return {"action": step.get("action"), "command": step.get("command"), "log": got.get("log", []),
            "events": got.get("events", [])}


def _marked_differences(last: Json, side: str, other: str) -> set[str]:
    mine = (last.get(side) or {}).get("events", [])
    theirs = {json.dumps(e, sort_keys=True) for e in (last.get(other) or {}).get("events", [])}
    return {json.dumps(e, sort_keys=True) for e in mine} - theirs


def _diff_chart(d: Json, side: str, other: str, name: str, lanes: Lanes, anchor: str) -> str:
    steps = [*d.get("prefix", ()), d["last"]]
    trace = [_side(s, side) for s in steps]
    chart = sequence_chart(trace, lanes, mark="parting", chart_id=f"chart-{anchor}-{side}",
                           title=f"{name}: {len(steps)} steps", differs=_marked_differences(d["last"], side, other))
    offered = d.get(f"offered_{side}") or []
    note = ""
    if trace[-1] is None:
        note = f'<p class="note">{escape(name)} does not offer the last step; it offers: ' \
               f'{escape(", ".join(offered) or "nothing")}</p>'
    strips = lifecycle_strips(trace, mark="parting", strip_id=f"life-{anchor}-{side}")
    return (f'<div class="side" data-side="{side}"><h4>{escape(name)}</h4>{note}'
            f'<div class="scroll">{chart}</div><div class="scroll">{strips}</div></div>')


def diff_sections(obj: Json) -> list[str]:
    """The sections of a ``diff --json`` result: verdicts side by side, then each difference as two
    charts next to each other with the parting step highlighted."""
    a, b = str(obj.get("a", "A")), str(obj.get("b", "B"))
    name_a, name_b = (a, b) if a != b else (f"{a} (A)", f"{b} (B)")
    rows = [f'<table class="verdicts"><tr><th>property</th><th>{escape(name_a)}</th><th>{escape(name_b)}</th>'
            "<th></th></tr>"]
    for prop, v in obj.get("verdicts", {}).items():
        va, vb = v.get("a") or "-", v.get("b") or "-"
        differs = v.get("a") is not None and v.get("b") is not None and va != vb
        rows.append(f'<tr class="{"changed" if differs else ""}"><td>{escape(prop)}</td>'
                    f'<td class="v-{escape(va)}">{escape(va)}</td><td class="v-{escape(vb)}">{escape(vb)}</td>'
                    f'<td>{"differs" if differs else ""}</td></tr>')
    rows.append("</table>")
    states = obj.get("states", {})
    out = [f'<section class="run diff"><h2>Verdicts</h2><p class="meta">{escape(name_a)}: '
           f'{states.get("a", 0):,} states; {escape(name_b)}: {states.get("b", 0):,} states</p>'
           f'{"".join(rows)}</section>']
    diffs: list[Json] = list(obj.get("differences", ()))
    how = "complete" if obj.get("complete") else f"stopped ({obj.get('stop_reason')})"
    out.append(f'<section class="differences"><h2>Where they part ({len(diffs)})</h2>'
               f'<p class="meta">{obj.get("pairs", 0):,} state pairs explored, {escape(how)}. Each difference is '
               f"the shortest of its kind; the step where the two models part is highlighted, and an arrow in "
               f"red is a callback the other model does not run there.</p>{_legend()}")
    for i, d in enumerate(diffs, 1):
        steps = [*d.get("prefix", ()), d["last"]]
        lanes = lanes_of([[s for s in (_side(x, side) for x in steps) if s is not None] for side in ("a", "b")])
        last = d["last"]
        what = {"events": f"{last.get('action')} has different events",
                "only-a": f"only {name_a} offers {last.get('action')}",
                "only-b": f"only {name_b} offers {last.get('action')}"}.get(str(d.get("kind")), str(d.get("kind")))
        n = len(d.get("prefix", ()))
        anchor = f"diff-{i}"
        out.append(f'<section class="difference" id="{anchor}"><h3>difference {i}: {escape(what)}, after {n} '
                   f'common step{"s" * (n != 1)}</h3><div class="side-by-side">'
                   + _diff_chart(d, "a", "b", name_a, lanes, anchor)
                   + _diff_chart(d, "b", "a", name_b, lanes, anchor) + "</div></section>")
    out.append("</section>")
    return out


def diff_page(obj: Json) -> Page:
    """The page of a ``diff --json`` result."""
    where = _where(obj)
    page = Page(f"klpmc diff {obj.get('a', '')} {obj.get('b', '')}", where)
    page.add(*diff_sections(obj))
    return page


# --------------------------------------------------------------------------------------------------------
# series
# --------------------------------------------------------------------------------------------------------


def series_section(patch: str, after: Json, before: Json | None = None, *, summary: str = "",
                   describe: Describe | None = None) -> str:
    """One patch of a series: the properties whose verdict it changes (``before`` is the ``check --json``
    of the tree without it, None for the first), with the charts of the violations it brings."""
    old = {p["name"]: p for p in (before or {}).get("properties", ())}
    anchor = _anchor("patch", patch)
    rows = ['<table class="verdicts"><tr><th>property</th><th>before</th><th>after</th><th></th></tr>']
    brought: list[Json] = []
    for p in after.get("properties", ()):
        was = old.get(p["name"], {}).get("verdict", "-") if before is not None else "-"
        now = p.get("verdict", "-")
        changed = before is not None and was != now
        if changed and now == "violated" and p.get("trace") is not None:
            brought.append(p)
        rows.append(f'<tr class="{"changed" if changed else ""}" data-property="{escape(p["name"])}">'
                    f'<td>{escape(p["name"])}</td><td class="v-{escape(was)}">{escape(was)}</td>'
                    f'<td class="v-{escape(now)}">{escape(now)}</td><td>{"changed" if changed else ""}</td></tr>')
    rows.append("</table>")
    changes = sum(1 for p in after.get("properties", ()) if before is not None
                  and old.get(p["name"], {}).get("verdict", "-") != p.get("verdict"))
    out = [f'<section class="patch" id="{anchor}" data-patch="{escape(patch)}"><h2>{escape(patch)}</h2>']
    if summary:
        out.append(f'<p class="statement">{escape(summary)}</p>')
    changed = f"{changes} verdict{'s' * (changes != 1)} changed"
    out.append(f'<p class="meta">{"the first patch" if before is None else changed}</p>')
    out.append("".join(rows))
    lanes = lanes_of(p["trace"] for p in brought)
    out.extend(trace_section(p, prefix=anchor, lanes=lanes, describe=describe) for p in brought)
    out.append("</section>")
    return "\n".join(out)



# --------------------------------------------------------------------------------------------------------
# writing pages: what the commands call
# --------------------------------------------------------------------------------------------------------


def catalogue_statement(name: str) -> str | None:
    """A catalogue property's one-line statement (for results saved before JSON carried it)."""
    from klpmc import registry

    prop = registry.catalogue().get(name)
    return prop.description if prop is not None else None


def state_graph_json(model: Any, states: int) -> tuple[Json | None, str]:
    """(node-link JSON of the model's state graph, "") when it has at most `GRAPH_HTML_LIMIT` states, else
    (None, why not)."""
    if states > GRAPH_HTML_LIMIT:
        return None, (f"not drawn: {states:,} states are more than the {GRAPH_HTML_LIMIT} a page can show; "
                      "klpmc graph writes it for other tools")
    from klpmc import graphs  # networkx only when a page draws a graph

    g, complete, _ = graphs.state_graph(model, GRAPH_HTML_LIMIT)
    if not complete:
        return None, f"not drawn: more than {GRAPH_HTML_LIMIT} states"
    return graphs.node_link(g), ""


def _model_of(obj: Json) -> Any:
    """The model a single-run result came from, rebuilt from its name and preset or configuration file."""
    from pathlib import Path

    from klpmc import registry

    mdef = registry.get_model(str(obj["model"]))
    if "preset" in obj:
        return mdef.build(mdef.preset(str(obj["preset"])).config)
    if "config" in obj and mdef.load_config is not None and Path(str(obj["config"])).is_file():
        return mdef.build(mdef.load_config(Path(str(obj["config"])))[0])
    return None


def write_check_report(path: Any, obj: Json, model: Any = None, *, graph: bool = True) -> None:
    """Write the page of a ``check`` result to ``path``; with its model, the state graph too when small."""
    from pathlib import Path

    node_link, note = None, ""
    if graph and "configurations" not in obj:
        if model is None:
            try:
                model = _model_of(obj)
            except Exception as e:  # a model that is gone or changed: the page goes on without the graph
                note = f"not drawn: the model could not be rebuilt ({' '.join(str(e).split())})"
        if model is not None:
            node_link, note = state_graph_json(model, int(obj.get("states", 0)))
        elif not note:
            note = "not drawn: the configuration the result names is not at hand"
    page = check_page(obj, describe=catalogue_statement, graph=node_link, graph_note=note)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(page.render(), encoding="utf-8")


def write_diff_report(path: Any, obj: Json) -> None:
    """Write the page of a ``diff`` result to ``path``."""
    from pathlib import Path

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(diff_page(obj).render(), encoding="utf-8")


def report_file(source: Any, html: Any, *, graph: bool = True) -> str:
    """``klpmc report``: the page of a saved ``check --json`` or ``diff --json``; returns what it was."""
    from pathlib import Path

    from klpmc.registry import InputError

    src = Path(source)
    if not src.is_file():
        raise InputError(f"no such result file: {src}")
    try:
        obj = json.loads(src.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"{src} is not JSON ({e}); klpmc report reads what check --json or diff --json print") \
            from None
    if not isinstance(obj, dict):
        raise InputError(f"{src} is not a klpmc result; klpmc report reads what check --json or diff --json print")
    if "differences" in obj and "a" in obj and "b" in obj:
        write_diff_report(html, obj)
        return "diff"
    if "properties" in obj or "configurations" in obj:
        write_check_report(html, obj, graph=graph)
        return "check"
    raise InputError(f"{src} is neither a check nor a diff result (no properties, configurations or differences)")
