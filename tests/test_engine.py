"""The BFS engine on toy models: state counts, shortest traces, bounds, determinism, replay."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from toys import Counters, Graph, Inc

from klpmc.engine import ModelError, Progress, ReplayError, check, replay
from klpmc.props import Property, always, sometimes, step
from klpmc.testing import assert_next_steps_pure, assert_traces_replay

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("k", "m", "states", "transitions", "depth"),
    [(1, 1, 1, 1, 0), (1, 5, 5, 5, 4), (2, 3, 9, 18, 4), (3, 4, 64, 192, 9), (4, 5, 625, 2500, 16)],
)
def test_counter_state_counts(k: int, m: int, states: int, transitions: int, depth: int) -> None:
    r = check(Counters(k, m))
    assert (r.stats.states, r.stats.transitions, r.stats.depth) == (states, transitions, depth)
    assert r.complete and r.stop_reason is None
    assert r.stats.peak_memory > 0 and r.stats.seconds >= 0


def test_graph_state_counts() -> None:
    g = Graph("a b c d", "a e d", "b f", "f a", "x y")
    r = check(g)
    assert (r.stats.states, r.stats.transitions, r.stats.depth) == (6, 7, 2)  # x, y unreachable


def test_duplicate_initial_states_count_once() -> None:
    r = check(Graph("a b", "c b", init=("a", "c", "a")))
    assert r.stats.states == 3


def test_shortest_trace_to_violation() -> None:
    # the long way is listed first; BFS must still find the short one
    g = Graph("a b c d bad", "a e bad")
    r = check(g, [always("no-bad", "never at bad", lambda s: s != "bad")])
    res = r["no-bad"]
    assert res.verdict == "violated"
    assert res.trace is not None
    assert res.trace.init == "a"
    assert res.trace.labels == ("a->e", "e->bad")
    assert res.trace.last == "bad"
    assert res.trace.steps[-1].log == ("go from e to bad", res.trace.steps[-1].log[1])


def test_violation_in_initial_state_has_empty_trace() -> None:
    r = check(Graph("a b"), [always("not-a", "", lambda s: s != "a")])
    res = r["not-a"]
    assert res.verdict == "violated" and res.trace is not None and len(res.trace) == 0


def test_each_property_gets_its_own_shortest_trace() -> None:
    props = [
        always("sum-below-5", "", lambda s: sum(s) < 5),
        sometimes("all-three", "", lambda s: s == (3, 3, 3)),
        step("no-wrap", "", lambda b, lab, log, a: a[lab.k] != 0),
        sometimes("wrap-of-2", "", lambda b, lab, log, a: lab == Inc(2) and a[2] == 0, over="step"),
        always("fine", "", lambda s: True),
        sometimes("never", "", lambda s: s == (9, 9, 9)),
    ]
    model = Counters(3, 4)
    r = check(model, props)
    assert r.verdicts() == {
        "sum-below-5": "violated",
        "all-three": "reachable",
        "no-wrap": "violated",
        "wrap-of-2": "reachable",
        "fine": "holds",
        "never": "unreachable",
    }
    lengths = {p.name: len(p.trace) for p in r.properties if p.trace is not None}
    assert lengths == {"sum-below-5": 5, "all-three": 9, "no-wrap": 4, "wrap-of-2": 4}
    assert r["no-wrap"].trace is not None and r["no-wrap"].trace.labels == (Inc(0),) * 4
    assert r["sum-below-5"].trace is not None and r["sum-below-5"].trace.labels == (
        Inc(0), Inc(0), Inc(0), Inc(1), Inc(1),
    )
    assert r.stats.states == 64  # settling properties does not cut the search short
    assert_traces_replay(model, r)


def test_step_property_on_transition_to_a_known_state() -> None:
    # f->a closes a cycle: the violating transition leads to a state seen before
    g = Graph("a b f a")
    r = check(g, [step("no-back-to-a", "", lambda b, lab, log, a: a != "a")])
    res = r["no-back-to-a"]
    assert res.verdict == "violated" and res.trace is not None
    assert res.trace.labels == ("a->b", "b->f", "f->a")
    assert_traces_replay(g, r)


def test_determinism() -> None:
    props = [always("sum-below-7", "", lambda s: sum(s) < 7), sometimes("x", "", lambda s: s[1] == 2)]
    first, *again = [check(Counters(3, 5), props) for _ in range(3)]
    for r in again:
        assert r.properties == first.properties  # verdicts and traces, step by step
        assert (r.stats.states, r.stats.transitions, r.stats.depth) == (125, 375, 12)


def test_determinism_across_hash_seeds() -> None:
    script = textwrap.dedent(
        """
        import sys
        sys.path[:0] = [sys.argv[1], sys.argv[1] + "/tests"]
        from toys import Graph
        from klpmc.engine import check
        from klpmc.props import always
        g = Graph("a b c d z", "a c e z", "b e", "d a", "e b", init=("a", "d"))
        r = check(g, [always("no-z", "", lambda s: s != "z")])
        print(r.stats.states, r.stats.transitions, r["no-z"].trace.labels)
        """
    )
    outs = {
        subprocess.run(
            [sys.executable, "-c", script, str(ROOT)],
            env={"PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("0", "1", "2", "12345")
    }
    assert len(outs) == 1, outs


def test_max_states_gives_undetermined() -> None:
    props = [always("fine", "", lambda s: True), sometimes("far", "", lambda s: s == (3, 3, 3))]
    r = check(Counters(3, 4), props, max_states=10)
    assert not r.complete and r.stop_reason == "max_states"
    assert r.stats.states == 10
    assert r.verdicts() == {"fine": "undetermined", "far": "undetermined"}


def test_max_depth_gives_undetermined() -> None:
    props = [step("fine", "", lambda *a: True), sometimes("far", "", lambda s: s == (3, 3, 3))]
    r = check(Counters(3, 4), props, max_depth=3)
    assert not r.complete and r.stop_reason == "max_depth"
    assert (r.stats.states, r.stats.depth) == (20, 3)  # 1 + 3 + 6 + 10 states within 3 steps
    assert r.verdicts() == {"fine": "undetermined", "far": "undetermined"}


def test_bounds_that_cover_everything_are_complete() -> None:
    props = [always("fine", "", lambda s: True)]
    for kwargs in ({"max_states": 64}, {"max_depth": 9}, {"max_states": 64, "max_depth": 9}):
        r = check(Counters(3, 4), props, **kwargs)  # type: ignore[arg-type]
        assert r.complete and r.verdicts() == {"fine": "holds"} and r.stats.states == 64, kwargs


def test_bounded_run_still_reports_what_it_found() -> None:
    props = [always("sum-below-2", "", lambda s: sum(s) < 2), sometimes("one", "", lambda s: s == (1, 0, 0))]
    r = check(Counters(3, 4), props, max_depth=2)
    assert r.verdicts() == {"sum-below-2": "violated", "one": "reachable"}
    assert_traces_replay(Counters(3, 4), r)


def test_stop_on_violation() -> None:
    props = [always("sum-below-2", "", lambda s: sum(s) < 2), always("fine", "", lambda s: True)]
    r = check(Counters(4, 5), props, stop_on_violation=True)
    assert r.stop_reason == "stop_on_violation" and not r.complete
    assert r.verdicts() == {"sum-below-2": "violated", "fine": "undetermined"}
    assert r.stats.states < 625
    # a reachable sometimes-property is no reason to stop
    r = check(Counters(3, 4), [sometimes("one", "", lambda s: sum(s) == 1)], stop_on_violation=True)
    assert r.complete and r.stats.states == 64


class Interrupting(Counters):
    """Counters whose search is cut by Ctrl-C after some expansions."""

    def __init__(self, k: int, m: int, after: int) -> None:
        super().__init__(k, m)
        self.calls = 0
        self.after = after

    def next_steps(self, s: tuple[int, ...]) -> Iterator[tuple[Inc, tuple[int, ...], tuple[object, ...]]]:
        self.calls += 1
        if self.calls == self.after:
            raise KeyboardInterrupt
        yield from super().next_steps(s)


def test_keyboard_interrupt_ends_cleanly() -> None:
    model = Interrupting(3, 4, after=20)
    r = check(model, [always("fine", "", lambda s: True), always("low", "", lambda s: sum(s) < 3)])
    assert r.stop_reason == "interrupted" and not r.complete
    assert r.verdicts() == {"fine": "undetermined", "low": "violated"}
    assert 0 < r.stats.states < 64 and r.stats.transitions > 0


def test_progress_is_called_with_growing_numbers() -> None:
    seen: list[Progress] = []
    check(Counters(5, 10), progress=seen.append)
    assert seen
    assert [p.states for p in seen] == sorted(p.states for p in seen)
    assert seen[-1].states == 100_000
    assert len(seen) < 100  # rarely


def test_next_steps_never_mutates_input() -> None:
    model = Counters(3, 4)
    states = [(0, 0, 0), (3, 2, 1), (1, 1, 1)]
    assert_next_steps_pure(model, states)
    assert_next_steps_pure(Graph("a b c", "a c"), ["a", "b", "c", "zz"])


@given(st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 3)))
def test_next_steps_never_mutates_input_property(s: tuple[int, int, int]) -> None:
    assert_next_steps_pure(Counters(3, 4), [s])


def test_replay_rebuilds_steps() -> None:
    model = Counters(2, 3)
    steps = replay(model, [Inc(0), Inc(1), Inc(1)])
    assert [s.state for s in steps] == [(1, 0), (1, 1), (1, 2)]
    assert steps[-1].log == ("counter 1 is now 2",)
    assert [s.state for s in replay(model, ["inc(1)", "inc(1)", "inc(1)"])] == [(0, 1), (0, 2), (0, 0)]


def test_replay_picks_the_initial_state_that_fits() -> None:
    g = Graph("a b", "c d", init=("a", "c"))
    assert [s.state for s in replay(g, ["c->d"])] == ["d"]
    assert [s.state for s in replay(g, ["a->b"], init="a")] == ["b"]


def test_replay_names_the_label_that_is_not_enabled() -> None:
    with pytest.raises(ReplayError, match=r"step 2: b->x is not enabled; enabled: b->c"):
        replay(Graph("a b c"), ["a->b", "b->x"])
    with pytest.raises(ReplayError, match="enabled: none"):
        replay(Graph("a b"), ["a->b", "b->a"])


class NoInit:
    def init_states(self) -> list[int]:
        return []

    def next_steps(self, s: int) -> list[tuple[str, int, tuple[object, ...]]]:
        return []


class BadSteps:
    def init_states(self) -> list[int]:
        return [0]

    def next_steps(self, s: int) -> list[tuple[str, int]]:
        return [("go", s + 1)]


class Unhashable:
    def init_states(self) -> list[list[int]]:
        return [[0]]

    def next_steps(self, s: list[int]) -> list[tuple[str, list[int], tuple[object, ...]]]:
        return []


def test_model_contract_errors_name_the_culprit() -> None:
    with pytest.raises(ModelError, match="no initial state"):
        check(NoInit())
    with pytest.raises(ModelError, match=r"\(label, successor, log\)"):
        check(BadSteps())  # type: ignore[arg-type]
    with pytest.raises(ModelError, match="not hashable"):
        check(Unhashable())


def test_property_definition_errors() -> None:
    with pytest.raises(ValueError, match="unknown kind 'eventually'"):
        Property("p", "eventually", "", lambda s: True)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'always' property is over 'state'"):
        Property("p", "always", "", lambda s: True, over="step")
    with pytest.raises(ValueError, match="non-empty"):
        Property("", "always", "", lambda s: True)
    with pytest.raises(TypeError, match="not callable"):
        Property("p", "always", "", 3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="two properties are named 'p'"):
        check(Counters(1, 2), [always("p", "", bool), always("p", "", bool)])
    with pytest.raises(ValueError, match="max_states"):
        check(Counters(1, 2), max_states=0)
    assert Property("p", "step", "", lambda *a: True).over == "step"
    assert Property("p", "sometimes", "", lambda s: True).over == "state"
