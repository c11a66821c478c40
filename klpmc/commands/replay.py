"""`klpmc replay`: a selftest scenario on a model (or a real kernel), its log compared if asked."""

from __future__ import annotations

from pathlib import Path

import click

from klpmc import registry
from klpmc.commands.common import TreeChoice, get_model, kernel_option
from klpmc.model import input_file
from klpmc.realkernel.commands import kernel_options, replay_real
from klpmc.registry import InputError, ModelDef


@click.command("replay")
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
    input_file(file, "scenario file")
    lines, ok = mdef.replay(file, check_)
    for line in lines:
        click.echo(line)
    return 0 if ok else 1
