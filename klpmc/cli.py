"""The ``klpmc`` command: parse the command line, run one subcommand of `klpmc.commands`, turn errors into one line.

Exit codes, in every subcommand: 0 every verdict is as the model's manifest expects (or the replay matches),
1 a verdict differs (or the replay does not match), 2 bad input: one line on stderr naming the problem and
what exists instead, 130 Ctrl-C ended the run (what it settled is printed, the rest is undetermined).
3 is klpmc's own fault: an internal error, one line (KLPMC_DEBUG=1 shows the traceback).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import NoReturn

import click

from klpmc import __version__, registry
from klpmc.commands.build import build_cmd
from klpmc.commands.check import check_cmd
from klpmc.commands.common import ProgressDisplay, get_model
from klpmc.commands.conform import conform_cmd
from klpmc.commands.coverage import coverage_cmd
from klpmc.commands.diff import diff_cmd
from klpmc.commands.graph import graph_cmd
from klpmc.commands.listing import list_cmd
from klpmc.commands.prove import prove_cmd
from klpmc.commands.replay import replay_cmd
from klpmc.commands.report import report_cmd
from klpmc.commands.series import series_cmd
from klpmc.engine import ModelError, ReplayError
from klpmc.realkernel.commands import confirm_cmd, fetch_kernel_cmd
from klpmc.registry import InputError

__all__ = ["INTERNAL_ERROR", "ProgressDisplay", "cli", "get_model", "main", "run"]

INTERNAL_ERROR = 3      # an exception klpmc did not expect: its bug, not the input's


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="klpmc")
def cli() -> None:
    """klpmc: a model checker for the Linux kernel livepatch core."""


for _command in (list_cmd, check_cmd, prove_cmd, replay_cmd, graph_cmd, diff_cmd, report_cmd, conform_cmd,
                 coverage_cmd, build_cmd, series_cmd, confirm_cmd, fetch_kernel_cmd):
    cli.add_command(_command)



# --------------------------------------------------------------------------------------------------------
# errors: one line, exit 2
# --------------------------------------------------------------------------------------------------------


def _options_of(ctx: click.Context | None) -> str:
    if ctx is None:
        return ""
    opts = [p.opts[0] for p in ctx.command.params if isinstance(p, click.Option)]
    return f"; options of {ctx.command.name}: {', '.join(opts)}" if opts else ""


def _usage_message(e: click.UsageError) -> str:
    if isinstance(e, click.NoSuchOption):
        return f"no such option: {e.option_name}{_options_of(e.ctx)}"
    message = " ".join(e.format_message().split())
    if isinstance(e, click.MissingParameter) and e.param is not None and e.param.name == "model":
        return f"{message} Models: {', '.join(registry.all_models()) or 'none installed'}"
    if message.startswith("No such command") and isinstance(e.ctx, click.Context):
        group = e.ctx.command
        if isinstance(group, click.Group):
            return f"{message} Commands: {', '.join(sorted(group.commands))}"
    return message


def _fail(message: str) -> int:
    click.echo(f"klpmc: {message}", err=True)
    return 2


def run(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: sys.argv) and return the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        rv = cli.main(args=args, prog_name="klpmc", standalone_mode=False)
    except click.UsageError as e:
        return _fail(_usage_message(e))
    except click.ClickException as e:
        return _fail(" ".join(e.format_message().split()))
    except (InputError, ModelError, ReplayError) as e:
        if os.environ.get("KLPMC_DEBUG"):
            raise
        return _fail(" ".join(str(e).split()))
    except (click.Abort, KeyboardInterrupt):
        click.echo("klpmc: interrupted", err=True)
        return 130
    except BrokenPipeError:         # the reader went away (| head): nothing left to say to it
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 -- Python flushes stdout at exit
        return 141
    except Exception as e:
        if os.environ.get("KLPMC_DEBUG"):
            raise
        text = " ".join(str(e).split())[:300]
        click.echo(f"klpmc: internal error: {type(e).__name__}{': ' + text if text else ''} "
                   "(a bug in klpmc; KLPMC_DEBUG=1 shows the traceback)", err=True)
        return INTERNAL_ERROR
    return rv if isinstance(rv, int) else 0


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """Console entry point ``klpmc``."""
    sys.exit(run(argv))

