"""The plugin's own Alembic chain, on the version table alembic_version_plugin_volunteer_points."""

import courtyard_volunteer_points.models  # noqa: F401  (the plugin's tables)
from web.plugin_migrations import run_env

run_env()
