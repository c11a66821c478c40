"""The real-kernel commands: `klpmc confirm`, `klpmc fetch-kernel`, and `klpmc replay --real-kernel`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .kernel import Headers, Kernel, default_image, fetch_debian, find_headers, prepare_kernel, qemu_binary

DEFAULT_TIMEOUT = 120


def kernel_and_headers(image: Path | None, headers: Path | None) -> tuple[Kernel, Headers, bool]:
    """(the kernel, its headers, whether it is the default Debian image); bad input is one line."""
    qemu_binary()
    stock = image is None
    kernel = prepare_kernel(default_image() if image is None else image)
    return kernel, find_headers(kernel, headers), stock


def kernel_options(f: click.decorators.FC) -> click.decorators.FC:
    """--kernel-image, --headers, --jobs, --timeout."""
    f = click.option("--timeout", type=click.IntRange(min=5), default=DEFAULT_TIMEOUT, show_default=True,
                     help="Seconds each test may take in the guest (its script is killed past them).")(f)
    f = click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
                     help="qemus at a time (each one vCPU).")(f)
    f = click.option("--headers", type=click.Path(path_type=Path, file_okay=False),
                     help="kbuild tree matching the image (default: the unpacked Debian headers).")(f)
    f = click.option("--kernel-image", "image", type=click.Path(path_type=Path, dir_okay=False),
                     help="bzImage or vmlinux to boot (default: Debian's 6.12, see fetch-kernel).")(f)
    return f


@click.command("confirm")
@click.argument("directory", type=click.Path(path_type=Path))
@kernel_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
def confirm_cmd(directory: Path, image: Path | None, headers: Path | None, jobs: int, timeout: int,
                as_json: bool) -> int:
    """Run each counterexample that --emit-selftest wrote under DIRECTORY on a real kernel under qemu.

    Each is confirmed (the kernel printed exactly the predicted log), differs (the first differing line,
    side by side), could not run (and why), or not expressible (as --emit-selftest said). Exit 0 when
    none differs or could not run, 1 otherwise, 2 on bad input.
    """
    from .confirm import confirm, find_counterexamples, format_verdicts

    find_counterexamples(directory)    # bad input before the kernel is looked for
    kernel, hdrs, stock = kernel_and_headers(image, headers)
    verdicts = confirm(directory, kernel, hdrs, jobs=jobs, timeout=timeout, stock=stock)
    ok = all(v.status in ("confirmed", "not expressible") for v in verdicts)
    if as_json:
        click.echo(json.dumps({"kernel": kernel.release, "image": str(kernel.image), "ok": ok,
                               "counterexamples": [v.as_json() for v in verdicts]}, indent=2))
    else:
        click.echo("\n".join(format_verdicts(verdicts, kernel)))
    return 0 if ok else 1


@click.command("fetch-kernel")
@click.option("--release", help="Debian kernel release, e.g. 6.12.117+deb12-amd64 (default: apt's newest 6.12).")
def fetch_kernel_cmd(release: str | None) -> int:
    """Download Debian's 6.12 image, headers and kbuild (apt-get download) and unpack them in klpmc's cache.

    Only the kernel image is taken from its package (not its modules, no initramfs is built); the default
    kernel of `confirm`, `replay --real-kernel` and `conform --real-kernel`.
    """
    root = fetch_debian(release)
    click.echo(str(root))
    return 0


def conform_real(model: str, preset: str | None, sample: int | None, image: Path | None, headers: Path | None,
                 jobs: int, timeout: int, as_json: bool) -> int:
    """`klpmc conform MODEL --real-kernel`: MODEL's shortest traces on a real kernel, logs compared step by step.

    The traces are the shortest paths to each state of the preset; those a selftest script can say (the
    model's harness, replaying their commands, prints their log) run on the kernel, the longest of them
    only (the others are their prefixes). Exit 0 when none differs or could not run, 1 otherwise.
    """
    from klpmc import registry

    from .conform import conform, format_conform

    mdef = registry.get_model(model)
    name = mdef.default_preset if preset is None else preset
    mdef.preset(name)
    kernel, hdrs, stock = kernel_and_headers(image, headers)
    results, info = conform(mdef, name, kernel, hdrs, sample=sample, jobs=jobs, timeout=timeout, stock=stock)
    ok = all(r.status in ("confirmed", "not expressible") for r in results)
    if as_json:
        click.echo(json.dumps({"model": mdef.name, "kernel": kernel.release, **info, "ok": ok, "results": [
            {"status": r.status, "steps": [{"label": lab, "command": c, "log": log} for lab, c, log in
                                           zip(r.trace.labels, r.trace.commands, r.trace.logs, strict=True)],
             "detail": r.detail} for r in results]}, indent=2))
    else:
        click.echo("\n".join(format_conform(mdef, kernel, results, info)))
    return 0 if ok else 1


def replay_real(model: str, files: list[Path], check: bool, image: Path | None, headers: Path | None,
                jobs: int, timeout: int) -> int:
    """`klpmc replay MODEL FILE... --real-kernel`: the scenarios on the real kernel, compared if --check."""
    from .scenario import compare, describe_failure, guest_tests, read_scenario
    from .vm import run_tests

    for f in files:
        read_scenario(f)               # bad input before the kernel is looked for
    kernel, hdrs, _ = kernel_and_headers(image, headers)
    scenarios, tests = guest_tests(files, hdrs)
    outcomes = run_tests(kernel, tests, jobs=jobs, timeout=timeout)
    ok = True
    for s, t in zip(scenarios, tests, strict=True):
        o = outcomes[t.id]
        if len(files) > 1:
            click.echo(f"== {s.path}")
        if not check:
            lines = (o.segments[0].log if o.segments else o.log) if o.ran else describe_failure(o)
            good = o.ran
        else:
            good, lines = compare(s.expected, o, f"real kernel {kernel.release}")
        for line in lines:
            click.echo(line)
        if len(files) > 1 and check:
            click.echo(f"-- {'matches' if good else 'DIFFERS' if o.ran else 'could not run'}")
        ok = ok and good
    if len(files) > 1 and check:
        matched = sum(1 for t in tests if outcomes[t.id].ran and compare(
            scenarios[tests.index(t)].expected, outcomes[t.id], "")[0])
        click.echo(f"{matched} of {len(files)} scenarios match the real kernel {kernel.release}")
    return 0 if ok else 1


__all__ = ["confirm_cmd", "conform_real", "fetch_kernel_cmd", "kernel_and_headers", "kernel_options", "replay_real"]
