"""A scope's configurations spread over processes (``--jobs N``) or a Dask cluster (``--dask ADDRESS``).

Each configuration's run is a `Job`, a small picklable value (the model's name and settings, the scope
spec, the configuration's name, the property names, the bounds) that a worker rebuilds: it looks the model
up in its own registry, enumerates the scope once (cached per process), checks the configuration and sends
back what the command prints, text and JSON (`Done`); states, traces and models never leave the worker.
The results are printed in the scope's order, so the output is the one ``--jobs 1`` gives, byte for byte
apart from the timings (and the workers' peak memory). The kernel model's C runs one tree per process: each
worker process loads its own. Dask is imported only for ``--dask`` (``pip install 'klpmc[dask]'``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import cache
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from klpmc import registry
from klpmc.engine import check
from klpmc.model import InputError, ModelDef
from klpmc.output import (
    PropertyReport,
    Report,
    ScopeRun,
    format_report,
    format_scope_line,
    format_scope_rules,
    format_scope_total,
    report_json,
)

__all__ = ["Done", "Job", "check_scope", "refused", "run_job", "run_jobs"]

CONNECT_TIMEOUT = 10  # seconds to reach a Dask scheduler before saying it cannot be reached


@dataclass(frozen=True)
class Job:
    """One configuration of a scope, as a worker rebuilds it."""

    model: str
    settings: tuple[tuple[str, str | None], ...]   # the model's own settings (the kernel model's --kernel)
    spec: str
    config: str
    properties: tuple[str, ...]              # --property names; empty: the model's properties
    bounds: tuple[tuple[str, Any], ...]      # max_states, max_depth, stop_on_violation
    width: int                               # the width of the configuration names in the text lines
    as_json: bool = True                     # send back the JSON of the run (for --json and --html)


@dataclass(frozen=True)
class Done:
    """What one configuration's run prints: its scope line, its report when a verdict is unexpected, its JSON."""

    run: ScopeRun
    line: str
    report: str
    json: dict[str, Any] | None


@cache
def _model(name: str, settings: tuple[tuple[str, str | None], ...]) -> ModelDef:
    mdef = registry.get_model(name)
    if settings:
        if mdef.configure is None:
            raise InputError(f"model {name!r} takes no settings")
        mdef = mdef.configure(dict(settings))
    return mdef


@cache
def _scope(name: str, settings: tuple[tuple[str, str | None], ...], spec: str) -> Mapping[str, Any]:
    mdef = _model(name, settings)
    if mdef.scope is None:
        raise InputError(f"model {name!r} has no --scope")
    return dict(mdef.scope(spec))


def run_job(job: Job) -> Done:
    """Run one configuration of a scope (in a worker): check it and format what the command prints."""
    mdef = _model(job.model, job.settings)
    model = mdef.build(_scope(job.model, job.settings, job.spec)[job.config])
    props = registry.select_properties(mdef, job.properties)
    result = check(model, props, **dict(job.bounds))
    reports = tuple(PropertyReport(r, mdef.expectation(job.config, r.prop)) for r in result.properties)
    report = Report(mdef.name, "scope", job.config, model, result, reports)
    return Done(ScopeRun.of(report), format_scope_line(report, job.width),
                "" if report.ok else format_report(report), report_json(report) if job.as_json else None)


def _processes(jobs: Sequence[Job], n: int) -> Iterator[Done]:
    # spawn, not fork: a worker starts clean (the kernel model's C is loaded at fixed addresses per process)
    workers = min(n, len(jobs))
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"))
    try:
        # chunks of a few jobs: fewer round trips, still enough chunks to keep every worker busy to the end
        yield from pool.map(run_job, jobs, chunksize=max(1, len(jobs) // (workers * 64)))
    finally:   # Ctrl-C or an interrupted run: the jobs not started yet are dropped, not run to the end
        pool.shutdown(wait=True, cancel_futures=True)


def _dask(jobs: Sequence[Job], address: str) -> Iterator[Done]:
    try:
        from distributed import Client
    except ImportError:
        raise InputError("--dask needs Dask's distributed package: pip install 'klpmc[dask]'") from None
    try:
        client = Client(address, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError, ValueError) as e:
        raise InputError(f"cannot reach the Dask scheduler at {address}: {' '.join(str(e).split())}") from None
    try:
        futures = client.map(run_job, jobs, pure=False)
        for future in futures:
            yield future.result()
    finally:
        client.close()


def run_jobs(jobs: Sequence[Job], processes: int = 1, dask: str | None = None) -> Iterator[Done]:
    """Each job's result in the order of ``jobs``: here, in ``processes`` processes, or on a Dask cluster."""
    if dask is not None:
        return _dask(jobs, dask)
    if processes > 1 and len(jobs) > 1:
        return _processes(jobs, processes)
    return map(run_job, jobs)


def refused(source: str, **options: object) -> str | None:
    """Why ``--jobs``/``--dask`` cannot run here, in one line; None when they can."""
    if source != "scope":
        return f"--jobs and --dask spread the configurations of a --scope; a {source} is one run"
    given = [name for name, value in options.items() if value]
    if given:
        option = "--" + given[0].replace("_", "-")
        return f"{option} is not available with --jobs or --dask (it writes beside each run); run it with --jobs 1"
    return None


def check_scope(mdef: ModelDef, settings: Mapping[str, str | None], spec: str, names: Sequence[str],
                properties: Sequence[str], bounds: Mapping[str, Any], as_json: bool, html: Path | None,
                processes: int, dask: str | None, echo: Callable[..., None]) -> int:
    """``klpmc check MODEL --scope SPEC --jobs N | --dask ADDRESS``: the output of ``--jobs 1``; the exit code."""
    width = max(len(n) for n in names)
    if not as_json and mdef.scope_legend is not None:
        echo(f"scope {spec} of {mdef.name}: {len(names):,} configurations; {mdef.scope_legend(spec)}")
    jobs = [Job(mdef.name, tuple(sorted(settings.items())), spec, name, tuple(properties),
                tuple(bounds.items()), width, as_json or html is not None) for name in names]
    done: list[Done] = []
    try:
        for d in run_jobs(jobs, processes, dask):
            done.append(d)
            if not as_json:
                echo(d.line)
            if d.run.interrupted:
                break
    except KeyboardInterrupt:   # what finished is printed; the rest never ran
        pass
    if as_json or html is not None:
        obj: dict[str, Any] = {
            "model": mdef.name,
            "scope": spec,
            "configurations_in_scope": len(names),
            "states": sum(d.run.states for d in done),
            "seconds": round(sum(d.run.seconds for d in done), 6),
            "complete": len(done) == len(names) and all(d.run.complete for d in done),
            "stop_reason": "interrupted" if len(done) < len(names) or any(d.run.interrupted for d in done) else None,
            "ok": all(d.run.ok for d in done),
            "configurations": [d.json for d in done if d.json is not None],
        }
        if html is not None:
            from klpmc.report import write_check_report

            write_check_report(html, obj, None)
    if as_json:
        echo(json.dumps(obj, indent=2))
    else:
        for d in done:
            if not d.run.ok and not d.run.interrupted:
                echo("")
                echo(d.report)
        echo("")
        echo("\n".join(format_scope_rules([d.run for d in done], len(names))))
        echo(format_scope_total(spec, [d.run for d in done], len(names)))
    if html is not None:
        echo(f"klpmc: report written to {html}", err=True)
    if len(done) < len(names) or any(d.run.interrupted for d in done):
        return 130     # interrupted: the exit code of every subcommand Ctrl-C ends (klpmc.commands.common)
    return 0 if all(d.run.ok for d in done) else 1
