"""The property catalogue: ``CATALOGUE``, a tuple of ``klpmc.props.Property`` (see docs/design.md)."""
