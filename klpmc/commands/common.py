"""What the subcommands share: models and configurations from the command line, a progress line, one run."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import click

from klpmc import registry
from klpmc.engine import Progress, Result, check
from klpmc.model import input_file
from klpmc.output import (
    PropertyReport,
    Report,
)
from klpmc.props import Property
from klpmc.registry import ExpectedVerdict, InputError, ModelDef

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


def kernel_option(f: Any) -> Any:
    """``--kernel DIR|TARBALL``: the kernel tree whose C the kernel model runs."""
    return click.option("--kernel", "kernel", metavar="DIR|TARBALL",
                        help="The kernel tree the kernel model builds (default: linux-source-6.12's tarball).")(f)


def get_model(name: str, kernel: str | None = None) -> ModelDef:
    """A model by name, with its own settings from the command line applied."""
    mdef = registry.get_model(name)
    if kernel is not None:
        if mdef.configure is None:
            takes = ", ".join(n for n, m in registry.all_models().items() if m.configure is not None) or "none"
            raise InputError(f"model {mdef.name!r} takes no --kernel; models that do: {takes}")
        mdef.configure({"kernel": kernel})
    return mdef


def read_configs(
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
        input_file(config, "configuration file")
        cfg, notes = mdef.load_config(config)
        return "config", [(str(config), cfg, list(notes))]
    name = mdef.default_preset if preset is None else preset
    return "preset", [(name, mdef.preset(name).config, [])]


def run_one(
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


def vacuity_report(mdef: ModelDef, name: str, model: Any, props: list[Property], timeout: float,
            echo: bool) -> list[dict[str, Any]]:
    """z3's sanity check of the properties on one configuration's model; prints the vacuous ones."""
    from klpmc.symbolic import sanity, supports

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


def expected_of(mdef: ModelDef, source: str, names: list[str], prop: Property) -> Any:
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


def same_config(ma: ModelDef, mb: ModelDef, preset: str | None, config: Path | None) -> tuple[str, Any, Any]:
    """(what, config of A, config of B): the same preset or configuration file, read by each model."""
    if config is not None:
        _, [(name, cfg_a, _)] = read_configs(ma, None, config, None)
        _, [(_, cfg_b, _)] = read_configs(mb, None, config, None)
        return f"config {name}", cfg_a, cfg_b
    name = ma.default_preset if preset is None else preset
    return f"preset {name}", ma.preset(name).config, mb.preset(name).config
