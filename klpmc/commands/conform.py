"""`klpmc conform`: a Python model's shortest traces on the kernel's C (or a real kernel)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from klpmc import registry
from klpmc.commands.common import (
    INTERRUPTED,
    ProgressDisplay,
    TreeChoice,
    get_model,
    guard_size,
    json_option,
    kernel_option,
    max_states_option,
    model_argument,
    quiet_option,
    same_config,
    source_options,
)
from klpmc.output import (
    command_of_label,
)
from klpmc.realkernel.commands import conform_real, kernel_options
from klpmc.registry import InputError


@click.command("conform")
@model_argument
@click.option("--against", default="kernel", show_default=True,
              help="The model whose steps are compared: the kernel's C (kernel), unless --real-kernel.")
@click.option("--real-kernel", is_flag=True, help="Run the traces on a real kernel under qemu instead.")
@source_options(scope=False)
@max_states_option("Take the traces of at most N distinct states of MODEL.")
@click.option("--sample", type=click.IntRange(min=1), help="With --real-kernel: N of the traces, fixed seed.")
@json_option
@quiet_option
@kernel_options
@kernel_option
def conform_cmd(model: str, against: str, real_kernel: bool, preset: str | None, config: Path | None,
                max_states: int | None, sample: int | None, as_json: bool, quiet: bool, image: Path | None,
                headers: Path | None, jobs: int, timeout: int, kernel: TreeChoice | None) -> int:
    """Run the shortest trace to every state of MODEL (a Python model) on the kernel's C, or with
    --real-kernel on a kernel under qemu, and compare step by step; exit 0 when nothing differs, 1 when
    something does (or the run was bounded), 130 when Ctrl-C ended it (what was compared is shown).

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
    what, cfg_a, cfg_b = same_config(ma, mb, preset, config)
    guard_size(ma, what, cfg_a, max_states)
    spec, impl = ma.build(cfg_a), mb.build(cfg_b)
    internal = getattr(impl, "internal", lambda label: False)
    display = ProgressDisplay(enabled=not quiet and sys.stderr.isatty())
    try:
        r = conform(spec, impl, internal, max_states=max_states, progress=display)
    finally:
        display.close()

    def command(label: Any) -> str | None:
        return command_of_label(spec, label)

    if as_json:
        click.echo(json.dumps({"model": ma.name, "against": mb.name, "what": what, "ok": r.ok,
                               "complete": r.complete, "stop_reason": r.stop_reason,
                               **conformance_json(r, command)}, indent=2))
    else:
        click.echo("\n".join(format_conformance(r, ma.name, mb.name, what, command)))
    if r.stop_reason == "interrupted":
        return INTERRUPTED
    return 0 if r.ok else 1
