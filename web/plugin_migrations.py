"""Plugin migrations: each plugin's own Alembic chain on its own version table.

A plugin registers its script directory through ``courtyard_register_migrations``;
``courtyard db upgrade`` runs Courtyard's chain, then every installed plugin's chain
with ``version_table="alembic_version_plugin_<name>"``. A plugin's ``env.py`` is::

    from web.plugin_migrations import run_env
    import courtyard_myplugin.models  # noqa: F401  (the plugin's tables)

    run_env()

and ``alembic revision --autogenerate`` (run through ``plugin_config``) only ever sees
the plugin's own ``plugin_<name>_`` tables.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pluggy

from core.plugins import collect, make_plugin_manager

PLUGIN_OPTION = "courtyard_plugin"


def version_table(plugin: str) -> str:
    return f"alembic_version_plugin_{plugin}"


def table_prefix(plugin: str) -> str:
    return f"plugin_{plugin}_"


def migration_dirs(pm: pluggy.PluginManager) -> dict[str, Path]:
    """``{plugin name: script directory}`` for every plugin that registered one."""
    out: dict[str, Path] = {}
    for plugin, path in collect(pm, "courtyard_register_migrations"):
        if isinstance(path, tuple):
            path = path[0]
        out.setdefault(plugin, Path(path))
    return out


def plugin_config(plugin: str, script_location: str | Path, database_url: str):
    """An Alembic ``Config`` for one plugin's chain."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    cfg.set_main_option(PLUGIN_OPTION, plugin)
    cfg.set_main_option("version_table", version_table(plugin))
    return cfg


def configured_manager() -> pluggy.PluginManager:
    """The plugins this installation runs: installed community plugins only where
    ``COURTYARD_PLUGIN_ENTRYPOINTS`` allows them, without the blocked ones — the same set
    the server loads, so ``db upgrade`` never migrates a plugin the server would not run."""
    from web.config import load_config

    config = load_config(check=False)
    return make_plugin_manager(entrypoints=config["PLUGIN_ENTRYPOINTS"], blocked=config["BLOCKED_PLUGINS"])


def upgrade(database_url: str, *, pm: pluggy.PluginManager | None = None, core_revision: str = "head",
            echo: Callable[[str], Any] = lambda line: None) -> list[str]:
    """Courtyard's chain to ``core_revision``, then every plugin's chain to its head.
    Returns the names of the plugins migrated."""
    from alembic import command

    from web.cli import alembic_config

    command.upgrade(alembic_config(database_url), core_revision)
    pm = pm or configured_manager()
    done = []
    for plugin, path in sorted(migration_dirs(pm).items()):
        command.upgrade(plugin_config(plugin, path, database_url), "head")
        echo(f"plugin {plugin}: at head ({version_table(plugin)})")
        done.append(plugin)
    return done


def downgrade_plugin(database_url: str, plugin: str, revision: str, *, pm: pluggy.PluginManager | None = None) -> None:
    """Undo one plugin's migrations down to ``revision`` (``base`` drops its tables)."""
    from alembic import command

    dirs = migration_dirs(pm or configured_manager())
    if plugin not in dirs:
        raise LookupError(f"plugin {plugin!r} has no migrations (installed: {', '.join(sorted(dirs)) or 'none'})")
    command.downgrade(plugin_config(plugin, dirs[plugin], database_url), revision)


def run_env(target_metadata: Any = None) -> None:
    """The body of a plugin's ``env.py``: configure Alembic on the plugin's own version
    table, looking only at the plugin's own tables."""
    from alembic import context
    from sqlalchemy import pool

    from core.db import Base, make_engine

    config = context.config
    plugin = config.get_main_option(PLUGIN_OPTION)
    if not plugin:
        raise RuntimeError("run this chain through `courtyard db upgrade` (plugin name unknown)")
    prefix = table_prefix(plugin)
    metadata = target_metadata if target_metadata is not None else Base.metadata

    def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        table = obj if type_ == "table" else getattr(obj, "table", None)
        table_name = name if type_ == "table" else getattr(table, "name", "")
        return bool(table_name and table_name.startswith(prefix))

    options = dict(target_metadata=metadata, version_table=version_table(plugin), include_object=include_object,
                   render_as_batch=True, compare_type=True)
    if context.is_offline_mode():
        context.configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True, **options)
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, **options)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url"), poolclass=pool.NullPool)
    with engine.connect() as conn:
        context.configure(connection=conn, **options)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()
