"""klpmc: an explicit-state model checker for the Linux kernel livepatch core.

The engine (`klpmc.engine`, `klpmc.props`) is generic; the livepatch models live in `klpmc.models` and the
property catalogue in `klpmc.properties`.
"""

__version__ = "0.1.0"
