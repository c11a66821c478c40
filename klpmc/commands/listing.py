"""`klpmc list`: the models, their presets and the property catalogue."""

from __future__ import annotations

import json

import click

from klpmc import registry
from klpmc.commands.common import json_option


@click.command("list")
@json_option
def list_cmd(as_json: bool) -> int:
    """List models with their presets, and the property catalogue."""
    models = registry.all_models()
    for module, problem in registry.broken_modules().items():
        click.echo(f"klpmc: warning: skipped {module}: {problem}", err=True)
    props = registry.catalogue()
    if as_json:
        click.echo(json.dumps({
            "models": [{"name": m.name, "summary": m.summary, "default_preset": m.default_preset,
                        "presets": {n: p.summary for n, p in m.presets.items()},
                        "properties": list(registry.properties_of(m)), "scope": m.scope is not None,
                        "replay": m.replay is not None} for m in models.values()],
            "properties": [{"name": p.name, "kind": p.kind, "description": p.description} for p in props.values()],
        }, indent=2))
        return 0
    click.echo("models:")
    if not models:
        click.echo("  (none installed)")
    width = max((len(n) for m in models.values() for n in (m.name, *m.presets)), default=0) + 2
    for m in models.values():
        click.echo(f"  {m.name.ljust(width)}  {m.summary}")
        for name, preset in m.presets.items():
            mark = " (default)" if name == m.default_preset else ""
            click.echo(f"    {name.ljust(width - 2)}  {preset.summary}{mark}")
    click.echo("properties:")
    if not props:
        click.echo("  (none in the catalogue)")
    pwidth = max((len(n) for n in props), default=0)
    for p in props.values():
        click.echo(f"  {p.name.ljust(pwidth)}  {p.kind:<9}  {p.description}")
    return 0
