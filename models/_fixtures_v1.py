"""The v1 series' test modules (tools/testing/selftests/livepatch/test_modules after v1 03-16/19).

From the mails of "[PATCH v1 00/19] livepatch: Better integrate callbacks and shadow variables with the states
API" <20250115082431.5550-{1..20}-pmladek@suse.com>; what each module prints and does is described in
/work/shared/oracles/series/INDEX.md. Each fixture mirrors its module's code: the same messages (pr_fmt
``<module>: ``), the same shadow variables, and the same functions that a livepatch redirects.

- test_klp_speaker, test_klp_speaker2 (the same source with SPEAKER_ID "(2)"): targets with the parameters
  ``welcome`` (reading it calls speaker_welcome()) and ``block_doors`` (setting it queues a work item whose
  block_doors_func() sleeps in do_block_doors() until the parameter is cleared). The worker is a tracked task
  (`_klp.Task`): which version of block_doors_func() and speaker_welcome() it runs is what
  klp_ftrace_handler() picks for its patch state, and klp_check_stack() lets it block a transition.
- test_klp_speaker_livepatch, test_klp_speaker_livepatch2 (the same source): patch speaker_welcome() and
  block_doors_func() of both speakers; parameters applause (state 10), applause2 (state 11), pre_patch_ret,
  replace. Each state is_shadow with a shadow variable <NULL, id> holding the applause text.
- test_klp_state, test_klp_state2, test_klp_state3 (the same source after 04/19): replace, state 1 is_shadow
  with a shadow variable <&console_loglevel, 1>; parameters state_block_disable and no_state, read at init.
- test_klp_livepatch, test_klp_syscall, test_klp_atomic_replace: mainline's, unchanged by the series.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._fixtures import SHADOW_NULL, Fixtures, ModuleFixture, param, upstream_fixtures
from ._kernel import klp_ftrace_handler, klp_shadow_alloc, klp_shadow_get, klp_shadow_set
from ._klp import (
    EBUSY,
    EINVAL,
    ENOMEM,
    ERRNO_NAME,
    KLP_TRANSITION_IDLE,
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

SPEAKER, SPEAKER2 = "test_klp_speaker", "test_klp_speaker2"
SPEAKER_ID = {SPEAKER: "", SPEAKER2: "(2)"}
LP_WELCOME = {SPEAKER: "lp_speaker_welcome", SPEAKER2: "lp_speaker2_welcome"}
LP_BLOCK_DOORS = {SPEAKER: "lp_block_doors_func", SPEAKER2: "lp_block_doors_func2"}
APPLAUSE_START_ID, APPLAUSE_NUM = 10, 2
CONSOLE_LOGLEVEL = "console_loglevel"   # the obj pointer of test_klp_state's shadow variable


def _pe(err: int) -> str:
    """%pe of ERR_PTR(err): the symbolic errno name."""
    return f"-{ERRNO_NAME[-err]}" if -err in ERRNO_NAME else str(err)


# -- test_klp_speaker.c ------------------------------------------------------------------------------


def speaker_welcome(k: Kernel, speaker: str, context: str, patch_state: int | None) -> None:
    """A call of speaker_welcome(context) from a task in patch_state: the original or a livepatch's."""
    impl = klp_ftrace_handler(k, speaker, "speaker_welcome", patch_state)
    if impl is None:
        k.pr(speaker, f"speaker_welcome{SPEAKER_ID[speaker]}: Hello, World!{context}")
    else:
        lp_speaker_welcome(k, impl, speaker, context)


class Speaker(ModuleFixture):
    """test_klp_speaker / test_klp_speaker2; ``mod.priv`` is [block_doors]."""

    def __init__(self, name: str) -> None:
        self.name = name

    @staticmethod
    def _block_doors(mod: Module) -> bool:
        return bool(mod.priv[0]) if mod.priv else False

    def params_set(self, k: Kernel, mod: Module) -> None:
        """parse_args() after klp_module_coming(): block_doors=1 on the command line runs the setter."""
        mod.priv = [False]
        if "block_doors" in mod.params:
            self.block_doors_set(k, mod, bool(mod.params["block_doors"]))

    def block_doors_set(self, k: Kernel, mod: Module, block: bool) -> int:
        """block_doors_set(): start the worker that blocks the doors, or stop it and flush_work()."""
        if block == self._block_doors(mod):
            if block:
                k.pr(self.name, "block_doors_set: The doors are already blocked.")
                return -EBUSY
            k.pr(self.name, "block_doors_set: The doors are not being blocked.")
            return -EINVAL
        mod.priv = [block]
        if block:
            self.block_doors_func(k)
        else:
            for task in self._workers(k):
                self.do_block_doors_return(k, task)
        return 0

    def block_doors_func(self, k: Kernel) -> None:
        """The work item: block_doors_func(), or a livepatch's version of it, sleeping in do_block_doors().

        A worker that starts during a transition is taken as already switched (like the harness's processes).
        """
        state = KLP_TRANSITION_IDLE if k.transition is None else k.target
        impl = klp_ftrace_handler(k, self.name, "block_doors_func", None)
        if impl is None:
            k.pr(self.name, f"block_doors_func: Going to block doors{SPEAKER_ID[self.name]}.")
        else:
            k.pr(impl, f"{LP_BLOCK_DOORS[self.name]}: Going to block doors{SPEAKER_ID[self.name]} (fixed).")
        k.pr(self.name, "do_block_doors: Started blocking doors.")
        k.tasks.append(Task(TaskS("kworker", self.name, "block_doors_func", impl, state)))

    def do_block_doors_return(self, k: Kernel, task: Task) -> None:
        """do_block_doors() sees block_doors cleared: welcome from the worker's patch state, then return."""
        k.pr(self.name, "do_block_doors: Stopped blocking doors.")
        speaker_welcome(k, self.name, " <--- from blocked doors", task.patch_state)
        k.tasks.remove(task)

    def _workers(self, k: Kernel) -> list[Task]:
        return [t for t in k.tasks if t.name == "kworker" and t.obj == self.name]

    def init(self, k: Kernel, mod: Module, enable: Callable[[], int]) -> int:  # type: ignore[override]
        k.pr(self.name, "test_klp_speaker_init")
        return 0

    def exit(self, k: Kernel, mod: Module) -> None:
        """test_klp_speaker_exit(): show_over ends a blocking worker silently (block_doors is still set)."""
        k.pr(self.name, "test_klp_speaker_exit")
        for task in self._workers(k):
            k.tasks.remove(task)

    def param_write(self, k: Kernel, mod: Module, name: str, value: str) -> int | None:
        if name == "block_doors":
            return self.block_doors_set(k, mod, value.strip() in ("1", "Y", "y", "true"))
        return None

    def param_read(self, k: Kernel, mod: Module, name: str) -> str | None:
        if name == "welcome":
            speaker_welcome(k, self.name, "", None)
            return ""
        if name == "block_doors":
            blocked = self._block_doors(mod)
            k.pr(self.name, "The doors are blocked." if blocked else "The doors are not blocked.")
            return ""
        return None


# -- test_klp_speaker_livepatch.c ----------------------------------------------------------------------


def _idx_str(id: int) -> str:
    """state_id_to_idx_str(): "" for the first applause, "2" for the second."""
    idx = id - APPLAUSE_START_ID
    return "" if idx <= 0 or idx >= APPLAUSE_NUM else str(idx + 1)


def lp_speaker_welcome(k: Kernel, lp: str, speaker: str, context: str) -> None:
    """__lp_speaker_welcome(): the applause texts of <NULL, 10> and <NULL, 11>, then the better greeting."""
    applause = "".join(str(klp_shadow_get(k, SHADOW_NULL, APPLAUSE_START_ID + i)) for i in range(APPLAUSE_NUM)
                       if klp_shadow_get(k, SHADOW_NULL, APPLAUSE_START_ID + i) is not None)
    if applause:
        applause += " "
    k.pr(lp, f"{LP_WELCOME[speaker]}{SPEAKER_ID[speaker]}: {applause}Ladies and gentleman, ...{context}")


class SpeakerLivepatch(ModuleFixture):
    """test_klp_speaker_livepatch / 2: the applause states' callbacks and their shadow variables."""

    livepatch = True

    def __init__(self, name: str) -> None:
        self.name = name

    def spec(self, p: dict[str, Any]) -> PatchSpec:
        """The patch as applause_init() and the init function build it from the parameters."""
        ids = [APPLAUSE_START_ID + i for i, on in enumerate((p.get("applause"), p.get("applause2"))) if on]
        objs = tuple(ObjSpec(t, ("speaker_welcome", "block_doors_func")) for t in (SPEAKER, SPEAKER2))
        states = tuple(StateSpec(i, 1, False, True, STATE_CALLBACKS, True) for i in ids)
        return PatchSpec(self.name, bool(p.get("replace", False)), objs, states, self)

    def _applause(self, k: Kernel, func: str, id: int, text: str | None) -> None:
        """set_applause() / unset_applause() / check_applause(): the shadow variable must exist."""
        if klp_shadow_get(k, SHADOW_NULL, id) is None:
            k.pr(self.name, f"{func}: failed to get shadow variable with the applause description: {id}")
            return
        if text is not None:
            klp_shadow_set(k, SHADOW_NULL, id, text)

    def state_callback(self, k: Kernel, cb: str, patch: KlpPatch, state: KlpState) -> int:
        id = state.id
        if cb == "pre_patch":
            k.pr(self.name, f"applause_pre_patch_callback: state {id}")
            ret = int(param(k.modules[self.name], "pre_patch_ret", 0))
            if ret:
                k.pr(self.name, f"applause_pre_patch_callback: forcing err: {_pe(ret)}")
                return ret
            if klp_shadow_alloc(k, SHADOW_NULL, id, f"[{_idx_str(id)}]") is None:   # allocate_applause()
                k.pr(self.name, "allocate_applause: failed to allocated shadow variable for storing an "
                                "applause description")
                return -ENOMEM
        elif cb == "post_patch":
            k.pr(self.name, f"applause_post_patch_callback: state {id}")
            self._applause(k, "set_applause", id, f"[APPLAUSE{_idx_str(id)}]")
        elif cb == "pre_unpatch":
            k.pr(self.name, f"applause_pre_unpatch_callback: state {id}")
            self._applause(k, "unset_applause", id, f"[{_idx_str(id)}]")
        elif cb == "post_unpatch":
            k.pr(self.name, f"applause_post_unpatch_callback: state {id} (nope)")
            self._applause(k, "check_applause", id, None)
        return 0

    def shadow_dtor(self, k: Kernel, patch_name: str, state_id: int, obj: Any, data: Any) -> None:
        k.pr(patch_name, f"applause_shadow_dtor: freeing applause {data} (nope)")

    def param_write(self, k: Kernel, mod: Module, name: str, value: str) -> int | None:
        return None   # every parameter is 0400


# -- test_klp_state.c (v1 03+04/19) ---------------------------------------------------------------------


class StateV1(ModuleFixture):
    """test_klp_state / 2 / 3: state 1 keeps the console loglevel in a shadow variable."""

    livepatch = True

    def __init__(self, name: str) -> None:
        self.name = name

    def spec(self, p: dict[str, Any]) -> PatchSpec:
        """states[0].block_disable = state_block_disable; no_state drops the states array (read at init)."""
        states = () if p.get("no_state") else (
            StateSpec(1, 1, bool(p.get("state_block_disable", False)), True, STATE_CALLBACKS, True),)
        return PatchSpec(self.name, True, (ObjSpec(VMLINUX, ()),), states, self)

    def state_callback(self, k: Kernel, cb: str, patch: KlpPatch, state: KlpState) -> int:
        exists = klp_shadow_get(k, CONSOLE_LOGLEVEL, 1) is not None
        if cb == "pre_patch":
            k.pr(self.name, f"pre_patch_callback: state {state.id}")
            if klp_shadow_alloc(k, CONSOLE_LOGLEVEL, 1, "loglevel") is None:   # allocate_loglevel_state()
                k.pr(self.name, "allocate_loglevel_state: failed to allocate shadow variable for the "
                                "original loglevel")
                return -ENOMEM
            k.pr(self.name, "allocate_loglevel_state: allocating space to store console_loglevel")
        elif cb == "post_patch":
            k.pr(self.name, f"post_patch_callback: state {state.id}")
            if exists:
                k.pr(self.name, "fix_console_loglevel: fixing console_loglevel")
        elif cb == "pre_unpatch":
            k.pr(self.name, f"pre_unpatch_callback: state {state.id}")
            if exists:
                k.pr(self.name, "restore_console_loglevel: restoring console_loglevel")
        elif cb == "post_unpatch":
            k.pr(self.name, f"post_unpatch_callback: state {state.id} (nope)")
        return 0

    def shadow_dtor(self, k: Kernel, patch_name: str, state_id: int, obj: Any, data: Any) -> None:
        k.pr(patch_name, "shadow_conosle_loglevel_dtor: freeing space for the stored console_loglevel")

    def param_write(self, k: Kernel, mod: Module, name: str, value: str) -> int | None:
        return 0 if name in ("state_block_disable", "no_state") else None   # read only at init


def v1_fixtures(get_state: Any, get_prev_state: Any) -> Fixtures:
    """The v1 test modules, plus mainline's that the v1 scripts still use (test-livepatch.sh)."""
    up = upstream_fixtures(get_state, get_prev_state)
    fixtures: dict[str, ModuleFixture] = {SPEAKER: Speaker(SPEAKER), SPEAKER2: Speaker(SPEAKER2)}
    specs: dict[str, Callable[[dict[str, Any]], PatchSpec]] = {}
    for name in ("test_klp_speaker_livepatch", "test_klp_speaker_livepatch2"):
        lp = SpeakerLivepatch(name)
        fixtures[name], specs[name] = lp, lp.spec
    for name in ("test_klp_state", "test_klp_state2", "test_klp_state3"):
        st = StateV1(name)
        fixtures[name], specs[name] = st, st.spec
    for name in ("test_klp_livepatch", "test_klp_syscall", "test_klp_atomic_replace"):
        fixtures[name], specs[name] = up.fixtures[name], up.specs[name]
    return Fixtures(up.module_dir, specs, fixtures, up.proc_files)


__all__ = ["Speaker", "SpeakerLivepatch", "StateV1", "v1_fixtures"]
