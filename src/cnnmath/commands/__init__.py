"""Subcommands of the ``cnnmath`` CLI, one module each (see ``cnnmath.cli``)."""
