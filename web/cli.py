"""The ``courtyard`` command: database migrations, the demo, the server, plugins."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from web.config import ROOT, ConfigError


def alembic_config(database_url: str):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def database_url() -> str:
    from web.config import load_config

    return load_config({"SECRET_KEY": "cli"})["DATABASE_URL"]


class CourtyardGroup(click.Group):
    """The ``courtyard`` group; plugins add commands through ``courtyard_register_commands``,
    loaded the first time a command is looked up (nothing happens at import)."""

    _plugins_loaded = False

    def _load_plugin_commands(self) -> None:
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        from core.plugins import make_plugin_manager

        try:
            pm = make_plugin_manager()
        except Exception as exc:  # a broken install must not take the CLI down
            click.echo(f"warning: plugins not loaded: {exc}", err=True)
            return
        pm.hook.courtyard_register_commands(cli=self)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load_plugin_commands()
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        found = super().get_command(ctx, name)
        if found is None:
            self._load_plugin_commands()
            found = super().get_command(ctx, name)
        return found


@click.group(cls=CourtyardGroup)
def main() -> None:
    """Courtyard: deliberation and voting for resident councils."""


@main.group()
def db() -> None:
    """Database migrations."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Courtyard's own revision.")
@click.option("--core-only", is_flag=True, help="Skip the plugins' chains.")
def db_upgrade(revision: str, core_only: bool) -> None:
    """Apply the migrations (creating the SQLite file under instance/ if needed):
    Courtyard's chain, then each installed plugin's chain on its own version table."""
    from alembic import command

    url = database_url()
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////:memory:"):
        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    if core_only:
        command.upgrade(alembic_config(url), revision)
    else:
        from web.plugin_migrations import upgrade

        upgrade(url, core_revision=revision, echo=click.echo)
    click.echo(f"database at {revision}: {_redact(url)}")


@db.command("downgrade-plugin")
@click.argument("plugin")
@click.argument("revision", default="base")
def db_downgrade_plugin(plugin: str, revision: str) -> None:
    """Undo PLUGIN's migrations down to REVISION (default ``base``: drop its tables)."""
    from web.plugin_migrations import downgrade_plugin

    try:
        downgrade_plugin(database_url(), plugin, revision)
    except LookupError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"plugin {plugin}: at {revision}")


@db.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Undo migrations down to REVISION (``base`` for everything)."""
    from alembic import command

    command.downgrade(alembic_config(database_url()), revision)


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@db.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace PATH if it exists.")
def db_backup(path: Path, force: bool) -> None:
    """Write a consistent copy of the database to PATH while Courtyard keeps serving.

    SQLite: SQLite's online backup (one snapshot; writers go on), checked with
    ``PRAGMA integrity_check``. PostgreSQL: ``pg_dump --format=custom`` (restore with
    ``pg_restore``; docs/operations.md)."""
    from web.backup import BackupError, backup

    try:
        summary = backup(database_url(), path, force=force)
    except (BackupError, ConfigError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(summary)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print what was seeded as JSON.")
@click.option("--base-url", default=None, help="The address links are made for (default http://127.0.0.1:5000).")
def demo(as_json: bool, base_url: str | None) -> None:
    """Seed the demo communities if they are missing (idempotent)."""
    from web import create_app
    from web.demo import seed_demo

    app = create_app()
    base = base_url or os.environ.get("COURTYARD_PUBLIC_URL") or "http://127.0.0.1:5000"
    info = seed_demo(app, base_url=base)
    if as_json:
        click.echo(json.dumps(info, ensure_ascii=False, indent=2))
    else:
        for community in info["communities"]:
            click.echo(f"{community['name']}: {community['url']}")
        click.echo("\nDemo sign-ins:")
        for login in info["logins"]:
            how = login.get("password") and f"user {login['username']} / password {login['password']}" or login["sign_in_url"]
            click.echo(f"  {login['name']} ({login['role']}): {how}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int, help="The (first) port.")
@click.option("--processes", default=1, show_default=True, type=int,
              help="Server processes on ports PORT..PORT+N-1, supervised; above 1 needs PostgreSQL and "
                   "COURTYARD_MESSAGE_QUEUE (Redis), behind nginx with ip_hash (docs/operations.md).")
@click.option("--workers", default=1, type=int, hidden=True)
@click.option("--threads", default=200, show_default=True, type=int, help="Threads per process (threading mode).")
def serve(host: str, port: int, processes: int, workers: int, threads: int) -> None:
    """Serve Courtyard with gunicorn (not the development server), after checking every
    setting; a problem is printed one line each and the exit status is 2."""
    from web.server import run_server

    try:
        sys.exit(run_server(host=host, port=port, workers=workers, threads=threads, processes=processes))
    except ConfigError as exc:
        for line in str(exc).splitlines():
            click.echo(f"error: {line}", err=True)
        sys.exit(2)


@main.group()
def plugins() -> None:
    """Installed plugins."""


@plugins.command("list")
@click.option("--json", "as_json", is_flag=True)
def plugins_list(as_json: bool) -> None:
    """Name, built in or installed, version, hooks, and where each is enabled."""
    from sqlalchemy import inspect

    from core.db import make_engine, make_sessionmaker, session_scope
    from core.plugins import hooks_implemented, make_plugin_manager, plugin_names
    from core.services.communities import list_communities
    from core.services.plugins import enabled_checker

    pm = make_plugin_manager()
    rows = []
    engine = make_engine(database_url())
    communities = []
    if inspect(engine).has_table("communities"):
        with session_scope(make_sessionmaker(engine)) as session:
            communities = [(c.slug, enabled_checker(session, c.id, pm)) for c in list_communities(session)]
    for name in plugin_names(pm):
        dist = pm.distributions.get(name)
        rows.append({
            "name": name,
            "kind": "built-in" if pm.is_builtin(name) else "installed",
            "version": dist[1] if dist else _core_version(),
            "hooks": hooks_implemented(pm, name),
            "enabled_in": [slug for slug, enabled in communities if enabled(name)],
        })
    for failure in pm.load_failures:
        rows.append({"name": failure.name, "kind": "failed to load", "version": "", "hooks": [],
                     "enabled_in": [], "error": failure.error})
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for row in rows:
        click.echo(f"{row['name']:<20} {row['kind']:<15} {row['version']:<10} enabled in: "
                   f"{', '.join(row['enabled_in']) or '-'}")
        if row.get("error"):
            click.echo(f"    error: {row['error']}")
        else:
            click.echo(f"    hooks: {', '.join(row['hooks'])}")


@plugins.command("pin-hooks")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path),
              default=ROOT / "tests" / "plugins" / "hook_signatures.json", show_default=True)
@click.option("--check", is_flag=True, help="Only compare; exit 1 when the pinned signatures differ.")
def plugins_pin_hooks(output: Path, check: bool) -> None:
    """Pin every public hook's name, argument names and call mode (after a deliberate
    change to core/hookspecs.py; the test suite fails on an accidental one)."""
    from core.plugins import hook_signatures

    current = json.dumps(hook_signatures(), indent=2, sort_keys=True) + "\n"
    if check:
        pinned = output.read_text() if output.exists() else ""
        if pinned != current:
            raise click.ClickException(f"hook signatures differ from {output}; run `courtyard plugins pin-hooks`")
        click.echo("hook signatures match")
        return
    output.write_text(current)
    click.echo(f"pinned {len(json.loads(current)['hooks'])} hooks in {output}")


@main.group()
def plugin() -> None:
    """Write a plugin."""


@plugin.command("new")
@click.argument("name")
@click.option("--directory", "-d", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="Where to create courtyard-plugin-NAME/.")
def plugin_new(name: str, directory: Path) -> None:
    """Scaffold a plugin distribution ``courtyard-plugin-NAME`` (package ``courtyard_NAME``)."""
    from web.plugin_template import generate

    try:
        target = generate(name, directory)
    except (ValueError, FileExistsError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"created {target}")
    click.echo(f"next: pip install -e {target} && pytest {target}/tests")


def _core_version() -> str:
    import core

    return core.__version__


if __name__ == "__main__":  # pragma: no cover
    main()
