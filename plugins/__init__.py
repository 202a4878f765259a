"""Courtyard's built-in plugins. Each is an ordinary plugin a community could have
written: it uses only the hooks in :mod:`core.hookspecs` and never imports ``web``."""
