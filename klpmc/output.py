"""What `klpmc check` shows: a verdict table and traces for people, JSON for tools, files under --out.

A `Report` is one run of one model on one configuration, with the expected verdicts beside the engine's.
Renderers take a report and know nothing about what the model means: a step shows the command the model
says a person would type (``command(label)``), else the label, then the step's log lines.

Artifacts under ``--out DIR`` are `klpmc.artifacts`'s.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from klpmc.engine import Model, PropertyResult, Result
from klpmc.model import ExpectedVerdict
from klpmc.steps import command_of, command_of_label, log_events, log_lines, step_json, trace_json

__all__ = [
    "SVG_HINT",
    "PropertyReport",
    "Report",
    "command_of",
    "command_of_label",
    "format_report",
    "format_scope_line",
    "format_scope_total",
    "format_scope_total_of",
    "log_events",
    "log_lines",
    "report_json",
    "step_json",
    "trace_json",
]


SVG_HINT = "klpmc: no SVG pictures: Graphviz's dot is not on PATH (apt-get install graphviz)"


@dataclass(frozen=True)
class PropertyReport:
    """One property's verdict next to the one the manifest expects."""

    result: PropertyResult
    expected: ExpectedVerdict

    @property
    def ok(self) -> bool:
        if not self.expected.binding:
            return self.result.verdict != "undetermined"
        return self.result.verdict == self.expected.verdict

    @property
    def shows_trace(self) -> bool:
        """Violations always show their trace; a witness only when it was not expected."""
        return self.result.trace is not None and (self.result.verdict == "violated" or not self.ok)


@dataclass(frozen=True)
class Report:
    """A finished run: which model and configuration, the engine's result, the expected verdicts."""

    model_name: str
    source: str  # "preset", "config" or "scope"
    config_name: str  # preset name, config file path, or scope configuration name
    model: Model
    result: Result
    properties: tuple[PropertyReport, ...]
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return all(p.ok for p in self.properties)

    @property
    def unexpected(self) -> tuple[PropertyReport, ...]:
        return tuple(p for p in self.properties if not p.ok)


def _stats_json(result: Result) -> dict[str, Any]:
    s = result.stats
    return {
        "states": s.states,
        "transitions": s.transitions,
        "depth": s.depth,
        "seconds": round(s.seconds, 6),
        "states_per_second": round(s.states_per_second, 1),
        "complete": result.complete,
        "stop_reason": result.stop_reason,
        "peak_memory": s.peak_memory,
    }


def report_json(report: Report) -> dict[str, Any]:
    """One object: model, preset/config, statistics, and each property with its verdict and trace."""
    out: dict[str, Any] = {"model": report.model_name, report.source: report.config_name}
    out.update(_stats_json(report.result))
    out["ok"] = report.ok
    if report.notes:
        out["notes"] = list(report.notes)
    out["properties"] = [
        {
            "name": p.result.name,
            "kind": p.result.kind,
            "description": p.result.prop.description,
            "verdict": p.result.verdict,
            "expected": p.expected.verdict,
            "reason": p.expected.reason,
            "ok": p.ok,
            "trace": trace_json(report.model, p.result),
        }
        for p in report.properties
    ]
    return out


# --------------------------------------------------------------------------------------------------------
# text for people
# --------------------------------------------------------------------------------------------------------


def _human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover


def format_stats(result: Result) -> str:
    s = result.stats
    how = "complete" if result.complete else f"INCOMPLETE ({result.stop_reason})"
    return (
        f"{s.states:,} states, {s.transitions:,} transitions, depth {s.depth}, {s.seconds:.2f} s "
        f"({s.states_per_second:,.0f} states/s), peak memory {_human_bytes(s.peak_memory)}, {how}"
    )


def format_trace(model: Model, result: PropertyResult) -> list[str]:
    """Numbered steps: the command (or the label), the label as a comment, then the log lines indented."""
    assert result.trace is not None
    lines: list[str] = []
    if not result.trace.steps:
        lines.append("    (an initial state)")
    width = len(str(len(result.trace.steps)))
    for n, step in enumerate(result.trace.steps, 1):
        command = command_of(model, step)
        label = str(step.label)
        if command and not command.startswith("% "):
            command = "% " + command  # a shell prompt, as the selftest logs show the commands they run
        head = f"{command}    # {label}" if command else label
        lines.append(f"  {n:>{width}}  {head}")
        lines.extend(f"  {'':>{width}}      {item}" for item in step.log if isinstance(item, str))
    return lines


def format_table(props: Sequence[PropertyReport]) -> list[str]:
    rows = [("property", "kind", "verdict", "expected", "")]
    rows += [
        (p.result.name, p.result.kind, p.result.verdict, p.expected.verdict, "ok" if p.ok else "UNEXPECTED")
        for p in props
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return [
        ("  ".join(cell.ljust(w) for cell, w in zip(r[:4], widths, strict=True)) + "  " + r[4]).rstrip()
        for r in rows
    ]


def format_report(report: Report) -> str:
    """The verdict table, then the trace of each violation and unexpected verdict, then statistics."""
    lines = [f"{report.model_name} ({report.source} {report.config_name})"]
    lines.extend(f"note: {n}" for n in report.notes)
    lines.extend(format_table(report.properties) if report.properties else ["(no properties)"])
    untraced = [p for p in report.properties if not p.ok and p.result.trace is None]
    if untraced:
        lines += ["", "unexpected verdicts without a trace:"]
        for p in untraced:
            why = f" ({p.expected.reason})" if p.expected.reason else ""
            lines.append(f"  {p.result.name}: {p.result.verdict}, expected {p.expected.verdict}{why}")
    for p in report.properties:
        r = p.result
        if not p.shows_trace:
            continue
        what = "violated" if r.verdict == "violated" else f"{r.verdict}, a witness"
        lines += ["", f"{r.name} ({r.kind}) {what}: {r.prop.description}"]
        why = f": {p.expected.reason}" if p.expected.reason else ""
        lines.append(f"  expected {p.expected.verdict}{why}")
        lines.extend(format_trace(report.model, r))
    lines += ["", format_stats(report.result)]
    return "\n".join(lines)


def _differences(props: Sequence[PropertyReport]) -> str:
    """Unexpected verdicts grouped by verdict: ``violated: a, b; unreachable: c``."""
    by_verdict: dict[str, list[str]] = {}
    for p in props:
        by_verdict.setdefault(p.result.verdict, []).append(p.result.name)
    return "; ".join(f"{verdict}: {', '.join(names)}" for verdict, names in by_verdict.items())


def format_scope_line(report: Report, width: int = 0) -> str:
    """One configuration of a ``--scope`` run: its size, time and what differs from the manifest."""
    s = report.result.stats
    status = "ok" if report.ok else _differences(report.unexpected)
    partial = "" if report.result.complete else f", INCOMPLETE ({report.result.stop_reason})"
    return (
        f"{report.config_name.ljust(width)}  {s.states:>9,} states  depth {s.depth:>3}  {s.seconds:7.2f} s"
        f"{partial}  {status}"
    )


def format_scope_total(spec: str, reports: Sequence[Report]) -> str:
    """The last line of a ``--scope`` run."""
    return format_scope_total_of(spec, [(r.ok, r.result.stats.states, r.result.stats.seconds) for r in reports])


def format_scope_total_of(spec: str, runs: Sequence[tuple[bool, int, float]]) -> str:
    """The last line of a ``--scope`` run from each configuration's (as expected, states, seconds)."""
    bad = sum(not ok for ok, _, _ in runs)
    states = sum(n for _, n, _ in runs)
    seconds = sum(t for _, _, t in runs)
    return (
        f"scope {spec}: {len(runs)} configuration{'s' * (len(runs) != 1)}, "
        f"{len(runs) - bad} as expected, {bad} not; "
        f"{states:,} states in {seconds:.2f} s"
    )


SHOWN = 12     # clauses of a learnt invariant printed in the text report
# a clause over a token (a number for the rest of the state) tells a reader nothing: not listed in text
TOKEN_FIELD = re.compile(r"(?<![\w.])(rest\.\w+|shadows|mem|mod\[[^\]]*\])\s*=")


def format_proofs(model_name: str, source: str, config_name: str, info: dict[str, Any],
                  rows: Sequence[tuple[Any, Any, bool]], model: Model) -> str:
    """klpmc prove's report: the relation, a verdict table with methods, then traces and invariants."""
    lines = [f"{model_name} ({source} {config_name})",
             f"relation: {info['rules']:,} rules over {info['fields']} fields, read off the model code from "
             + (f"{info['configurations']:,} configurations, " if info["configurations"] > 1 else "") +
             f"{info['states']:,} states and {info['transitions']:,} transitions in {info['extract_seconds']:.2f} s; "
             f"diameter {info['diameter']}"]
    table = [("property", "kind", "verdict", "method", "expected", "")]
    for p, want, ok in rows:
        how = p.method + (f" k={p.depth}" if p.method == "k-induction" else
                          f" depth {p.depth}" if p.method == "bmc" and p.depth is not None else "")
        table.append((p.prop.name, p.prop.kind, p.verdict, how, want.verdict, "ok" if ok else "UNEXPECTED"))
    widths = [max(len(r[i]) for r in table) for i in range(5)]
    lines += [("  ".join(c.ljust(w) for c, w in zip(r[:5], widths, strict=True)) + "  " + r[5]).rstrip()
              for r in table]
    for p, _want, ok in rows:
        if p.trace is not None and (p.verdict == "violated" or not ok):
            where = f" in configuration {p.config}" if p.config and info["configurations"] > 1 else ""
            lines += ["", f"{p.prop.name} ({p.prop.kind}) {p.verdict}{where} (bmc, replayed through the model): "
                          f"{p.prop.description}", *format_trace(model, p.trace)]
        if p.invariant is not None and p.method == "spacer":
            lines += ["", f"{p.prop.name}: inductive invariant found by spacer:",
                      *("    " + x for x in p.invariant.splitlines())]
        if p.verdict == "undetermined" and p.note:
            lines += ["", f"{p.prop.name}: undetermined: {p.note}"]
    learnt = [p for p, _, _ in rows if p.method == "invariant" and p.invariant is not None]
    if learnt:      # one invariant proves them all
        clauses = (learnt[-1].invariant or "").splitlines()
        named = [c for c in clauses if not TOKEN_FIELD.search(c)]
        needed = [f"{p.prop.name} ({p.note.split()[0]})" for p in learnt if not p.note.startswith("no clause")]
        lines += ["", f"inductive invariant learnt from the reachable states and checked by z3; it proves "
                      f"{len(learnt)} properties; clauses came from counterexamples to "
                      f"{', '.join(needed) if needed else 'none of them'}; "
                      f"{len(named)} of its {len(clauses)} clauses read only named fields:",
                  *("    " + x for x in named[:SHOWN])]
        more, tokens = max(0, len(named) - SHOWN), len(clauses) - len(named)
        if more or tokens:
            parts = [f"{more} more over named fields"] * bool(more) + \
                [f"{tokens} over tokens that number the rest of the state"] * bool(tokens)
            lines.append(f"    ... and {', '.join(parts)} (--json lists them all)")
    lines += ["", f"{info['seconds']:.2f} s in all"]
    return "\n".join(lines)
