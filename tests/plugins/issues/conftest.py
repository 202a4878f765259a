"""The fixtures of the residents' issues tests (helpers live in issues_world.py)."""

from tests.plugins.issues.issues_world import iw  # noqa: F401
