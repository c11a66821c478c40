"""Rules only real code can break: the harness of the kernel's C reports what went wrong in a step.

A step that cannot finish (a crash, a double free, a wait nothing ends) leads to a dead end whose
``finding`` field names it, and logs an event of its kind; a WARN logs a ``WARN`` event and goes on.
The Python models can report a hang too (a test module whose init waits forever).
"""

from __future__ import annotations

from typing import Any

from klpmc.models import StepView as Step
from klpmc.models import View

from klpmc.logic import AND, NOT, all_of
from klpmc.props import state_property, step_property

FINDINGS = {
    "no-crash": ("crash",),
    "no-bad-free": ("double-free", "invalid-free"),
    "no-hang": ("hang", "deadlock"),
    "no-refcount-underflow": ("refcount",),
}


def _none_of(kinds: tuple[str, ...]) -> Any:
    def rule(b: View, t: Step, a: View) -> Any:
        return all_of(NOT(AND(t.present(e), t.cb(e, kinds))) for e in t.events)

    rule.__doc__ = f"No step ends in {' or '.join(kinds)}."
    return rule


def no_warn(b: View, t: Step, a: View) -> Any:
    """No WARN_ON or WARN fires."""
    warns = [n for n in t.vocab.callbacks if n.startswith("WARN")]
    return all_of(NOT(AND(t.present(e), t.cb(e, warns))) for e in t.events)


def no_leak_when_idle(s: View) -> Any:
    """Once no module is loaded, nothing the modules made stays allocated or registered with ftrace."""
    return s.f("leaked") == 0


def harness_could_run(s: View) -> Any:
    """Every step ran to its end: none stopped at a limit of the harness (its arena, its tables)."""
    return s.finding() == 0


CATALOGUE = (
    step_property("no-warn", "step", "no WARN_ON or WARN fires", no_warn),
    step_property("no-crash", "step", "no step crashes (a NULL or poisoned pointer, a bad address)",
                  _none_of(FINDINGS["no-crash"])),
    step_property("no-bad-free", "step", "no double or invalid kfree", _none_of(FINDINGS["no-bad-free"])),
    step_property("no-hang", "step", "no step waits forever or deadlocks", _none_of(FINDINGS["no-hang"])),
    step_property("no-refcount-underflow", "step", "no kobject or module reference count goes below zero",
                  _none_of(FINDINGS["no-refcount-underflow"])),
    state_property("no-leak-when-idle", "always",
                   "once no module is loaded, nothing stays allocated or registered with ftrace", no_leak_when_idle),
)

REQUIRES = {
    "no-crash": ("kernel_c",),
    "no-bad-free": ("kernel_c",),
    "no-refcount-underflow": ("kernel_c",),
    "no-leak-when-idle": ("kernel_c",),
}
