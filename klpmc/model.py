"""What a model is to klpmc: the `ModelDef` a model module exports, its presets and expected verdicts.

The contract between `models/` and the rest of klpmc. Model modules import this module (never the
registry or the CLI); the registry finds the `ModelDef` of each model module and the CLI runs it.
"""

from __future__ import annotations

import errno
import os
import stat
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from klpmc.engine import Model
from klpmc.props import VERDICTS, Property, Verdict

__all__ = [
    "ConfigError",
    "ExpectedVerdict",
    "InputError",
    "ModelDef",
    "Preset",
    "UnknownNameError",
    "default_expectation",
    "input_file",
    "load_toml",
    "read_text",
]


class InputError(Exception):
    """Bad input from the person at the keyboard; the message is one line, the CLI exits 2 with it."""


class ConfigError(InputError):
    """A configuration (TOML file, scope spec, preset config) is malformed; raised by model config loaders."""


class UnknownNameError(InputError, LookupError):
    """An unknown model, preset or property; the message lists what exists instead."""


@dataclass(frozen=True)
class Preset:
    """A named configuration of a model, with a one-line summary."""

    summary: str
    config: Any


@dataclass(frozen=True)
class ExpectedVerdict:
    """The verdict a manifest expects for one property on one preset, and why."""

    verdict: Verdict
    reason: str = ""
    binding: bool = True  # False: any settled verdict is fine (sometimes-properties off the presets)

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"unknown verdict {self.verdict!r}; verdicts: {', '.join(VERDICTS)}")


def default_expectation(prop: Property) -> ExpectedVerdict:
    """What a configuration outside the manifest expects: always/step hold, sometimes is reachable."""
    if prop.kind == "sometimes":
        return ExpectedVerdict("reachable", "not in the manifest")
    return ExpectedVerdict("holds", "not in the manifest")


@dataclass(frozen=True, eq=False)
class ModelDef:
    """A model as the CLI sees it: how to build it, its presets, the verdicts they are expected to give.

    * ``build(config) -> Model``; may raise `ConfigError`.
    * ``expected[preset or config name][property name]``: manifest entries; anything missing gets
      `default_expectation`.
    * ``properties``: catalogue names this model checks by default; when empty, the registry takes the
      catalogue's properties whose required features are among the model's ``features``.
    * ``load_config(path) -> (config, notes)``: reads ``--config FILE.toml``; raises `ConfigError`.
    * ``scope(spec) -> [(config name, config), ...]``: the configurations ``--scope SPEC`` enumerates.
    * ``replay(path, check) -> (output lines, ok)``: the selftest scenario harness.
    * ``configure(settings) -> ModelDef``: the model with its own command-line settings applied
      (``--kernel``, ``--series``, ``--port`` for the kernel's C: its presets follow the tree's API);
      raises `InputError` for a bad one.
    * ``estimate(config) -> (states, work, what)``: lower bounds on the states a configuration reaches and on
      the steps times the fields each copies, and what they count in a few words; the CLI refuses an
      unbounded run that cannot finish.
    * ``scope_legend(spec) -> str``: how to read the configuration names of a scope, one line.
    """

    name: str
    summary: str
    build: Callable[[Any], Model]
    presets: Mapping[str, Preset]
    default_preset: str
    expected: Mapping[str, Mapping[str, ExpectedVerdict]] = field(default_factory=dict)
    properties: Sequence[str] = ()
    features: Sequence[str] = ()
    load_config: Callable[[Path], tuple[Any, list[str]]] | None = None
    scope: Callable[[str], list[tuple[str, Any]]] | None = None
    replay: Callable[[Path, bool], tuple[list[str], bool]] | None = None
    configure: Callable[[Mapping[str, str | None]], ModelDef] | None = None
    estimate: Callable[[Any], tuple[int, int, str]] | None = None
    scope_legend: Callable[[str], str] | None = None

    def __post_init__(self) -> None:
        where = f"ModelDef {self.name!r}"
        if not self.name or any(c.isspace() for c in self.name):
            raise ValueError(f"{where}: a model name is one word")
        if not self.presets:
            raise ValueError(f"{where}: no presets")
        if self.default_preset not in self.presets:
            raise ValueError(
                f"{where}: default preset {self.default_preset!r} is not a preset; presets: "
                + ", ".join(self.presets)
            )
        for config_name, entries in self.expected.items():
            for prop_name, exp in entries.items():
                if not isinstance(exp, ExpectedVerdict):
                    entry = f"expected[{config_name!r}][{prop_name!r}]"  # type: ignore[unreachable]
                    raise TypeError(f"{where}: {entry} is not an ExpectedVerdict")
        object.__setattr__(self, "properties", tuple(self.properties))
        object.__setattr__(self, "features", tuple(self.features))

    def preset(self, name: str) -> Preset:
        """The preset called ``name``; `UnknownNameError` lists the presets otherwise."""
        try:
            return self.presets[name]
        except KeyError:
            raise UnknownNameError(
                f"unknown preset {name!r} for model {self.name!r}; presets: {', '.join(self.presets)}"
            ) from None

    def expectation(self, config_name: str | None, prop: Property) -> ExpectedVerdict:
        """The verdict expected of ``prop`` on a preset or scope configuration (None: a config file).

        Off the presets (a scope configuration or a config file the manifest does not name), whether a
        sometimes-property is reachable depends on the configuration: it is reported, not held against it.
        """
        if config_name is not None:
            exp = self.expected.get(config_name, {}).get(prop.name)
            if exp is not None:
                return exp
        exp = default_expectation(prop)
        if prop.kind == "sometimes" and (config_name is None or config_name not in self.presets):
            return ExpectedVerdict(exp.verdict, "off the presets a reachability guard only informs", False)
        return exp


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


_KINDS = ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO"),
          (stat.S_ISSOCK, "a socket"))


def input_file(path: Path, what: str = "file") -> Path:
    """``path`` if it names a regular file one can read; else `InputError` saying what it is instead.

    Checked before opening: a FIFO would block the open, a device never ends.
    """
    if str(path) == "":
        raise InputError(f"an empty name is no {what}")
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise InputError(f"no such {what}: {path}") from None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise InputError(f"{path}: symbolic links that loop, no {what} at the end") from None
        raise InputError(f"{path}: cannot read: {_one_line(e)}") from None
    if stat.S_ISDIR(st.st_mode):
        raise InputError(f"{path} is a directory, not a {what}")
    if not stat.S_ISREG(st.st_mode):
        kind = next((k for test, k in _KINDS if test(st.st_mode)), "not a regular file")
        raise InputError(f"{path} is {kind}, not a {what}")
    return path


def read_text(path: Path, what: str = "file") -> str:
    """The text of a UTF-8 file named on the command line; any problem is a one-line `InputError`."""
    input_file(path, what)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise InputError(f"{path}: cannot read: {_one_line(e)}") from None
    if data.startswith(b"\xef\xbb\xbf"):
        raise InputError(f"{path} starts with a byte-order mark (U+FEFF); save it as UTF-8 without one")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(f"{path} is not UTF-8 text (byte {e.start}: {data[e.start:e.start + 1]!r})") from None


def load_toml(path: Path) -> dict[str, Any]:
    """Read a TOML file for a config loader; any problem becomes a one-line `ConfigError`."""
    try:
        text = read_text(path, "TOML file")
    except InputError as e:
        raise ConfigError(str(e)) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: malformed TOML: {e}") from None
    except RecursionError:
        raise ConfigError(f"{path}: arrays or tables nested too deeply to read") from None
