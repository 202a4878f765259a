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


LANGS = click.Choice(["zh_CN", "en"])


def _translator(lang: str):
    """gettext for ``lang`` from the shipped catalogues (the CLI has no request)."""
    from babel.support import Translations

    translations = Translations.load(str(ROOT / "web" / "translations"), [lang], domain="messages")

    def translate(message: str, **params) -> str:
        text = translations.gettext(message)
        return text % params if params else text

    return translate


def _fail(message: str) -> None:
    """One line on stderr, exit status 2 (no traceback)."""
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


def _cli_sessionmaker(_):
    """A sessionmaker on the configured database, or a one-line error when the setting is
    wrong, the server unreachable, or the tables missing."""
    from sqlalchemy import inspect
    from sqlalchemy.exc import SQLAlchemyError

    from core.db import make_engine, make_sessionmaker

    try:
        url = database_url()
        engine = make_engine(url)
        names = set(inspect(engine).get_table_names())
    except ConfigError as exc:
        _fail(str(exc).splitlines()[0])
    except (SQLAlchemyError, OSError) as exc:
        _fail(_("cannot open the database %(url)s: %(reason)s", url=_redact(url),
                reason=str(exc).splitlines()[0]))
    if not {"communities", "households", "audit_log"} <= names:
        _fail(_("the database %(url)s is not set up (or not up to date): run `courtyard db upgrade` first.",
                url=_redact(url)))
    return make_sessionmaker(engine)


@main.group()
def community() -> None:
    """Communities."""


@community.command("create")
@click.argument("slug")
@click.option("--name", "name", required=True, help="The community's name (名称), e.g. 涂新社区.")
@click.option("--name-en", default=None, help="Its English name (default: the same).")
@click.option("--admin", "admin_username", required=True, help="User name of its first administrator.")
@click.option("--admin-name", default=None, help="The administrator's display name (default: the user name).")
@click.option("--street", default=None, help="The street (街道) or town the community belongs to.")
@click.option("--base-url", default=None, help="The address the sign-in link is made for "
              "(default COURTYARD_PUBLIC_URL, else http://127.0.0.1:5000).")
@click.option("--lang", type=LANGS, default="zh_CN", show_default=True, help="Language of the messages.")
def community_create(slug: str, name: str, name_en: str | None, admin_username: str, admin_name: str | None,
                     street: str | None, base_url: str | None, lang: str) -> None:
    """Create community SLUG, its own place and its first administrator; print a one-time
    sign-in link for that administrator (valid 7 days)."""
    from core.db import session_scope
    from core.errors import DomainError
    from core.services import audit
    from core.services.auth import issue_sign_in_token
    from core.services.communities import found_community

    _ = _translator(lang)
    factory = _cli_sessionmaker(_)
    base = (base_url or os.environ.get("COURTYARD_PUBLIC_URL") or "http://127.0.0.1:5000").rstrip("/")
    try:
        with session_scope(factory) as session:
            created, admin = found_community(
                session, actor=None, slug=slug, names={"zh_CN": name, "en": name_en or name},
                admin_username=admin_username, admin_name=admin_name, street=street)
            token = issue_sign_in_token(session, actor=None, member=admin)
            audit.record(session, actor=None, community=created, action="sign_in_link.issue",
                         target=f"member:{admin.id}", details={"lifetime_days": 7})
    except DomainError as exc:
        where = f"{exc.field}: " if exc.field else ""
        _fail(where + _(exc.message, **exc.params))
    address = f"{base}/c/{slug}"
    click.echo(_("Community %(name)s created at %(url)s", name=name, url=address))
    click.echo(_("One-time sign-in link for %(admin)s (valid 7 days, shown once):", admin=admin_username))
    click.echo(f"{base}/s/{token}")


@main.group()
def members() -> None:
    """Members of a community."""


def _problem_line(_, problem: dict) -> str:
    reason = _(problem["message"], **problem["params"])
    if problem["row"] == 0:
        return _("The file: %(reason)s", reason=reason)
    if problem["column"]:
        return _("Row %(row)s, column %(column)s: %(reason)s", row=problem["row"], column=problem["column"],
                  reason=reason)
    return _("Row %(row)s: %(reason)s", row=problem["row"], reason=reason)


@members.command("import")
@click.argument("slug")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check the file and show what would change; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan or result as JSON (messages translated).")
@click.option("--lang", type=LANGS, default="zh_CN", show_default=True, help="Language of the messages.")
def members_import(slug: str, file: Path, dry_run: bool, as_json: bool, lang: str) -> None:
    """Import a roster (CSV or XLSX) into community SLUG: places, households, members,
    roles (docs/roster.md). A file with a bad row writes nothing (exit status 1)."""
    from core.db import session_scope
    from core.errors import NotFound
    from core.roster import read_roster
    from core.services.access import community_by_slug
    from core.services.roster import import_roster

    _ = _translator(lang)
    factory = _cli_sessionmaker(_)
    roster = read_roster(file.read_bytes(), file.name)
    try:
        with session_scope(factory) as session:
            target = community_by_slug(session, slug)
            result = import_roster(session, actor=None, community=target, roster=roster, dry_run=dry_run,
                                   source=file.name)
    except NotFound:
        _fail(_("No community %(slug)s.", slug=slug))
    info = result.as_dict()
    for problem in info["problems"]:
        problem["text"] = _problem_line(_, problem)
    if as_json:
        click.echo(json.dumps(info, ensure_ascii=False, indent=2))
    else:
        if result.problems:
            click.echo(_("%(file)s: %(count)s bad rows; nothing was imported.", file=file.name,
                          count=len(result.problems)))
            for problem in info["problems"]:
                click.echo("  " + problem["text"])
        else:
            click.echo(_("%(file)s: %(rows)s rows.", file=file.name, rows=result.rows) + " "
                       + (_("Dry run: nothing was written.") if dry_run else _("Imported.")))
            m, p, h, r = result.members, result.places, result.households, result.roles
            click.echo(_("Members: %(created)s new, %(updated)s updated, %(unchanged)s unchanged.", **m))
            click.echo(_("Places: %(created)s new, %(matched)s found.", **p))
            click.echo(_("Households: %(created)s new, %(matched)s found.", **h))
            click.echo(_("Roles: %(granted)s granted, %(kept)s already held.", **r))
            if result.missing:
                click.echo(_("Not in the file (%(count)s), to deactivate if they have left:",
                              count=len(result.missing)))
                for gone in result.missing:
                    click.echo(f"  {gone['name']} {gone['place']}".rstrip())
    if result.problems:
        sys.exit(1)


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
