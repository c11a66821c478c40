"""The typed contracts between klpmc and a model: what every model has, what a model may add, what z3 needs.

`Model` is what the engine explores. Each optional hook is a Protocol of its own, checked with
``isinstance`` where it is used (the Protocols are runtime-checkable: a model has the hook when it has the
method), so mypy knows the hook's type after the check and nothing probes attributes by name:

==================  ==============================================  ==========================================
hook                Protocol                                        used by
==================  ==============================================  ==========================================
``fingerprint``     `Fingerprints`: what the visited set keeps      the engine, the state graph
``keep``            `Keeps`: the bulk of a state it will expand     the engine, conform
``checker``         `Compiles`: the rules compiled for a config     the engine (check)
``predicate``       `BindsRules`: a rule over views as a predicate  the engine, prove --unbounded
``command``         `Commands`: the shell command of a label        output, traces
``describe``        `Describes`: a short summary of a state         graphs, ITF
``fields``          `NamesFields`: a state's named integer fields   ITF
``event_key``, ...  `KeysEvents`: events in a shared vocabulary      diff
``take``            `Takes`: one labelled step, without the others  conform
``as_json`` (event) `JsonEvent`: a structured log item              output, diff
``internal``        `HasInternal`: steps of its own, not the spec's  conform
``relational``      `HasRelational`: the first-order form           prove --unbounded
==================  ==============================================  ==========================================

`SymbolicModel` is a model with symbolic views (z3 terms for the fields its rules read): ``klpmc check
--vacuity`` and ``klpmc prove`` need it.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, runtime_checkable

from klpmc.props import Property

if TYPE_CHECKING:
    from klpmc.logic import Domain

__all__ = [
    "BindsRules",
    "Commands",
    "CompiledRules",
    "Compiles",
    "Describes",
    "Faults",
    "Fingerprints",
    "HasInternal",
    "HasRelational",
    "JsonEvent",
    "Keeps",
    "KeysEvents",
    "Label",
    "Log",
    "Model",
    "NamesFields",
    "State",
    "SymbolicModel",
    "Takes",
    "WritesModules",
]

State: TypeAlias = Any  # immutable and hashable; the engine only hashes and compares states
Label: TypeAlias = Hashable
Log: TypeAlias = tuple[object, ...]


class Model(Protocol):
    """What the engine needs from a model.

    ``next_steps`` yields ``(label, successor, log)`` in a deterministic order and never mutates its input.
    """

    def init_states(self) -> Iterable[State]: ...

    def next_steps(self, state: State, /) -> Iterable[tuple[Label, State, Log]]: ...


@runtime_checkable
class Fingerprints(Protocol):
    """The visited set keeps ``fingerprint(state)`` instead of the state (states equal when these are)."""

    def fingerprint(self, state: State, /) -> Hashable: ...


@runtime_checkable
class Keeps(Protocol):
    """``keep(state)``: the state as it will be expanded, taken only of states the engine keeps."""

    def keep(self, state: State, /) -> State: ...


class CompiledRules(Protocol):
    """Properties compiled for one configuration: each call gives every property's value at once."""

    state: Callable[[State], Sequence[Any]]
    step: Callable[..., Sequence[Any]]


@runtime_checkable
class Compiles(Protocol):
    """``checker(props)``: the properties compiled against the model's states."""

    def checker(self, props: Sequence[Property], /) -> CompiledRules: ...


@runtime_checkable
class BindsRules(Protocol):
    """``predicate(prop)``: a rule over views as a predicate over the model's states and steps."""

    def predicate(self, prop: Property, /) -> Callable[..., bool]: ...


@runtime_checkable
class Commands(Protocol):
    """``command(label)``: the shell command a person types for the step, if any."""

    def command(self, label: Label, /) -> str | None: ...


@runtime_checkable
class Faults(Protocol):
    """``fault(label)``: the call the step makes fail, ``{call, patch, where, inside_kernel, command}``,
    where ``command`` makes it fail from a shell (None when nothing can)."""

    def fault(self, label: Label, /) -> dict[str, Any] | None: ...


@runtime_checkable
class WritesModules(Protocol):
    """``livepatch_api()``: the livepatch API of the tree the model runs, as ``(name, api)``: the name for
    people (``mainline``, ``poc``, ``v1``, ...), the `klpmc.kmodgen.KernelAPI` for the module generator."""

    def livepatch_api(self) -> tuple[str, Any]: ...


@runtime_checkable
class Describes(Protocol):
    """``describe(state)``: a short summary for graph node labels and ITF's ``#meta``."""

    def describe(self, state: State, /) -> str: ...


@runtime_checkable
class NamesFields(Protocol):
    """``fields(state)``: the state as named integers (ITF)."""

    def fields(self, state: State, /) -> dict[str, int]: ...


@runtime_checkable
class KeysEvents(Protocol):
    """Events in a vocabulary variants share: ``event_key(item)`` (kind first) and the kinds produced."""

    def event_key(self, item: Any, /) -> tuple[Any, ...] | None: ...

    def event_kinds(self) -> set[str]: ...


@runtime_checkable
class JsonEvent(Protocol):
    """A structured item of a step's log (a callback that ran, a shadow free): ``as_json()`` for output."""

    def as_json(self) -> Any: ...


@runtime_checkable
class Takes(Protocol):
    """``take(state, label)``: the one step of that label, or None when it is not enabled."""

    def take(self, state: State, label: Label, /) -> tuple[Label, State, Log] | None: ...


@runtime_checkable
class HasInternal(Protocol):
    """``internal(label)``: a step the model takes on its own that a specification does not have."""

    def internal(self, label: Label, /) -> bool: ...


@runtime_checkable
class HasRelational(Protocol):
    """``relational(rules)``: the model's first-order form with the catalogue's first-order rules."""

    def relational(self, rules: Any, /) -> Any: ...


@runtime_checkable
class SymbolicModel(Model, Protocol):
    """A model with symbolic views: its vocabulary, views whose fields are z3 terms, and concrete values."""

    def signature(self) -> Any: ...

    def symbolic_state(self, prefix: str, sig: Any = None, /) -> tuple[Any, Domain]: ...

    def symbolic_step(self, prefix: str, sig: Any = None, /) -> tuple[Any, Domain]: ...

    def flatten_state(self, state: State, prefix: str, sig: Any = None, /) -> dict[str, int]: ...

    def flatten_step(self, label: Label, log: Log, prefix: str, sig: Any = None, /) -> dict[str, int]: ...
