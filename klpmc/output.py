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
from typing import Any, NamedTuple

from klpmc.engine import Model, PropertyResult, Result
from klpmc.model import ExpectedVerdict
from klpmc.steps import command_of, command_of_label, log_events, log_lines, step_json, trace_json

__all__ = [
    "SVG_HINT",
    "PropertyReport",
    "Report",
    "ScopeRun",
    "command_of",
    "command_of_label",
    "folder_name",
    "format_report",
    "format_scope_line",
    "format_scope_rules",
    "format_scope_total",
    "log_events",
    "log_lines",
    "report_json",
    "step_json",
    "trace_json",
]


def folder_name(name: str) -> str:
    """A configuration or property name as one folder name under --out or --emit-selftest."""
    return re.sub(r"[^A-Za-z0-9._+-]", "_", name) or "_"


SVG_HINT = "klpmc: no SVG pictures: Graphviz's dot is not on PATH (apt-get install graphviz)"


@dataclass(frozen=True)
class PropertyReport:
    """One property's verdict next to the one the manifest expects.

    ``stopped`` is why the run ended early, if it did: after --stop-on-violation a property the run did not
    settle is neither as expected nor against it (the exit code follows the verdict that stopped the run);
    after Ctrl-C it is ``undetermined``, and the command exits 130 whatever it found.
    """

    result: PropertyResult
    expected: ExpectedVerdict
    stopped: str | None = None

    @property
    def settled(self) -> bool:
        return self.result.verdict != "undetermined"

    @property
    def ok(self) -> bool:
        if not self.settled and self.stopped == "stop_on_violation":
            return True
        if not self.expected.binding:
            return self.settled
        return self.result.verdict == self.expected.verdict

    @property
    def status(self) -> str:
        """The last column of the verdict table."""
        if not self.settled and self.stopped in ("stop_on_violation", "interrupted"):
            return "not settled: " + ("stopped at a violation" if self.stopped == "stop_on_violation"
                                      else "interrupted")
        if not self.ok:
            return "UNEXPECTED"
        return "ok" if self.expected.binding else "informs"

    @property
    def expected_text(self) -> str:
        """The expected column: a verdict, or ``any`` where the manifest only informs (off the presets)."""
        return self.expected.verdict if self.expected.binding else "any"

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
    def interrupted(self) -> bool:
        return self.result.stop_reason == "interrupted"

    @property
    def violated(self) -> tuple[str, ...]:
        """The always and step properties this run found violated."""
        return tuple(p.result.name for p in self.properties if p.result.verdict == "violated")

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
            "binding": p.expected.binding,
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
    rows += [(p.result.name, p.result.kind, p.result.verdict, p.expected_text, p.status) for p in props]
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
    if any(not p.expected.binding for p in report.properties):
        lines.append("(any: off the presets whether a situation is reachable depends on the configuration; "
                     "the verdict informs, it is not held against the run)")
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
    """One configuration of a ``--scope`` run: its size, time, the rules it breaks, what differs."""
    s = report.result.stats
    broken = report.violated
    if report.interrupted:
        settled = sum(p.settled for p in report.properties)
        status = f"interrupted: {settled} of {len(report.properties)} properties settled"
        if broken:
            status += f", violates {', '.join(broken)}"
    elif report.ok:
        status = f"ok, violates {', '.join(broken)} as recorded" if broken else "ok"
    else:
        status = "UNEXPECTED " + _differences(report.unexpected)
    partial = "" if report.result.complete else f", INCOMPLETE ({report.result.stop_reason})"
    return (
        f"{report.config_name.ljust(width)}  {s.states:>9,} states  depth {s.depth:>3}  {s.seconds:7.2f} s"
        f"{partial}  {status}"
    )


class ScopeRun(NamedTuple):
    """What a ``--scope`` keeps of one configuration's run once it is over (a whole `Report` would keep the
    configuration's model, and its caches, alive until the scope ends)."""

    config_name: str
    ok: bool
    interrupted: bool
    complete: bool
    states: int
    seconds: float
    violated: tuple[str, ...]

    @classmethod
    def of(cls, report: Report) -> ScopeRun:
        s = report.result.stats
        return cls(report.config_name, report.ok, report.interrupted, report.result.complete, s.states, s.seconds,
                   report.violated)


def format_scope_rules(runs: Sequence[ScopeRun], total: int) -> list[str]:
    """Which configurations break which rule: a count and the first few names, per rule."""
    broken: dict[str, list[str]] = {}
    for r in runs:
        for name in r.violated:
            broken.setdefault(name, []).append(r.config_name)
    if not broken:
        return [f"no rule is violated in any of the {len(runs):,} configurations that ran"]
    rows = [("rule", "violated in")]
    for name, configs in broken.items():
        shown = "; ".join(configs[:3]) + ("; ..." if len(configs) > 3 else "")
        rows.append((name, f"{len(configs):,} of {total:,} configurations: {shown}"))
    width = max(len(r[0]) for r in rows)
    return [f"{a.ljust(width)}  {b}".rstrip() for a, b in rows]


def format_scope_total(spec: str, runs: Sequence[ScopeRun], total: int | None = None) -> str:
    """The last line of a ``--scope`` run; ``total`` configurations in the scope, if fewer ran."""
    cut = sum(r.interrupted for r in runs)
    bad = sum(not r.ok and not r.interrupted for r in runs)
    states = sum(r.states for r in runs)
    seconds = sum(r.seconds for r in runs)
    line = (
        f"scope {spec}: {len(runs)} configuration{'s' * (len(runs) != 1)}, "
        f"{len(runs) - bad - cut} as expected, {bad} not{f', {cut} interrupted' if cut else ''}; "
        f"{states:,} states in {seconds:.2f} s"
    )
    if (total is not None and total > len(runs)) or cut:
        never = (total or len(runs)) - len(runs)
        line += f"; interrupted: {never:,} configuration{'s' * (never != 1)} never ran"
    return line


SHOWN = 12     # clauses of a learnt invariant printed in the text report
# a clause over a token (a number for the rest of the state) tells a reader nothing: not listed in text
TOKEN_FIELD = re.compile(r"(?<![\w.])(rest\.\w+|shadows|mem|mod\[[^\]]*\])\s*=")


def format_proofs(model_name: str, source: str, config_name: str, info: dict[str, Any],
                  rows: Sequence[tuple[Any, Any, bool]], model: Model, interrupted: bool = False) -> str:
    """klpmc prove's report: the relation, a verdict table with methods, then traces and invariants."""
    lines = [f"{model_name} ({source} {config_name})",
             f"relation: {info['rules']:,} rules over {info['fields']} fields, read off the model code from "
             + (f"{info['configurations']:,} configurations, " if info["configurations"] > 1 else "") +
             f"{info['states']:,} states and {info['transitions']:,} transitions in {info['extract_seconds']:.2f} s; "
             f"diameter {info['diameter']}"]
    cross = info.get("cross_check")
    if cross:
        lines.append(f"each rule and z3's formula of it read alike on the {cross['states']:,} states and "
                     f"{cross['steps']:,} steps" if not cross["disagreements"] else
                     f"z3's formula and the rule part on a state or step: {cross['disagreements'][0]}")
    table = [("property", "kind", "verdict", "method", "expected", "")]
    for p, want, ok in rows:
        status = ("not settled: interrupted" if interrupted and p.verdict == "undetermined" else
                  "UNEXPECTED" if not ok else "ok" if want.binding else "informs")
        table.append((p.prop.name, p.prop.kind, p.check_verdict, p.how, want.verdict if want.binding else "any",
                      status))
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
    lines += ["", f"{info['seconds']:.2f} s in all" + ("; INTERRUPTED: what is not settled is undetermined"
                                                      if interrupted else "")]
    return "\n".join(lines)
