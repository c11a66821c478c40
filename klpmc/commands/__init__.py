"""The subcommands of `klpmc`, one module each; `klpmc.cli` parses and delegates."""
