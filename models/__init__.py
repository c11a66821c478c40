"""The livepatch models; each public module exports ``MODEL: klpmc.model.ModelDef``.

What the property catalogue reads of any model is exported here: the `View` of a state and the
`StepView` of a transition (over the field table of `models._fields`), and the names of phases,
callbacks and transition targets the rules compare with.
"""

from ._fields import DISABLED, ENABLED, NONE, SETUP
from ._view import FIRST, IDLE, LAST, PATCHED, SECOND, STATE_CALLBACKS, THIRD, UNPATCHED, StepView, View

__all__ = ["DISABLED", "ENABLED", "FIRST", "IDLE", "LAST", "NONE", "PATCHED", "SECOND", "SETUP", "STATE_CALLBACKS",
           "THIRD", "UNPATCHED", "StepView", "View"]
