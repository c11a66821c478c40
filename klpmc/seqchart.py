"""Sequence charts of traces, drawn as SVG from the JSON form of a trace (``{action, command, log, events}``).

A chart has one lane for the shell (the commands typed), one for the livepatch core, one per livepatch
module and one per target module; time flows down. Each step starts with its trigger (an arrow from the
shell, or the core's own delayed work), then one row per kernel log line, printed beside the lanes; a
callback is an arrow from the core to the module that provides it (``pre_patch state 1``, ``setup state 1``,
``post_unpatch vmlinux``), on the row of the log line it printed. Under the chart, `lifecycle_strips` draws
the life of every state id (and of every patched object whose callbacks ran) step by step.

The charts read only the trace JSON that ``klpmc check --json`` prints (and ``klpmc diff --json``'s steps),
never a model, so a saved result draws the same chart. Elements carry classes and ``data-`` attributes
(``arrow callback``, ``step-band breaking``) that the report's tests look for in a browser.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any, Final

__all__ = [
    "Lanes",
    "callback_label",
    "is_callback",
    "lanes_of",
    "lifecycle_strips",
    "parse_action",
    "sequence_chart",
]

CHAR: Final = 6.8          # width of a character of the 11px monospace font, in px
ROW: Final = 18            # height of a row
GUTTER: Final = 34         # step numbers
LANE_GAP: Final = 132      # between two module lanes
SHELL_GAP: Final = 150     # between the shell and the core
HEAD: Final = 46           # lane heads
LOG_GAP: Final = 40        # between the last lane and the log column

ERRNO: Final = {1: "EPERM", 2: "ENOENT", 12: "ENOMEM", 16: "EBUSY", 17: "EEXIST", 19: "ENODEV", 22: "EINVAL"}

# state and object callbacks by position: the POC's names and the v1/mainline names
PHASE_NAME: Final = {"setup": "setup", "pre_patch": "setup", "enable": "enable", "post_patch": "enable",
                     "disable": "disable", "pre_unpatch": "disable", "release": "release",
                     "post_unpatch": "release"}
# per state (and per object): setup (release | enable (disable enable)* disable release)
_NEXT: Final = {(None, "setup"): "set up", ("set up", "release"): None, ("set up", "enable"): "enabled",
                ("enabled", "disable"): "disabled", ("disabled", "enable"): "enabled",
                ("disabled", "release"): None}
_AFTER: Final = {"setup": "set up", "enable": "enabled", "disable": "disabled", "release": None}

_ACTION = re.compile(r"^(?P<func>[^(]*)\((?P<args>.*)\)$")


def parse_action(action: str) -> tuple[str, list[str]]:
    """``"enabled_store(P1, 0)"`` -> ``("enabled_store", ["P1", "0"])``."""
    m = _ACTION.match(action)
    if m is None:
        return action, []
    args = [a.strip() for a in m.group("args").split(",")] if m.group("args").strip() else []
    return m.group("func"), args


def is_callback(event: Mapping[str, Any]) -> bool:
    """A callback a livepatch module provides: per state (``state``) or per object (``object``)."""
    return "patch" in event and ("state" in event or "object" in event) and event.get("callback") in PHASE_NAME


def errno_text(ret: int) -> str:
    return f"-{ERRNO[-ret]}" if -ret in ERRNO else str(ret)


def callback_label(event: Mapping[str, Any]) -> str:
    """``pre_patch state 1``, ``setup state 2 = -ENODEV``, ``post_unpatch vmlinux``."""
    where = f"state {event['state']}" if "state" in event else str(event.get("object", ""))
    text = f"{event['callback']} {where}"
    if event.get("ret"):
        text += f" = {errno_text(int(event['ret']))}"
    return text


# --------------------------------------------------------------------------------------------------------
# lanes
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Lanes:
    """The modules of a chart: livepatch modules and target modules, in the order their lanes appear."""

    livepatches: tuple[str, ...]
    targets: tuple[str, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return ("shell", "livepatch core", *self.livepatches, *self.targets)

    def x(self, lane: str) -> float:
        """The x of a lane's lifeline; an unknown module is drawn on the core's lane."""
        if lane == "shell":
            return GUTTER + 60
        names = ("livepatch core", *self.livepatches, *self.targets)
        i = names.index(lane) if lane in names else 0
        return GUTTER + 60 + SHELL_GAP + i * self.gap

    @property
    def gap(self) -> float:
        """Between two module lanes: wide enough for the longest module name's head."""
        return max([LANE_GAP] + [_text_width(n) + 30 for n in (*self.livepatches, *self.targets)])

    @property
    def right(self) -> float:
        return self.x(self.names[-1]) + self.gap / 2


def _natural(name: str) -> tuple[Any, ...]:
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name))


def lanes_of(traces: Iterable[Sequence[Mapping[str, Any]]],
             livepatches: Sequence[str] = (), targets: Sequence[str] = ()) -> Lanes:
    """The lanes for these traces: the modules given, then those the traces name, livepatches first.

    A livepatch is a module some callback event belongs to or that ``klp_enable_patch``, ``enabled_store``,
    ``force_store`` name; a target is a module that ``klp_module_coming``/``klp_module_going`` name or a
    patched object other than vmlinux.
    """
    lps: dict[str, None] = dict.fromkeys(livepatches)
    tgts: dict[str, None] = dict.fromkeys(targets)
    removed: list[str] = []
    for trace in traces:
        for step in trace:
            func, args = parse_action(str(step.get("action", "")))
            if func in ("klp_enable_patch", "enabled_store", "force_store") and args:
                lps.setdefault(args[0])
            elif func in ("klp_module_coming", "klp_module_going") and args:
                tgts.setdefault(args[0])
            elif func == "delete_module" and args:
                removed.append(args[0])
            for e in step.get("events") or ():
                if "patch" in e and e["patch"] is not None:
                    lps.setdefault(e["patch"])
                obj = e.get("object")
                if obj and obj != "vmlinux":
                    tgts.setdefault(obj)
    for name in removed:     # rmmod of a module never seen otherwise: a livepatch that was freed
        if name not in lps and name not in tgts:
            lps.setdefault(name)
    extra_lp = sorted((n for n in lps if n not in livepatches), key=_natural)
    extra_t = sorted((n for n in tgts if n not in targets and n not in lps), key=_natural)
    return Lanes((*livepatches, *extra_lp), (*(t for t in targets if t not in lps), *extra_t))


# --------------------------------------------------------------------------------------------------------
# rows of a chart
# --------------------------------------------------------------------------------------------------------


@dataclass
class Arrow:
    """An arrow from one lane to another (the same lane: a note on it), with its label and classes."""

    src: str
    dst: str
    label: str
    cls: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Row:
    step: int
    text: str | None = None
    text_cls: str = "log"
    arrows: list[Arrow] = field(default_factory=list)


def _short_command(command: str) -> str:
    text = command.split("    #", 1)[0].strip()
    return text.replace("/sys/kernel/livepatch/", "").replace("/sys/module/", "")


def _trigger_rows(n: int, step: Mapping[str, Any], lanes: Lanes) -> list[Row]:
    """The rows that start a step: the command typed (or the kernel's own work) and the call it makes."""
    action = str(step.get("action", ""))
    command = step.get("command")
    func, args = parse_action(action)
    faults = [a[5:] for a in args if a.startswith("fail=")]
    args = [a for a in args if not a.startswith("fail=")]
    who = args[0] if args else ""
    head = f"% {command}" if command else None
    data = {"step": n, "action": action}
    rows: list[Row] = []
    if func in ("klp_enable_patch", "klp_module_coming", "klp_module_going") and who in lanes.names:
        what = "insmod" if func != "klp_module_going" else "rmmod"
        label = _short_command(command) if command else f"{what} {who}"
        rows.append(Row(n, head, "cmd", [Arrow("shell", who, label, "arrow trigger", data)]))
        call = "klp_enable_patch()" if func == "klp_enable_patch" else f"{func}({who})"
        rows.append(Row(n, None, "log", [Arrow(who, "livepatch core", call, "arrow call", data)]))
    elif func == "delete_module" and who in lanes.names:
        label = _short_command(command) if command else f"rmmod {who}"
        rows.append(Row(n, head, "cmd", [Arrow("shell", who, label, "arrow trigger", data)]))
    elif command:
        rows.append(Row(n, head, "cmd", [Arrow("shell", "livepatch core", _short_command(command),
                                               "arrow trigger", data)]))
    else:
        label = "klp_transition_work" if func == "klp_try_complete_transition" else action
        rows.append(Row(n, action, "work", [Arrow("livepatch core", "livepatch core", label, "arrow work", data)]))
    for f in faults:
        kind, _, rest = f.partition(":")
        patch, _, where = rest.partition(":")
        rows.append(Row(n, f"(injected: {kind} of {patch} for {where} fails)", "fault"))
    return rows


def _event_arrow(n: int, e: Mapping[str, Any], lanes: Lanes) -> Arrow:
    data: dict[str, Any] = {"step": n, **{k: v for k, v in e.items() if k in ("callback", "patch", "object",
                                                                                 "state", "ret", "module")}}
    callback = str(e.get("callback", ""))
    if is_callback(e):
        cls = "arrow callback" + (" failed" if e.get("ret") else "")
        return Arrow("livepatch core", str(e["patch"]), callback_label(e), cls, data)
    if callback == "insmod":
        ret = int(e.get("ret", 0))
        module = str(e.get("module", ""))
        src = module if module in lanes.names else "livepatch core"
        return Arrow(src, "shell", f"insmod: {errno_text(ret)}", "arrow return failed", data)
    if callback == "shadow_free_all":
        return Arrow("livepatch core", "livepatch core", f"klp_shadow_free_all(state {e.get('state')}) of "
                     f"{e.get('patch')}", "arrow shadow", data)
    if callback.startswith("WARN"):
        return Arrow("livepatch core", "livepatch core", f"{callback} ({e.get('patch')})", "arrow warn", data)
    text = " ".join(f"{k}={v}" for k, v in e.items())
    return Arrow("livepatch core", "livepatch core", text, "arrow event", data)


def _matches(line: str, e: Mapping[str, Any]) -> bool:
    return line.startswith(f"{e['patch']}: ") and str(e["callback"]) in line


def step_rows(n: int, step: Mapping[str, Any], lanes: Lanes, differs: Collection[str] = ()) -> list[Row]:
    """A step's rows: its trigger, then a row per log line, each callback on the row of the line it printed.

    A callback whose line is not found (or an event that prints none, like a shadow variable free) gets its
    own row after the event before it; a failed insmod returns to the shell after the step's last line.
    """
    rows = _trigger_rows(n, step, lanes)
    lines = [str(x) for x in step.get("log") or ()]
    events = [e for e in step.get("events") or () if isinstance(e, Mapping)]
    at: list[int | None] = []
    cursor = 0
    for e in events:
        found = None
        if is_callback(e):
            found = next((i for i in range(cursor, len(lines)) if _matches(lines[i], e)), None)
        at.append(found)
        if found is not None:
            cursor = found + 1
    body = [Row(n, line, "log") for line in lines]
    after: dict[int, list[Arrow]] = {}   # unmatched events after the row of line i (-1: before the first)
    last_line = -1
    tail: list[Arrow] = []
    for e, i in zip(events, at, strict=True):
        arrow = _event_arrow(n, e, lanes)
        if differs and json.dumps(e, sort_keys=True) in differs:
            arrow.cls += " differs"
        if i is not None:
            body[i].arrows.append(arrow)
            last_line = i
        elif e.get("callback") == "insmod":
            if e.get("ret"):
                tail.append(arrow)
        else:
            after.setdefault(last_line, []).append(arrow)
    out = rows + [Row(n, None, "log", [a]) for a in after.get(-1, [])]
    for i, row in enumerate(body):
        out.append(row)
        out.extend(Row(n, None, "log", [a]) for a in after.get(i, []))
    out.extend(Row(n, None, "log", [a]) for a in tail)
    return out


# --------------------------------------------------------------------------------------------------------
# drawing
# --------------------------------------------------------------------------------------------------------


def _attrs(data: Mapping[str, Any]) -> str:
    return "".join(f' data-{k}="{escape(str(v))}"' for k, v in data.items() if v is not None)


def _text_width(text: str) -> float:
    return len(text) * CHAR


def _arrow_svg(a: Arrow, y: float, lanes: Lanes) -> str:
    x1, x2 = lanes.x(a.src), lanes.x(a.dst)
    line_y = y + ROW - 4
    label = escape(a.label)
    title = f"<title>{label}</title>"
    if x1 == x2:   # a note on one lane: a small loop, the label to its right
        path = f"M{x1:.0f},{line_y - 9:.0f} h14 v7 h-12"
        head = f"M{x1 + 2:.0f},{line_y - 2:.0f} l6,-3 v6 z"
        return (f'<g class="{a.cls}"{_attrs(a.data)}>{title}<path class="shaft" d="{path}"/>'
                f'<path class="head" d="{head}"/>'
                f'<text x="{x1 + 18:.0f}" y="{line_y - 2:.0f}">{label}</text></g>')
    sign = 1 if x2 > x1 else -1
    tip = x2 - sign * 2
    head = f"M{tip:.0f},{line_y:.0f} l{-sign * 8},-4 v8 z"
    tx = min(x1, x2) + 6 if sign > 0 else max(x1, x2) - 6 - _text_width(a.label)
    return (f'<g class="{a.cls}"{_attrs(a.data)}>{title}'
            f'<line class="shaft" x1="{x1:.0f}" y1="{line_y:.0f}" x2="{tip - sign * 6:.0f}" y2="{line_y:.0f}"/>'
            f'<path class="head" d="{head}"/>'
            f'<text x="{tx:.0f}" y="{line_y - 4:.0f}">{label}</text></g>')


def sequence_chart(steps: Sequence[Mapping[str, Any] | None], lanes: Lanes, *, mark: str | None = "breaking",
                   chart_id: str = "", title: str = "", marked_step: int | None = None,
                   differs: Collection[str] = ()) -> str:
    """An SVG sequence chart of a trace (its steps as in ``check --json``; None: a step this side lacks).

    ``mark`` is the class the marked step's band gets (``breaking``: the step that breaks the rule, drawn
    red; ``parting``: where two models part, in a diff); ``marked_step`` (1-based) defaults to the last.
    ``differs``: events (as sorted-key JSON) of the marked step the other side of a diff does not have.
    """
    marked = len(steps) if marked_step is None else marked_step
    rows: list[Row] = []
    for n, step in enumerate(steps, 1):
        if step is None:
            rows.append(Row(n, "(this model does not offer this step)", "missing"))
        else:
            rows.extend(step_rows(n, step, lanes, differs if n == marked else ()))
    log_x = lanes.right + LOG_GAP
    widest = max((_text_width(r.text) for r in rows if r.text), default=200.0)
    labels = max((lanes.x(a.src) + 24 + _text_width(a.label) for r in rows for a in r.arrows
                  if a.src == a.dst), default=0.0)
    width = max(log_x + widest, labels) + 16
    height = HEAD + max(len(rows), 1) * ROW + 16
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="seqchart" width="{width:.0f}" height="{height:.0f}" '
           f'viewBox="0 0 {width:.0f} {height:.0f}" role="img" data-steps="{len(steps)}"'
           + (f' id="{escape(chart_id)}"' if chart_id else "") + ">"]
    if title:
        out.append(f"<title>{escape(title)}</title>")
    # step bands first, so that everything else draws over them
    y = HEAD
    n_rows: dict[int, list[int]] = {}
    for i, r in enumerate(rows):
        n_rows.setdefault(r.step, []).append(i)
    for n, idx in n_rows.items():
        top, h = HEAD + idx[0] * ROW, len(idx) * ROW
        cls = "step-band" + (" odd" if n % 2 else "") + (f" {mark}" if mark and n == marked else "")
        out.append(f'<rect class="{cls}" data-step="{n}" x="0" y="{top}" width="{width:.0f}" height="{h}"/>')
        out.append(f'<text class="step-no" x="{GUTTER - 6}" y="{top + 13}" text-anchor="end">{n}</text>')
    # lane heads and lifelines
    bottom = HEAD + len(rows) * ROW + 8
    for name in lanes.names:
        x = lanes.x(name)
        kind = ("shell" if name == "shell" else "core" if name == "livepatch core"
                else "patch" if name in lanes.livepatches else "target")
        w = max(70.0, _text_width(name) + 14)
        out.append(f'<g class="lane lane-{kind}" data-lane="{escape(name)}">'
                   f'<line class="lifeline" x1="{x:.0f}" y1="{HEAD - 8}" x2="{x:.0f}" y2="{bottom}"/>'
                   f'<rect class="lane-head" x="{x - w / 2:.0f}" y="6" width="{w:.0f}" height="24" rx="4"/>'
                   f'<text x="{x:.0f}" y="22" text-anchor="middle">{escape(name)}</text></g>')
    out.append(f'<text class="log-head" x="{log_x:.0f}" y="22">kernel log</text>')
    for i, r in enumerate(rows):
        y = HEAD + i * ROW
        for a in r.arrows:
            out.append(_arrow_svg(a, y, lanes))
        if r.text is not None:
            out.append(f'<text class="logline {r.text_cls}" x="{log_x:.0f}" y="{y + 13}" '
                       f'data-step="{r.step}">{escape(r.text)}</text>')
    out.append("</svg>")
    return "".join(out)


# --------------------------------------------------------------------------------------------------------
# lifecycle strips
# --------------------------------------------------------------------------------------------------------


@dataclass
class _Cell:
    phase: str | None
    events: list[tuple[str, bool]] = field(default_factory=list)   # (text, breaks the life cycle)


def lifecycles(steps: Sequence[Mapping[str, Any] | None]) -> dict[str, list[_Cell]]:
    """Per state id (``state 1``) and per patched object (``P1/vmlinux``): a cell per step with the phase
    after it and the callbacks that ran for it, each flagged when it breaks setup (release | enable
    (disable enable)* disable release)."""
    keys: dict[str, None] = {}
    for step in steps:
        for e in (step or {}).get("events") or ():
            if is_callback(e):
                keys.setdefault(f"state {e['state']}" if "state" in e else f"{e['patch']}/{e['object']}")
    ordered = sorted(keys, key=lambda k: (not k.startswith("state "), _natural(k)))
    phase: dict[str, str | None] = dict.fromkeys(ordered)
    out: dict[str, list[_Cell]] = {k: [] for k in ordered}
    for step in steps:
        cells = {k: _Cell(phase[k]) for k in ordered}
        for e in (step or {}).get("events") or ():
            if e.get("callback") == "shadow_free_all" and f"state {e.get('state')}" in cells:
                cells[f"state {e['state']}"].events.append((f"{e.get('patch')} frees shadow", False))
                continue
            if not is_callback(e):
                continue
            key = f"state {e['state']}" if "state" in e else f"{e['patch']}/{e['object']}"
            what = PHASE_NAME[str(e["callback"])]
            text = f"{e['patch']} {e['callback']}" if "state" in e else str(e["callback"])
            now = None if phase[key] in (None, "released") else phase[key]   # a released one may come back
            ok = (now, what) in _NEXT
            if e.get("ret"):     # a failed callback changes nothing
                cells[key].events.append((f"{text} = {errno_text(int(e['ret']))}", not ok))
                continue
            after = _NEXT[(now, what)] if ok else _AFTER[what]
            phase[key] = "released" if after is None else after
            cells[key].events.append((text, not ok))
            cells[key].phase = phase[key]
        for k in ordered:
            out[k].append(cells[k])
    return out


STRIP_H: Final = 13


def lifecycle_strips(steps: Sequence[Mapping[str, Any] | None], *, rule: str = "", statement: str = "",
                     mark: str | None = "breaking", marked_step: int | None = None, strip_id: str = "") -> str:
    """An SVG with one strip per state id (and patched object) under a chart: columns are steps, each cell
    coloured by the phase after the step (set up, enabled, disabled, released) and listing the callbacks
    that ran for it; the marked step's column red (``breaking``) and the rule's one-line statement."""
    table = lifecycles(steps)
    n = len(steps)
    marked = n if marked_step is None else marked_step
    label_w = max([_text_width(k) for k in table] + [70.0]) + 16
    col_w = [max([88.0] + [_text_width(t + " !" * bad) + 12 for cells in table.values()
                           for t, bad in cells[i].events])
             for i in range(n)]
    heights = {k: max([1] + [len(c.events) for c in cells]) * STRIP_H + 10 for k, cells in table.items()}
    top = 20
    total_h = top + sum(heights.values()) + (len(table) - 1) * 4 + 50
    width = label_w + sum(col_w) + 16
    rule_line = f"{rule}: {statement} (broken at step {marked})"
    width = max(width, _text_width(rule_line) + 20 if rule or statement else 0.0)
    if not table:
        total_h = top + 40
        width = max(width, 560)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="lifecycle" width="{width:.0f}" height="{total_h:.0f}" '
           f'viewBox="0 0 {width:.0f} {total_h:.0f}" data-steps="{n}"'
           + (f' id="{escape(strip_id)}"' if strip_id else "") + ">"]
    xs = [label_w]
    for w in col_w:
        xs.append(xs[-1] + w)
    for i in range(n):
        cls = "col-head" + (f" {mark}" if mark and i + 1 == marked else "")
        out.append(f'<text class="{cls}" x="{xs[i] + col_w[i] / 2:.0f}" y="14" text-anchor="middle" '
                   f'data-step="{i + 1}">{i + 1}</text>')
    y = top
    for key, cells in table.items():
        h = heights[key]
        out.append(f'<g class="strip" data-key="{escape(key)}">'
                   f'<text class="strip-key" x="6" y="{y + 15}">{escape(key)}</text>')
        for i, c in enumerate(cells):
            phase = c.phase or "none"
            cls = f"cell phase-{phase.replace(' ', '-')}" + (f" {mark}" if mark and i + 1 == marked else "")
            bad = any(b for _, b in c.events)
            out.append(f'<g class="{cls}{" breaks" if bad else ""}" data-step="{i + 1}">'
                       f'<title>{escape(key)} after step {i + 1}: {escape(phase)}</title>'
                       f'<rect x="{xs[i] + 1:.0f}" y="{y}" width="{col_w[i] - 2:.0f}" height="{h}"/>')
            for j, (text, broken) in enumerate(c.events):
                out.append(f'<text class="ev{" bad" if broken else ""}" x="{xs[i] + 6:.0f}" '
                           f'y="{y + 14 + j * STRIP_H}">{escape(text)}{" !" if broken else ""}</text>')
            if not c.events and c.phase not in (None, "none"):
                out.append(f'<text class="ph" x="{xs[i] + 6:.0f}" y="{y + 14}">{escape(c.phase)}</text>')
            out.append("</g>")
        out.append("</g>")
        y += h + 4
    if not table:
        out.append(f'<text class="none" x="6" y="{y + 14}">no state or object callback ran in this trace</text>')
        y += 24
    if rule or statement:
        out.append(f'<text class="rule" x="6" y="{y + 18}">'
                   + (f'<tspan class="rule-name">{escape(rule)}</tspan>' if rule else "")
                   + (f"{': ' if rule else ''}{escape(statement)}" if statement else "")
                   + (f" (broken at step {marked})" if mark == "breaking" and n else "")
                   + "</text>")
    out.append("</svg>")
    return "".join(out)
