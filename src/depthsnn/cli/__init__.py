"""The ``depthsnn`` command line: one module per sub-command, each exposing ``register``."""
