"""The installed distribution: klpmc, klpmc.models and klpmc.properties, and nothing else at top level."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import json, importlib, importlib.metadata as md
import klpmc
found = {"klpmc": klpmc.__file__}
for name in ("klpmc.models", "klpmc.properties", "klpmc.cli"):
    try:
        found[name] = importlib.import_module(name).__file__
    except ImportError as e:
        found[name] = "missing: " + str(e)
files = [str(f) for f in md.distribution("klpmc").files or ()]
print(json.dumps({"found": found, "top": sorted({f.split("/")[0] for f in files})}))
"""


def test_installed_layout(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=tmp_path, env=env, capture_output=True, text=True, check=False
    )
    if "No module named 'klpmc'" in done.stderr or "No package metadata" in done.stderr:
        pytest.skip("klpmc is not installed in this interpreter (pip install '.[test]')")
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    found = info["found"]
    assert not found["klpmc"].startswith(str(ROOT)), "the probe imported the checkout, not the install"
    assert found["klpmc.models"].endswith("klpmc/models/__init__.py"), found
    if (ROOT / "properties" / "__init__.py").is_file():
        assert found["klpmc.properties"].endswith("klpmc/properties/__init__.py"), found
    # no generic top-level names: only the package, its metadata and the console script
    extra = [t for t in info["top"] if t != "klpmc" and not t.startswith("klpmc-") and t != ".."]
    assert extra == [], extra
