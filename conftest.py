"""Make a source checkout import like an installed klpmc: models/ as klpmc.models, properties/ as
klpmc.properties (see `klpmc.registry.map_source_checkout`).  Import them as ``klpmc.models.*`` everywhere,
never as top-level ``models``, or a module is loaded twice under two names.
"""

from klpmc.registry import map_source_checkout

map_source_checkout()
