"""The HTML report in a real browser: headless Chromium (Debian's ``chromium``, installed by .ci/run) opens
the pages klpmc writes, with no console error; the DOM has one chart per violation, one arrow per callback
event, the red mark on the last step; the state graph answers a click; a screenshot is not blank."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chromium import Browser, BrowserError, chromium, ink

from klpmc import cli
from klpmc.seqchart import is_callback

pytestmark = pytest.mark.skipif(chromium() is None, reason="chromium is not installed (apt-get install chromium)")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with Browser(width=1400, height=1000) as b:
        yield b


def write(tmp: Path, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[Path, dict[str, Any]]:
    page = tmp / "page.html"
    rc = cli.run([*argv, "-q", "--json", "--html", str(page)])
    obj = json.loads(capsys.readouterr().out)
    assert rc in (0, 1) and page.is_file()
    return page, obj


CHARTS = """Array.from(document.querySelectorAll('section.trace')).map(s => ({
    name: s.dataset.property,
    charts: s.querySelectorAll('svg.seqchart').length,
    steps: Number(s.querySelector('svg.seqchart').dataset.steps),
    callbacks: s.querySelectorAll('svg.seqchart .arrow.callback').length,
    breaking: Array.from(s.querySelectorAll('svg.seqchart .step-band.breaking')).map(b => Number(b.dataset.step)),
    lifeMarked: Array.from(s.querySelectorAll('svg.lifecycle .cell.breaking')).map(c => Number(c.dataset.step)),
    visible: s.querySelector('svg.seqchart').getBoundingClientRect().height > 100,
}))"""


def test_check_report(browser: Browser, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The done-when run: poc-series drop, nine violations."""
    page, obj = write(tmp_path, capsys, "check", "poc-series", "--preset", "drop")
    browser.open(page)
    assert browser.errors() == []
    violated = {p["name"]: p["trace"] for p in obj["properties"] if p["verdict"] == "violated"}
    assert len(violated) == 9
    found = {c["name"]: c for c in browser.eval(CHARTS)}
    assert set(found) == set(violated)
    for name, trace in violated.items():
        c = found[name]
        assert c["charts"] == 1 and c["visible"], name
        assert c["steps"] == len(trace)
        assert c["callbacks"] == sum(1 for s in trace for e in s["events"] if is_callback(e)) > 0
        assert c["breaking"] == [len(trace)]
        assert c["lifeMarked"] and set(c["lifeMarked"]) == {len(trace)}
    # the verdict table links each violation to its chart
    links = browser.eval("Array.from(document.querySelectorAll('table.verdicts a')).map(a => a.hash)")
    assert sorted(links) == sorted(f"#trace-{n.replace('-', '_')}" for n in violated)
    shot = browser.screenshot("#trace-state_lifecycle")
    assert ink(shot) > 0.05


def test_state_graph_click(browser: Browser, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page, obj = write(tmp_path, capsys, "check", "poc", "--preset", "small")
    browser.open(page)
    assert browser.errors() == []
    assert browser.eval("document.querySelectorAll('#graph-view .node').length") == obj["states"]
    clicked = browser.eval("""(() => {
        const n = document.querySelector('#graph-view .node[data-id="s1"] circle');
        n.dispatchEvent(new MouseEvent('click', {bubbles: true}));
        return [document.querySelector('#graph-view .node.selected').dataset.id,
                document.querySelector('#graph-panel h4').textContent];
    })()""")
    assert clicked[0] == "s1" and clicked[1].startswith("s1")
    # a trace shown on the graph: its path in red, ending at the state that breaks the rule
    path = browser.eval("""(() => {
        document.querySelector('a.show-in-graph[data-property="objects-cleaned-before-free"]').click();
        return document.querySelectorAll('#graph-view .node.on-path').length;
    })()""")
    trace = next(p["trace"] for p in obj["properties"] if p["name"] == "objects-cleaned-before-free")
    assert path == len(trace) + 1
    before = browser.eval("document.querySelector('#graph-view svg').getAttribute('viewBox')")
    browser.eval("document.getElementById('zoom-in').click()")
    assert browser.eval("document.querySelector('#graph-view svg').getAttribute('viewBox')") != before
    assert browser.errors() == []


def test_diff_report(browser: Browser, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page = tmp_path / "diff.html"
    assert cli.run(["diff", "v1", "refcount", "--preset", "drop", "-q", "--limit", "2", "--html", str(page)]) == 1
    capsys.readouterr()
    browser.open(page)
    assert browser.errors() == []
    sides = browser.eval("""Array.from(document.querySelectorAll('section.difference')).map(d =>
        Array.from(d.querySelectorAll('.side')).map(s => [s.dataset.side,
            Number(s.querySelector('svg.seqchart').dataset.steps),
            Array.from(s.querySelectorAll('.step-band.parting')).map(b => Number(b.dataset.step))]))""")
    assert len(sides) == 2
    for pair in sides:
        assert [s[0] for s in pair] == ["a", "b"]
        assert all(s[2] == [s[1]] for s in pair), pair     # the last step is where they part
    assert ink(browser.screenshot("#diff-1")) > 0.05


def test_blank_is_told_apart(browser: Browser, tmp_path: Path) -> None:
    """The screenshot check can fail: an empty page has no ink, a broken script is an error."""
    blank = tmp_path / "blank.html"
    blank.write_text("<!DOCTYPE html><html><body></body></html>")
    browser.open(blank)
    assert ink(browser.screenshot()) < 0.001
    broken = tmp_path / "broken.html"
    broken.write_text("<!DOCTYPE html><html><body><script>no_such_function();</script></body></html>")
    browser.open(broken)
    assert any("no_such_function" in e for e in browser.errors())
    with pytest.raises(BrowserError):
        browser.eval("no_such_function()")
