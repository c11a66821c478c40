"""The ``klpmc`` command: list models and properties, check a model, replay a selftest scenario.

Exit codes: 0 every verdict is as the model's manifest expects (or the replay matches), 1 a verdict differs
(or the replay does not match), 2 bad input: one line on stderr naming the problem and what exists instead.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import click

from klpmc import __version__, registry
from klpmc.engine import ModelError, Progress, ReplayError, Result, check
from klpmc.output import (
    SVG_HINT,
    PropertyReport,
    Report,
    command_of_label,
    format_proofs,
    format_report,
    format_scope_line,
    format_scope_total_of,
    format_stats,
    report_json,
    trace_json,
)
from klpmc.props import Property
from klpmc.realkernel.commands import confirm_cmd, conform_real, fetch_kernel_cmd, kernel_options, replay_real
from klpmc.registry import ExpectedVerdict, InputError, ModelDef

__all__ = ["cli", "main", "run"]

PROGRESS_AFTER = 1.0  # seconds of silence before a progress display appears


class ProgressDisplay:
    """A progress line on stderr (states, depth, rate) for runs longer than a second; tqdm is loaded then."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar: Any = None
        self.shown = 0

    def __call__(self, p: Progress) -> None:
        if not self.enabled or p.seconds < PROGRESS_AFTER:
            return
        if self.bar is None:
            from tqdm import tqdm  # only runs that last get to pay for the import

            # tqdm only draws the line: its own clock would start a second late, so the text is ours
            # a pty whose size nobody set reports 0 x 0, and tqdm would then draw nothing
            size = shutil.get_terminal_size()
            self.bar = tqdm(
                bar_format="{desc}", file=sys.stderr, leave=False, ncols=size.columns - 1, nrows=size.lines
            )
        rate = p.states / p.seconds if p.seconds > 0 else 0.0
        self.bar.set_description_str(
            f"{p.states:,} states, {p.transitions:,} transitions, depth {p.depth}, "
            f"{rate:,.0f} states/s, {p.seconds:.0f} s",
            refresh=True,
        )
        self.shown = p.states

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
            self.shown = 0


@dataclass(frozen=True)
class TreeChoice:
    """``--kernel``, ``--series`` and ``--port``: the tree the kernel model builds, as the user gave it."""

    kernel: str | None = None
    series: str | None = None
    port: str | None = None

    def settings(self) -> dict[str, str | None]:
        return {"kernel": self.kernel, "series": self.series, "port": self.port}


def kernel_option(f: Any) -> Any:
    """``--kernel DIR|TARBALL``, ``--series PATH``, ``--port RENAMES``: the kernel tree whose C the kernel
    model runs, a posted series applied to it, and the renames that port the series to it. The command
    gets them as one ``kernel`` argument (a `TreeChoice`, None when none was given)."""

    @functools.wraps(f)
    def wrapper(*args: Any, kernel: str | None = None, series: str | None = None, port: str | None = None,
                **kwargs: Any) -> Any:
        choice = TreeChoice(kernel, series, port) if (kernel or series or port) else None
        return f(*args, kernel=choice, **kwargs)

    wrapper = click.option("--port", "port", metavar="RENAMES",
                           help="With --series: rewrite its patches with these 'old new' renames first.")(wrapper)
    wrapper = click.option("--series", "series", metavar="PATH",
                           help="Apply a posted series (an mbox file, or a folder of them in name order) "
                                "to the tree, for the kernel model.")(wrapper)
    return click.option("--kernel", "kernel", metavar="DIR|TARBALL",
                        help="The kernel tree the kernel model builds (default: linux-source-6.12's tarball).")(wrapper)


def get_model(name: str, kernel: TreeChoice | None = None) -> ModelDef:
    """A model by name, with its own settings from the command line applied."""
    mdef = registry.get_model(name)
    if kernel is not None:
        if mdef.configure is None:
            takes = ", ".join(n for n, m in registry.all_models().items() if m.configure is not None) or "none"
            raise InputError(f"model {mdef.name!r} takes no --kernel, --series or --port; models that do: {takes}")
        mdef = mdef.configure(kernel.settings())
    return mdef


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="klpmc")
def cli() -> None:
    """klpmc: a model checker for the Linux kernel livepatch core."""


@cli.command("list")
def list_cmd() -> int:
    """List models with their presets, and the property catalogue."""
    models = registry.all_models()
    for module, problem in registry.broken_modules().items():
        click.echo(f"klpmc: warning: skipped {module}: {problem}", err=True)
    click.echo("models:")
    if not models:
        click.echo("  (none installed)")
    width = max((len(n) for m in models.values() for n in (m.name, *m.presets)), default=0) + 2
    for m in models.values():
        click.echo(f"  {m.name.ljust(width)}  {m.summary}")
        for name, preset in m.presets.items():
            mark = " (default)" if name == m.default_preset else ""
            click.echo(f"    {name.ljust(width - 2)}  {preset.summary}{mark}")
    props = registry.catalogue()
    click.echo("properties:")
    if not props:
        click.echo("  (none in the catalogue)")
    pwidth = max((len(n) for n in props), default=0)
    for p in props.values():
        click.echo(f"  {p.name.ljust(pwidth)}  {p.kind:<9}  {p.description}")
    return 0


def _configs(
    mdef: ModelDef, preset: str | None, config: Path | None, scope: str | None
) -> tuple[str, list[tuple[str, Any, list[str]]]]:
    """(source, [(config name, config, notes)]) for the one of --preset/--config/--scope given."""
    if sum(x is not None for x in (preset, config, scope)) > 1:
        raise click.UsageError("--preset, --config and --scope exclude each other; give one")
    if scope is not None:
        if mdef.scope is None:
            raise InputError(f"model {mdef.name!r} has no --scope; presets: {', '.join(mdef.presets)}")
        configs = mdef.scope(scope)
        if not configs:
            raise InputError(f"scope {scope!r} of model {mdef.name!r} gives no configuration")
        return "scope", [(name, cfg, []) for name, cfg in configs]
    if config is not None:
        if mdef.load_config is None:
            raise InputError(f"model {mdef.name!r} takes no --config; presets: {', '.join(mdef.presets)}")
        if not config.is_file():
            raise InputError(f"no such configuration file: {config}")
        cfg, notes = mdef.load_config(config)
        return "config", [(str(config), cfg, list(notes))]
    name = mdef.default_preset if preset is None else preset
    return "preset", [(name, mdef.preset(name).config, [])]


def _run_one(
    mdef: ModelDef,
    source: str,
    name: str,
    config: Any,
    notes: list[str],
    props: list[Property],
    bounds: dict[str, Any],
    display: ProgressDisplay,
) -> Report:
    model = mdef.build(config)
    try:
        result: Result = check(model, props, progress=display, **bounds)
    finally:
        display.close()
    manifest_name = None if source == "config" else name
    reports = tuple(PropertyReport(r, mdef.expectation(manifest_name, r.prop)) for r in result.properties)
    return Report(mdef.name, source, name, model, result, reports, tuple(notes))


@cli.command("check")
@click.argument("model")
@click.option("--preset", help="Run this preset (default: the model's default preset).")
@click.option("--config", type=click.Path(path_type=Path, dir_okay=False), help="Run a TOML configuration.")
@click.option("--scope", help="Run every configuration the model's scope SPEC enumerates.")
@click.option("--property", "properties", multiple=True, help="Check only this property (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), help="Write traces under DIR.")
@click.option("--html", type=click.Path(path_type=Path, dir_okay=False),
              help="Write an HTML report with a sequence chart of each trace to FILE.")
@click.option("--emit-selftest", type=click.Path(path_type=Path, file_okay=False),
              help="Write each violation as a kselftest (script, module sources, klpmc.json) under DIR.")
@click.option("--max-states", type=click.IntRange(min=1), help="Stop after N distinct states.")
@click.option("--max-depth", type=click.IntRange(min=0), help="Explore at most N steps deep.")
@click.option("--stop-on-violation", is_flag=True, help="Stop at the first violated always/step property.")
@click.option("--vacuity", is_flag=True,
              help="Before each run, ask z3 whether each property can fail and can hold at all.")
@click.option("--timeout", type=click.FloatRange(min=0.001), default=5.0, show_default=True,
              help="Seconds each z3 call may take (with --vacuity).")
@click.option("--quiet", "-q", is_flag=True, help="No progress display.")
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Run a --scope's configurations in N processes (the output is --jobs 1's).")
@click.option("--dask", metavar="ADDRESS", help="Run a --scope's configurations on the Dask scheduler at ADDRESS.")
@kernel_option
def check_cmd(
    model: str,
    preset: str | None,
    config: Path | None,
    scope: str | None,
    properties: tuple[str, ...],
    as_json: bool,
    out: Path | None,
    html: Path | None,
    emit_selftest: Path | None,
    max_states: int | None,
    max_depth: int | None,
    stop_on_violation: bool,
    vacuity: bool,
    timeout: float,
    quiet: bool,
    jobs: int,
    dask: str | None,
    kernel: TreeChoice | None,
) -> int:
    """Check MODEL on a preset, a configuration file or a scope; exit 1 if a verdict is unexpected.

    With --vacuity, z3 first checks every property over the configuration's vocabulary: a property that
    no state can violate (or that every state violates) is named with the reason; this does not change
    the exit status.
    """
    mdef = get_model(model, kernel)
    source, configs = _configs(mdef, preset, config, scope)
    props = registry.select_properties(mdef, properties)
    bounds = {"max_states": max_states, "max_depth": max_depth, "stop_on_violation": stop_on_violation}
    if jobs > 1 or dask is not None:
        from klpmc.parallel import check_scope, refused

        why = refused(source, out=out, emit_selftest=emit_selftest, vacuity=vacuity)
        if why:
            raise InputError(why)
        return check_scope(mdef, kernel.settings() if kernel else {}, str(scope), [n for n, _, _ in configs],
                           properties, bounds, as_json, html, jobs, dask, click.echo)
    display = ProgressDisplay(enabled=not quiet and sys.stderr.isatty())
    reports: list[Report] = []
    runs: list[tuple[bool, int, float]] = []
    configurations: list[dict[str, Any]] = []
    written: list[Path] = []
    emitted: list[Any] = []
    width = max(len(name) for name, _, _ in configs)
    sane: dict[str, list[dict[str, Any]]] = {}
    for name, cfg, notes in configs:
        if vacuity:
            sane[name] = _sanity(mdef, name, mdef.build(cfg), props, timeout, not as_json)
        report = _run_one(mdef, source, name, cfg, notes, props, bounds, display)
        runs.append((report.ok, report.result.stats.states, report.result.stats.seconds))
        if source == "scope" and (as_json or html is not None):
            configurations.append(report_json(report))
        # a scope keeps only what it prints at the end: a model per configuration would hold every
        # configuration's caches until the scope ends
        if source != "scope" or not report.ok:
            reports.append(report)
        if not as_json:  # as each run ends: a long scope shows its progress
            click.echo(format_scope_line(report, width) if source == "scope" else format_report(report))
        if out is not None:
            from klpmc.artifacts import write_artifacts  # networkx only when --out asks for it

            written += write_artifacts(out, report, per_config=source == "scope")
        if emit_selftest is not None:
            from klpmc.selftest import emit_selftests

            emitted += emit_selftests(emit_selftest, mdef.name, report_json(report), cfg, report.model,
                                      per_config=source == "scope")
        if report.result.stop_reason == "interrupted":
            break  # Ctrl-C ends a whole scope, not one configuration of it
    if written and shutil.which("dot") is None:
        click.echo(SVG_HINT, err=True)
    if as_json or html is not None:
        if source == "scope":
            obj: dict[str, Any] = {
                "model": mdef.name,
                "scope": scope,
                "states": sum(n for _, n, _ in runs),
                "seconds": round(sum(t for _, _, t in runs), 6),
                "ok": all(ok for ok, _, _ in runs),
                "configurations": configurations,
            }
        else:
            obj = report_json(reports[0])
        if vacuity:
            obj["vacuity"] = sane if source == "scope" else sane[reports[0].config_name]
        if html is not None:
            from klpmc.report import write_check_report

            write_check_report(html, obj, reports[0].model if source != "scope" else None)
    if as_json:
        click.echo(json.dumps(obj, indent=2))
    elif source == "scope":
        for r in reports:
            if not r.ok:
                click.echo()
                click.echo(format_report(r))
        click.echo()
        click.echo(format_scope_total_of(str(scope), runs))
    for what, path in (("report", html), ("selftests", emit_selftest)):
        if path is not None:
            count = f" ({len(emitted)} counterexamples)" if what == "selftests" else ""
            click.echo(f"klpmc: {what} written to {path}{count}", err=True)
    return 0 if all(ok for ok, _, _ in runs) else 1


def _sanity(mdef: ModelDef, name: str, model: Any, props: list[Property], timeout: float,
            echo: bool) -> list[dict[str, Any]]:
    """z3's sanity check of the properties on one configuration's model; prints the vacuous ones."""
    from .symbolic import sanity, supports

    if not supports(model):
        raise InputError(f"model {mdef.name!r} has no symbolic views; --vacuity needs them")
    out = []
    for r in sanity(model, props, int(timeout * 1000)):
        problem = r.problem or ("z3 gave no answer in time" if r.unknown else None)
        out.append({"property": r.prop.name, "can_hold": r.check.can_hold, "can_fail": r.check.can_fail,
                    "problem": problem})
        if echo and problem:
            click.echo(f"vacuity: {name}: {r.prop.name}: {problem}")
    if echo and not any(x["problem"] for x in out):
        click.echo(f"vacuity: {name}: every property can hold and can fail ({len(out)} checked by z3)")
    return out


@cli.command("prove")
@click.argument("model")
@click.option("--preset", help="Prove on this preset (default: the model's default preset).")
@click.option("--config", type=click.Path(path_type=Path, dir_okay=False), help="Prove on a TOML configuration.")
@click.option("--scope", help="Prove for every configuration of the scope SPEC at once (the configuration is free).")
@click.option("--property", "properties", multiple=True, help="Prove only this property (repeatable).")
@click.option("--method", "methods", multiple=True,
              type=click.Choice(["invariant", "k-induction", "bmc", "spacer"]),
              help="Use only these methods (repeatable; default: all four).")
@click.option("--timeout", type=click.FloatRange(min=0.001), default=30.0, show_default=True,
              help="Seconds each z3 call may take (and the invariant method may spend in all).")
@click.option("--max-depth", type=click.IntRange(min=0),
              help="BMC bound (default: the relation's diameter, which makes BMC complete).")
@click.option("--k", "k_max", type=click.IntRange(min=1), default=3, show_default=True,
              help="Largest k tried by k-induction.")
@click.option("--vacuity", is_flag=True, help="First ask z3 whether each property can fail and can hold at all.")
@click.option("--safety", is_flag=True,
              help="Only the always and step properties (a reachable goal needs a BMC trace, slow on a large scope).")
@click.option("--unbounded", is_flag=True,
              help="Prove the rules for every stack, any number of patches and states, on the model's first-order "
                   "form (models/MODEL.rml) with its invariants; a counterexample is replayed in the Python model.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
def prove_cmd(model: str, preset: str | None, config: Path | None, scope: str | None, properties: tuple[str, ...],
              methods: tuple[str, ...], timeout: float, max_depth: int | None, k_max: int, vacuity: bool,
              safety: bool, unbounded: bool, as_json: bool) -> int:
    """Prove MODEL's properties with z3: for every stack (--unbounded), or on what check enumerates.

    With --unbounded: the state rules of properties/states.rml on the model's first-order form
    (models/MODEL.rml, for refcount, v1, poc), with the invariants written there, for any number of patches
    and states. Verdicts: holds for every stack (rules and invariants inductive, checked by z3 in EPR),
    violated (a counterexample whose stack reaches a violation; its shortest run replayed in the Python
    model), not proved (a counterexample no run reaches: add an invariant that excludes the state shown).

    Without it: a cross-check of the property encoding on the preset, configuration or scope, over the
    relation read off the states the BFS visits, so it covers exactly what check enumerates, at many times
    check's cost. Verdicts: proved (by an invariant learnt from the reachable states, by k-induction, or by
    Spacer with the invariant it found), violated or reachable (BMC, with a trace replayed through the
    model), undetermined (no answer within the bounds and timeouts).

    The expected column is the manifest's, as for check; exit 1 if a verdict is not the expected one.
    """
    from .prove import METHODS, prove
    from .symbolic import supports

    mdef = registry.get_model(model)
    if unbounded:
        given = [o for o, v in (("--preset", preset), ("--config", config), ("--scope", scope), ("--method", methods),
                                ("--max-depth", max_depth), ("--vacuity", vacuity), ("--safety", safety)) if v]
        if given:
            raise InputError(f"--unbounded covers every stack and uses no {given[0]}; drop it")
        from .unbounded import prove_command

        return prove_command(mdef, properties, int(timeout * 1000), as_json)
    source, configs = _configs(mdef, preset, config, scope)
    props = [p for p in registry.select_properties(mdef, properties) if not safety or p.kind != "sometimes"]
    if not props:
        raise InputError("--safety leaves no property: every one selected is a sometimes-property")
    models: list[Any] = [mdef.build(cfg) for _, cfg, _ in configs]
    built = models[0]
    if not supports(built) or not hasattr(built, "relation"):
        raise InputError(f"model {mdef.name!r} has no symbolic views or relation; prove needs both")
    sane = ([_sanity(mdef, n, m, props, timeout, not as_json) for (n, _, _), m in zip(configs, models, strict=True)]
            if vacuity else [])
    relation = None
    name = configs[0][0]
    t0 = time.perf_counter()
    if source == "scope":
        name = str(scope)
        relation = built.scope_relation(models, [n for n, _, _ in configs])
    extract = time.perf_counter() - t0
    proofs, info = prove(built, props, int(timeout * 1000), max_depth, k_max, methods or METHODS, relation)
    if relation is not None:    # read off the code here, before prove: its time and its configurations
        info["extract_seconds"] += extract
        info["seconds"] += extract
        info["configurations"] = len(configs)
    rows = []
    for p in proofs:
        want = _expected(mdef, source, [n for n, _, _ in configs], p.prop)
        ok = (p.check_verdict == want.verdict) if want.binding else p.verdict != "undetermined"
        rows.append((p, want, ok))
    if as_json:
        click.echo(json.dumps({
            "model": mdef.name, source: name, "relation": {k: (round(v, 6) if isinstance(v, float) else v)
                                                         for k, v in info.items()},
            "ok": all(ok for _, _, ok in rows),
            **({"vacuity": sane} if vacuity else {}),
            "properties": [{"name": p.prop.name, "kind": p.prop.kind, "verdict": p.verdict, "method": p.method,
                            "depth": p.depth, "expected": want.verdict, "ok": ok, "seconds": round(p.seconds, 6),
                            "configuration": p.config or None,
                            "invariant": p.invariant, "note": p.note or None,
                            "trace": trace_json(built, p.trace) if p.trace is not None else None}
                           for p, want, ok in rows]}, indent=2))
    else:
        click.echo(format_proofs(mdef.name, source, name, info, rows, built))
    return 0 if all(ok for _, _, ok in rows) else 1


def _expected(mdef: ModelDef, source: str, names: list[str], prop: Property) -> Any:
    """The manifest's verdict; over a scope, violated if any configuration of it is expected to violate."""
    if source == "config":
        return mdef.expectation(None, prop)
    wants = [mdef.expectation(n, prop) for n in names]
    if len(wants) == 1:
        return wants[0]
    broken = [w for w in wants if w.verdict == "violated"]
    if broken:
        return broken[0]
    return wants[0] if all(w.binding for w in wants) else ExpectedVerdict(wants[0].verdict, "", False)


@cli.command("build")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
@kernel_option
def build_cmd(as_json: bool, kernel: TreeChoice | None) -> int:
    """Build a kernel tree's livepatch core in user space (with the modules of the kernel model's default
    preset) and say what the tree is; exit 1 with the compiler's first errors if it does not compile."""
    mdef = get_model("kernel", kernel or TreeChoice())
    try:
        mdef.build(mdef.preset(mdef.default_preset).config)
    except InputError as e:
        errors = getattr(e, "errors", None)
        if errors is None:
            raise
        if as_json:
            click.echo(json.dumps({"ok": False, "what": getattr(e, "what", ""), "errors": errors}))
        else:
            click.echo(f"{getattr(e, 'what', 'the tree')} does not compile:")
            click.echo(errors)
        return 1
    generated = [n for n, p in mdef.presets.items() if getattr(p.config, "fixtures", None) is None]
    if as_json:
        click.echo(json.dumps({"ok": True, "summary": mdef.summary, "features": list(mdef.features),
                               "presets": generated, "all_presets": list(mdef.presets)}))
    else:
        click.echo(f"built: {mdef.summary}")
        click.echo(f"features: {', '.join(mdef.features)}")
        click.echo(f"presets: {', '.join(mdef.presets)}")
    return 0


@cli.command("series")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--kernel", metavar="DIR|TARBALL", help="The kernel tree to apply it to (default: linux-source-6.12).")
@click.option("--port", type=click.Path(path_type=Path, dir_okay=False),
              help="Rewrite the patches with these 'old new' renames first (a series for an older base).")
@click.option("--preset", "presets", multiple=True,
              help="Check this preset after each patch (repeatable; default: the presets of the tree's API "
                   "that generated modules express).")
@click.option("--config", type=click.Path(path_type=Path, dir_okay=False), help="Check a TOML configuration.")
@click.option("--scope", help="Check every configuration of the scope SPEC (e.g. patches=2,states=1).")
@click.option("--max-states", type=click.IntRange(min=1), default=200_000, show_default=True,
              help="Stop each check after N states (it is then reported incomplete).")
@click.option("--jobs", type=click.IntRange(min=1), default=2, show_default=True, help="Checks run at once.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
@click.option("--html", type=click.Path(path_type=Path, dir_okay=False), help="Write the report as HTML to FILE.")
@click.option("--no-traces", is_flag=True, help="Leave the traces of new violations and rejected hunks out.")
def series_cmd(path: Path, kernel: str | None, port: Path | None, presets: tuple[str, ...], config: Path | None,
               scope: str | None, max_states: int, jobs: int, as_json: bool, html: Path | None,
               no_traces: bool) -> int:
    """Apply a posted series (an mbox file, or a folder of them in name order) patch by patch and, after
    each patch that touches the core, build its C and check it: how each patch applies, whether it builds,
    the verdicts, and the violations new or gone since the patch before, with their traces.  Exit 0 when
    every patch applies, builds and keeps its expected verdicts, 1 otherwise."""
    from klpmc.seriescheck import check_series, format_series, series_json, write_series_report

    if sum(bool(x) for x in (presets, config, scope)) > 1:
        raise click.UsageError("--preset, --config and --scope exclude each other; give one")
    res = check_series(kernel, path, port, presets, config, max_states, jobs, scope)
    if html is not None:
        write_series_report(html, res)
    if as_json:
        click.echo(json.dumps(series_json(res), indent=2))
    else:
        click.echo("\n".join(format_series(res, traces=not no_traces)))
        if html is not None:
            click.echo(f"report: {html}")
    return 0 if res.ok else 1


@cli.command("replay")
@click.argument("model")
@click.argument("files", metavar="FILE...", nargs=-1, required=True,
                type=click.Path(path_type=Path, dir_okay=False))
@click.option("--check", "check_", is_flag=True, help="Compare with the expected log; print a diff if not.")
@click.option("--real-kernel", is_flag=True, help="Run the scenarios on a real kernel under qemu, not MODEL.")
@kernel_options
@kernel_option
def replay_cmd(model: str, files: tuple[Path, ...], check_: bool, real_kernel: bool, image: Path | None,
               headers: Path | None, jobs: int, timeout: int, kernel: TreeChoice | None) -> int:
    """Run the selftest scenario FILE on MODEL (or with --real-kernel on a kernel under qemu) and print its
    kernel log. --kernel-image, --headers, --jobs and --timeout are for --real-kernel only."""
    mdef = get_model(model, kernel)
    if real_kernel:
        return replay_real(mdef.name, list(files), check_, image, headers, jobs, timeout)
    status = 0
    for file in files:
        if len(files) > 1:
            click.echo(f"== {file}")
        status = max(status, _replay_model(mdef, file, check_))
    return status


def _replay_model(mdef: ModelDef, file: Path, check_: bool) -> int:
    if mdef.replay is None:
        models = registry.all_models().items()
        with_replay = ", ".join(n for n, m in models if m.replay is not None) or "none"
        raise InputError(f"model {mdef.name!r} has no replay harness; models with one: {with_replay}")
    if not file.is_file():
        raise InputError(f"no such scenario file: {file}")
    lines, ok = mdef.replay(file, check_)
    for line in lines:
        click.echo(line)
    return 0 if ok else 1


@cli.command("graph")
@click.argument("model")
@click.option("--preset", help="Draw this preset (default: the model's default preset).")
@click.option("--config", type=click.Path(path_type=Path, dir_okay=False), help="Draw a TOML configuration.")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), required=True, help="Write under DIR.")
@click.option("--max-states", type=click.IntRange(min=1), help="Keep the first N states (BFS order).")
@kernel_option
def graph_cmd(model: str, preset: str | None, config: Path | None, out: Path, max_states: int | None,
              kernel: TreeChoice | None) -> int:
    """Write the whole reachable state graph of MODEL as node-link JSON, DOT, GraphML (and SVG if small)."""
    from klpmc import graphs  # networkx only for this command

    mdef = get_model(model, kernel)
    source, [(name, cfg, notes)] = _configs(mdef, preset, config, None)
    limit = graphs.GRAPH_LIMIT if max_states is None else max_states
    g, complete = graphs.state_graph(mdef.build(cfg), limit)
    if not complete and max_states is None:
        raise InputError(
            f"the state graph of {mdef.name} ({source} {name}) has more than {limit:,} states; "
            "--max-states N writes its first N states"
        )
    for note in notes:
        click.echo(f"note: {note}")
    nodes, edges = g.number_of_nodes(), g.number_of_edges()
    picture = nodes <= graphs.SVG_LIMIT
    written = graphs.write_graph(g, out, "graph", svg=picture, edge_logs=False, json_name="graph.json")
    how = "complete" if complete else f"PARTIAL: the first {nodes:,} states in BFS order, frontier dashed"
    click.echo(f"{mdef.name} ({source} {name}): {nodes:,} states, {edges:,} transitions, {how}")
    for path in written:
        click.echo(f"  {path}")
    if not picture:
        click.echo(
            f"klpmc: no SVG picture: {nodes:,} states are more than {graphs.SVG_LIMIT:,}, too many to read; "
            "graph.dot is there for other tools",
            err=True,
        )
    elif shutil.which("dot") is None:
        click.echo(SVG_HINT, err=True)
    return 0


def _same_config(ma: ModelDef, mb: ModelDef, preset: str | None, config: Path | None) -> tuple[str, Any, Any]:
    """(what, config of A, config of B): the same preset or configuration file, read by each model."""
    if config is not None:
        _, [(name, cfg_a, _)] = _configs(ma, None, config, None)
        _, [(_, cfg_b, _)] = _configs(mb, None, config, None)
        return f"config {name}", cfg_a, cfg_b
    name = ma.default_preset if preset is None else preset
    return f"preset {name}", ma.preset(name).config, mb.preset(name).config


def format_verdicts_side_by_side(a: Report, b: Report) -> list[str]:
    """Properties of either model with each model's verdict ('-' where it does not have the property)."""
    verdicts_a = {p.result.name: p.result for p in a.properties}
    verdicts_b = {p.result.name: p.result for p in b.properties}
    names = list(verdicts_a) + [n for n in verdicts_b if n not in verdicts_a]
    rows = [("property", "kind", a.model_name, b.model_name, "")]
    for n in names:
        ra, rb = verdicts_a.get(n), verdicts_b.get(n)
        either = ra if ra is not None else rb
        kind = either.kind if either is not None else ""
        va = ra.verdict if ra is not None else "-"
        vb = rb.verdict if rb is not None else "-"
        rows.append((n, kind, va, vb, "differs" if ra is not None and rb is not None and va != vb else ""))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return [
        ("  ".join(cell.ljust(w) for cell, w in zip(r[:4], widths, strict=True)) + "  " + r[4]).rstrip()
        for r in rows
    ]


@cli.command("diff")
@click.argument("model_a")
@click.argument("model_b")
@click.option("--preset", help="Run both on this preset (default: MODEL_A's default preset).")
@click.option("--config", type=click.Path(path_type=Path, dir_okay=False), help="Run both on a TOML file.")
@click.option("--max-states", type=click.IntRange(min=1), help="Explore at most N state pairs.")
@click.option("--limit", type=click.IntRange(min=1), default=5, show_default=True,
              help="Report at most N distinguishing traces.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
@click.option("--html", type=click.Path(path_type=Path, dir_okay=False),
              help="Write an HTML report with the two sides' sequence charts to FILE.")
@click.option("--quiet", "-q", is_flag=True, help="No progress display.")
@kernel_option
def diff_cmd(
    model_a: str, model_b: str, preset: str | None, config: Path | None, max_states: int | None, limit: int,
    as_json: bool, html: Path | None, quiet: bool, kernel: TreeChoice | None,
) -> int:
    """Compare two models on one configuration: verdicts side by side, then the shortest traces after
    which they behave differently.  Exit 0 when nothing differs, 1 when something does."""
    from klpmc.diff import DEFAULT_MAX_PAIRS, distinction_json, distinguish, format_distinction

    ma, mb = registry.get_model(model_a), registry.get_model(model_b)
    if kernel is not None:
        if ma.configure is None and mb.configure is None:
            get_model(ma.name, kernel)      # says which models take --kernel
        ma, mb = (m if m.configure is None else m.configure(kernel.settings()) for m in (ma, mb))
    what, cfg_a, cfg_b = _same_config(ma, mb, preset, config)
    display = ProgressDisplay(enabled=not quiet and sys.stderr.isatty())
    source, name = what.split(" ", 1)
    reports = []
    for mdef, cfg in ((ma, cfg_a), (mb, cfg_b)):
        props = registry.select_properties(mdef)
        reports.append(_run_one(mdef, source, name, cfg, [], props, {}, display))
    report_a, report_b = reports
    found = distinguish(
        report_a.model, report_b.model, max_pairs=max_states or DEFAULT_MAX_PAIRS, limit=limit
    )
    verdicts_a, verdicts_b = report_a.result.verdicts(), report_b.result.verdicts()
    same_verdicts = all(verdicts_b.get(n, v) == v for n, v in verdicts_a.items())
    differs = bool(found.differences) or not found.complete or not same_verdicts

    def command(label: Any) -> str | None:
        return command_of_label(report_a.model, label)

    if as_json or html is not None:
        obj = {
            "a": ma.name,
            "b": mb.name,
            source: name,
            "differs": differs,
            "verdicts": {n: {"a": verdicts_a.get(n), "b": verdicts_b.get(n)}
                         for n in [*verdicts_a, *(n for n in verdicts_b if n not in verdicts_a)]},
            "states": {"a": report_a.result.stats.states, "b": report_b.result.stats.states},
            **distinction_json(found, command),
        }
        if html is not None:
            from klpmc.report import write_diff_report

            write_diff_report(html, obj)
            click.echo(f"klpmc: report written to {html}", err=True)
    if as_json:
        click.echo(json.dumps(obj, indent=2))
        return 1 if differs else 0
    names = (ma.name, mb.name) if ma.name != mb.name else (f"{ma.name} (A)", f"{mb.name} (B)")
    click.echo(f"{ma.name} vs {mb.name} ({what})")
    click.echo("\n".join(format_verdicts_side_by_side(report_a, report_b)))
    for n, r in zip(names, reports, strict=True):
        click.echo(f"{n}: {format_stats(r.result)}")
    click.echo()
    click.echo("\n".join(format_distinction(found, names, command, limit)))
    return 1 if differs else 0


@cli.command("report")
@click.argument("result", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--html", type=click.Path(path_type=Path, dir_okay=False),
              help="Write the page to FILE (default: RESULT with .html).")
@click.option("--no-graph", is_flag=True, help="Do not rebuild the model to draw its state graph.")
def report_cmd(result: Path, html: Path | None, no_graph: bool) -> int:
    """Write the HTML report of a saved `check --json` or `diff --json` RESULT."""
    from klpmc.report import report_file

    target = html if html is not None else result.with_suffix(".html")
    if target.resolve() == result.resolve():
        raise InputError(f"the report would overwrite {result}; give --html FILE")
    what = report_file(result, target, graph=not no_graph)
    click.echo(f"klpmc: {what} report written to {target}", err=True)
    return 0


@cli.command("conform")
@click.argument("model")
@click.option("--against", default="kernel", show_default=True,
              help="The model whose steps are compared: the kernel's C (kernel), unless --real-kernel.")
@click.option("--real-kernel", is_flag=True, help="Run the traces on a real kernel under qemu instead.")
@click.option("--preset", help="Run both on this preset (default: MODEL's default preset).")
@click.option("--config", type=click.Path(path_type=Path, dir_okay=False), help="Run both on a TOML file.")
@click.option("--max-states", type=click.IntRange(min=1), help="Take the traces of at most N states of MODEL.")
@click.option("--sample", type=click.IntRange(min=1), help="With --real-kernel: N of the traces, fixed seed.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
@kernel_options
@kernel_option
def conform_cmd(model: str, against: str, real_kernel: bool, preset: str | None, config: Path | None,
                max_states: int | None, sample: int | None, as_json: bool, image: Path | None,
                headers: Path | None, jobs: int, timeout: int, kernel: TreeChoice | None) -> int:
    """Run the shortest trace to every state of MODEL (a Python model) on the kernel's C, or with
    --real-kernel on a kernel under qemu, and compare step by step; exit 0 when nothing differs.

    Against the kernel's C each step's kernel log and callbacks are compared, and a step the C does not
    offer is counted as not expressible. --kernel-image, --headers, --jobs, --timeout and --sample are
    for --real-kernel only.
    """
    if real_kernel:
        if config is not None:
            raise InputError("conform --real-kernel runs presets; --config is for the kernel's C")
        return conform_real(model, preset, sample, image, headers, jobs, timeout, as_json)
    from klpmc.conform import conform, conformance_json, format_conformance

    ma, mb = registry.get_model(model), get_model(against, kernel)
    what, cfg_a, cfg_b = _same_config(ma, mb, preset, config)
    spec, impl = ma.build(cfg_a), mb.build(cfg_b)
    internal = getattr(impl, "internal", lambda label: False)
    r = conform(spec, impl, internal, max_states=max_states)

    def command(label: Any) -> str | None:
        return command_of_label(spec, label)

    if as_json:
        click.echo(json.dumps({"model": ma.name, "against": mb.name, "what": what, "ok": r.ok,
                               **conformance_json(r, command)}, indent=2))
    else:
        click.echo("\n".join(format_conformance(r, ma.name, mb.name, what, command)))
    return 0 if r.ok else 1


@cli.command("coverage")
@click.argument("model")
@click.option("--preset", "presets", multiple=True, help="Run this preset (repeatable; default: the default).")
@click.option("--all-presets", is_flag=True, help="Run every preset; report what none of them reached.")
@click.option("--config", type=click.Path(path_type=Path, dir_okay=False), help="Run a TOML configuration.")
@click.option("--scope", help="Run every configuration the model's scope SPEC enumerates.")
@click.option("--max-states", type=click.IntRange(min=1), help="Stop each run after N distinct states.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
def coverage_cmd(
    model: str, presets: tuple[str, ...], all_presets: bool, config: Path | None, scope: str | None,
    max_states: int | None, as_json: bool,
) -> int:
    """Check MODEL under branch coverage of its own file; list the functions and branches that never ran."""
    from klpmc.cover import coverage_json, format_coverage, measure, model_file, shown_path

    mdef = registry.get_model(model)
    if sum(bool(x) for x in (presets or all_presets, config, scope)) > 1:
        raise click.UsageError("--preset/--all-presets, --config and --scope exclude each other; give one")
    if all_presets:
        presets = tuple(mdef.presets)
    if config is not None or scope is not None:
        source, runs = _configs(mdef, None, config, scope)
    else:
        runs = [(n, mdef.preset(n).config, []) for n in (presets or (mdef.default_preset,))]
        source = "preset"
    props = registry.select_properties(mdef)
    path = model_file(mdef)

    def run_all() -> list[Report]:
        bounds = {"max_states": max_states}
        return [_run_one(mdef, source, n, cfg, notes, props, bounds, ProgressDisplay(False))
                for n, cfg, notes in runs]

    reports, report = measure(path, run_all)
    shown = shown_path(path, [Path(__file__).resolve().parent.parent])
    if as_json:
        runs_json = [{source: r.config_name, "states": r.result.stats.states, "complete": r.result.complete}
                     for r in reports]
        click.echo(json.dumps({"model": mdef.name, "runs": runs_json, **coverage_json(report, shown)}, indent=2))
        return 0
    sizes = ", ".join(
        f"{r.config_name} ({r.result.stats.states:,} states"
        + ("" if r.result.complete else f", INCOMPLETE ({r.result.stop_reason})")
        + ")"
        for r in reports
    )
    if source == "scope":
        states = sum(r.result.stats.states for r in reports)
        sizes = f"{scope} ({len(reports)} configurations, {states:,} states)"
    heading = f"coverage of {shown} by {mdef.name}, {source}{'s' * (len(reports) != 1 and source != 'scope')} {sizes}"
    click.echo("\n".join(format_coverage(report, heading, shown)))
    return 0


cli.add_command(confirm_cmd)
cli.add_command(fetch_kernel_cmd)


# --------------------------------------------------------------------------------------------------------
# errors: one line, exit 2
# --------------------------------------------------------------------------------------------------------


def _options_of(ctx: click.Context | None) -> str:
    if ctx is None:
        return ""
    opts = [p.opts[0] for p in ctx.command.params if isinstance(p, click.Option)]
    return f"; options of {ctx.command.name}: {', '.join(opts)}" if opts else ""


def _usage_message(e: click.UsageError) -> str:
    if isinstance(e, click.NoSuchOption):
        return f"no such option: {e.option_name}{_options_of(e.ctx)}"
    message = " ".join(e.format_message().split())
    if isinstance(e, click.MissingParameter) and e.param is not None and e.param.name == "model":
        return f"{message} Models: {', '.join(registry.all_models()) or 'none installed'}"
    if message.startswith("No such command") and isinstance(e.ctx, click.Context):
        group = e.ctx.command
        if isinstance(group, click.Group):
            return f"{message} Commands: {', '.join(sorted(group.commands))}"
    return message


def _fail(message: str) -> int:
    click.echo(f"klpmc: {message}", err=True)
    return 2


def run(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: sys.argv) and return the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        rv = cli.main(args=args, prog_name="klpmc", standalone_mode=False)
    except click.UsageError as e:
        return _fail(_usage_message(e))
    except click.ClickException as e:
        return _fail(" ".join(e.format_message().split()))
    except (InputError, ModelError, ReplayError) as e:
        if os.environ.get("KLPMC_DEBUG"):
            raise
        return _fail(" ".join(str(e).split()))
    except (click.Abort, KeyboardInterrupt):
        click.echo("klpmc: interrupted", err=True)
        return 130
    return rv if isinstance(rv, int) else 0


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """Console entry point ``klpmc``."""
    sys.exit(run(argv))

