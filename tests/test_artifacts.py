"""Counterexamples for review: `klpmc check --out` writes each trace as JSON, ITF and a graph with its branches."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import NamedTuple

import networkx as nx
import pytest
from toys import Graph

from klpmc import cli, graphs, registry
from klpmc.engine import Trace, check, replay
from klpmc.itf import encode, trace_itf

HAVE_DOT = shutil.which("dot") is not None
ROOT = Path(__file__).resolve().parent.parent


class Point(NamedTuple):
    x: int
    tag: str | None


@dataclasses.dataclass(frozen=True)
class Box:
    items: frozenset[int]
    table: tuple[tuple[str, int], ...]


def test_itf_values() -> None:
    assert encode(True) is True and encode(7) == 7 and encode("s") == "s"
    assert encode(2**60) == {"#bigint": str(2**60)} and encode(-(2**60)) == {"#bigint": str(-(2**60))}
    assert encode((1, "a")) == {"#tup": [1, "a"]}
    assert encode([1, 2]) == [1, 2]
    assert encode(frozenset({3, 1, 2})) == {"#set": [1, 2, 3]}
    assert encode({"b": 2, "a": 1}) == {"#map": [["a", 1], ["b", 2]]}
    assert encode(None) == {"tag": "None", "value": {"#tup": []}}
    assert encode(Point(1, None)) == {"x": 1, "tag": {"tag": "None", "value": {"#tup": []}}}
    assert encode(Box(frozenset({2}), (("k", 1),))) == {
        "items": {"#set": [2]}, "table": {"#tup": [{"#tup": ["k", 1]}]}
    }
    assert encode(1.5) == {"#unserializable": "1.5"}


def test_itf_of_a_toy_trace() -> None:
    model = Graph("a b c")
    steps = replay(model, ["a->b", "b->c"])
    obj = trace_itf(model, Trace("a", tuple(steps)))
    assert obj["vars"] == ["state"]
    assert [s["state"] for s in obj["states"]] == ["a", "b", "c"]
    assert [s["#meta"]["index"] for s in obj["states"]] == [0, 1, 2]
    assert obj["states"][2]["#meta"]["action"] == "b->c"
    assert obj["states"][2]["#meta"]["log"] == ["go from b to c"]
    assert obj["states"][2]["#meta"]["events"] == [{"visit": "c"}]


def test_trace_graph_marks_the_trace_and_its_branches() -> None:
    model = Graph("a b c", "a d", "b e")
    g = graphs.trace_graph(model, Trace("a", tuple(replay(model, ["a->b", "b->c"]))))
    kinds = {d["action"]: d["kind"] for _, _, d in g.edges(data=True)}
    assert kinds == {"a->b": "trace", "b->c": "trace", "a->d": "branch", "b->e": "branch"}
    assert sorted(d["kind"] for _, d in g.nodes(data=True)) == ["branch", "branch", "init", "trace", "trace"]


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.run(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _check_out(capsys: pytest.CaptureFixture[str], out: Path) -> tuple[dict[str, object], str]:
    code, text, err = _run(
        capsys, "check", "poc-series", "--preset", "drop", "--property", "shadow-free-once",
        "--property", "no-callback-on-kept-state", "--json", "--out", str(out), "-q",
    )
    assert code == 0, err
    return json.loads(text), err


def test_out_writes_json_itf_and_graphs(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    obj, err = _check_out(capsys, tmp_path / "o")
    props = {p["name"]: p for p in obj["properties"]}  # type: ignore[attr-defined]
    folder = tmp_path / "o" / "no-callback-on-kept-state"
    steps = json.loads((folder / "trace.json").read_text())
    assert steps == props["no-callback-on-kept-state"]["trace"] and steps[0]["events"]

    itf = json.loads((folder / "trace.itf.json").read_text())
    assert itf["#meta"]["format"] == "ITF"
    mdef = registry.get_model("poc-series")
    model = mdef.build(mdef.preset("drop").config)
    assert itf["vars"] == list(model.fields(model.init_states()[0]))
    assert [s["#meta"]["index"] for s in itf["states"]] == list(range(len(steps) + 1))
    for state, step in zip(itf["states"][1:], steps, strict=True):
        assert state["#meta"]["action"] == step["action"] and state["#meta"]["log"] == step["log"]
        assert set(itf["vars"]) <= set(state)
    assert itf["states"][0]["transition"] == -1 and itf["states"][0]["pos[P1]"] == -1

    g = nx.read_graphml(folder / "trace.graphml")
    trace_edges = [d for _, _, d in g.edges(data=True) if d["kind"] == "trace"]
    assert [d["action"] for d in trace_edges] == [s["action"] for s in steps]
    assert [d["log"] for d in trace_edges] == ["\n".join(s["log"]) for s in steps]
    assert any(d["kind"] == "branch" for _, _, d in g.edges(data=True))
    linked = graphs.read_node_link(folder / "trace.graph.json")
    assert linked.number_of_nodes() == g.number_of_nodes()
    assert linked.number_of_edges() == g.number_of_edges()
    assert (folder / "trace.dot").read_text().startswith("digraph klpmc {")
    if HAVE_DOT:
        assert ET.parse(folder / "trace.svg").getroot().tag.endswith("svg")
        assert "graphviz" not in err
    else:
        assert "apt-get install graphviz" in err


def test_out_without_dot_says_how_to_get_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry.get_model("poc-series")  # imported before PATH goes
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    _, err = _check_out(capsys, tmp_path / "o")
    assert err == "klpmc: no SVG pictures: Graphviz's dot is not on PATH (apt-get install graphviz)\n"
    folder = tmp_path / "o" / "shadow-free-once"
    assert not (folder / "trace.svg").exists() and (folder / "trace.graphml").is_file()


@pytest.mark.skipif(not HAVE_DOT, reason="Graphviz's dot is not on PATH")
def test_svg_parses(tmp_path: Path) -> None:
    model = Graph("a b c")
    g = graphs.trace_graph(model, Trace("a", tuple(replay(model, ["a->b"]))))
    written = graphs.write_graph(g, tmp_path, "t")
    assert tmp_path / "t.svg" in written
    root = ET.parse(tmp_path / "t.svg").getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"


# --------------------------------------------------------------------------------------------------------
# klpmc graph: the whole reachable state graph
# --------------------------------------------------------------------------------------------------------


def test_graph_matches_the_engine(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = _run(capsys, "graph", "v1", "--preset", "small", "--out", str(tmp_path))
    assert code == 0
    mdef = registry.get_model("v1")
    stats = check(mdef.build(mdef.preset("small").config), []).stats
    assert out.startswith(f"v1 (preset small): {stats.states} states, {stats.transitions} transitions, complete\n")
    g = nx.read_graphml(tmp_path / "graph.graphml")
    assert (g.number_of_nodes(), g.number_of_edges()) == (stats.states, stats.transitions)
    assert max(d["depth"] for _, d in g.nodes(data=True)) == stats.depth
    assert not any(d["frontier"] for _, d in g.nodes(data=True))
    linked = graphs.read_node_link(tmp_path / "graph.json")
    assert (linked.number_of_nodes(), linked.number_of_edges()) == (stats.states, stats.transitions)
    assert {d["action"] for _, _, d in linked.edges(data=True)} >= {"klp_enable_patch(P1)"}
    assert (tmp_path / "graph.svg").is_file() == HAVE_DOT


def test_graph_bounded_and_limits(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = _run(capsys, "graph", "v1", "--max-states", "10", "--out", str(tmp_path / "a"))
    assert code == 0 and "10 states" in out and "PARTIAL" in out
    g = nx.read_graphml(tmp_path / "a" / "graph.graphml")
    assert g.number_of_nodes() == 10 and any(d["frontier"] for _, d in g.nodes(data=True))
    monkeypatch.setattr(graphs, "GRAPH_LIMIT", 20)
    code, out, err = _run(capsys, "graph", "v1", "--out", str(tmp_path / "b"))
    assert (code, out) == (2, "")
    assert err == (
        "klpmc: the state graph of v1 (preset small) has more than 20 states; "
        "--max-states N writes its first N states\n"
    )
    assert list((tmp_path / "b").iterdir()) == []     # made (and tried) when the command line was read
    monkeypatch.setattr(graphs, "SVG_LIMIT", 5)
    code, out, err = _run(capsys, "graph", "v1", "--max-states", "8", "--out", str(tmp_path / "c"))
    assert code == 0 and not (tmp_path / "c" / "graph.svg").exists()
    assert (tmp_path / "c" / "graph.dot").is_file() and (tmp_path / "c" / "graph.graphml").is_file()
    assert err.startswith("klpmc: no SVG picture: 8 states are more than 5") and err.count("\n") == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["graph", "v1"], "klpmc: Missing option '--out'"),
        (["graph", "v1", "--preset", "nope", "--out", "x"], "klpmc: unknown preset 'nope' for model 'v1'"),
        (["graph", "nope", "--out", "x"], "klpmc: unknown model 'nope'"),
        (["graph", "v1", "--preset", "small", "--config", "a.toml", "--out", "x"], "klpmc: --preset, --config"),
        (["graph", "v1", "--max-states", "0", "--out", "x"], "klpmc: Invalid value for '--max-states'"),
    ],
)
def test_graph_bad_input(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    code, out, err = _run(capsys, *argv)
    assert code == 2 and out == "" and err.startswith(message) and err.count("\n") == 1, err


class Described(Graph):
    """A Graph whose model says how to show a state."""

    def describe(self, state: str) -> str:
        return f"node {state.upper()}"


def test_describe_hook_labels_nodes_and_itf(tmp_path: Path) -> None:
    model = Described("a b")
    trace = Trace("a", tuple(replay(model, ["a->b"])))
    g = graphs.trace_graph(model, trace)
    assert sorted(d["label"] for _, d in g.nodes(data=True)) == ["node A", "node B"]
    itf = trace_itf(model, trace)
    assert [s["#meta"]["describe"] for s in itf["states"]] == ["node A", "node B"]
    graphs.write_graph(g, tmp_path, "t", svg=False)
    assert 'label="s0: node A\\l"' in (tmp_path / "t.dot").read_text()


def test_plain_check_loads_neither_networkx_nor_coverage() -> None:
    probe = (
        "import sys\nfrom klpmc import cli\n"
        "code = cli.run(['check', 'v1', '--preset', 'small', '-q'])\n"
        "print(code, 'networkx' in sys.modules, 'coverage' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.splitlines()[-1].split()[1:] == ["False", "False"]
