"""Which functions and branches of a model's own file never ran during a check: dead code in a proposal.

The ``coverage`` package measures branch coverage of the one file that defines the model (the variant
module, e.g. ``models/poc_series.py``, not the shared vocabulary it imports) while the check runs; it is
imported only when asked for.  Its JSON report's per-function view gives, for each function, the lines that
ran and the branch arcs never taken.  A function none of whose body ran is "never called"; a branch arc
``a->b`` never taken means the condition on line ``a`` never went the way that leads to line ``b``
(``exit``: out of the function).
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from klpmc.registry import InputError, ModelDef

__all__ = [
    "CoverageReport",
    "FunctionCoverage",
    "coverage_json",
    "format_coverage",
    "measure",
    "model_file",
    "shown_path",
]

T = TypeVar("T")


@dataclass(frozen=True)
class FunctionCoverage:
    """One function (``Class.method`` for a method): where it starts, what of it never ran."""

    name: str
    line: int
    statements: int
    ran: bool
    missed_arcs: tuple[tuple[int, int], ...]  # (from line, to line); to < 0: out of the function
    missing_lines: tuple[int, ...]


@dataclass(frozen=True)
class CoverageReport:
    """Every function of one file, in line order."""

    path: Path
    functions: tuple[FunctionCoverage, ...]

    @property
    def never_called(self) -> tuple[FunctionCoverage, ...]:
        return tuple(f for f in self.functions if not f.ran and f.statements)

    @property
    def partial(self) -> tuple[FunctionCoverage, ...]:
        """Functions that ran with a branch arc never taken."""
        return tuple(f for f in self.functions if f.ran and f.missed_arcs)


def model_file(mdef: ModelDef) -> Path:
    """The file of the module whose ``MODEL`` is ``mdef`` (the registry has imported it)."""
    for module in list(sys.modules.values()):
        if getattr(module, "MODEL", None) is mdef and getattr(module, "__file__", None):
            return Path(str(module.__file__)).resolve()
    raise InputError(f"cannot tell which file defines model {mdef.name!r}")


def _load(entry: dict[str, Any], path: Path) -> CoverageReport:
    functions = entry.get("functions")
    if functions is None:
        raise InputError("this coverage does not report functions; pip install 'coverage>=7.6'")
    out = []
    for name, f in functions.items():
        if not name:  # module level: ran at import, before the measurement started
            continue
        out.append(
            FunctionCoverage(
                name=name,
                line=int(f.get("start_line") or min([*f["executed_lines"], *f["missing_lines"], 0])),
                statements=int(f["summary"]["num_statements"]),
                ran=bool(f["executed_lines"]),
                missed_arcs=tuple((int(a), int(b)) for a, b in f.get("missing_branches", ())),
                missing_lines=tuple(int(x) for x in f["missing_lines"]),
            )
        )
    out.sort(key=lambda f: (f.line, f.name))
    return CoverageReport(path, tuple(out))


def measure(path: Path, run: Callable[[], T]) -> tuple[T, CoverageReport]:
    """Run ``run()`` under branch coverage of ``path`` alone; its value and what of ``path`` ran."""
    try:
        import coverage
    except ImportError:
        raise InputError("coverage is not installed: pip install coverage") from None
    cov = coverage.Coverage(data_file=None, branch=True, include=[str(path)], config_file=False)
    cov.set_option("run:disable_warnings", ["no-data-collected", "module-not-measured", "couldnt-parse"])
    cov.start()
    try:
        value = run()
    finally:
        cov.stop()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "coverage.json"
        try:
            cov.json_report(outfile=str(out), include=[str(path)])
        except coverage.exceptions.NoDataError:
            raise InputError(f"nothing of {path} ran: is it the model's file?") from None
        files = json.loads(out.read_text())["files"]
    if len(files) != 1:
        raise InputError(f"coverage measured {len(files)} files instead of {path}")
    [entry] = files.values()
    return value, _load(entry, path)


def _arc(a: int, b: int) -> str:
    return f"{a}->{b if b > 0 else 'exit'}"


def format_coverage(report: CoverageReport, heading: str, shown: Path | str | None = None) -> list[str]:
    """Functions never called, then functions with branch arcs never taken, then a total line."""
    lines = [heading]
    never = report.never_called
    partial = report.partial
    width = max((len(f.name) for f in (*never, *partial)), default=0)
    lines.append(f"never called ({len(never)}):" if never else "never called: none")
    lines.extend(f"  {f.name.ljust(width)}  line {f.line}" for f in never)
    lines.append(f"branches never taken ({len(partial)} functions):" if partial else "branches never taken: none")
    try:
        source = report.path.read_text().splitlines()
    except OSError:
        source = []
    for f in partial:
        lines.append(f"  {f.name.ljust(width)}  line {f.line}")
        for a, b in f.missed_arcs:
            text = source[a - 1].strip() if 0 < a <= len(source) else ""
            lines.append(f"      {_arc(a, b):<12}  {text[:80]}".rstrip())
    counted = [f for f in report.functions if f.statements]
    ran = sum(f.ran for f in counted)
    arcs = sum(len(f.missed_arcs) for f in report.functions)
    lines.append(
        f"{ran} of {len(counted)} functions of {shown or report.path} ran; "
        f"{arcs} branch arc{'s' * (arcs != 1)} never taken"
    )
    return lines


def shown_path(path: Path, roots: Sequence[Path] = ()) -> str:
    """``path`` relative to the working directory or one of ``roots`` when it lies under them."""
    for root in (Path.cwd(), *roots):
        try:
            return str(path.relative_to(root.resolve()))
        except ValueError:
            continue
    return str(path)


def coverage_json(report: CoverageReport, shown: Path | str | None = None) -> dict[str, Any]:
    """``{file, functions, never_called, branches_never_taken: [{function, line, arcs: [[a, b]]}]}``;
    an arc's ``b`` is ``null`` when it leaves the function."""
    counted = [f for f in report.functions if f.statements]
    return {
        "file": str(shown or report.path),
        "functions": len(counted),
        "ran": sum(f.ran for f in counted),
        "never_called": [{"function": f.name, "line": f.line} for f in report.never_called],
        "branches_never_taken": [
            {"function": f.name, "line": f.line, "arcs": [[a, b if b > 0 else None] for a, b in f.missed_arcs]}
            for f in report.partial
        ],
    }
