"""Write the report examples of docs/examples/: an HTML page, and screenshots of two charts (headless Chromium).

    python scripts/render_examples.py [DIR]      (default: docs/examples)

* ``poc-series-drop.html``: ``klpmc check poc-series --preset drop --html``;
* ``poc-small-double-release.png``: the seed's double release (``check poc --preset small``, state-lifecycle);
* ``v1-drop-newer-patch-release.png``: v1's release of a newer patch's state (``check v1 --preset drop``,
  release-only-when-gone).
"""

from __future__ import annotations

import contextlib
import io
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))   # the Chromium driver of the browser tests

from chromium import Browser  # noqa: E402

from klpmc import cli  # noqa: E402

SHOTS = [  # (model, preset, property, file)
    ("poc", "small", "state-lifecycle", "poc-small-double-release.png"),
    ("v1", "drop", "release-only-when-gone", "v1-drop-newer-patch-release.png"),
]


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else ROOT / "docs" / "examples"
    out.mkdir(parents=True, exist_ok=True)
    page = out / "poc-series-drop.html"
    with contextlib.redirect_stdout(io.StringIO()):
        if cli.run(["check", "poc-series", "--preset", "drop", "-q", "--html", str(page)]) != 0:
            return 1
    with tempfile.TemporaryDirectory() as tmp, Browser(width=1280, height=900) as browser:
        for model, preset, prop, name in SHOTS:
            html = Path(tmp) / f"{model}-{preset}.html"
            with contextlib.redirect_stdout(io.StringIO()):
                if cli.run(["check", model, "--preset", preset, "-q", "--property", prop, "--html", str(html)]):
                    return 1
            browser.open(html)
            if browser.errors():
                print("\n".join(browser.errors()), file=sys.stderr)
                return 1
            (out / name).write_bytes(browser.screenshot(f"#trace-{prop.replace('-', '_')}"))
            print(out / name)
    print(page)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
