"""`klpmc replay`: a selftest scenario, or a JSON trace, on a model (or a real kernel), compared if asked."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import click

from klpmc import registry
from klpmc.commands.common import (
    INTERRUPTED,
    TreeChoice,
    get_model,
    json_option,
    kernel_option,
    read_configs,
    source_options,
)
from klpmc.model import input_file, read_text
from klpmc.realkernel.commands import kernel_options, replay_real
from klpmc.registry import InputError, ModelDef

HUNK = re.compile(r"^@@ -(\d+)")


@click.command("replay")
@click.argument("model")
@click.argument("files", metavar="[FILE...]", nargs=-1, type=click.Path(path_type=Path, dir_okay=False))
@click.option("--trace", type=click.Path(path_type=Path, dir_okay=False), metavar="TRACE.json",
              help="Replay a trace as --out or --json wrote it (its steps' actions) on a preset or --config.")
@source_options(scope=False)
@click.option("--check", "check_", is_flag=True,
              help="Compare with the expected log (the scenario's, or the trace's): one line says whether it "
                   "matches, a diff shows where not.")
@json_option
@click.option("--real-kernel", is_flag=True, help="Run the scenarios on a real kernel under qemu, not MODEL.")
@kernel_options
@kernel_option
def replay_cmd(model: str, files: tuple[Path, ...], trace: Path | None, preset: str | None, config: Path | None,
               check_: bool, as_json: bool, real_kernel: bool, image: Path | None, headers: Path | None, jobs: int,
               timeout: int, kernel: TreeChoice | None) -> int:
    """Run the selftest scenario FILE on MODEL (or with --real-kernel on a kernel under qemu) and print its
    kernel log; or, with --trace, the steps of a JSON trace. --kernel-image, --headers, --jobs and --timeout
    are for --real-kernel only; --preset and --config for --trace only. Exit 0 when every replay matches
    (with --check), 1 when one does not."""
    if trace is not None and files:
        raise click.UsageError("give scenario FILEs or --trace TRACE.json, not both")
    if trace is None and not files:
        raise click.UsageError("give a scenario FILE (or --trace TRACE.json)")
    if trace is None and (preset is not None or config is not None):
        raise click.UsageError("--preset and --config choose the configuration of a --trace; a scenario has its own")
    mdef = get_model(model, kernel)
    if real_kernel:
        if trace is not None or as_json:
            raise click.UsageError("--real-kernel replays scenario files, as text")
        return replay_real(mdef.name, list(files), check_, image, headers, jobs, timeout)
    if trace is not None:
        return _replay_trace(mdef, trace, preset, config, check_, as_json)
    results = []
    try:
        for file in files:
            if len(files) > 1 and not as_json:
                click.echo(f"== {file}")
            results.append(_replay_model(mdef, file, check_, as_json))
    except KeyboardInterrupt:
        click.echo(f"klpmc: interrupted after {len(results)} of {len(files)} scenarios", err=True)
        return INTERRUPTED
    if as_json:
        click.echo(json.dumps({"model": mdef.name, "check": check_, "ok": all(r["ok"] for r in results),
                               "scenarios": results}, indent=2))
    elif len(files) > 1 and check_:
        click.echo(f"{sum(r['ok'] for r in results)} of {len(files)} scenarios match the expected log")
    return 0 if all(r["ok"] for r in results) else 1


def first_difference(diff: list[str]) -> tuple[int, str | None, str | None]:
    """The first place a unified diff of expected against produced lines differs: (line of the expected
    log, the expected line or None past its end, the produced line or None)."""
    line = 1
    for i, text in enumerate(diff):
        if text.startswith(("--- ", "+++ ")) and i < 2:
            continue
        m = HUNK.match(text)
        if m:
            line = int(m.group(1))
            continue
        if text.startswith("-"):
            after = diff[i + 1] if i + 1 < len(diff) else ""
            return line, text[1:], after[1:] if after.startswith("+") else None
        if text.startswith("+"):
            return line, None, text[1:]
        line += 1
    return line, None, None


def _verdict(name: str, ok: bool, lines: list[str], what: str) -> str:
    if ok:
        return f"{name}: matches the expected log, {len(lines)} line{'s' * (len(lines) != 1)}"
    at, want, got = first_difference(lines)
    expected = repr(want) if want is not None else "the end"
    printed = repr(got) if got is not None else "nothing"
    return f"{name}: differs from the expected log at line {at}: expected {expected}, {what} printed {printed}"


def _replay_model(mdef: ModelDef, file: Path, check_: bool, as_json: bool) -> dict[str, Any]:
    if mdef.replay is None:
        models = registry.all_models().items()
        with_replay = ", ".join(n for n, m in models if m.replay is not None) or "none"
        raise InputError(f"model {mdef.name!r} has no replay harness; models with one: {with_replay}")
    input_file(file, "scenario file")
    lines, ok = mdef.replay(file, check_)
    verdict = _verdict(str(file), ok, lines, mdef.name) if check_ else None
    if not as_json:
        if not (check_ and ok):     # a match is the one line below; a difference shows its diff first
            for line in lines:
                click.echo(line)
        if verdict is not None:
            click.echo(verdict)
    return {"file": str(file), "ok": ok, "lines" if not check_ or ok else "diff": lines, "verdict": verdict}


def _trace_steps(path: Path) -> list[dict[str, Any]]:
    """The steps of a trace file: a list of ``{action, command, log, events}`` (trace.json, klpmc.json's
    ``steps``, a property's ``trace`` in check --json)."""
    try:
        data = json.loads(read_text(path, "trace file"))
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: not JSON: {e}") from None
    except RecursionError:
        raise InputError(f"{path}: JSON nested too deeply to read") from None
    if isinstance(data, dict):
        data = data.get("trace", data.get("steps"))
    if not isinstance(data, list) or not all(isinstance(s, dict) and isinstance(s.get("action"), str) for s in data):
        raise InputError(f"{path}: not a trace: a JSON list of steps, each with an \"action\" string "
                         "(as trace.json under --out)")
    if not data:
        raise InputError(f"{path}: an empty trace: nothing to replay")
    return data


def _replay_trace(mdef: ModelDef, path: Path, preset: str | None, config: Path | None, check_: bool,
                  as_json: bool) -> int:
    """Rebuild the trace's steps from their actions on the model and print (or compare) their logs."""
    from klpmc.engine import PropertyResult, ReplayError, Trace, replay
    from klpmc.output import format_trace
    from klpmc.props import always
    from klpmc.steps import step_json

    steps = _trace_steps(path)
    source, [(name, cfg, _)] = read_configs(mdef, preset, config, None)
    model = mdef.build(cfg)
    try:
        got = replay(model, [s["action"] for s in steps])
    except ReplayError as e:
        raise InputError(f"{path}: does not replay on {mdef.name} ({source} {name}): {e}") from None
    produced = [step_json(model, s) for s in got]
    differs = [i for i, (want, have) in enumerate(zip(steps, produced, strict=True))
               if "log" in want and want["log"] != have["log"]]
    ok = not differs
    where = f"{path} on {mdef.name} ({source} {name})"
    if ok:
        verdict = f"{where}: matches the trace's log, {len(steps)} step{'s' * (len(steps) != 1)}"
    else:
        i = differs[0]
        verdict = (f"{where}: differs from the trace's log at step {i + 1} ({steps[i]['action']}): "
                   f"expected {steps[i]['log']!r}, {mdef.name} printed {produced[i]['log']!r}")
    if as_json:
        click.echo(json.dumps({"model": mdef.name, source: name, "trace": str(path), "ok": ok,
                               "verdict": verdict if check_ else None, "steps": produced}, indent=2))
    else:
        init = next(iter(model.init_states()))
        shown = PropertyResult(always("trace", str(path), lambda _s: True), "violated", Trace(init, tuple(got)))
        click.echo("\n".join(format_trace(model, shown)))
        if check_:
            click.echo(verdict)
    return 0 if ok or not check_ else 1
