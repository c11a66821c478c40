"""Replay of selftest scenarios: the harness of tools/testing/selftests/livepatch/functions.sh.

A scenario file has the selftest's expected log: ``% `` lines are the commands the harness logged, the other
lines are what the kernel (and the harness) printed. Replay runs each command on a model, with the
harness's waiting rule (after a command, pending transitions are given the chance to finish, unless a
task blocks them), and prints the log in the same format. ``#`` lines are comments.
"""

from __future__ import annotations

import difflib
import re
import shlex
from types import ModuleType
from typing import Any

from ._config import Config
from ._klp import EINVAL, ENOENT, ERRNO_TEXT, Kernel, KState
from ._model import Disabled, KlpModel, delete_module, load_module

INSMOD_TEXT = dict(ERRNO_TEXT)
INSMOD_TEXT[EINVAL] = "Invalid parameters"          # kmod's insmod maps EINVAL to this text
INSMOD_TEXT[ENOENT] = "Unknown symbol in module, or unknown parameter (see dmesg)"
MARKER = "# ---- expected log"
GREP_LINE = re.compile(r"^\S+: this has been live patched$")
RESULT_FILTER = re.compile(r"livepatch:|test_klp")


class ScenarioError(Exception):
    """A scenario line that is not a command the harness knows; the message is one line."""


def read_scenario(path: str) -> list[str]:
    """The expected-log lines of a scenario file (after the marker line if there is one)."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    for i, line in enumerate(lines):
        if line.startswith(MARKER):
            return lines[i + 1:]
    return [line for line in lines if not line.startswith("#")]


class Harness:
    """A selftest machine: one model state, commands run one at a time as the harness does."""

    def __init__(self, variant: ModuleType, config: Config, features: tuple[str, ...]) -> None:
        self.model = KlpModel(variant, config, features)
        self.v = variant
        self.config = config
        self.state: KState = self.model.init_kernel()
        self.out: list[str] = []

    def step(self, body: Any) -> Any:
        k = Kernel.thaw(self.state, self.model.env)
        ret = body(k)
        self.state = k.freeze()
        for item in k.log:
            if isinstance(item, str) and RESULT_FILTER.search(item):
                self.out.append(item)
        return ret, k.log

    def settle(self) -> None:
        """Let pending transitions finish (the delayed work), unless a task blocks them."""
        while self.state.transition is not None:
            try:
                self.step(self.model.try_complete)
            except Disabled:
                return

    def run(self, command: str) -> None:
        self.out.append(f"% {command}")
        argv = shlex.split(command)
        tool = argv[0] if argv else ""
        if tool in ("insmod", "modprobe"):
            self.insmod(tool, argv[1:])
        elif tool == "rmmod" and len(argv) == 2:
            self.step(lambda k: delete_module(self.v, k, argv[1]) if argv[1] in k.modules else -ENOENT)
        elif tool == "echo" and len(argv) == 4 and argv[2] == ">":
            self.write(argv[3], argv[1])
        elif tool == "cat" and len(argv) == 2:
            self.read(argv[1])
        else:
            raise ScenarioError(f"unknown harness command '% {command}'; known: insmod, modprobe, rmmod, "
                                "echo V > /sys/kernel/livepatch/M/{enabled,force}, "
                                "echo V > /sys/module/M/parameters/P, cat /sys/module/M/parameters/P")
        self.settle()

    def insmod(self, tool: str, args: list[str]) -> None:
        if not args:
            raise ScenarioError(f"{tool} needs a module")
        path = args[0]
        name = path.rsplit("/", 1)[-1].removesuffix(".ko")
        params = []
        for a in args[1:]:
            key, _, val = a.partition("=")
            params.append((key, _value(val)))
        try:
            self.config.fixture_of(name)
        except KeyError:
            raise ScenarioError(f"unknown test module '{name}'; modules: "
                                f"{', '.join(self.config.fixtures.names())}") from None
        ret, _ = self.step(lambda k: load_module(self.v, k, name, tuple(sorted(params))))
        if ret:
            text = INSMOD_TEXT.get(-ret, f"errno {-ret}")
            if tool == "modprobe":
                self.out.append(f"modprobe: ERROR: could not insert '{name}': {ERRNO_TEXT.get(-ret, text)}")
            else:
                self.out.append(f"insmod: ERROR: could not insert module {path}: {text}")

    def write(self, path: str, value: str) -> None:
        parts = path.strip("/").split("/")
        if parts[:3] == ["sys", "kernel", "livepatch"] and len(parts) == 5:
            name, attr = parts[3], parts[4]

            def body(k: Kernel) -> int:
                try:
                    patch = k.patch_by_name(name)
                except KeyError:
                    return -ENOENT
                if attr == "enabled":
                    return int(self.v.enabled_store(k, patch, value.strip() not in ("0", "N", "n")))
                if attr == "force":
                    return int(self.v.force_store(k, patch)) if value.strip() not in ("0", "N", "n") else 0
                raise ScenarioError(f"unknown livepatch attribute '{attr}'; attributes: enabled, force")
            self.step(body)
        elif parts[:2] == ["sys", "module"] and len(parts) == 5 and parts[3] == "parameters":
            name, pname = parts[2], parts[4]
            self.step(lambda k: self.config.fixture_of(name).param_write(k, k.modules[name], pname, value)
                      if name in k.modules else -ENOENT)
        else:
            raise ScenarioError(f"cannot write '{path}'; writable: /sys/kernel/livepatch/M/enabled, "
                                "/sys/kernel/livepatch/M/force, /sys/module/M/parameters/P")

    def read(self, path: str) -> None:
        parts = path.strip("/").split("/")
        if parts[:2] == ["sys", "module"] and len(parts) == 5 and parts[3] == "parameters":
            name, pname = parts[2], parts[4]
            self.step(lambda k: self.config.fixture_of(name).param_read(k, k.modules[name], pname)
                      if name in k.modules else None)
        else:
            raise ScenarioError(f"cannot read '{path}'; readable: /sys/module/M/parameters/P")

    def grep_live_patched(self) -> None:
        """`grep 'live patched' /proc/cmdline > /dev/kmsg`, and the same for /proc/meminfo."""
        from ._kernel import klp_ftrace_handler

        def body(k: Kernel) -> None:
            for _path, obj, func in self.config.fixtures.proc_files:
                impl = klp_ftrace_handler(k, obj, func, None)
                if impl is not None:
                    line = self.config.fixture_of(impl).show(k, func)
                    if line:
                        k.log.append(line)
        self.step(body)


def _value(text: str) -> Any:
    if text in ("Y", "y"):
        return True
    if text in ("N", "n"):
        return False
    try:
        return int(text)
    except ValueError:
        return text


def replay_lines(variant: ModuleType, config: Config, expected: list[str],
                 features: tuple[str, ...]) -> list[str]:
    """Run the commands of an expected log; return the log the model prints."""
    h = Harness(variant, config, features)
    i = 0
    while i < len(expected):
        line = expected[i]
        if line.startswith("% "):
            h.run(line[2:])
        elif GREP_LINE.match(line) and (not h.out or not GREP_LINE.match(h.out[-1])):
            h.grep_live_patched()
        i += 1
    return h.out


def replay_file(variant: ModuleType, model: str, path: str, check: bool,
                features: tuple[str, ...]) -> tuple[list[str], bool]:
    """`klpmc replay MODEL FILE [--check]`: the log the model prints, and whether it matches the file."""
    from klpmc.model import ConfigError

    try:
        expected = read_scenario(path)
    except OSError as e:
        raise ConfigError(f"cannot read scenario {path}: {e.strerror}") from None
    fixtures = getattr(variant, "FIXTURES", None)
    if fixtures is None:
        raise ConfigError(f"model '{model}' has no selftest modules to replay with")
    config = Config(f"replay {path}", fixtures=fixtures, module_dir=fixtures.module_dir)
    try:
        got = replay_lines(variant, config, expected, features)
    except ScenarioError as e:
        raise ConfigError(f"{path}: {e}") from None
    if not check or got == expected:
        return got, True
    return diff_lines(expected, got, model), False


def diff_lines(expected: list[str], got: list[str], model: str) -> list[str]:
    """A unified diff of an expected log against a model's."""
    return list(difflib.unified_diff(expected, got, "expected", model, lineterm=""))


__all__ = ["Harness", "ScenarioError", "diff_lines", "read_scenario", "replay_file", "replay_lines"]
