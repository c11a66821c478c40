"""Record which always/step properties each configuration of a scope violates, as the model's manifest.

    python scripts/record_scope_manifest.py MODEL SPEC [SPEC...]

Writes models/manifests/MODEL.json: ``scopes[SPEC][configuration] = [violated properties]``, keeping the
one-line ``reasons`` already there (a property without one gets "REASON NEEDED", to be written by hand
after reading its traces). A recorded manifest is a measured baseline, like the pinned state counts: a
change in the model that changes a verdict shows up as an unexpected verdict until it is re-recorded.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from klpmc import registry  # noqa: E402
from klpmc.engine import check  # noqa: E402


def main() -> None:
    model, specs = sys.argv[1], sys.argv[2:]
    mdef = registry.get_model(model)
    path = ROOT / "models" / "manifests" / f"{mdef.name}.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    reasons = data.get("reasons", {})
    scopes = data.get("scopes", {})
    props = registry.select_properties(mdef)
    for spec in specs:
        assert mdef.scope is not None
        found: dict[str, list[str]] = {}
        for name, cfg in mdef.scope(spec):
            r = check(mdef.build(cfg), props)
            bad = [p.prop.name for p in r.properties if p.verdict == "violated"]
            if bad:
                found[name] = bad
                for b in bad:
                    reasons.setdefault(b, "REASON NEEDED")
        scopes[spec] = found
        print(f"{mdef.name} {spec}: {len(found)} configurations with violations")
    path.write_text(json.dumps({"reasons": reasons, "scopes": scopes}, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
