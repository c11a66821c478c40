"""`klpmc prove`: the verdicts from z3, for every stack (--unbounded) or on what check enumerates."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click

from klpmc import registry
from klpmc.commands.common import expected_of, read_configs, vacuity_report
from klpmc.output import (
    format_proofs,
    trace_json,
)
from klpmc.registry import InputError


@click.command("prove")
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
    from klpmc.prove import METHODS, prove
    from klpmc.symbolic import supports

    mdef = registry.get_model(model)
    if unbounded:
        given = [o for o, v in (("--preset", preset), ("--config", config), ("--scope", scope), ("--method", methods),
                                ("--max-depth", max_depth), ("--vacuity", vacuity), ("--safety", safety)) if v]
        if given:
            raise InputError(f"--unbounded covers every stack and uses no {given[0]}; drop it")
        from klpmc.unbounded import prove_command

        return prove_command(mdef, properties, int(timeout * 1000), as_json)
    source, configs = read_configs(mdef, preset, config, scope)
    props = [p for p in registry.select_properties(mdef, properties) if not safety or p.kind != "sometimes"]
    if not props:
        raise InputError("--safety leaves no property: every one selected is a sometimes-property")
    models: list[Any] = [mdef.build(cfg) for _, cfg, _ in configs]
    built = models[0]
    if not supports(built) or not hasattr(built, "relation"):
        raise InputError(f"model {mdef.name!r} has no symbolic views or relation; prove needs both")
    sane = ([vacuity_report(mdef, n, m, props, timeout, not as_json)
             for (n, _, _), m in zip(configs, models, strict=True)] if vacuity else [])
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
        want = expected_of(mdef, source, [n for n, _, _ in configs], p.prop)
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
