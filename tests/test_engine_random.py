"""The engine against networkx on random graphs: reachable sets, depths and shortest-trace lengths agree."""

from __future__ import annotations

import networkx as nx
from hypothesis import given, settings
from hypothesis import strategies as st
from toys import Graph

from klpmc.engine import check
from klpmc.props import always, sometimes, step
from klpmc.testing import assert_next_steps_pure, assert_traces_replay

NODES = "abcdefgh"

paths = st.lists(st.text(alphabet=NODES, min_size=2, max_size=6), min_size=1, max_size=6)


def digraph(model: Graph) -> nx.DiGraph:
    g = nx.DiGraph()
    g.add_nodes_from(model.init)
    for x, ys in model.edges.items():
        g.add_edges_from((x, y) for y in ys)
    return g


@settings(max_examples=150, deadline=None)
@given(
    paths=paths, target=st.sampled_from(NODES), inits=st.sets(st.sampled_from(NODES), min_size=1, max_size=2)
)
def test_bfs_matches_networkx(paths: list[str], target: str, inits: set[str]) -> None:
    model = Graph(*(" ".join(p) for p in paths), init=tuple(sorted(inits)))
    g = digraph(model)
    dist = nx.multi_source_dijkstra_path_length(g, set(model.init))
    props = [
        always("not-target", "", lambda s: s != target),
        sometimes("at-target", "", lambda s: s == target),
        step("no-edge-into-target", "", lambda b, lab, log, a: a != target),
    ]
    r = check(model, props)
    assert r.complete
    assert r.stats.states == len(dist)
    assert r.stats.depth == max(dist.values())
    assert r.stats.transitions == sum(g.out_degree(n) for n in dist)
    if target in dist:
        shortest = dist[target]
        assert r.verdicts()["not-target"] == "violated"
        assert r.verdicts()["at-target"] == "reachable"
        trace = r["not-target"].trace
        assert trace is not None and len(trace) == shortest and trace.last == target
        # the first edge into target, from the nearest node with one
        into = [dist[p] + 1 for p in g.predecessors(target) if p in dist]
        if into:
            assert r.verdicts()["no-edge-into-target"] == "violated"
            st_trace = r["no-edge-into-target"].trace
            assert st_trace is not None and len(st_trace) == min(into)
        else:
            assert r.verdicts()["no-edge-into-target"] == "holds"
    else:
        assert r.verdicts() == {
            "not-target": "holds", "at-target": "unreachable", "no-edge-into-target": "holds",
        }
    assert_traces_replay(model, r)
    assert_next_steps_pure(model, list(dist))


@settings(max_examples=100, deadline=None)
@given(paths=paths, target=st.sampled_from(NODES), bound=st.integers(0, 4))
def test_max_depth_matches_networkx(paths: list[str], target: str, bound: int) -> None:
    model = Graph(*(" ".join(p) for p in paths), init=(paths[0][0],))
    dist = nx.single_source_shortest_path_length(digraph(model), model.init[0])
    r = check(model, [always("not-target", "", lambda s: s != target)], max_depth=bound)
    assert r.stats.states == sum(d <= bound for d in dist.values())
    assert r.complete == (max(dist.values()) <= bound)
    reached = dist.get(target, bound + 1) <= bound
    expected = "violated" if reached else ("holds" if r.complete else "undetermined")
    assert r.verdicts() == {"not-target": expected}
