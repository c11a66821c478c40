"""`klpmc diff`: verdicts side by side and the shortest traces after which two models behave differently."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from toys import Graph, Visit

from klpmc import cli
from klpmc.diff import distinguish, format_distinction


class Loud(Graph):
    """A Graph whose step into ``node`` reports a different event."""

    def __init__(self, node: str, *paths: str) -> None:
        super().__init__(*paths)
        self.node = node

    def next_steps(self, s: str) -> Iterator[tuple[str, str, tuple[object, ...]]]:
        for label, t, log in super().next_steps(s):
            yield label, t, ((*log, Visit("loud " + t)) if t == self.node else log)


def test_offers_differ_after_the_common_prefix() -> None:
    found = distinguish(Graph("a b c", "a x"), Graph("a b d", "a x"))
    assert found.complete and found.pairs == 3
    kinds = [(d.kind, [s.label for s in d.prefix], d.last.label) for d in found.differences]
    assert kinds == [("only-a", ["a->b"], "b->c"), ("only-b", ["a->b"], "b->d")]
    assert found.differences[0].offered_b == ("b->d",)


def test_events_differ_and_the_step_is_not_followed() -> None:
    found = distinguish(Graph("a b c d e"), Loud("c", "a b c d f"))
    [d] = found.differences
    assert (d.kind, len(d), d.last.label) == ("events", 2, "b->c")  # d->e / d->f lie beyond it
    text = "\n".join(format_distinction(found, ("A", "B"), lambda _: None, 5))
    assert "difference 1: b->c has different events, after 1 common step\n" in text
    assert "! event visit=loud c" in text and "  1  a->b\n" in text


def test_same_models_and_bounds() -> None:
    found = distinguish(Graph("a b c", "c a"), Graph("a b c", "c a"))
    assert (found.differences, found.pairs, found.complete) == ((), 3, True)
    bounded = distinguish(Graph("a b c d"), Graph("a b c e"), max_pairs=2)
    assert bounded.stop_reason == "max_pairs" and not bounded.complete and not bounded.differences
    assert format_distinction(bounded, ("A", "B"), lambda _: None, 5) == [
        "no distinguishing trace found: 2 state pairs explored, INCOMPLETE (max_states)"
    ]


def test_limit_keeps_the_shortest_kinds() -> None:
    found = distinguish(Graph("a b", "a c", "a d"), Graph("a e"), limit=2)
    assert [d.last.label for d in found.differences] == ["a->b", "a->c"]
    assert found.stop_reason == "limit"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.run(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_diff_v1_refcount(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "diff", "v1", "refcount", "--preset", "drop", "-q")
    assert code == 1 and err == ""
    assert out.startswith("v1 vs refcount (preset drop)\nproperty ")
    # the models move on; what stays is the shape: a verdict that differs, a trace printed as commands
    assert re.search(r"\n\S+ +(always|step) +violated +holds +differs\n", out)
    assert re.search(r"\ndifference 1: \S+ has different events, after \d+ common steps\n", out)
    assert "  1  % insmod P" in out and "\n       v1:" in out and "refcount:" in out
    assert "! event callback=" in out


def test_diff_poc_v1_shows_properties_one_lacks(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "diff", "poc", "v1", "-q")
    assert code == 1
    assert "post-unpatch-after-pre-patch     step       holds        -\n" in out
    assert "only poc offers klp_enable_patch(P1, fail=pre_patch:P1:vmlinux)" in out
    assert "poc:" in out and "v1:" in out


def test_diff_same_model_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "diff", "v1", "v1", "-q")
    assert code == 0 and "v1 vs v1 (preset small)" in out
    assert re.search(r"\nno distinguishing trace: \d+ state pairs explored, complete\n$", out)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["diff", "v1", "refcount", "--preset", "kselftest"], "klpmc: unknown preset 'kselftest' for model "),
        (["diff", "poc", "v1", "--preset", "kselftest"], "klpmc: unknown preset 'kselftest' for model 'v1'"),
        (["diff", "v1", "nope"], "klpmc: unknown model 'nope'"),
        (["diff", "v1"], "klpmc: Missing argument 'MODEL_B'"),
        (["diff", "v1", "poc", "--config", "missing.toml"], "klpmc: no such configuration file: missing.toml"),
    ],
)
def test_diff_bad_input(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    code, out, err = _run(capsys, *argv)
    assert code == 2 and out == "" and err.startswith(message) and err.count("\n") == 1, err


def test_diff_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "diff", "poc", "v1", "--json", "-q")
    obj = json.loads(out)
    assert code == 1 and obj["differs"] is True
    assert (obj["a"], obj["b"], obj["preset"]) == ("poc", "v1", "small")
    assert obj["verdicts"]["post-unpatch-after-pre-patch"] == {"a": "holds", "b": None}
    # state callbacks are compared by position (setup = pre_patch): on small only poc's failing per-object
    # pre_patch tells them apart; on drop the state callbacks themselves differ
    assert {d["kind"] for d in obj["differences"]} == {"only-a"}
    _, out_drop, _ = _run(capsys, "diff", "poc", "v1", "--preset", "drop", "--json", "-q")
    assert "events" in {d["kind"] for d in json.loads(out_drop)["differences"]}
    only_a = next(d for d in obj["differences"] if d["kind"] == "only-a")
    assert only_a["last"]["b"] is None and only_a["last"]["a"]["events"]
    assert only_a["last"]["command"].startswith("insmod P1.ko")
    assert only_a["offered_b"] and only_a["prefix"] == []
