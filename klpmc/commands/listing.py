"""`klpmc list`: the models, their presets and the property catalogue."""

from __future__ import annotations

import click

from klpmc import registry


@click.command("list")
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
