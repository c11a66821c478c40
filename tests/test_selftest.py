"""`klpmc check --emit-selftest DIR`: each violation as a kselftest script, its modules' Makefile, klpmc.json.

The scripts are run here by bash against a stand-in ``functions.sh`` that records each helper call instead
of touching a kernel; the recorded commands are then run on the model the way ``functions.sh`` runs them
on a kernel (``load_lp`` and ``disable_lp`` wait for the transition), and the log that gives, filtered as
``check_result`` filters dmesg, must be the text the script hands to ``check_result``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from klpmc import cli, registry
from klpmc.engine import ReplayError, replay
from klpmc.output import step_json
from klpmc.selftest import FILTER, configuration_json, emit_one, filtered, kselftest_name, plan

BASH = shutil.which("bash")

CONTRACT = {"model", "rule", "kind", "verdict", "configuration", "api", "modules", "steps", "expected_log",
            "expressible", "why_not"}

# functions.sh as a recorder: the helpers write what they were asked into $KLPMC_CALLS
FAKE_FUNCTIONS = r"""
ksft_skip=4
function log() { echo "log $1" >> "$KLPMC_CALLS"; }
function setup_config() { :; }
function start_test() { :; }
function loop_until() { return 0; }
function load_lp() { echo "load_lp $*" >> "$KLPMC_CALLS"; }
function load_mod() { echo "load_mod $*" >> "$KLPMC_CALLS"; }
function load_failing_mod() { echo "load_failing_mod $*" >> "$KLPMC_CALLS"; }
function disable_lp() { echo "disable_lp $*" >> "$KLPMC_CALLS"; }
function unload_lp() { echo "unload_lp $*" >> "$KLPMC_CALLS"; }
function unload_mod() { echo "unload_mod $*" >> "$KLPMC_CALLS"; }
function check_result() { printf '%s' "$*" > "$KLPMC_RESULT"; }
"""


def emit(tmp_path: Path, capsys: pytest.CaptureFixture[str], model: str, preset: str) -> Path:
    out = tmp_path / f"{model}-{preset}"
    rc = cli.run(["check", model, "--preset", preset, "-q", "--emit-selftest", str(out)])
    capsys.readouterr()
    assert rc == 0
    return out


def run_script(folder: Path, tmp_path: Path) -> tuple[int, list[str], str | None]:
    """Run the folder's script with the recording functions.sh, its /sys paths moved into tmp_path."""
    meta = json.loads((folder / "klpmc.json").read_text())
    sandbox = tmp_path / "run"
    sandbox.mkdir(exist_ok=True)
    (sandbox / "functions.sh").write_text(FAKE_FUNCTIONS)
    text = (folder / meta["script"]).read_text().replace("/sys/", f"{sandbox}/sys/")
    script = sandbox / meta["script"]
    script.write_text(text)
    calls, result = sandbox / "calls", sandbox / "result"
    for f in (calls, result):
        f.unlink(missing_ok=True)
    assert BASH is not None
    done = subprocess.run([BASH, str(script)], env={"KLPMC_CALLS": str(calls), "KLPMC_RESULT": str(result),
                                                    "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=60, check=False)
    back = f"{sandbox}/sys/"     # what the script wrote, with its /sys paths as it wrote them
    return (done.returncode, calls.read_text().replace(back, "/sys/").splitlines() if calls.exists() else [],
            result.read_text().replace(back, "/sys/") if result.exists() else None)


INSMOD_TEXT = {19: "No such device", 16: "Device or resource busy", 22: "Invalid parameters"}
FAULT_PARAM = re.compile(r"^fail=(?P<kind>setup|pre_patch):(?P<where>\w+)$")


class ModelKernel:
    """The helpers of functions.sh run on the model: each waits as the real one does."""

    def __init__(self, model: Any, names: dict[str, str], livepatches: set[str], modprobe: bool = False) -> None:
        self.model = model
        self.modprobe = modprobe
        self.orig = {v: k for k, v in names.items()}
        self.rename = names
        self.livepatches = livepatches
        self.labels: list[str] = []
        self.log: list[str] = []
        self.armed: dict[str, tuple[str, str]] = {}    # module -> (kind, where) of a failing callback

    def _name(self, text: str) -> str:
        for new, old in sorted(self.orig.items(), key=lambda kv: -len(kv[0])):
            text = re.sub(rf"(?<![A-Za-z0-9_]){re.escape(old)}(?![A-Za-z0-9])", new, text)
        return text

    def _step(self, label: str) -> dict[str, Any] | None:
        try:
            steps = replay(self.model, [*self.labels, label])
        except ReplayError:
            return None
        self.labels.append(label)
        last = steps[-1]
        self.log.extend(filtered(self._name(x) for x in last.log if isinstance(x, str)))
        return {"events": [e.as_json() for e in last.log if not isinstance(e, str)]}

    def _wait(self) -> None:
        for _ in range(8):
            if self._step("klp_try_complete_transition()") is None:
                return

    def _fault_of(self, module: str, params: list[str]) -> tuple[str | None, list[str]]:
        rest, fault = [], None
        for p in params:
            m = FAULT_PARAM.match(p)
            if m:
                fault = f"fail={m['kind']}:{self.orig[module]}:{self.orig.get(m['where'], m['where'])}"
            else:
                rest.append(p)
        return fault, rest

    def call(self, line: str) -> None:
        words = line.split()
        helper, args = words[0], words[1:]
        if helper == "log":
            text = line[4:]
            self.log.append(text)
            m = re.match(r"% echo -n (\S+) > /sys/module/(\w+)/parameters/fail$", text)
            if m and m[1] != "none":
                fm = FAULT_PARAM.match(f"fail={m[1]}")
                assert fm, text
                self.armed[m[2]] = (fm["kind"], fm["where"])
            elif m:
                self.armed.pop(m[2], None)
            return
        module, params = args[0], args[1:]
        name = self.orig[module]
        if helper in ("load_lp", "load_mod", "load_failing_mod"):
            loading = f"modprobe {module}" if self.modprobe else f"insmod test_modules/{module}.ko"
            self.log.append(f"% {loading}" + "".join(f" {p}" for p in params))
            fault, rest = self._fault_of(module, params)
            for lp, (kind, where) in self.armed.items():
                fault = f"fail={kind}:{self.orig[lp]}:{self.orig.get(where, where)}"
            func = "klp_enable_patch" if module in self.livepatches else "klp_module_coming"
            label = f"{func}({', '.join([name, *rest, *([fault] if fault else [])])})"
            step = self._step(label)
            assert step is not None, f"the model does not offer {label} after {self.labels}"
            ret = next((e.get("ret", 0) for e in step["events"] if e.get("callback") == "insmod"), 0)
            assert (helper == "load_failing_mod") == bool(ret), (line, ret)
            if ret and self.modprobe:
                self.log.append(f"modprobe: ERROR: could not insert '{module}': {os.strerror(-ret)}")
            elif ret:
                self.log.append(f"insmod: ERROR: could not insert module test_modules/{module}.ko: "
                                f"{INSMOD_TEXT[-ret]}")
            elif helper == "load_lp":
                self._wait()
        elif helper == "disable_lp":
            self.log.append(f"% echo 0 > /sys/kernel/livepatch/{module}/enabled")
            assert self._step(f"enabled_store({name}, 0)") is not None
            self._wait()
        elif helper in ("unload_lp", "unload_mod"):
            self.log.append(f"% rmmod {module}")
            func = "delete_module" if module in self.livepatches else "klp_module_going"
            assert self._step(f"{func}({name})") is not None
        else:
            raise AssertionError(f"unexpected helper call {line!r}")


def check_folder(folder: Path, tmp_path: Path, model: Any) -> dict[str, Any]:
    """Run one emitted test; an expressible one must hand check_result the log its commands give."""
    meta = json.loads((folder / "klpmc.json").read_text())
    assert set(meta) >= CONTRACT, CONTRACT - set(meta)
    rc, calls, result = run_script(folder, tmp_path)
    if not meta["expressible"]:
        assert rc == 4 and result is None and not calls
        return meta
    assert rc == 0 and result is not None
    lps = {n for n, m in meta["modules"].items() if m["livepatch"]}
    # functions.sh after the POC's 5/7 loads modules with modprobe (its logs: tests/data/series/poc__*)
    kernel = ModelKernel(model, meta["names"], lps, modprobe=meta["api"] == "poc-series")
    for line in calls:
        kernel.call(line)
    assert result.split("\n") == kernel.log
    assert result.split("\n") == meta["expected_log"]
    return meta


@pytest.mark.skipif(BASH is None, reason="no bash")
def test_poc_series_drop(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = emit(tmp_path, capsys, "poc-series", "drop")
    mdef = registry.get_model("poc-series")
    model = mdef.build(mdef.preset("drop").config)
    metas = {m["rule"]: m for m in (check_folder(f, tmp_path, model) for f in sorted(out.iterdir()))}
    # every violated rule of the run has its folder, script and Makefile
    assert set(metas) == {"state-lifecycle", "release-after-setup", "released-on-leave", "set-up-while-held",
                          "release-only-when-gone", "no-callback-on-kept-state", "shadow-freed-on-leave",
                          "shadow-free-once", "reversal-restores"}
    for rule, m in metas.items():
        assert (out / rule / f"test-klpmc-{rule}.sh").is_file()
        assert "obj-m += test_klpmc_p1.o" in (out / rule / "test_modules" / "Makefile").read_text()
        assert m["api"] == "poc-series" and m["model"] == "poc-series" and m["verdict"] == "violated"
        assert m["configuration"]["patch"][2] == {"name": "P3", "replace": True, "objects": ["vmlinux"],
                                                  "states": [{"id": 2, "version": 1, "block_disable": False,
                                                              "is_shadow": True}],
                                                  "callbacks": ["setup", "enable", "disable", "release"]}
        assert set(m["modules"]) == {"test_klpmc_p1", "test_klpmc_p2", "test_klpmc_p3"}
        assert all(FILTER.search(line) for line in m["expected_log"])
    # what a script can say: no reversal (it needs a transition held open by a sleeping task)
    assert {r for r, m in metas.items() if m["expressible"]} == {"released-on-leave", "shadow-freed-on-leave",
                                                                 "shadow-free-once"}
    assert "reverses the transition of test_klpmc_p3" in metas["reversal-restores"]["why_not"]
    assert metas["shadow-free-once"]["expected_log"][0] == "% modprobe test_klpmc_p1 fail=setup:1"
    assert metas["shadow-free-once"]["expected_log"][-1] == \
        "modprobe: ERROR: could not insert 'test_klpmc_p1': No such device"
    text = (out / "shadow-free-once" / "test-klpmc-shadow-free-once.sh").read_text()
    assert "load_failing_mod $MOD_P1 fail=setup:1" in text and "Rule shadow-free-once (step)" in text


@pytest.mark.skipif(BASH is None, reason="no bash")
@pytest.mark.parametrize(("model_name", "preset"), [("poc", "small"), ("upstream", "small"), ("v1", "drop"),
                                                     ("poc-series", "modules"), ("upstream", "modules")])
def test_scripts_replay_on_the_model(model_name: str, preset: str, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    out = emit(tmp_path, capsys, model_name, preset)
    mdef = registry.get_model(model_name)
    model = mdef.build(mdef.preset(preset).config)
    metas = [check_folder(f, tmp_path, model) for f in sorted(out.iterdir())]
    assert metas, "the preset has violations"
    if (model_name, preset) == ("poc", "small"):   # the seed's double release: a failing pre_patch, one insmod
        m = next(m for m in metas if m["rule"] == "state-lifecycle")
        assert m["expressible"] and [s["script"] for s in m["steps"]] == [
            "load_failing_mod test_klpmc_p1 fail=pre_patch:vmlinux"]
        assert m["expected_log"].count("test_klpmc_p1: release_callback: state 1") == 2
    if model_name == "upstream":
        assert all(m["api"] == "mainline" for m in metas)


def test_a_trace_ending_mid_transition_runs_to_its_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A trace that stops while a transition is pending: load_lp would wait for its end, so klpmc runs the
    model on to it and says how many steps it added."""
    rc = cli.run(["check", "poc-series", "--preset", "drop", "-q", "--json", "--property", "released-on-leave"])
    prop = json.loads(capsys.readouterr().out)["properties"][0]
    assert rc == 0 and prop["trace"][-1]["action"] == "klp_try_complete_transition()"
    cut = {**prop, "trace": prop["trace"][:-1]}      # P3's transition still pending at the end
    mdef = registry.get_model("poc-series")
    cfg = mdef.preset("drop").config
    model = mdef.build(cfg)
    done = emit_one(tmp_path / "cut", model_name="poc-series", where="poc-series, preset drop", prop=cut,
                    config=cfg, model=model)
    meta = check_folder(done.folder, tmp_path, model)
    assert done.expressible and meta["extended_steps"] == 1
    assert meta["steps"][-1]["actions"] == ["klp_enable_patch(test_klpmc_p3)", "klp_try_complete_transition()"]
    assert meta["expected_log"][-1] == "livepatch: 'test_klpmc_p3': patching complete"
    assert "1 more step" in (done.folder / meta["script"]).read_text()


def test_a_loaded_livepatch_told_to_fail(tmp_path: Path) -> None:
    """A target module loads and a loaded livepatch's pre_patch for it fails: the script sets the
    livepatch's parameter through sysfs first, loads the module (which fails), and sets it back."""
    mdef = registry.get_model("upstream")
    cfg = mdef.preset("modules").config
    model = mdef.build(cfg)
    labels = ["klp_enable_patch(P1)", "klp_try_complete_transition()",
              "klp_module_coming(mod_a, fail=pre_patch:P1:mod_a)"]
    trace = [step_json(model, s) for s in replay(model, labels)]
    prop = {"name": "made-up", "kind": "step", "verdict": "violated", "trace": trace}
    done = emit_one(tmp_path / "x", model_name="upstream", where="upstream, preset modules", prop=prop,
                    config=cfg, model=model)
    meta = check_folder(done.folder, tmp_path, model)
    param = "/sys/module/test_klpmc_p1/parameters/fail"
    assert [s["script"] for s in meta["steps"]] == [
        "load_lp test_klpmc_p1",
        f'log "% echo -n pre_patch:test_klpmc_mod_a > {param}"; echo -n pre_patch:test_klpmc_mod_a > {param}',
        "load_failing_mod test_klpmc_mod_a", f'log "% echo -n none > {param}"; echo -n none > {param}']
    assert meta["breaking_step"] == 3


def test_plan_refuses_what_a_script_cannot_say() -> None:
    def step(action: str, log: list[str] | None = None, events: list[Any] | None = None) -> dict[str, Any]:
        return {"action": action, "command": None, "log": log or [], "events": events or []}

    start = ["livepatch: 'P1': starting patching transition"]
    done = ["livepatch: 'P1': patching complete"]
    ok = plan([step("klp_enable_patch(P1)", start), step("klp_try_complete_transition()", done)], ["P1"])
    assert ok.expressible and [c.helper for c in ok.commands] == ["load_lp P1"]
    forced = plan([step("klp_enable_patch(P1)", start), step("force_store(P1)")], ["P1"])
    assert not forced.expressible and "forces the transition of P1" in (forced.why_not or "")
    ftrace = plan([step("klp_enable_patch(P1, fail=patch_object:P1:vmlinux)")], ["P1"])
    assert not ftrace.expressible and "klp_patch_object" in (ftrace.why_not or "")
    odd = plan([step("kthread_park(P1)")], ["P1"])
    assert not odd.expressible


def test_names_and_filter() -> None:
    assert kselftest_name("P1") == "test_klpmc_p1" and kselftest_name("mod_a") == "test_klpmc_mod_a"
    assert kselftest_name("test_klp_callbacks_demo") == "test_klp_callbacks_demo"
    assert filtered(["livepatch: x", "P1: y", "test_klpmc_p1: z",
                     "livepatch: tainting kernel with TAINT_LIVEPATCH"]) == ["livepatch: x", "test_klpmc_p1: z"]


@pytest.mark.skipif(BASH is None, reason="no bash")
def test_selftest_module_presets_load_the_trees_modules(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The kselftest preset's atomic replace runs the kernel's own test_klp_callbacks_demo and demo2."""
    out = emit(tmp_path, capsys, "upstream", "kselftest")
    mdef = registry.get_model("upstream")
    model = mdef.build(mdef.preset("kselftest").config)
    metas = [check_folder(f, tmp_path, model) for f in sorted(out.iterdir())]
    assert sorted(m["rule"] for m in metas) == ["no-hang", "objects-cleaned-before-free"]
    [m] = [m for m in metas if m["rule"] == "objects-cleaned-before-free"]
    assert m["expressible"] and m["configuration"]["fixtures"]
    assert [s["script"] for s in m["steps"]] == ["load_lp test_klp_callbacks_demo",
                                                 "load_lp test_klp_callbacks_demo2 replace=1"]
    assert all(x["in_tree"] and x["source"] is None for x in m["modules"].values())
    assert not (out / m["rule"] / "test_modules").exists()


def test_configuration_json_of_a_toml_config(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[[patch]]\nname = "A"\nreplace = true\nstates = [{ id = 3, is_shadow = true }]\n'
                    '[[module]]\nname = "m"\n[faults]\nsetup = true\n')
    mdef = registry.get_model("poc-series")
    assert mdef.load_config is not None
    cfg, _ = mdef.load_config(path)
    conf = configuration_json(cfg)
    assert conf["patch"] == [{"name": "A", "replace": True, "objects": ["vmlinux"],
                              "states": [{"id": 3, "version": 1, "block_disable": False, "is_shadow": True}],
                              "callbacks": ["setup", "enable", "disable", "release"]}]
    assert conf["module"] == [{"name": "m"}] and conf["faults"]["setup"] and not conf["faults"]["pre_patch"]
