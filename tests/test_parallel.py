"""`check --scope --jobs N` and `--dask ADDRESS`: the output of `--jobs 1`, byte for byte apart from timings."""

from __future__ import annotations

import re

import pytest

from klpmc import parallel
from klpmc.cli import run

# a scope where some configurations are cut short (undetermined is not as expected): the reports print too
SCOPE = ["check", "v1", "--scope", "patches=2,states=1", "--max-states", "40"]
TIMING = re.compile(r'\d+\.\d+ s\b|[\d,]+ states/s|peak memory [\d.]+ \w+'
                    r'|"(seconds|states_per_second|peak_memory)": [\d.]+')


def _out(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = run(args)
    out, err = capsys.readouterr()
    assert err == ""
    return code, TIMING.sub("T", out)


@pytest.mark.parametrize("json", [False, True], ids=["text", "json"])
def test_jobs_2_prints_what_jobs_1_prints(json: bool, capsys: pytest.CaptureFixture[str]) -> None:
    args = SCOPE + (["--json"] if json else [])
    code1, one = _out(args, capsys)
    code2, two = _out([*args, "--jobs", "2"], capsys)
    assert code1 == code2 == 1
    assert one == two
    assert "UNEXPECTED" in one or '"ok": false' in one   # the unexpected reports are in it too


def test_dask_prints_what_jobs_1_prints(capsys: pytest.CaptureFixture[str]) -> None:
    """A LocalCluster with 2 worker processes runs the scope's configurations."""
    distributed = pytest.importorskip("distributed")
    args = [*SCOPE, "--json"]
    _, one = _out(args, capsys)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=50) as cluster:
        code, two = _out([*args, "--dask", cluster.scheduler_address], capsys)
    assert code == 1 and one == two


def test_a_job_is_a_value_a_worker_rebuilds() -> None:
    """What crosses to a worker is the job (names, no model) and what comes back is text and JSON."""
    import pickle

    job = parallel.Job("v1", (), "patches=2,states=1", "P1r{} P2{1}", ("release-only-when-gone",), (), 11)
    assert pickle.loads(pickle.dumps(job)) == job
    done = pickle.loads(pickle.dumps(parallel.run_job(job)))
    assert done.run.config_name == "P1r{} P2{1}" and done.run.ok   # the v1 finding, expected (models/manifests/v1.json)
    assert done.json["properties"][0]["verdict"] == done.json["properties"][0]["expected"] == "violated"
    assert done.line.startswith("P1r{} P2{1}  ") and "UNEXPECTED" not in done.line


@pytest.mark.parametrize(("extra", "message"), [
    (["--preset", "small"], "klpmc: --jobs and --dask spread the configurations of a --scope; a preset is one run"),
    (["--scope", "patches=1", "--vacuity"],
     "klpmc: --vacuity is not available with --jobs or --dask (it writes beside each run); run it with --jobs 1"),
])
def test_what_jobs_cannot_do_is_one_line(extra: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["check", "v1", *extra, "--jobs", "2"]) == 2
    assert capsys.readouterr().err == message + "\n"


def test_an_unreachable_scheduler_is_one_line(monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("distributed")
    monkeypatch.setattr(parallel, "CONNECT_TIMEOUT", 1)
    assert run(["check", "v1", "--scope", "patches=1", "--dask", "tcp://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("klpmc: cannot reach the Dask scheduler at tcp://127.0.0.1:9: ") and err.count("\n") == 1
