"""Replay of selftest scenarios: the harness of tools/testing/selftests/livepatch/functions.sh.

A scenario file has the selftest's expected log: ``% `` lines are the commands the harness logged, the other
lines are what the kernel (and the harness) printed. Replay runs each command on a machine, with the
harness's waiting rule (after a command, pending transitions are given the chance to finish, unless a
task blocks them), and prints the log in the same format. ``#`` lines are comments.

One reader of scenarios, two machines: a Python model (`PythonMachine`) and the kernel's own C
(`CMachine`, the `kernel` model).
"""

from __future__ import annotations

import difflib
import re
import shlex
from types import ModuleType
from typing import Any

from klpmc.model import ConfigError

from ._config import Config
from ._klp import EINVAL, ENOENT, ERRNO_TEXT, Finding, Kernel, KState
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
    from pathlib import Path

    from klpmc.model import read_text

    lines = read_text(Path(path), "scenario file").splitlines()
    for i, line in enumerate(lines):
        if line.startswith(MARKER):
            return lines[i + 1:]
    return [line for line in lines if not line.startswith("#")]


class Machine:
    """What a scenario needs of a kernel: the commands of functions.sh, each returning its log."""

    def modules(self) -> list[str]:
        raise NotImplementedError

    def insmod(self, name: str, params: list[tuple[str, str | None]]) -> tuple[int, tuple[Any, ...]]:
        raise NotImplementedError

    def rmmod(self, name: str) -> tuple[Any, ...]:
        raise NotImplementedError

    def write(self, path: str, value: str) -> tuple[Any, ...]:
        raise NotImplementedError

    def read(self, path: str) -> tuple[Any, ...]:
        raise NotImplementedError

    def grep_live_patched(self) -> tuple[Any, ...]:
        raise NotImplementedError

    def settle(self) -> tuple[Any, ...]:
        """Let pending transitions finish (the delayed work), unless a task blocks them."""
        raise NotImplementedError


class Harness:
    """A selftest machine: commands run one at a time as the harness does, the log filtered as it is."""

    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self.out: list[str] = []

    def keep(self, log: tuple[Any, ...]) -> None:
        self.out.extend(item for item in log if isinstance(item, str) and RESULT_FILTER.search(item))

    def run(self, command: str) -> None:
        self.out.append(f"% {command}")
        try:
            argv = shlex.split(command)
        except ValueError as e:
            raise ScenarioError(f"cannot parse '% {command}': {e}") from None
        tool = argv[0] if argv else ""
        m = self.machine
        if tool in ("insmod", "modprobe"):
            self.insmod(tool, argv[1:])
        elif tool == "rmmod" and len(argv) == 2:
            self.keep(m.rmmod(argv[1]))
        elif tool == "echo" and len(argv) == 4 and argv[2] == ">":
            self.keep(m.write(argv[3], argv[1]))
        elif tool == "cat" and len(argv) == 2:
            self.keep(m.read(argv[1]))
        else:
            raise ScenarioError(f"unknown harness command '% {command}'; known: insmod, modprobe, rmmod, "
                                "echo V > /sys/kernel/livepatch/M/{enabled,force}, "
                                "echo V > /sys/module/M/parameters/P, cat /sys/module/M/parameters/P")
        self.keep(m.settle())

    def insmod(self, tool: str, args: list[str]) -> None:
        if not args:
            raise ScenarioError(f"{tool} needs a module")
        path = args[0]
        name = path.rsplit("/", 1)[-1].removesuffix(".ko")
        params = [(key, val if eq else None) for key, eq, val in (a.partition("=") for a in args[1:])]
        if name not in self.machine.modules():
            raise ScenarioError(f"unknown test module '{name}'; modules: {', '.join(self.machine.modules())}")
        ret, log = self.machine.insmod(name, params)
        self.keep(log)
        if ret:
            text = INSMOD_TEXT.get(-ret, f"errno {-ret}")
            if tool == "modprobe":
                self.out.append(f"modprobe: ERROR: could not insert '{name}': {ERRNO_TEXT.get(-ret, text)}")
            else:
                self.out.append(f"insmod: ERROR: could not insert module {path}: {text}")

    def grep_live_patched(self) -> None:
        self.out.extend(item for item in self.machine.grep_live_patched() if isinstance(item, str))


# -- a Python model --------------------------------------------------------------------------------


ERRNO_MAX = 4095


def _value(key: str, text: str | None) -> Any:
    """A module parameter as insmod passes it: ``*_ret`` an int (0 or -errno), the others bool (param_set_bool)."""
    if key.endswith("_ret"):
        if text is None or not re.fullmatch(r"[-+]?[0-9]+", text) or not -ERRNO_MAX <= int(text) <= 0:
            raise ScenarioError(f"{key}={text or ''}: a callback returns 0 or -errno (-{ERRNO_MAX}..-1)")
        return int(text)
    if text is None:
        return True                 # a bool parameter named alone is set
    got = kstrtobool(text)
    if got is None:
        raise ScenarioError(f"{key}={text}: the parameter is a bool (y, n, 1, 0)")
    return got


def kstrtobool(text: str) -> bool | None:
    """kstrtobool(): the first character says (y/Y/t/T/1, n/N/f/F/0; on/off); None for -EINVAL."""
    s = text.strip()
    if s[:1] in ("y", "Y", "t", "T", "1"):
        return True
    if s[:1] in ("n", "N", "f", "F", "0"):
        return False
    if s[:2].lower() == "on":
        return True
    if s[:3].lower() == "off":
        return False
    return None


class PythonMachine(Machine):
    """A Python model's kernel, one frozen state, steps run on a working copy as the model's do."""

    def __init__(self, variant: ModuleType, config: Config, features: tuple[str, ...]) -> None:
        self.model = KlpModel(variant, config, features)
        self.v = variant
        self.config = config
        self.state: KState = self.model.init_kernel()

    def modules(self) -> list[str]:
        return list(self.config.fixtures.fixtures)

    def step(self, body: Any) -> tuple[Any, tuple[Any, ...]]:
        k = Kernel.thaw(self.state, self.model.env)
        try:
            ret = body(k)
        except Finding as e:          # a step that cannot finish (a hang, a crash): as the C harness says it
            raise ScenarioError(f"the model stopped: {e.kind}: {e.text}") from None
        self.state = k.freeze()
        return ret, tuple(k.log)

    def insmod(self, name: str, params: list[tuple[str, str | None]]) -> tuple[int, tuple[Any, ...]]:
        values = tuple(sorted((key, _value(key, val)) for key, val in params))
        ret, log = self.step(lambda k: load_module(self.v, k, name, values))
        return int(ret), log

    def rmmod(self, name: str) -> tuple[Any, ...]:
        return self.step(lambda k: delete_module(self.v, k, name) if name in k.modules else -ENOENT)[1]

    def write(self, path: str, value: str) -> tuple[Any, ...]:
        parts = path.strip("/").split("/")
        if parts[:3] == ["sys", "kernel", "livepatch"] and len(parts) == 5:
            name, attr = parts[3], parts[4]
            if attr not in ("enabled", "force"):
                raise ScenarioError(f"unknown livepatch attribute '{attr}'; attributes: enabled, force")

            def body(k: Kernel) -> int:
                try:
                    patch = k.patch_by_name(name)
                except KeyError:
                    return -ENOENT
                on = kstrtobool(value)
                if on is None:
                    return -EINVAL      # kstrtobool() in enabled_store() and force_store()
                if attr == "enabled":
                    return int(self.v.enabled_store(k, patch, on))
                return int(self.v.force_store(k, patch)) if on else 0
            return self.step(body)[1]
        if parts[:2] == ["sys", "module"] and len(parts) == 5 and parts[3] == "parameters":
            name, pname = parts[2], parts[4]
            _value(pname, value.strip())        # what the parameter's setter would refuse
            return self.step(lambda k: self.config.fixture_of(name).param_write(k, k.modules[name], pname, value)
                             if name in k.modules else -ENOENT)[1]
        raise ScenarioError(f"cannot write '{path}'; writable: /sys/kernel/livepatch/M/enabled, "
                            "/sys/kernel/livepatch/M/force, /sys/module/M/parameters/P")

    def read(self, path: str) -> tuple[Any, ...]:
        parts = path.strip("/").split("/")
        if parts[:2] == ["sys", "module"] and len(parts) == 5 and parts[3] == "parameters":
            name, pname = parts[2], parts[4]
            return self.step(lambda k: self.config.fixture_of(name).param_read(k, k.modules[name], pname)
                             if name in k.modules else None)[1]
        raise ScenarioError(f"cannot read '{path}'; readable: /sys/module/M/parameters/P")

    def grep_live_patched(self) -> tuple[Any, ...]:
        from ._kernel import klp_ftrace_handler

        def body(k: Kernel) -> None:
            for _path, obj, func in self.config.fixtures.proc_files:
                impl = klp_ftrace_handler(k, obj, func, None)
                if impl is not None:
                    line = self.config.fixture_of(impl).show(k, func)
                    if line:
                        k.log.append(line)
        return self.step(body)[1]

    def settle(self) -> tuple[Any, ...]:
        log: list[Any] = []
        while self.state.transition is not None:
            try:
                log.extend(self.step(self.model.try_complete)[1])
            except Disabled:
                break
        return tuple(log)


# -- the kernel's own C ------------------------------------------------------------------------------


class CMachine(Machine):
    """The kernel's C in the harness (models/_c): the tree's own test modules, built as they are asked for.

    A selftest module the tree lacks (6.12 has not the module-function pair of test-livepatch.sh's tests
    4 and 5) is klpmc's own, the one the real-kernel harness builds for Debian's 6.12.
    """

    def __init__(self, ck: Any) -> None:
        from klpmc.realkernel.kbuild import OWN_MODULES

        self.ck = ck
        tree = ck.core.tree.test_modules()
        self.own = {p.stem: p for p in sorted(OWN_MODULES.glob("*.c")) if p.stem not in tree}
        self.available = sorted([*tree, *self.own])
        ck.restore(ck.pristine)      # the booted kernel, no module loaded
        ck.set_faults(frozenset())
        ck.owner = self

    def modules(self) -> list[str]:
        return self.available

    def _load(self, name: str) -> None:
        path = self.ck.core.tree.test_module(name) or self.own.get(name)
        if path is not None:
            self.ck.add_module(name, path.read_text(errors="replace"))

    def _step(self, op: int, a: str = "", b: str = "") -> Any:
        out = self.ck.step(op, a, b)
        if out.finding is not None:
            raise ScenarioError(f"the kernel's C stopped: {out.finding}")
        return out

    def insmod(self, name: str, params: list[tuple[str, str | None]]) -> tuple[int, tuple[Any, ...]]:
        from ._ckernel import OP_INSMOD_RELOAD

        self._load(name)
        out = self._step(OP_INSMOD_RELOAD, name, " ".join(k if v is None else f"{k}={v}" for k, v in params))
        return out.ret, out.log

    def rmmod(self, name: str) -> tuple[Any, ...]:
        from ._ckernel import OP_RMMOD_RELOAD

        return self._step(OP_RMMOD_RELOAD, name).log  # type: ignore[no-any-return]

    def write(self, path: str, value: str) -> tuple[Any, ...]:
        from ._ckernel import OP_WRITE

        if not path.startswith(("/sys/kernel/livepatch/", "/sys/module/")):
            raise ScenarioError(f"cannot write '{path}'; writable: /sys/kernel/livepatch/M/enabled, "
                                "/sys/kernel/livepatch/M/force, /sys/module/M/parameters/P")
        return self._step(OP_WRITE, path, value).log  # type: ignore[no-any-return]

    def read(self, path: str) -> tuple[Any, ...]:
        from ._ckernel import OP_READ

        if not path.startswith("/sys/module/"):
            raise ScenarioError(f"cannot read '{path}'; readable: /sys/module/M/parameters/P")
        return self._step(OP_READ, path).log  # type: ignore[no-any-return]

    def grep_live_patched(self) -> tuple[Any, ...]:
        from ._ckernel import OP_GREP

        return self._step(OP_GREP).log  # type: ignore[no-any-return]

    def settle(self) -> tuple[Any, ...]:
        """Run the queued work items; the transition's until it completes or a task blocks it."""
        from ._ckernel import OP_RUN_WORK

        log: list[Any] = []
        for _ in range(1000):
            pending = self.ck.pending()
            if not pending:
                break
            index = next((i for i, w in enumerate(pending) if w != "transition"), 0)
            before = self.ck.digest() if pending[index] == "transition" else None
            log.extend(self._step(OP_RUN_WORK, str(index)).log)
            if before is not None and self.ck.digest() == before:
                break                     # a task blocks the transition: it stays pending
        return tuple(log)


def replay_lines(machine: Machine, expected: list[str]) -> list[str]:
    """Run the commands of an expected log; return the log the machine prints."""
    h = Harness(machine)
    for line in expected:
        if line.startswith("% "):
            h.run(line[2:])
        elif GREP_LINE.match(line) and (not h.out or not GREP_LINE.match(h.out[-1])):
            h.grep_live_patched()
    return h.out


def _replay(machine_of: Any, model: str, path: str, check: bool) -> tuple[list[str], bool]:
    expected = read_scenario(path)
    if not any(line.startswith("% ") for line in expected):
        raise ConfigError(f"{path}: no '% ' command line to replay")
    try:
        got = replay_lines(machine_of(), expected)
    except ScenarioError as e:
        raise ConfigError(f"{path}: {e}") from None
    if not check or got == expected:
        return got, True
    return diff_lines(expected, got, model), False


def replay_file(variant: ModuleType, model: str, path: str, check: bool,
                features: tuple[str, ...]) -> tuple[list[str], bool]:
    """`klpmc replay MODEL FILE [--check]`: the log the model prints, and whether it matches the file."""
    fixtures = getattr(variant, "FIXTURES", None)
    if fixtures is None:
        raise ConfigError(f"model '{model}' has no selftest modules to replay with")
    config = Config(f"replay {path}", fixtures=fixtures, module_dir=fixtures.module_dir)
    return _replay(lambda: PythonMachine(variant, config, features), model, path, check)


def replay_c(ck: Any, path: str, check: bool) -> tuple[list[str], bool]:
    """`klpmc replay kernel FILE [--check]`: the same, on the kernel's own C and the tree's test modules."""
    return _replay(lambda: CMachine(ck), "kernel", path, check)


def diff_lines(expected: list[str], got: list[str], model: str) -> list[str]:
    """A unified diff of an expected log against a model's."""
    return list(difflib.unified_diff(expected, got, "expected", model, lineterm=""))


__all__ = ["CMachine", "Harness", "Machine", "PythonMachine", "ScenarioError", "diff_lines", "read_scenario",
           "replay_c", "replay_file", "replay_lines"]
