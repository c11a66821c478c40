"""What the subcommands share: the options (one meaning each, in every command that takes them), models and
configurations from the command line, the guards that refuse a run that cannot finish, a progress line."""

from __future__ import annotations

import contextlib
import functools
import math
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from klpmc import registry
from klpmc.engine import Progress, Result, check
from klpmc.model import input_file
from klpmc.output import (
    PropertyReport,
    Report,
)
from klpmc.props import Property
from klpmc.registry import ExpectedVerdict, InputError, ModelDef

PROGRESS_AFTER = 1.0  # seconds of silence before a progress display appears
INTERRUPTED = 130     # the exit code of a run that Ctrl-C ended, in every subcommand (128 + SIGINT)
STATES_LIMIT = 10**7  # a lower bound on the states past which an unbounded run is refused
WORK_LIMIT = 10**11   # ... and on steps times the fields each copies (hours at the models' speed)


# --------------------------------------------------------------------------------------------------------
# options: each means the same in every subcommand that takes it
# --------------------------------------------------------------------------------------------------------

Decorator = Callable[[Any], Any]


def options(*decorators: Decorator) -> Decorator:
    """Apply option decorators so that they list in the order given."""
    def apply(f: Any) -> Any:
        for d in reversed(decorators):
            f = d(f)
        return f
    return apply


class Seconds(click.ParamType):  # type: ignore[type-arg]  # generic since click 8.2
    """A duration in seconds: a finite number above zero (nan and inf are no time limit anyone means)."""

    name = "seconds"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        try:
            got = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        if not math.isfinite(got) or got <= 0:
            self.fail(f"{value!r} is not a number of seconds above 0", param, ctx)
        return got


class OutDir(click.ParamType):  # type: ignore[type-arg]  # generic since click 8.2
    """A directory to write under: checked (created, written to) when the command line is read, so that
    a run never ends in an error about where to put what it found."""

    name = "directory"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Path:
        if isinstance(value, Path):
            return value
        if not value:
            self.fail("an empty name is no directory", param, ctx)
        path = Path(value)
        try:
            writable_dir(path)
        except InputError as e:
            self.fail(str(e), param, ctx)
        return path


def writable_dir(path: Path) -> None:
    """Make ``path`` a directory one can write in, or say in one line why it cannot be."""
    try:
        if path.exists() and not path.is_dir():
            raise InputError(f"{path} exists and is not a directory")
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as e:
        raise InputError(f"cannot write under {path}: {e.strerror or e}") from None


def writable_file(path: Path) -> None:
    """A file one can write: its folder can be made and written in, and the name is no directory."""
    if str(path) == "":
        raise InputError("an empty name is no file")
    if path.is_dir():
        raise InputError(f"{path} is a directory; give a file name")
    writable_dir(path.parent)


@contextlib.contextmanager
def writing(where: Path | None) -> Iterator[None]:
    """Writing what a run found: an OS error (a full disk, a folder gone) is one line, not a traceback."""
    try:
        yield
    except OSError as e:
        raise InputError(f"cannot write under {where}: {e.strerror or e}"
                         + (f" ({e.filename})" if e.filename else "")) from None


def free_folders(out: Path, folders: Iterable[Iterable[str]]) -> None:
    """Every folder a run may write under ``out`` (``[configuration, property]`` names) is free: nothing
    that is not a directory stands in its way."""
    from klpmc.output import folder_name

    for parts in folders:
        path = out
        for part in parts:
            path = path / folder_name(part)
            if path.exists() and not path.is_dir():
                raise InputError(f"cannot write under {out}: {path} is in the way (not a directory)")


model_argument = click.argument("model")
preset_option = click.option("--preset", help="A preset of the model (default: its default preset).")
config_option = click.option("--config", type=click.Path(path_type=Path, dir_okay=False),
                             help="A configuration of your own, in TOML.")
scope_option = click.option("--scope", metavar="SPEC",
                            help="Every configuration of the model's scope SPEC (patches=N,states=M).")
property_option = click.option("--property", "properties", multiple=True, metavar="NAME",
                               help="Only this property (repeatable; default: every property of the model).")
json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
quiet_option = click.option("--quiet", "-q", is_flag=True, help="No progress display.")
max_depth_option = click.option("--max-depth", type=click.IntRange(min=0), metavar="N",
                                help="Explore at most N steps deep.")


def max_states_option(help: str = "Explore at most N distinct states (each run).") -> Decorator:
    """``--max-states N``: distinct states explored, in every command."""
    return click.option("--max-states", type=click.IntRange(min=1), metavar="N", help=help)


def out_option(help: str, required: bool = False) -> Decorator:
    """``--out DIR``: checked before the run."""
    return click.option("--out", type=OutDir(), required=required, metavar="DIR", help=help)


def timeout_option(default: float, help: str) -> Decorator:
    """``--timeout SECONDS``: a finite time above zero."""
    return click.option("--timeout", type=Seconds(), default=default, show_default=True, help=help)


def source_options(scope: bool = True) -> Decorator:
    """``--preset``, ``--config`` (and ``--scope``): which configurations a command runs; give one."""
    return options(preset_option, config_option, *([scope_option] if scope else []))


def given(name: str) -> bool:
    """Whether the option was given on the command line (not its default)."""
    ctx = click.get_current_context()
    return ctx.get_parameter_source(name) not in (None, click.core.ParameterSource.DEFAULT)


# --------------------------------------------------------------------------------------------------------
# runs that cannot finish
# --------------------------------------------------------------------------------------------------------


def _count(n: int) -> str:
    return f"{n:,}" if n < 10**7 else f"{n:.1e}"


def guard_size(mdef: ModelDef, what: str, config: Any, max_states: int | None, why: str = "") -> None:
    """Refuse an unbounded exploration that cannot finish, with the model's estimate of its size."""
    if max_states is not None or mdef.estimate is None:
        return
    states, work, counted = mdef.estimate(config)
    if states > STATES_LIMIT or work > WORK_LIMIT:
        size = f"at least {_count(states)} states" + (f" and {_count(work)} field copies" if work > WORK_LIMIT
                                                       else "")
        raise InputError(f"{mdef.name} ({what}): exhaustive search cannot finish: {size} ({counted}); "
                         f"--max-states N {why or 'explores the first N states'}")


class ProgressDisplay:
    """A progress line on stderr (states, depth, rate) for runs longer than a second; tqdm is loaded then."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar: Any = None
        self.shown = 0

    def __call__(self, p: Progress) -> None:
        if not self.enabled or p.seconds < PROGRESS_AFTER:
            return
        if self.bar is None:
            from tqdm import tqdm  # only runs that last get to pay for the import

            # tqdm only draws the line: its own clock would start a second late, so the text is ours
            # a pty whose size nobody set reports 0 x 0, and tqdm would then draw nothing
            size = shutil.get_terminal_size()
            self.bar = tqdm(
                bar_format="{desc}", file=sys.stderr, leave=False, ncols=size.columns - 1, nrows=size.lines
            )
        rate = p.states / p.seconds if p.seconds > 0 else 0.0
        self.bar.set_description_str(
            f"{p.states:,} states, {p.transitions:,} transitions, depth {p.depth}, "
            f"{rate:,.0f} states/s, {p.seconds:.0f} s",
            refresh=True,
        )
        self.shown = p.states

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
            self.shown = 0


@dataclass(frozen=True)
class TreeChoice:
    """``--kernel``, ``--series`` and ``--port``: the tree the kernel model builds, as the user gave it."""

    kernel: str | None = None
    series: str | None = None
    port: str | None = None

    def settings(self) -> dict[str, str | None]:
        return {"kernel": self.kernel, "series": self.series, "port": self.port}


def kernel_option(f: Any) -> Any:
    """``--kernel DIR|TARBALL``, ``--series PATH``, ``--port RENAMES``: the kernel tree whose C the kernel
    model runs, a posted series applied to it, and the renames that port the series to it. The command
    gets them as one ``kernel`` argument (a `TreeChoice`, None when none was given)."""

    @functools.wraps(f)
    def wrapper(*args: Any, kernel: str | None = None, series: str | None = None, port: str | None = None,
                **kwargs: Any) -> Any:
        choice = TreeChoice(kernel, series, port) if (kernel or series or port) else None
        return f(*args, kernel=choice, **kwargs)

    wrapper = click.option("--port", "port", metavar="RENAMES",
                           help="With --series: rewrite its patches with these 'old new' renames first.")(wrapper)
    wrapper = click.option("--series", "series", metavar="PATH",
                           help="Apply a posted series (an mbox file, or a folder of them in name order) "
                                "to the tree, for the kernel model.")(wrapper)
    return click.option("--kernel", "kernel", metavar="DIR|TARBALL",
                        help="The kernel tree the kernel model builds (default: linux-source-6.12's tarball).")(wrapper)


def get_model(name: str, kernel: TreeChoice | None = None) -> ModelDef:
    """A model by name, with its own settings from the command line applied."""
    mdef = registry.get_model(name)
    if kernel is not None:
        if mdef.configure is None:
            takes = ", ".join(n for n, m in registry.all_models().items() if m.configure is not None) or "none"
            raise InputError(f"model {mdef.name!r} takes no --kernel, --series or --port; models that do: {takes}")
        mdef = mdef.configure(kernel.settings())
    return mdef


def read_configs(
    mdef: ModelDef, preset: str | None, config: Path | None, scope: str | None
) -> tuple[str, list[tuple[str, Any, list[str]]]]:
    """(source, [(config name, config, notes)]) for the one of --preset/--config/--scope given."""
    if sum(x is not None for x in (preset, config, scope)) > 1:
        raise click.UsageError("--preset, --config and --scope exclude each other; give one")
    if scope is not None:
        if mdef.scope is None:
            raise InputError(f"model {mdef.name!r} has no --scope; presets: {', '.join(mdef.presets)}")
        configs = mdef.scope(scope)
        if not configs:
            raise InputError(f"scope {scope!r} of model {mdef.name!r} gives no configuration")
        return "scope", [(name, cfg, []) for name, cfg in configs]
    if config is not None:
        if mdef.load_config is None:
            raise InputError(f"model {mdef.name!r} takes no --config; presets: {', '.join(mdef.presets)}")
        input_file(config, "configuration file")
        cfg, notes = mdef.load_config(config)
        return "config", [(str(config), cfg, list(notes))]
    name = mdef.default_preset if preset is None else preset
    return "preset", [(name, mdef.preset(name).config, [])]


def run_one(
    mdef: ModelDef,
    source: str,
    name: str,
    config: Any,
    notes: list[str],
    props: list[Property],
    bounds: dict[str, Any],
    display: ProgressDisplay,
) -> Report:
    model = mdef.build(config)
    try:
        result: Result = check(model, props, progress=display, **bounds)
    finally:
        display.close()
    manifest_name = None if source == "config" else name
    reports = tuple(PropertyReport(r, mdef.expectation(manifest_name, r.prop), result.stop_reason)
                    for r in result.properties)
    return Report(mdef.name, source, name, model, result, reports, tuple(notes))


def vacuity_report(mdef: ModelDef, name: str, model: Any, props: list[Property], timeout: float,
                   echo: bool, sig: Any = None) -> list[dict[str, Any]]:
    """z3's sanity check of the properties on one configuration's model (or over ``sig``, a scope's
    vocabulary); prints the vacuous ones."""
    from klpmc.symbolic import sanity, supports

    if not supports(model):
        raise InputError(f"model {mdef.name!r} has no symbolic views; --vacuity needs them")
    out = []
    for r in sanity(model, props, int(timeout * 1000), sig):
        problem = r.problem or ("z3 gave no answer in time" if r.unknown else None)
        out.append({"property": r.prop.name, "can_hold": r.check.can_hold, "can_fail": r.check.can_fail,
                    "problem": problem})
        if echo and problem:
            click.echo(f"vacuity: {name}: {r.prop.name}: {problem}")
    if echo and not any(x["problem"] for x in out):
        click.echo(f"vacuity: {name}: every property can hold and can fail ({len(out)} checked by z3)")
    return out


def expected_of(mdef: ModelDef, source: str, names: list[str], prop: Property) -> Any:
    """The manifest's verdict; over a scope, violated if any configuration of it is expected to violate."""
    if source == "config":
        return mdef.expectation(None, prop)
    wants = [mdef.expectation(n, prop) for n in names]
    if len(wants) == 1:
        return wants[0]
    broken = [w for w in wants if w.verdict == "violated"]
    if broken:
        return broken[0]
    return wants[0] if all(w.binding for w in wants) else ExpectedVerdict(wants[0].verdict, "", False)


def same_config(ma: ModelDef, mb: ModelDef, preset: str | None, config: Path | None) -> tuple[str, Any, Any]:
    """(what, config of A, config of B): the same preset or configuration file, read by each model."""
    if config is not None:
        _, [(name, cfg_a, _)] = read_configs(ma, None, config, None)
        _, [(_, cfg_b, _)] = read_configs(mb, None, config, None)
        return f"config {name}", cfg_a, cfg_b
    name = ma.default_preset if preset is None else preset
    return f"preset {name}", ma.preset(name).config, mb.preset(name).config
