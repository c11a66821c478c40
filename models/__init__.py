"""The livepatch models; each public module exports ``MODEL: klpmc.registry.ModelDef``."""
