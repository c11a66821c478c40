"""The typed contracts (klpmc/contracts.py): which hooks each kind of model has, seen as klpmc sees them."""

from __future__ import annotations

import pytest
from toys import Counters

from klpmc import contracts as c
from klpmc.registry import get_model
from klpmc.symbolic import supports

HOOKS = (c.Fingerprints, c.Keeps, c.Compiles, c.BindsRules, c.Commands, c.Describes, c.NamesFields,
         c.KeysEvents, c.Takes, c.HasInternal, c.HasRelational)


def _hooks(model: object) -> set[str]:
    return {h.__name__ for h in HOOKS if isinstance(model, h)}


def test_a_toy_model_is_a_model_with_the_hooks_it_defines() -> None:
    toy = Counters(2, 3)
    assert _hooks(toy) == {"Commands"}
    assert not supports(toy)


@pytest.mark.parametrize("name", ["upstream", "v1", "refcount"])
def test_a_python_model_offers_symbolic_views_and_compiled_rules(name: str) -> None:
    mdef = get_model(name)
    model = mdef.build(mdef.preset("small").config)
    assert supports(model) and isinstance(model, c.SymbolicModel)
    assert _hooks(model) == {"Compiles", "BindsRules", "Commands", "Describes", "NamesFields", "KeysEvents",
                             "HasRelational"}


def test_the_kernel_model_keeps_snapshots_and_takes_one_step() -> None:
    """The C's model (read off its class: building it needs gcc) has the hooks of a state kept as a snapshot."""
    from klpmc.models.kernel import KernelModel

    class Probe(KernelModel):
        def __init__(self) -> None:   # no C: only which methods the class has
            pass

    model = Probe()
    assert _hooks(model) == {"Fingerprints", "Keeps", "Compiles", "BindsRules", "Commands", "Describes",
                             "NamesFields", "KeysEvents", "Takes", "HasInternal"}
    assert supports(model)
