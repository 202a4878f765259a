"""iCalendar (RFC 5545) feeds of courtyard talks, built with the ``icalendar`` library.

Each session is one VEVENT whose UID never changes (``courtyard-session-<id>@<host>``);
every change bumps SEQUENCE (the session's optimistic version) and LAST-MODIFIED, and a
talk called off stays in the feed with ``STATUS:CANCELLED`` so phone calendars remove it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Callable, Iterable

from icalendar import Calendar, Event


def session_uid(session: Any, domain: str) -> str:
    return f"courtyard-session-{session.id}@{domain}"


def build_calendar(entries: Iterable[tuple[Any, bool]], *, name: str, domain: str, now: Any,
                   url_for_session: Callable[[Any], str],
                   location_for: Callable[[Any], str]) -> bytes:
    """``entries`` are ``(ConsultationSession, cancelled)`` pairs."""
    cal = Calendar()
    cal.add("prodid", "-//Courtyard//Courtyard talks//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", name)
    cal.add("refresh-interval", timedelta(hours=1), parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", "PT1H")
    for session, cancelled in entries:
        event = Event()
        event.add("uid", session_uid(session, domain))
        event.add("dtstamp", now)
        event.add("dtstart", session.starts_at)
        event.add("dtend", session.ends_at)
        event.add("summary", session.title)
        location = location_for(session)
        if location:
            event.add("location", location)
        url = url_for_session(session)
        description = "\n".join(x for x in (session.description or "", url) if x)
        if description:
            event.add("description", description)
        event.add("url", url)
        event.add("sequence", max(int(session.version or 1) - 1, 0))
        modified = session.updated_at or session.created_at
        if modified is not None:
            event.add("last-modified", modified)
        event.add("status", "CANCELLED" if cancelled else ("CONFIRMED" if session.status != "draft" else "TENTATIVE"))
        if session.host is not None:
            event.add("organizer", f"urn:courtyard:member:{session.host.id}",
                      parameters={"CN": session.host.display_name})
        cal.add_component(event)
    return cal.to_ical()
