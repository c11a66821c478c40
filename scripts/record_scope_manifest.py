"""Record which always/step properties each configuration of a scope violates, in the model's manifest.

    python scripts/record_scope_manifest.py MODEL SPEC [SPEC...]

Writes ``scopes[SPEC]`` of models/manifests/MODEL.json: the number of configurations, their states and
transitions added up, ``violated[configuration] = [properties]``, and ``reasons[property]``, the name of
the reason (in the manifest's ``reasons``) of each violated property. A reason already given for the
property (in this scope or another) is kept; a property without one gets a reason named after it that
says "REASON NEEDED", to be written by hand after reading its traces (the tests refuse it until then). The
presets and their pinned counts are left as they are. A recorded scope is a measured baseline, like the
pinned state counts: a change in the model that changes a verdict shows up as an unexpected verdict until
it is recorded again.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from klpmc import registry  # noqa: E402
from klpmc.engine import check  # noqa: E402

registry.map_source_checkout()

from klpmc.models._manifest import NEEDED, dumps, manifest_path, parse  # noqa: E402


def main() -> None:
    if len(sys.argv) < 3:
        sys.exit(__doc__.split("\n\n")[1].strip())
    model, specs = sys.argv[1], sys.argv[2:]
    mdef = registry.get_model(model)
    path = manifest_path(mdef.name)
    data = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    if "verdicts_of" in data:
        sys.exit(f"{mdef.name} takes its verdicts from {data['verdicts_of']}: record the scopes there")
    reasons = data.setdefault("reasons", {})
    scopes = data.setdefault("scopes", {})
    known = {p: r for s in scopes.values() for p, r in s["reasons"].items()}
    props = registry.select_properties(mdef)
    if mdef.scope is None:
        sys.exit(f"model {mdef.name} has no scopes")
    for spec in specs:
        old = scopes.get(spec, {}).get("reasons", {})
        configs = mdef.scope(spec)
        violated: dict[str, list[str]] = {}
        states = transitions = 0
        for name, cfg in configs:
            r = check(mdef.build(cfg), props)
            states, transitions = states + r.stats.states, transitions + r.stats.transitions
            bad = [p.prop.name for p in r.properties if p.verdict == "violated"]
            if bad:
                violated[name] = bad
        because = {}
        for prop in sorted({p for bad in violated.values() for p in bad}):
            because[prop] = old.get(prop) or known.get(prop) or prop
            reasons.setdefault(because[prop], NEEDED)
        scopes[spec] = {"configurations": len(configs), "states": states, "transitions": transitions,
                        "reasons": because, "violated": dict(sorted(violated.items()))}
        print(f"{mdef.name} {spec}: {len(configs)} configurations, {states:,} states, "
              f"{len(violated)} with violations")
    parse(mdef.name, data, str(path))   # what is written reads back
    path.write_text(dumps(data) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
