"""The HTML report: sequence charts and lifecycle strips from trace JSON, the pages of check, diff, series and
`klpmc report`. What a browser makes of them is tests/test_report_browser.py's business."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from klpmc import cli
from klpmc.report import GRAPH_HTML_LIMIT, check_page, diff_page, series_section, shown_properties
from klpmc.seqchart import Lanes, is_callback, lanes_of, lifecycles, sequence_chart, step_rows


def check_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    rc = cli.run(["check", *argv, "-q", "--json"])
    out = capsys.readouterr().out
    assert rc == 0
    return json.loads(out)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def poc_small() -> dict[str, Any]:
    from klpmc import registry
    from klpmc.engine import check
    from klpmc.output import PropertyReport, Report, report_json

    mdef = registry.get_model("poc")
    model = mdef.build(mdef.preset("small").config)
    result = check(model, registry.select_properties(mdef))
    props = tuple(PropertyReport(r, mdef.expectation("small", r.prop)) for r in result.properties)
    return report_json(Report("poc", "preset", "small", model, result, props))


def callbacks(trace: list[dict[str, Any]]) -> int:
    return sum(1 for s in trace for e in s["events"] if is_callback(e))


def test_lanes_from_traces(poc_small: dict[str, Any]) -> None:
    lanes = lanes_of(p["trace"] for p in shown_properties(poc_small))
    assert lanes.names == ("shell", "livepatch core", "P1", "P2")
    steps = [{"action": "klp_module_coming(mod_a)", "events": []},
             {"action": "klp_enable_patch(P1)",
              "events": [{"callback": "pre_patch", "patch": "P1", "object": "mod_b"}]}]
    assert lanes_of([steps]) == Lanes(("P1",), ("mod_a", "mod_b"))
    assert lanes_of([steps], livepatches=["P2"]).livepatches == ("P2", "P1")


def test_double_release_rows_and_strip(poc_small: dict[str, Any]) -> None:
    """The seed's double release: a failing pre_patch, then release from err_states and again from the
    cancel path; each callback arrow sits on the row of the line it printed, the second release breaks the
    life cycle."""
    prop = next(p for p in poc_small["properties"] if p["name"] == "state-lifecycle")
    [step] = prop["trace"]
    lanes = lanes_of([prop["trace"]])
    rows = step_rows(1, step, lanes)
    arrows = [(r.text, a.label) for r in rows for a in r.arrows if "callback" in a.cls]
    assert arrows == [("P1: setup_callback: state 1", "setup state 1"),
                      ("P1: pre_patch_callback: vmlinux", "pre_patch vmlinux = -ENODEV"),
                      ("P1: release_callback: state 1", "release state 1"),
                      ("P1: release_callback: state 1", "release state 1")]
    assert [r.text for r in rows if r.text and r.text_cls == "log"] == step["log"]
    assert rows[-1].arrows[0].label == "insmod: -ENODEV" and rows[-1].arrows[0].dst == "shell"
    strips = lifecycles(prop["trace"])
    assert [(t, bad) for t, bad in strips["state 1"][0].events] == [
        ("P1 setup", False), ("P1 release", False), ("P1 release", True)]
    assert strips["state 1"][0].phase == "released"
    assert strips["P1/vmlinux"][0].events == [("pre_patch = -ENODEV", False)]


def test_lifecycle_of_a_whole_life_has_no_mark() -> None:
    def ev(cb: str, patch: str = "P1") -> dict[str, Any]:
        return {"callback": cb, "patch": patch, "state": 1}

    steps = [{"events": [ev("setup")]}, {"events": [ev("enable")]}, {"events": [ev("disable")]},
             {"events": [ev("enable", "P2")]}, {"events": [ev("disable", "P2"), ev("release", "P2")]},
             {"events": [ev("pre_patch")]}]
    cells = lifecycles(steps)["state 1"]
    assert [c.phase for c in cells] == ["set up", "enabled", "disabled", "enabled", "released", "set up"]
    assert not any(bad for c in cells for _, bad in c.events)
    assert lifecycles([{"events": [ev("enable")]}])["state 1"][0].events == [("P1 enable", True)]


def test_chart_counts_and_marks(poc_small: dict[str, Any]) -> None:
    for p in shown_properties(poc_small):
        svg = sequence_chart(p["trace"], lanes_of([p["trace"]]))
        assert svg.count('class="arrow callback') == callbacks(p["trace"])
        bands = re.findall(r'<rect class="step-band[^"]*" data-step="(\d+)"', svg)
        assert bands == [str(i) for i in range(1, len(p["trace"]) + 1)]
        assert re.findall(r'class="step-band[^"]*breaking" data-step="(\d+)"', svg) == [str(len(p["trace"]))]


def test_check_page_is_self_contained(poc_small: dict[str, Any]) -> None:
    html = check_page(poc_small).render()
    shown = shown_properties(poc_small)
    assert len(shown) == 3
    assert html.count('<svg xmlns="http://www.w3.org/2000/svg" class="seqchart"') == len(shown)
    assert html.count('class="lifecycle"') == len(shown)
    for p in shown:
        assert f'href="#trace-{p["name"].replace("-", "_")}"' in html
        assert p["description"] in html
    # nothing fetched from elsewhere: no external script, style, image or font
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "@import" not in html and "url(" not in html
    assert html.count("<script>") == 1 and html.count("<style>") == 1


def test_cli_html_and_report_from_saved_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page = tmp_path / "r.html"
    assert cli.run(["check", "poc", "--preset", "small", "-q", "--html", str(page)]) == 0
    assert "report written to" in capsys.readouterr().err
    saved = tmp_path / "r.json"
    saved.write_text(json.dumps(check_json(capsys, "poc", "--preset", "small")))
    assert cli.run(["report", str(saved)]) == 0
    capsys.readouterr()
    again = (tmp_path / "r.html").read_text(), saved.with_suffix(".html").read_text()

    def charts(html: str) -> list[str]:
        return re.findall(r"<svg[^>]*class=\"(?:seqchart|lifecycle)\".*?</svg>", html, re.S)

    assert charts(again[0]) == charts(again[1]) and len(charts(again[0])) == 6
    # 58 states: the state graph is drawn, the traces can be shown on it
    assert 'id="graph-data"' in again[1] and again[1].count('class="show-in-graph"') == 3
    assert cli.run(["report", str(saved), "--no-graph", "--html", str(tmp_path / "n.html")]) == 0
    assert 'id="graph-data"' not in (tmp_path / "n.html").read_text()


def test_big_graph_is_not_drawn(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page = tmp_path / "drop.html"
    assert cli.run(["check", "poc-series", "--preset", "drop", "-q", "--html", str(page)]) == 0
    capsys.readouterr()
    html = page.read_text()
    assert 'id="graph-data"' not in html and f"more than the {GRAPH_HTML_LIMIT}" in html
    assert html.count('class="seqchart"') == 9


def test_report_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "x.json"
    bad.write_text("not json")
    assert cli.run(["report", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("klpmc: ") and "is not JSON" in err and len(err.strip().splitlines()) == 1
    assert cli.run(["report", str(tmp_path / "missing.json")]) == 2
    assert "no such result file" in capsys.readouterr().err
    bad.write_text('{"hello": 1}')
    assert cli.run(["report", str(bad)]) == 2
    assert "neither a check nor a diff result" in capsys.readouterr().err


def test_diff_page_parts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = cli.run(["diff", "v1", "refcount", "--preset", "drop", "-q", "--json", "--limit", "2"])
    obj = json.loads(capsys.readouterr().out)
    assert rc == 1 and len(obj["differences"]) == 2
    html = diff_page(obj).render()
    assert html.count('class="seqchart"') == 4 and html.count('class="side-by-side"') == 2
    first = obj["differences"][0]
    n = len(first["prefix"]) + 1
    assert len(re.findall(rf'class="step-band[^"]*parting" data-step="{n}"', html)) >= 2
    assert 'class="arrow callback differs"' in html
    saved = tmp_path / "d.json"
    saved.write_text(json.dumps(obj))
    assert cli.run(["report", str(saved)]) == 0
    assert "diff report written" in capsys.readouterr().err


def test_series_section_shows_what_a_patch_brings(poc_small: dict[str, Any]) -> None:
    before = {"properties": [{**p, "verdict": "holds", "trace": None} if p["name"] == "state-lifecycle" else p
                             for p in poc_small["properties"]]}
    html = series_section("[POC 1/7] livepatch: Add callbacks", poc_small, before, summary="the seed")
    assert html.count('class="seqchart"') == 1 and "1 verdict changed" in html
    assert re.search(r'<tr class="changed" data-property="state-lifecycle">', html)
    first = series_section("base", poc_small)
    assert "the first patch" in first and 'class="seqchart"' not in first


def test_scope_page(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page = tmp_path / "s.html"
    assert cli.run(["check", "poc", "--scope", "patches=1,states=1", "-q", "--html", str(page)]) == 0
    capsys.readouterr()
    html = page.read_text()
    assert "configurations" in html and html.count('class="run scope"') == 1
