"""The POC series' test modules (lib/livepatch after [POC 3/7], 4/7, 5/7 and 7/7), as fixtures.

Sources: the mails <20231110170428.6664-{4,5,6,8}-pmladek@suse.com> (test_klp_state.c, test_klp_speaker.c,
test_klp_speaker_livepatch.c) and the notes in /work/shared/oracles/series/INDEX.md. Three files the modules
need are missing from the posting: test_klp_speaker.h, test_klp_speaker2.c and test_klp_speaker_livepatch2.c.
As INDEX.md infers them, test_klp_speaker2 is the speaker source built with versioned function names
(speaker_welcome2, call_speaker2; its init and exit keep their names), and test_klp_speaker_livepatch2 is
the livepatch source built under another module name.

The speaker's ``waiting_welcome`` worker is a tracked task: it enters call_speaker (whichever version
ftrace gives it) and sleeps there until it is told to stop, then calls speaker->welcome(), again through
ftrace with its own patch state. So klp_check_stack() sees it, and a patching transition stays pending
while it sleeps in the original call_speaker, which is what the author meant test-modules 10 to show.

Every line goes through pr_fmt(KBUILD_MODNAME ": " fmt), i.e. ``k.pr(module, text)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._fixtures import SHADOW_NULL, Fixtures, ModuleFixture, param
from ._kernel import klp_ftrace_handler, klp_shadow_alloc, klp_shadow_free, klp_shadow_get, klp_shadow_set
from ._klp import (
    EBUSY,
    EINVAL,
    ENOMEM,
    ERRNO_NAME,
    STATE_CALLBACKS,
    VMLINUX,
    Kernel,
    KlpPatch,
    KlpState,
    Module,
    ObjSpec,
    PatchSpec,
    StateSpec,
    Task,
    TaskS,
)

SPEAKER = "test_klp_speaker"
SPEAKER2 = "test_klp_speaker2"
APPLAUSE_ID = 1
CONSOLE_LOGLEVEL = "&console_loglevel"   # the obj pointer of test_klp_state's shadow variable
WORKER = "kworker"
NOREPLACE_WARNING = ("The speaker livepatch can't be loaded when both \"add_applause\" and \"noreplace\" are "
                     "used and another speaker livepatch is already loaded with \"add_aplause\"")   # sic
NO_APPLAUSE = "failed to get shadow variable with the applause description"


def errname(err: int) -> str:
    """%pe of an error code: -ENODEV, or the number when the kernel has no name for it."""
    name = ERRNO_NAME.get(-err)
    return f"-{name}" if name else str(err)


# -- test_klp_speaker, test_klp_speaker2 ------------------------------------------------------------


class Speaker(ModuleFixture):
    """test_klp_speaker(2): a welcome function to patch and a worker that may wait in call_speaker."""

    writable = frozenset({"waiting_welcome"})

    def __init__(self, name: str, ver: str) -> None:
        self.name = name
        self.ver = ver          # _VER_NAME() suffix: "" or "2"

    def func(self, base: str) -> str:
        return f"{base}{self.ver}"

    def worker(self, k: Kernel) -> Task | None:
        for task in k.tasks:
            if task.name == WORKER and task.obj == self.name:
                return task  # type: ignore[no-any-return]
        return None

    def welcome(self, k: Kernel, patch_state: int | None) -> None:
        """speaker->welcome(): speaker_welcome, or the version ftrace redirects the caller to."""
        impl = klp_ftrace_handler(k, self.name, self.func("speaker_welcome"), patch_state)
        if impl is None:
            k.pr(self.name, f"{self.func('speaker_welcome')}: Hello, World!")
        else:
            fixture = k.env.fixture_of(impl)
            assert isinstance(fixture, SpeakerLivepatch)
            fixture.welcome(k, self.ver)

    def start_waiting(self, k: Kernel) -> None:
        """speaker_func() on the workqueue: speaker->call() sleeps in speaker_wait_and_welcome()."""
        impl = klp_ftrace_handler(k, self.name, self.func("call_speaker"), None)
        if impl is None:
            k.pr(self.name, f"{self.func('call_speaker')}: Calling speaker.")
        else:
            k.pr(impl, f"livepatch_{self.func('call_speaker')}: Calling speaker (fixed).")
        k.pr(self.name, "speaker_wait_and_welcome: Speaker started waiting.")
        k.tasks.append(Task(TaskS(WORKER, self.name, self.func("call_speaker"), impl, k.target)))

    def stop_waiting(self, k: Kernel) -> None:
        """is_waiting = false; flush_work(): the worker wakes up and calls speaker->welcome()."""
        task = self.worker(k)
        if task is None:
            return
        k.tasks.remove(task)
        self.welcome(k, task.patch_state)

    def params_set(self, k: Kernel, mod: Module) -> None:
        if param(mod, "waiting_welcome", False):
            self.start_waiting(k)

    def init(self, k: Kernel, mod: Module, enable: Callable[[], int]) -> int:  # type: ignore[override]
        k.pr(self.name, "test_klp_speaker_init")
        return 0

    def exit(self, k: Kernel, mod: Module) -> None:
        k.pr(self.name, "test_klp_speaker_exit")
        self.stop_waiting(k)

    def param_write(self, k: Kernel, mod: Module, name: str, value: str) -> int | None:
        if name != "waiting_welcome":
            return None
        waiting = self.worker(k) is not None
        if value.strip() in ("1", "Y", "y"):
            if waiting:
                k.pr(self.name, "waiting_welcome_set: Speaker is already waiting.")
                return -EBUSY
            self.start_waiting(k)
        else:
            if not waiting:
                k.pr(self.name, "waiting_welcome_set: Speaker has not been waiting.")
                return -EINVAL
            self.stop_waiting(k)
        return 0

    def param_read(self, k: Kernel, mod: Module, name: str) -> str | None:
        if name == "welcome":
            self.welcome(k, None)   # the cat process is new: it runs in the target state
            return ""
        if name == "waiting_welcome":
            k.pr(self.name, "Speaker is waiting." if self.worker(k) else "Speaker is not waiting.")
            return ""
        if name == "started_waiting":
            # the module keeps reading "1" after the worker stopped; no log can tell, so no state keeps it
            return "1" if self.worker(k) else "0"
        return None


# -- test_klp_speaker_livepatch, test_klp_speaker_livepatch2 ----------------------------------------


class SpeakerLivepatch(ModuleFixture):
    """test_klp_speaker_livepatch(2): patches both speakers; add_applause brings state 1 (a shadow text)."""

    livepatch = True

    def param_write(self, k: Kernel, mod: Module, name: str, value: str) -> int | None:
        """Only setup_ret is read after init; add_applause and noreplace shaped the patch at init."""
        if name != "setup_ret":
            return None
        mod.params[name] = int(value)
        return 0

    def __init__(self, name: str) -> None:
        self.name = name

    def spec(self, p: dict[str, Any]) -> PatchSpec:
        states: tuple[StateSpec, ...] = ()
        if p.get("add_applause", False):
            states = (StateSpec(APPLAUSE_ID, is_shadow=True, callbacks=STATE_CALLBACKS),)
        return PatchSpec(self.name, not p.get("noreplace", False),
                         (ObjSpec(SPEAKER, ("speaker_welcome", "call_speaker")),
                          ObjSpec(SPEAKER2, ("speaker_welcome2", "call_speaker2"))),
                         states, self)

    def init(self, k: Kernel, mod: Module, enable: Callable[[], int]) -> int:  # type: ignore[override]
        if param(mod, "noreplace", False) and param(mod, "add_applause", False):
            k.pr(self.name, NOREPLACE_WARNING)
        return enable()

    def welcome(self, k: Kernel, ver: str) -> None:
        """livepatch_speaker_welcome(2): the applause text of the shadow variable, if any, then welcome."""
        applause = klp_shadow_get(k, SHADOW_NULL, APPLAUSE_ID)
        k.pr(self.name, f"livepatch_speaker_welcome{ver}: {applause or ''}Ladies and gentleman, ...")

    def _set(self, k: Kernel, func: str, text: str) -> None:
        if klp_shadow_get(k, SHADOW_NULL, APPLAUSE_ID) is None:
            k.pr(self.name, f"{func}: {NO_APPLAUSE}: {APPLAUSE_ID}")
            return
        klp_shadow_set(k, SHADOW_NULL, APPLAUSE_ID, text)

    def state_callback(self, k: Kernel, cb: str, patch: KlpPatch, state: KlpState) -> int:
        k.pr(self.name, f"{cb}_applause_callback: state {state.id}")
        if cb == "setup":
            setup_ret = int(param(k.modules[self.name], "setup_ret", 0))
            if setup_ret:
                k.pr(self.name, f"setup_applause_callback: forcing err: {errname(setup_ret)}")
                return setup_ret
            if klp_shadow_alloc(k, SHADOW_NULL, APPLAUSE_ID, "[] ") is None:
                k.pr(self.name, "allocate_applause: failed to allocated shadow variable for storing an "
                                "applause description")
                return -ENOMEM
        elif cb == "enable":
            self._set(k, "set_applause", "[APPLAUSE] ")
        elif cb == "disable":
            self._set(k, "unset_applause", "")
        elif cb == "release":
            if klp_shadow_get(k, SHADOW_NULL, APPLAUSE_ID) is None:
                k.pr(self.name, f"free_applause: {NO_APPLAUSE}: {APPLAUSE_ID}")
            klp_shadow_free(k, SHADOW_NULL, APPLAUSE_ID, None)
        return 0


# -- test_klp_state, test_klp_state2, test_klp_state3 -----------------------------------------------


class PocStateModule(ModuleFixture):
    """test_klp_state(2,3) after 7/7 (one source): state 1 keeps the console_loglevel in a shadow variable."""

    livepatch = True
    writable = frozenset({"block_state_disable"})

    def __init__(self, name: str) -> None:
        self.name = name

    def spec(self, p: dict[str, Any]) -> PatchSpec:
        states: tuple[StateSpec, ...] = ()
        if not p.get("no_state", False):
            states = (StateSpec(1, block_disable=bool(p.get("block_state_disable", False)),
                                callbacks=STATE_CALLBACKS),)
        return PatchSpec(self.name, True, (ObjSpec(VMLINUX, ()),), states, self)

    def state_callback(self, k: Kernel, cb: str, patch: KlpPatch, state: KlpState) -> int:
        k.pr(self.name, f"{cb}_state_callback: state {state.id}")
        exists = klp_shadow_get(k, CONSOLE_LOGLEVEL, state.id) is not None
        if cb == "setup":
            if klp_shadow_alloc(k, CONSOLE_LOGLEVEL, state.id, "saved") is None:
                k.pr(self.name, "allocate_loglevel_state: failed to allocated shadow variable for storing "
                                "original loglevel")
                return -ENOMEM
            k.pr(self.name, "allocate_loglevel_state: allocating space to store console_loglevel")
        elif cb == "enable" and exists:
            k.pr(self.name, "fix_console_loglevel: fixing console_loglevel")
        elif cb == "disable" and exists:
            k.pr(self.name, "restore_console_loglevel: restoring console_loglevel")
        elif cb == "release" and exists:
            k.pr(self.name, "free_loglevel_state: freeing space for the stored console_loglevel")
            klp_shadow_free(k, CONSOLE_LOGLEVEL, state.id, None)
        return 0

    def param_read(self, k: Kernel, mod: Module, name: str) -> str | None:
        if name == "block_state_disable":
            blocked = bool(param(mod, "block_state_disable", False))
            k.pr(self.name, f"block_state_disable_get: Disable transition is "
                            f"{'not supported' if blocked else 'supported'} by state: 1")
            return ""
        return None


def poc_fixtures() -> Fixtures:
    """The POC's lib/livepatch test modules after 7/7."""
    lp = SpeakerLivepatch("test_klp_speaker_livepatch")
    lp2 = SpeakerLivepatch("test_klp_speaker_livepatch2")
    states = {name: PocStateModule(name) for name in ("test_klp_state", "test_klp_state2", "test_klp_state3")}
    specs: dict[str, Callable[[dict[str, Any]], PatchSpec]] = {lp.name: lp.spec, lp2.name: lp2.spec}
    specs.update({name: st.spec for name, st in states.items()})
    fixtures: dict[str, ModuleFixture] = {SPEAKER: Speaker(SPEAKER, ""), SPEAKER2: Speaker(SPEAKER2, "2"),
                                          lp.name: lp, lp2.name: lp2}
    fixtures.update(states)
    return Fixtures("", specs, fixtures)


__all__ = ["PocStateModule", "Speaker", "SpeakerLivepatch", "poc_fixtures"]
