"""``python -m klpmc``: the same as the ``klpmc`` command."""

from klpmc.cli import main

main()
