"""``klpmc series``: a posted series checked patch by patch on the kernel's own C.

Each patch is applied (`klpmc.series`); after each patch that touches the core, the tree is built in user
space and checked on the configurations asked for (by default the presets of the Python model of the
tree's API that the generated modules express, plus any preset of the series' own test modules named
with --preset). Every build and check runs in a process of its own, as ``klpmc build`` and
``klpmc check kernel --kernel TREE``: one process holds one core. The report says, patch by patch, how
it applied, whether it built (else the compiler's first errors: a finding about the patch), the
verdicts, and the violations that are new or gone since the patch before, with their shortest traces.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from klpmc.ktree import Tree, open_tree
from klpmc.model import InputError
from klpmc.series import Applied, Renames, apply_series, read_renames

Json = dict[str, Any]
RUN_TIMEOUT = 1800          # seconds one check of one configuration may take
DEFAULT_MAX_STATES = 200_000


@dataclass
class PatchResult:
    """One patch: how it applied, how it built, what its C gave on each configuration."""

    applied: Applied
    built: Json | None = None                       # klpmc build --json, None when not built
    runs: dict[str, Json] = field(default_factory=dict)   # configuration -> check --json (or its error)
    new: list[tuple[str, Json]] = field(default_factory=list)    # (configuration, property) violated now
    gone: list[tuple[str, str]] = field(default_factory=list)    # (configuration, property) no longer

    @property
    def checked(self) -> bool:
        return self.built is not None and bool(self.built.get("ok"))

    @property
    def specified(self) -> bool:
        """The tree's API is one a Python model specifies, so its manifest says what to expect."""
        return self.built is not None and "specified" in self.built.get("features", ())

    def ok(self) -> bool:
        if self.applied.status == "fails":
            return False
        if self.built is not None and not self.built.get("ok"):
            return False
        if not self.specified:
            return all("error" not in r for r in self.runs.values())
        return all(r.get("ok", False) for r in self.runs.values())


@dataclass
class SeriesResult:
    series: str
    base: str
    version: str
    renames: Renames | None
    patches: list[PatchResult]
    base_runs: dict[str, Json] = field(default_factory=dict)   # the tree before the series, where it checks

    @property
    def ok(self) -> bool:
        return all(p.ok() for p in self.patches)


def _klpmc(*args: str, timeout: int = RUN_TIMEOUT) -> tuple[int, str, str]:
    """Run klpmc in a process of its own (one kernel core per process)."""
    env = dict(os.environ)
    try:
        run = subprocess.run([sys.executable, "-m", "klpmc", *args], capture_output=True, text=True,
                             timeout=timeout, check=False, env=env)
    except subprocess.TimeoutExpired:
        return 124, "", f"did not finish in {timeout} s"
    return run.returncode, run.stdout, run.stderr


def _build(tree: Path) -> Json:
    code, out, err = _klpmc("build", "--kernel", str(tree), "--json")
    if code in (0, 1) and out.strip():
        data: Json = json.loads(out)
        return data
    return {"ok": False, "errors": (err or out).strip() or f"klpmc build exited {code}"}


def _check(tree: Path, what: tuple[str, str], max_states: int | None) -> Json:
    args = ["check", "kernel", "--kernel", str(tree), f"--{what[0]}", what[1], "--json", "-q"]
    if max_states:
        args += ["--max-states", str(max_states)]
    code, out, err = _klpmc(*args)
    if code in (0, 1) and out.strip():
        data: Json = json.loads(out)
        return data
    return {"ok": False, "error": (err or out).strip().splitlines()[-1] if (err or out).strip()
            else f"klpmc check exited {code}"}


def _violated(run: Json) -> dict[str, Json]:
    return {p["name"]: p for p in run.get("properties", ()) if p.get("verdict") == "violated"}


def check_series(kernel: str | None, series: Path, port: Path | None, presets: Sequence[str] = (),
                 config: Path | None = None, max_states: int | None = DEFAULT_MAX_STATES,
                 jobs: int = 2, scope: str | None = None) -> SeriesResult:
    """Apply the series patch by patch and check the tree after each patch that touches the core."""
    base: Tree = open_tree(kernel)
    renames = read_renames(port) if port is not None else None
    if config is not None and not config.is_file():
        raise InputError(f"no such configuration file: {config}")
    applied = apply_series(base, series, renames)
    results = [PatchResult(a) for a in applied]
    previous: dict[str, Json] | None = None      # the configurations' runs on the tree before the patch
    base_runs: dict[str, Json] = {}

    def run_all(tree: Path, whats: list[tuple[str, str]]) -> dict[str, Json]:
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            done = list(pool.map(lambda w: (w, _check(tree, w, max_states)), whats))
        out: dict[str, Json] = {}
        for (kind, what), run in done:
            if kind == "scope" and "configurations" in run:     # one run a configuration of the scope
                for c in run["configurations"]:
                    out[c.get("scope", "?")] = c
            else:
                out[what if kind == "preset" else Path(what).name] = run
        return out

    for r in results:
        a = r.applied
        if not a.core:
            continue
        r.built = _build(a.tree)
        if not r.built.get("ok"):
            continue
        whats = [("config", str(config))] if config is not None else [("scope", scope)] if scope else \
            [("preset", p) for p in (presets or r.built.get("presets", ()))]
        if previous is None:                      # the base tree on the same configurations, where it has them
            previous = {n: run for n, run in run_all(base.root, whats).items() if "error" not in run}
            base_runs = dict(previous)
        r.runs = run_all(a.tree, whats)
        for name, run in r.runs.items():
            now = _violated(run)
            if "error" in run:
                continue
            if name in previous:
                before = _violated(previous[name])
                r.new += [(name, p) for n, p in now.items() if n not in before]
                r.gone += [(name, n) for n in before if n not in now]
            else:
                r.new += [(name, p) for p in now.values()]
        previous.update({n: run for n, run in r.runs.items() if "error" not in run})
    return SeriesResult(str(series), base.origin, base.version, renames, results, base_runs)


# -- text ------------------------------------------------------------------------------------------

def _trace_lines(trace: Sequence[Json], indent: str = "      ") -> list[str]:
    out = []
    for i, step in enumerate(trace, 1):
        cmd = step.get("command")
        out.append(f"{indent}{i:>2}  {('% ' + cmd + '    # ') if cmd else ''}{step.get('action', '')}")
        out += [f"{indent}        {line}" for line in step.get("log", ())]
    return out


def format_series(res: SeriesResult, traces: bool = True) -> list[str]:
    """The per-patch report, as a reviewer reads it."""
    lines = [f"series {res.series} on {res.base} ({res.version})"]
    if res.renames is not None:
        pairs = ", ".join(f"{a}->{b}" for a, b in (*res.renames.idents, *res.renames.paths))
        lines.append(f"ported with {res.renames.source}: {pairs}; the patches checked are not the patches "
                     "as posted")
    for r in res.patches:
        a = r.applied
        lines.append("")
        lines.append(f"[{a.number}] {a.subject or a.file}")
        if a.status == "cover":
            lines.append("    cover letter")
            continue
        what = {"clean": "applies cleanly", "offset": "applies at an offset", "fuzz": "applies with fuzz",
                "fails": "DOES NOT APPLY", "skipped": "nothing klpmc builds"}[a.status]
        lines.append(f"    {what}" + (f"; skipped: {', '.join(a.skipped)}" if a.skipped else ""))
        lines += [f"      {h}" for h in a.hunks if a.status in ("fuzz", "fails") or "FAILED" in h]
        if a.rejects and traces:
            lines += ["      rejected:"] + [f"        {x}" for x in a.rejects.splitlines()[:20]]
        lines += [f"      ported: {p}" for p in a.ported]
        if r.built is None:
            if a.status != "skipped":
                lines.append("    not checked: it does not touch kernel/livepatch or include/linux/livepatch*.h")
            continue
        if not r.built.get("ok"):
            lines.append("    DOES NOT BUILD (a finding):")
            lines += [f"      {e}" for e in str(r.built.get("errors", "")).splitlines()[:8]]
            continue
        api = ", ".join(f for f in r.built.get("features", ()) if f not in ("kernel_c", "specified"))
        lines.append(f"    builds ({api})" + ("" if r.specified else
                     "; no Python model specifies this API: verdicts are shown, not held against a manifest"))
        for name, run in r.runs.items():
            if "error" in run:
                lines.append(f"    {name}: not checked: {run['error']}")
                continue
            bad = [p for p in run.get("properties", ()) if not p.get("ok", True)] if r.specified else []
            viol = sorted(_violated(run))
            complete = "" if run.get("complete", True) else f", INCOMPLETE ({run.get('stop_reason')})"
            lines.append(f"    {name}: {run.get('states', 0):,} states{complete}; violated: "
                         f"{', '.join(viol) or 'none'}" + (f"; UNEXPECTED: {', '.join(p['name'] for p in bad)}"
                                                           if bad else ""))
        for name, p in r.new:
            lines.append(f"    new: {p['name']} on {name} ({len(p.get('trace') or ())} steps)")
            if traces and p.get("trace"):
                lines += _trace_lines(p["trace"])
        for name, prop in r.gone:
            lines.append(f"    gone: {prop} on {name}")
    lines.append("")
    bad = [r.applied.number for r in res.patches if not r.ok()]
    lines.append("every patch applies, builds and keeps its expected verdicts" if not bad else
                 f"patches that do not apply, build or keep their expected verdicts: {', '.join(bad)}")
    return lines


def series_json(res: SeriesResult) -> Json:
    return {
        "series": res.series, "base": res.base, "version": res.version, "ok": res.ok,
        "ported": None if res.renames is None else {"file": res.renames.source,
                                                     "renames": [*res.renames.idents, *res.renames.paths]},
        "patches": [{
            **{k: v for k, v in r.applied.json().items() if k != "tree"},
            "ok": r.ok(), "build": r.built, "runs": r.runs,
            "new": [{"configuration": n, "property": p["name"], "trace": p.get("trace")} for n, p in r.new],
            "gone": [{"configuration": n, "property": p} for n, p in r.gone],
        } for r in res.patches],
    }


def write_series_report(path: Path, res: SeriesResult) -> None:
    """The series as one HTML page: a section per patch and configuration (klpmc.report.series_section)."""
    from html import escape

    from klpmc.report import Page, catalogue_statement, series_section

    page = Page(f"klpmc series {Path(res.series).name}", f"on {res.base} ({res.version})"
                + (" ported with " + res.renames.source if res.renames else ""))
    previous: dict[str, Json] = dict(res.base_runs)
    for r in res.patches:
        a = r.applied
        head = f"[{a.number}] {a.subject or a.file}"
        status = {"clean": "applies cleanly", "offset": "applies at an offset", "fuzz": "applies with fuzz",
                  "fails": "does not apply", "skipped": "nothing klpmc builds", "cover": "cover letter"}[a.status]
        if not r.runs:
            extra = ""
            if r.built is not None and not r.built.get("ok"):
                extra = f"<pre>{escape(str(r.built.get('errors', '')))}</pre>"
            page.add(f'<section class="patch"><h2>{escape(head)}</h2><p class="meta">{escape(status)}</p>'
                     f"{extra}</section>")
            continue
        for name, run in r.runs.items():
            page.add(series_section(f"{head} ({name})", run, previous.get(name), summary=status,
                                    describe=catalogue_statement))
            previous[name] = run
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page.render(), encoding="utf-8")


__all__ = ["PatchResult", "SeriesResult", "check_series", "format_series", "series_json", "write_series_report"]
