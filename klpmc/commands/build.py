"""`klpmc build`: a kernel tree's livepatch core built in user space, or its compiler's first errors."""

from __future__ import annotations

import json

import click

from klpmc.commands.common import TreeChoice, get_model, json_option, kernel_option
from klpmc.registry import InputError


@click.command("build")
@json_option
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
