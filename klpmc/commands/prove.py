"""`klpmc prove`: the verdicts from z3, for every stack (--unbounded) or on what check enumerates."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from klpmc import registry
from klpmc.commands.common import (
    INTERRUPTED,
    ProgressDisplay,
    expected_of,
    given,
    guard_size,
    json_option,
    max_states_option,
    model_argument,
    property_option,
    quiet_option,
    read_configs,
    source_options,
    timeout_option,
    vacuity_report,
)
from klpmc.output import (
    format_proofs,
    trace_json,
)
from klpmc.registry import InputError

MAX_STATES = 1_000_000     # models/_relation.py's default: states a relation is read off


@click.command("prove")
@model_argument
@source_options()
@property_option
@click.option("--method", "methods", multiple=True,
              type=click.Choice(["invariant", "k-induction", "bmc", "spacer"]),
              help="Use only these methods (repeatable; default: all four).")
@timeout_option(30.0, "Seconds each z3 call may take (and the invariant method may spend in all).")
@click.option("--max-depth", type=click.IntRange(min=0), metavar="N",
              help="BMC bound (default: the relation's diameter, which makes BMC complete).")
@click.option("--k", "k_max", type=click.IntRange(min=1), default=3, show_default=True,
              help="Largest k tried by k-induction.")
@max_states_option(f"Read the relation off at most N distinct states (default {MAX_STATES:,}); a relation "
                   "cut short proves nothing, so more states is an error.")
@click.option("--vacuity/--no-vacuity", default=True, show_default=True,
              help="First ask z3 whether each property can fail and can hold at all.")
@click.option("--safety", is_flag=True,
              help="Only the always and step properties (a reachable goal needs a BMC trace, slow on a large scope).")
@click.option("--unbounded", is_flag=True,
              help="Prove the rules for every stack, any number of patches and states, on the model's first-order "
                   "form (models/MODEL.rml) with its invariants; a counterexample is replayed in the Python model.")
@json_option
@quiet_option
def prove_cmd(model: str, preset: str | None, config: Path | None, scope: str | None, properties: tuple[str, ...],
              methods: tuple[str, ...], timeout: float, max_depth: int | None, k_max: int, max_states: int | None,
              vacuity: bool, safety: bool, unbounded: bool, as_json: bool, quiet: bool) -> int:
    """Prove MODEL's properties with z3: for every stack (--unbounded), or on what check enumerates.

    With --unbounded: the state rules of properties/states.rml on the model's first-order form
    (models/MODEL.rml, for refcount, v1, poc), with the invariants written there, for any number of patches
    and states. Verdicts: holds for every stack (rules and invariants inductive, checked by z3 in EPR),
    violated (a counterexample whose stack reaches a violation; its shortest run replayed in the Python
    model), not proved (a counterexample no run reaches: add an invariant that excludes the state shown).

    Without it: a cross-check of the property encoding on the preset, configuration or scope, over the
    relation read off the states the BFS visits, so it covers exactly what check enumerates, at many times
    check's cost. Verdicts are check's (holds, violated, reachable, unreachable, undetermined); the method
    column says how: proved by an invariant learnt from the reachable states, by k-induction, or by Spacer
    with the invariant it found; bmc with a trace replayed through the model, which must break the rule
    there too. Before trusting a formula, prove evaluates it and the rule on every state and step it read
    the relation off: a property on which they differ is undetermined.

    The expected column is the manifest's, as for check; exit 1 if a verdict is not the expected one, 130
    if Ctrl-C ended the run (what was settled is shown).
    """
    from klpmc.prove import METHODS, prove
    from klpmc.symbolic import supports

    mdef = registry.get_model(model)
    if unbounded:
        named = [o for o, v in (("--preset", preset), ("--config", config), ("--scope", scope), ("--method", methods),
                                ("--max-depth", max_depth), ("--max-states", max_states),
                                ("--vacuity", given("vacuity")), ("--safety", safety)) if v]
        if named:
            raise InputError(f"--unbounded covers every stack and uses no {named[0]}; drop it")
        from klpmc.unbounded import prove_command

        return prove_command(mdef, properties, int(timeout * 1000), as_json)
    source, configs = read_configs(mdef, preset, config, scope)
    props = [p for p in registry.select_properties(mdef, properties) if not safety or p.kind != "sometimes"]
    if not props:
        raise InputError("--safety leaves no property: every one selected is a sometimes-property")
    for n, cfg, _ in configs:
        guard_size(mdef, f"{source} {n}", cfg, max_states, "bounds the states prove reads its relation off")
    models: list[Any] = [mdef.build(cfg) for _, cfg, _ in configs]
    built = models[0]
    if not supports(built) or not hasattr(built, "relation"):
        raise InputError(f"model {mdef.name!r} has no symbolic views or relation; prove needs both")
    name = str(scope) if source == "scope" else configs[0][0]
    display = ProgressDisplay(enabled=not quiet and sys.stderr.isatty())
    t0 = time.perf_counter()
    try:
        if source == "scope":
            relation = built.scope_relation(models, [n for n, _, _ in configs], max_states=max_states,
                                            progress=display)
        else:
            relation = built.relation(max_states=max_states, progress=display)
    except KeyboardInterrupt:
        click.echo("klpmc: interrupted while reading the relation off the model; nothing proved", err=True)
        return INTERRUPTED
    finally:
        display.close()
    extract = time.perf_counter() - t0
    sane: list[dict[str, Any]] = []
    if vacuity:
        try:
            sane = vacuity_report(mdef, name, built, props, timeout, not as_json, relation.sig)
        except KeyboardInterrupt:
            click.echo("klpmc: interrupted during the vacuity check; nothing proved", err=True)
            return INTERRUPTED
    proofs, info = prove(built, props, int(timeout * 1000), max_depth, k_max, methods or METHODS, relation)
    info["extract_seconds"] += extract      # read off the code here, before prove
    info["seconds"] += extract
    info["configurations"] = len(configs)
    interrupted = bool(info.pop("interrupted", False))
    rows = []
    for p in proofs:
        want = expected_of(mdef, source, [n for n, _, _ in configs], p.prop)
        ok = (p.check_verdict == want.verdict) if want.binding else p.verdict != "undetermined"
        rows.append((p, want, ok))
    if as_json:
        click.echo(json.dumps({
            "model": mdef.name, source: name, "states": info["states"], "transitions": info["transitions"],
            "seconds": round(info["seconds"], 6), "complete": not interrupted,
            "stop_reason": "interrupted" if interrupted else None,
            "ok": all(ok for _, _, ok in rows),
            "relation": {k: (round(v, 6) if isinstance(v, float) else v) for k, v in info.items()},
            **({"vacuity": sane} if vacuity else {}),
            "properties": [{"name": p.prop.name, "kind": p.prop.kind, "description": p.prop.description,
                            "verdict": p.check_verdict, "expected": want.verdict, "binding": want.binding,
                            "reason": want.reason, "ok": ok,
                            "trace": trace_json(built, p.trace) if p.trace is not None else None,
                            "proved": p.verdict == "proved", "method": p.method, "depth": p.depth,
                            "seconds": round(p.seconds, 6), "configuration": p.config or None,
                            "invariant": p.invariant, "note": p.note or None}
                           for p, want, ok in rows]}, indent=2))
    else:
        click.echo(format_proofs(mdef.name, source, name, info, rows, built, interrupted))
    if interrupted:
        return INTERRUPTED
    return 0 if all(ok for _, _, ok in rows) else 1
