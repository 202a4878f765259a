"""``courtyard rotation ...`` commands (registered through ``courtyard_register_commands``)."""

from __future__ import annotations

import json

import click


@click.group("rotation")
def rotation() -> None:
    """Courtyard talk rota (院长轮值)."""


@rotation.command("remind")
@click.option("--json", "as_json", is_flag=True, help="Print what was sent as JSON.")
def remind(as_json: bool) -> None:
    """Send the reminders that are due: hosts and attendees 24 h before a talk, staff when
    a date a week ahead has no host. Safe to run every few minutes from cron: a reminder
    is never sent twice."""
    from core.db import session_scope, utcnow
    from core.services.rotation import send_due_reminders
    from web import create_app

    app = create_app()
    with session_scope(app.extensions["courtyard"].sessionmaker) as db:
        sent = send_due_reminders(db, now=utcnow())
    if as_json:
        click.echo(json.dumps([{"kind": k, "target": t} for k, t in sent], ensure_ascii=False))
    else:
        click.echo(f"{len(sent)} reminder(s) sent")
