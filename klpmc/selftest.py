"""Each counterexample as a kselftest: ``klpmc check --emit-selftest DIR``.

For every violated rule, ``DIR/<rule>/`` (with ``--scope``: ``DIR/<configuration>/<rule>/``) holds

* ``test-klpmc-<rule>.sh``, in the style of the kernel's ``tools/testing/selftests/livepatch/test-*.sh``:
  it sources ``functions.sh``, runs the trace with ``load_lp``, ``load_mod``, ``load_failing_mod``,
  ``disable_lp``, ``unload_lp``, ``unload_mod`` and compares the kernel log with ``check_result``; a comment
  says which rule the log shows broken and why;
* ``test_modules/<module>.c`` (from the module generator, `klpmc.kmodgen`) and ``test_modules/Makefile``
  (kbuild ``obj-m``), except for presets built from the selftest modules of the kernel or a series, whose
  scripts load the tree's own modules (``in_tree``);
* ``klpmc.json``: ``{model, rule, kind, verdict, configuration, api, modules: {name: {livepatch, source}},
  steps: [{command, log, events, ...}], expected_log, expressible, why_not}`` plus ``names`` (the model's
  module names -> the test's), ``script`` and ``klpmc``; a runner (``klpmc confirm``) reads it, and new
  fields only ever get added.

Modules are renamed ``test_klpmc_<name>`` so that their log lines pass the filter of ``check_result``
(lines with ``livepatch:`` or ``test_klp``). A script runs each command the way ``functions.sh`` does:
``load_lp`` and ``disable_lp`` wait until the transition they start is over, so a trace whose next step
needs that transition still pending (a reversal, ``force``, a module loading mid-transition: a task
asleep in a patched function) cannot be said by a script, and neither can a fault inside the kernel
(a failing ``klp_patch_object``, ``klp_init_object_loaded`` at module load). Such a counterexample is
written all the same, marked ``expressible: false`` with the reason, and its script skips (exit 4).
A trace that ends while a transition is pending is run on to the end of the transition through the
model, as the script's waiting would.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from klpmc import __version__
from klpmc.contracts import WritesModules
from klpmc.seqchart import errno_text, parse_action

__all__ = [
    "FILTER",
    "Emitted",
    "configuration_json",
    "emit_selftests",
    "filtered",
    "kselftest_name",
    "makefile_text",
    "plan",
]

FILTER: Final = re.compile(r"livepatch:|test_klp")           # check_result's grep -e ... -e ...
TAINT: Final = re.compile(r"(tainting|taints) kernel")       # and its grep -v
STARTS: Final = re.compile(r"'(?P<patch>[^']+)': (?:starting|reversing transition from \w+ to) (?:un)?patching")
ENDS: Final = re.compile(r"'(?P<patch>[^']+)': (?:un)?patching complete$")
INSMOD_TEXT: Final = {  # what kmod's insmod prints for a failing init (it maps EINVAL and ENOENT its own way)
    1: "Operation not permitted", 2: "Unknown symbol in module, or unknown parameter (see dmesg)",
    12: "Cannot allocate memory", 16: "Device or resource busy", 17: "File exists", 19: "No such device",
    22: "Invalid parameters",
}
LOADER: Final = {"poc-series": "modprobe"}     # the POC's functions.sh (after its 5/7) loads with modprobe
STRERROR: Final = {1: "Operation not permitted", 2: "No such file or directory", 12: "Cannot allocate memory",
                   16: "Device or resource busy", 17: "File exists", 19: "No such device", 22: "Invalid argument"}
API: Final = {"upstream": "mainline", "refcount": "v1"}        # the API a model's modules are written against
INEXPRESSIBLE_FAULTS: Final = {
    "patch_object": "klp_patch_object() (ftrace registration) failing inside the kernel",
    "module_coming": "klp_init_object_loaded() failing inside the kernel while a module loads",
}


def kselftest_name(name: str) -> str:
    """The test's module name for a model's module: ``P1`` -> ``test_klpmc_p1`` (check_result keeps its lines)."""
    if "test_klp" in name:
        return name
    return "test_klpmc_" + re.sub(r"[^a-z0-9_]", "_", name.lower())


def filtered(lines: Iterable[str]) -> list[str]:
    """The lines check_result compares: those with ``livepatch:`` or ``test_klp``, none about tainting."""
    return [line for line in lines if FILTER.search(line) and not TAINT.search(line)]


def renamer(names: Mapping[str, str]) -> Any:
    if not names:
        return lambda text: text
    pattern = re.compile(r"(?<![A-Za-z0-9_])(" + "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
                         + r")(?![A-Za-z0-9])")
    return lambda text: pattern.sub(lambda m: names[m.group(1)], text)


# --------------------------------------------------------------------------------------------------------
# the configuration as data
# --------------------------------------------------------------------------------------------------------


def configuration_json(config: Any) -> dict[str, Any]:
    """A configuration in the shape of its TOML file (``patch``, ``module``, ``faults``, ``actions``); a
    preset built from selftest modules says so (``fixtures``) and lists its modules."""
    if getattr(config, "fixtures", None) is not None or bool(getattr(config, "choices", ())):
        return {"name": getattr(config, "name", ""), "fixtures": True,
                "livepatches": sorted({n for n, _ in getattr(config, "livepatches", ())}),
                "targets": list(getattr(config, "targets", ()))}
    patches = []
    for p in getattr(config, "patches", ()):
        patch: dict[str, Any] = {"name": p.name, "replace": p.replace, "objects": list(p.objects),
                                 "states": [{"id": s.id, "version": s.version, "block_disable": s.block_disable,
                                             "is_shadow": s.is_shadow} for s in p.states],
                                 "callbacks": list(p.callbacks)}
        if getattr(p, "replace_set", None) is not None:
            patch["replace_set"] = p.replace_set
        patches.append(patch)
    faults = set(getattr(config, "faults", ()))
    return {"name": getattr(config, "name", ""), "patch": patches,
            "module": [{"name": t} for t in getattr(config, "targets", ())],
            "faults": {f: f in faults for f in ("setup", "pre_patch", "patch_object", "module_coming")},
            "actions": {a: bool(getattr(config, a, False)) for a in ("reverse", "force", "reload")}}


# --------------------------------------------------------------------------------------------------------
# from a trace to script commands
# --------------------------------------------------------------------------------------------------------


@dataclass
class Command:
    """One command of the script, and the model steps it covers."""

    helper: str                 # the functions.sh call (or a line of shell) the script runs
    shown: str                  # the command as the log shows it after "% "
    log: list[str] = field(default_factory=list)
    events: list[Any] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)
    comment: str = ""


@dataclass
class Plan:
    """The script's commands, or why a script cannot say the trace."""

    commands: list[Command]
    expressible: bool
    why_not: str | None
    last_command: int           # the command that holds the step where the rule breaks (0-based)
    extended: int = 0           # model steps run on after the trace to finish a pending transition


FAIL_PARAM: Final = "fail"     # the generated modules' parameter naming the callbacks that fail
NO_FAIL: Final = "none"        # a value of it that names no callback


def fault_param(kind: str, where: str) -> str:
    """The value of the generated modules' ``fail`` parameter that makes one callback fail (-ENODEV):
    ``pre_patch:vmlinux`` (pre_patch of an object), ``setup:1`` (the first callback of state 1)."""
    return f"{kind}:{where}"


def _fault(args: Sequence[str]) -> tuple[str, str, str] | None:
    for a in args:
        if a.startswith("fail="):
            kind, patch, where = [*a[5:].split(":", 2), "", ""][:3]
            return kind, patch, where
    return None


def _ret_of(step: Mapping[str, Any], module: str) -> int:
    for e in step.get("events") or ():
        if e.get("callback") == "insmod" and e.get("module") == module:
            return int(e.get("ret", 0))
    return 0


def _pending(step: Mapping[str, Any], before: str | None) -> str | None:
    """The patch whose transition is still open after the step, from its log."""
    open_ = before
    for line in step.get("log") or ():
        if m := STARTS.search(line):
            open_ = m.group("patch")
        elif ENDS.search(line):
            open_ = None
    return open_


def plan(trace: Sequence[Mapping[str, Any]], livepatches: Iterable[str], loader: str = "insmod") -> Plan:
    """Turn a trace (steps as in ``check --json``, names already the test's) into script commands; ``loader``
    is how the tree's functions.sh loads a module (``insmod test_modules/M.ko`` or ``modprobe M``)."""
    lps = set(livepatches)
    commands: list[Command] = []
    why: str | None = None
    pending: str | None = None      # the patch whose transition a command left open
    last = 0

    def add(cmd: Command, step: Mapping[str, Any]) -> None:
        cmd.log.extend(filtered(step.get("log") or ()))
        cmd.events.extend(step.get("events") or ())
        cmd.actions.append(str(step.get("action")))

    for i, step in enumerate(trace):
        func, args = parse_action(str(step.get("action", "")))
        fault = _fault(args)
        plain = [a for a in args if not a.startswith("fail=")]
        who = plain[0] if plain else ""
        if func == "klp_try_complete_transition":
            waits = commands and commands[-1].helper.split(" ", 1)[0] in ("load_lp", "disable_lp")
            if pending is None or not waits:
                why = why or f"step {i + 1} completes a transition after another command ran during it"
                commands.append(Command("", "", comment="the transition work"))
            add(commands[-1], step)      # the wait of load_lp / disable_lp
            pending = _pending(step, pending)
            last = len(commands) - 1
            continue
        if pending is not None:
            what = (f"reverses the transition of {pending}" if func == "enabled_store" and who == pending else
                    f"forces the transition of {pending}" if func == "force_store" else
                    f"runs while the transition of {pending} is pending")
            why = why or (f"step {i + 1} ({step.get('action')}) {what}, which needs that transition held open "
                          "by a task asleep in a patched function (as the selftests' test_klp_callbacks_busy "
                          "does); no command of this script can make one")
        if fault is not None and fault[0] in INEXPRESSIBLE_FAULTS:
            why = why or f"step {i + 1} needs {INEXPRESSIBLE_FAULTS[fault[0]]}"
            fault = None
        after: list[Command] = []
        if func in ("klp_enable_patch", "klp_module_coming"):
            ret = _ret_of(step, who)
            params = plain[1:]
            if fault is not None:
                kind, patch, where = fault
                value = fault_param(kind, where)
                path = f"/sys/module/{patch}/parameters/{FAIL_PARAM}"
                if patch == who:
                    params.append(f"{FAIL_PARAM}={value}")
                else:      # a callback of a loaded livepatch fails while another module loads
                    commands.append(Command(_echo(value, path), f"echo -n {value} > {path}",
                                            comment=f"make {kind} of {patch} fail"))
                if patch != who or not ret:   # the module stays: its next calls must not fail
                    after.append(Command(_echo(NO_FAIL, path), f"echo -n {NO_FAIL} > {path}",
                                         comment="and succeed again"))
            text = " ".join(params)
            helper = ("load_failing_mod" if ret else "load_lp" if func == "klp_enable_patch" or who in lps
                      else "load_mod")
            what = f"modprobe {who}" if loader == "modprobe" else f"insmod test_modules/{who}.ko"
            cmd = Command(f"{helper} {who}" + (f" {text}" if text else ""), what + (f" {text}" if text else ""))
            add(cmd, step)
            if ret and loader == "modprobe":
                cmd.log.append(f"modprobe: ERROR: could not insert '{who}': {STRERROR.get(-ret, errno_text(ret))}")
            elif ret:
                cmd.log.append(f"insmod: ERROR: could not insert module test_modules/{who}.ko: "
                               f"{INSMOD_TEXT.get(-ret, errno_text(ret))}")
        elif func == "enabled_store" and len(plain) == 2:
            path = f"/sys/kernel/livepatch/{who}/enabled"
            if plain[1] == "0" and pending is None and _pending(step, None) is not None:
                cmd = Command(f"disable_lp {who}", f"echo 0 > {path}")
            else:      # a refused write, or a reversal
                cmd = Command(_echo(plain[1], path), f"echo {plain[1]} > {path}")
            add(cmd, step)
        elif func == "force_store":
            path = f"/sys/kernel/livepatch/{who}/force"
            cmd = Command(_echo("1", path), f"echo 1 > {path}")
            add(cmd, step)
        elif func in ("delete_module", "klp_module_going"):
            cmd = Command(f"{'unload_lp' if who in lps else 'unload_mod'} {who}", f"rmmod {who}")
            add(cmd, step)
        else:
            why = why or f"step {i + 1} ({step.get('action')}) is no command a script can type"
            cmd = Command("", str(step.get("command") or step.get("action")))
            add(cmd, step)
        pending = _pending(step, pending)
        commands.append(cmd)
        last = len(commands) - 1
        commands.extend(after)
    return Plan(commands, why is None, why, last)


def _echo(value: str, path: str) -> str:
    """A sysfs write the way functions.sh logs its own: the command into the kernel log, then the write (a
    string parameter without the newline echo would add)."""
    flag = "" if value.lstrip("-").isdigit() else "-n "
    return f'log "% echo {flag}{value} > {path}"; echo {flag}{value} > {path}'


# --------------------------------------------------------------------------------------------------------
# files
# --------------------------------------------------------------------------------------------------------


def _var(name: str) -> str:
    return "MOD_" + re.sub(r"[^A-Za-z0-9]", "_", name.removeprefix("test_klpmc_")).upper()


def _quoted(line: str, variables: Mapping[str, str]) -> str:
    """A log line inside check_result's double quotes, module names as the script's variables."""
    text = line.replace("\\", "\\\\").replace('"', '\\"').replace("`", "\\`").replace("$", "\\$")
    if not variables:
        return text
    pattern = re.compile(r"(?<![A-Za-z0-9_])(" + "|".join(re.escape(n) for n in sorted(variables, key=len,
                                                                                        reverse=True)) + r")(\w?)")

    def sub(m: re.Match[str]) -> str:
        var = variables[m.group(1)]
        return (f"${{{var}}}" if m.group(2) else f"${var}") + m.group(2)

    return pattern.sub(sub, text)


def _with_vars(text: str, variables: Mapping[str, str]) -> str:
    """A command line with module names as ``$MOD_X`` (``${MOD_X}`` before a word character)."""
    if not variables:
        return text
    pattern = re.compile(r"(?<![A-Za-z0-9_])(" + "|".join(re.escape(n) for n in sorted(variables, key=len,
                                                                                        reverse=True)) + r")(\w?)")
    return pattern.sub(lambda m: (f"${{{variables[m.group(1)]}}}" if m.group(2) else f"${variables[m.group(1)]}")
                       + m.group(2), text)


def _sentence(text: str) -> str:
    return text if text.endswith((".", "!", "?")) else text + "."


def _comment(text: str, width: int = 100) -> list[str]:
    import textwrap

    return [("# " + line).rstrip() for line in textwrap.wrap(text, width - 2)] or ["#"]


def script_text(*, rule: str, kind: str, statement: str, reason: str, where: str, api: str,
                p: Plan, variables: Mapping[str, str], originals: Mapping[str, str], expected: list[str],
                livepatches: Sequence[str], modules: Sequence[str], in_tree: bool = False,
                modprobe: bool = False) -> str:
    """The test script: header comment, variables, the commands, check_result, then a quiet clean-up."""
    breaking = p.commands[p.last_command] if p.commands else None
    out = ["#!/bin/bash", "# SPDX-License-Identifier: GPL-2.0", "#",
           f"# Written by klpmc {__version__} from a counterexample of {where}.", "#",
           *_comment(f"Rule {rule} ({kind}): {_sentence(statement)}"),
           "#"]
    if breaking is not None and p.expressible:
        out += _comment(f"The log that check_result compares shows the rule broken by the command "
                        f"'% {breaking.shown}' ({', '.join(breaking.actions)} in klpmc's trace)"
                        + (f": {_sentence(reason)}" if reason else ".")
                        + (f" The trace ends there; the script lets the transition pending then run to its "
                           f"end, as its waiting does ({p.extended} more step{'s' * (p.extended != 1)})."
                           if p.extended else ""))
    elif not p.expressible:
        out += _comment(f"klpmc cannot say this counterexample as a script: {p.why_not}. The script "
                        f"skips; klpmc.json has the steps and the log the kernel would print"
                        + (f" (why the rule breaks: {reason.rstrip('.')})" if reason else "") + ".")
    if in_tree:
        how = (f"Copy this script into tools/testing/selftests/livepatch/ of a tree with the {api} livepatch API "
               "and run it as root there: it loads that tree's own selftest modules.")
    elif modprobe:
        how = (f"Copy this script into tools/testing/selftests/livepatch/ of a tree with the {api} livepatch "
               "API, whose functions.sh loads modules with modprobe: install the modules first (make -C "
               "test_modules KDIR=<build tree> modules modules_install), then run the script as root there.")
    else:
        how = (f"Copy this script into tools/testing/selftests/livepatch/ of a tree with the {api} livepatch "
               "API and test_modules/*.c into its test_modules/, add the obj-m line of test_modules/Makefile to "
               "the tree's test_modules/Makefile, build, and run the script as root there (or build the "
               "modules here with make -C test_modules KDIR=<build tree> and copy the .ko files).")
    out += ["#", *_comment(how), "",
            ". $(dirname $0)/functions.sh", ""]
    for name in (*livepatches, *modules):
        original = originals.get(name, name)
        out.append(f"{variables[name]}={name}" + (f"\t# klpmc's {original}" if original != name else ""))
    out.append("")
    if not p.expressible:
        out += [f'echo "SKIP: klpmc cannot say this counterexample as a script: {_quoted(p.why_not or "", {})}" >&2',
                "exit $ksft_skip", "", "# the steps of klpmc's trace, for a reader:"]
        out += [f"#   % {c.shown}    ({', '.join(c.actions)})" if c.shown else f"#   {', '.join(c.actions)}"
                for c in p.commands]
        return "\n".join(out) + "\n"
    out += ["setup_config", "", "", *_comment(f"klpmc: {rule}"), "",
            f'start_test "klpmc {_quoted(rule, {})}: {_quoted(where, {})}"', ""]
    for n, c in enumerate(p.commands):
        line = _with_vars(c.helper, variables)
        note = c.comment or ", ".join(c.actions)
        mark = "    <- breaks the rule" if n == p.last_command else ""
        out.append(f"{line}\t# {note}{mark}")
    out.append("")
    body = "\n".join(_quoted(line, variables) for line in expected)
    out += [f'check_result "{body}"', "",
            "# leave the machine as the test found it (after check_result: not part of the compared log)"]
    newest_first = " ".join(f"${variables[n]}" for n in reversed(livepatches))
    everything = " ".join(f"${variables[n]}" for n in (*reversed(livepatches), *modules))
    if livepatches:
        out += [f"for mod in {newest_first}; do",
                '\tif [[ -e "/sys/kernel/livepatch/$mod" ]]; then',
                '\t\techo 0 > "/sys/kernel/livepatch/$mod/enabled" 2>/dev/null',
                "\t\tloop_until '[[ ! -e \"/sys/kernel/livepatch/$mod\" ]]'",
                "\tfi", "done"]
    if everything:
        out += [f"for mod in {everything}; do",
                '\t[[ -e "/sys/module/$mod" ]] && rmmod "$mod" 2>/dev/null', "done"]
    out += ["", "exit 0"]
    return "\n".join(out) + "\n"


def makefile_text(modules: Sequence[str]) -> str:
    """test_modules/Makefile: kbuild obj-m, built out of tree as the kernel's own test_modules/Makefile does."""
    objs = " \\\n\t".join(f"{m}.o" for m in modules)
    return ("# SPDX-License-Identifier: GPL-2.0\n"
            f"# Written by klpmc {__version__}: the modules of one counterexample, built out of tree with kbuild.\n"
            "TESTMODS_DIR := $(realpath $(dir $(abspath $(lastword $(MAKEFILE_LIST)))))\n"
            "KDIR ?= /lib/modules/$(shell uname -r)/build\n\n"
            f"obj-m += {objs}\n\n"
            "modules:\n\t$(Q)$(MAKE) -C $(KDIR) modules KBUILD_EXTMOD=$(TESTMODS_DIR)\n\n"
            "modules_install:\n\t$(Q)$(MAKE) -C $(KDIR) modules_install KBUILD_EXTMOD=$(TESTMODS_DIR)\n\n"
            "clean:\n\t$(Q)$(MAKE) -C $(KDIR) clean KBUILD_EXTMOD=$(TESTMODS_DIR)\n")


def _generator() -> Any:
    """The module generator (configuration -> C sources of its modules)."""
    from klpmc import kmodgen

    return kmodgen


def renamed_config(config: Any, names: Mapping[str, str]) -> Any:
    """The configuration with its modules renamed (patches, their objects, the target modules)."""
    import dataclasses

    patches = tuple(dataclasses.replace(p, name=names.get(p.name, p.name),
                                        objects=tuple(names.get(o, o) for o in p.objects))
                    for p in config.patches)
    return dataclasses.replace(config, patches=patches, targets=tuple(names.get(t, t) for t in config.targets))


def module_sources(config: Any, names: Mapping[str, str], api: str,
                   kernel_api: Any = None) -> tuple[dict[str, str], str | None]:
    """The C source of each module of the configuration, by the test's module name; or why there is none.

    The generator writes a tree's API when the model says which (``kernel_api``: the kernel model runs a
    tree and knows its `klpmc.kmodgen.KernelAPI`); else the mainline API only, the one a Python model's
    name alone says for sure.
    """
    gen = _generator()
    if kernel_api is None:
        if api != "mainline":
            return {}, f"the module generator writes the mainline API for a Python model, not {api}'s"
        kernel_api = gen.MAINLINE
    try:
        mods = gen.sources(renamed_config(config, names), kernel_api)
    except gen.GenerateError as e:
        return {}, str(e)
    return {m.name: m.text for m in mods}, None


@dataclass(frozen=True)
class Emitted:
    """One counterexample written: its folder, and whether a script can say it."""

    folder: Path
    rule: str
    expressible: bool
    why_not: str | None


def _renamed(value: Any, rename: Any) -> Any:
    if isinstance(value, str):
        return rename(value)
    if isinstance(value, list):
        return [_renamed(v, rename) for v in value]
    if isinstance(value, dict):
        return {k: _renamed(v, rename) for k, v in value.items()}
    return value


def _pending_after(trace: Sequence[Mapping[str, Any]]) -> bool:
    open_: str | None = None
    for step in trace:
        open_ = _pending(step, open_)
    return open_ is not None


def _run_on(model: Any, trace: Sequence[Mapping[str, Any]], limit: int = 4) -> list[dict[str, Any]]:
    """Steps of the transition work after the trace, while a transition is pending (as load_lp waits)."""
    if model is None or not _pending_after(trace):
        return []
    from klpmc.engine import ReplayError, replay
    from klpmc.output import step_json

    labels = [str(s.get("action")) for s in trace]
    extra: list[dict[str, Any]] = []
    while len(extra) < limit and _pending_after([*trace, *extra]):
        try:
            steps = replay(model, [*labels, *(["klp_try_complete_transition()"] * (len(extra) + 1))])
        except ReplayError:
            break
        extra.append(step_json(model, steps[-1]))
    return extra


def _folder(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]", "_", name) or "_"


def emit_one(folder: Path, *, model_name: str, where: str, prop: Mapping[str, Any], config: Any,
             model: Any = None) -> Emitted:
    """Write one counterexample's directory (script, modules, Makefile, klpmc.json)."""
    conf = configuration_json(config)
    trace: list[Mapping[str, Any]] = list(prop.get("trace") or [])
    if conf.get("fixtures"):
        livepatches, targets = list(conf["livepatches"]), list(conf["targets"])
    else:
        livepatches = [p["name"] for p in conf["patch"]]
        targets = [m["name"] for m in conf["module"]]
    names = {n: kselftest_name(n) for n in (*livepatches, *targets)}
    rename = renamer(names)
    extra = _run_on(model, trace)
    steps = [_renamed(dict(s), rename) for s in (*trace, *extra)]
    lps = [names[n] for n in livepatches]
    mods = [names[n] for n in targets]
    p = plan(steps, lps, LOADER.get(model_name, "insmod"))
    p.extended = len(extra)
    api, kernel_api = model.livepatch_api() if isinstance(model, WritesModules) else \
        (API.get(model_name, model_name), None)
    in_tree = bool(conf.get("fixtures"))    # the selftest modules of the kernel or the series: the tree has them
    sources, no_sources = ({}, "the preset's modules are the tree's own selftest modules") if in_tree \
        else module_sources(config, names, api, kernel_api)
    folder.mkdir(parents=True, exist_ok=True)
    if not in_tree:
        (folder / "test_modules").mkdir(exist_ok=True)
        for name, text in sources.items():
            (folder / "test_modules" / f"{name}.c").write_text(text, encoding="utf-8")
        (folder / "test_modules" / "Makefile").write_text(makefile_text([*lps, *mods]), encoding="utf-8")
    expected = [line for c in p.commands for line in ([f"% {c.shown}"] if c.shown else []) + c.log]
    rule = str(prop["name"])
    statement = str(prop.get("description") or "")
    reason = str(prop.get("reason") or "")
    variables = {n: _var(n) for n in (*lps, *mods)}
    originals = {v: k for k, v in names.items()}
    script = f"test-klpmc-{_folder(rule)}.sh"
    text = script_text(rule=rule, kind=str(prop.get("kind", "")), statement=statement, reason=reason,
                       where=where, api=api, p=p, variables=variables, originals=originals, expected=expected,
                       livepatches=lps, modules=mods, in_tree=in_tree,
                       modprobe=LOADER.get(model_name) == "modprobe")
    (folder / script).write_text(text, encoding="utf-8")
    (folder / script).chmod(0o755)
    meta = {
        "model": model_name, "rule": rule, "kind": prop.get("kind"), "verdict": prop.get("verdict"),
        "configuration": conf, "api": api,
        "modules": {n: {"livepatch": n in lps, "source": f"test_modules/{n}.c" if n in sources else None,
                        "in_tree": in_tree} for n in (*lps, *mods)},
        "steps": [{"command": c.shown or None, "log": c.log, "events": c.events, "actions": c.actions,
                   "script": c.helper or None} for c in p.commands],
        "expected_log": expected, "expressible": p.expressible, "why_not": p.why_not,
        "names": names, "script": script, "statement": statement, "reason": reason or None,
        "breaking_step": p.last_command + 1 if p.commands else None, "extended_steps": p.extended,
        "sources_missing": no_sources if not sources else None, "klpmc": __version__,
    }
    (folder / "klpmc.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return Emitted(folder, rule, p.expressible, p.why_not)


def emit_selftests(out: Path, model_name: str, obj: Mapping[str, Any], config: Any, model: Any = None, *,
                   per_config: bool = False) -> list[Emitted]:
    """For each violated rule of one run (``check --json``'s object), its directory under ``out``."""
    where_key = next((k for k in ("preset", "config", "scope") if k in obj), "")
    where = f"{model_name}, {where_key} {obj.get(where_key, '')}".rstrip()
    base = out / _folder(str(obj.get(where_key, ""))) if per_config else out
    done = []
    for prop in obj.get("properties", ()):
        if prop.get("verdict") != "violated" or prop.get("trace") is None:
            continue
        done.append(emit_one(base / _folder(str(prop["name"])), model_name=model_name, where=where, prop=prop,
                             config=config, model=model))
    return done
