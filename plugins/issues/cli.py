"""``courtyard issues escalate``: run the escalation of overdue issues (from cron)."""

from __future__ import annotations

import click


@click.group()
def issues() -> None:
    """Residents' issues."""


@issues.command("escalate")
@click.option("--community", "slug", default=None, help="Only this community (its slug).")
def escalate(slug: str | None) -> None:
    """Escalate every overdue issue one level up per overdue period (grid → community → street).
    Safe to run as often as you like, e.g. hourly from cron."""
    from core.db import session_scope
    from core.services import issues as issues_service
    from core.services.access import community_by_slug
    from web import create_app

    app = create_app()
    cy = app.extensions["courtyard"]
    with session_scope(cy.sessionmaker) as db:
        community_id = community_by_slug(db, slug).id if slug else None
        moved = issues_service.escalate_overdue(db, community_id=community_id)
        lines = [f"#{issue.id} {issue.title}: {source.name} -> {target.name}" for issue, source, target in moved]
    for line in lines:
        click.echo(line)
    click.echo(f"{len(lines)} escalation(s)")
