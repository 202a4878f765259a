"""The ``/live`` Socket.IO namespace (documented in ``docs/realtime.md``).

Thin handlers: load the payload through a schema, call one service in the event's unit
of work, commit, broadcast the stored events to the session's room, acknowledge.
Every emit that changes something carries a client id (``cid``); a retry with the same
id is acknowledged with the first attempt's sequence number and changes nothing.

The process's upkeep (:mod:`plugins.discussion.upkeep`: heartbeat, sweeping dead
processes' connections, taking the floor back when the time runs out) starts with the
first connection.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from flask import current_app, request
from flask_socketio import Namespace, join_room, leave_room
from marshmallow import Schema, ValidationError
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from core.errors import DomainError, Forbidden
from core.i18n import N_
from core.models import Member
from core.services import live as live_service
from plugins.discussion import schemas
from plugins.discussion.state import broadcasts_for, clock_for, limiter_for, recent_events_for, upkeep_for
from web.auth import current_member
from web.db import get_db
from web.extensions import current_courtyard
from web.i18n import Msg, translate, translate_errors

log = logging.getLogger("courtyard.live")

NAMESPACE = "/live"


def room_name(session_id: int) -> str:
    return f"session:{session_id}"


def error_ack(status: int, message: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    """The error acknowledgement: the API's error body (web.errors) with ``ok: false``."""
    from web.errors import error_body

    return {"ok": False, **error_body(status, message, fields)}


class LiveNamespace(Namespace):
    def __init__(self, namespace: str = NAMESPACE):
        super().__init__(namespace)
        #: sid → (session id, participant id), for connections of this process
        self.joined: dict[str, tuple[int, int]] = {}

    # -- plumbing ----------------------------------------------------------

    @property
    def limiter(self) -> Any:
        return limiter_for(current_app)

    def clock(self) -> Any:
        return clock_for(current_app)()

    @property
    def upkeep(self) -> Any:
        return upkeep_for(current_app, self.joined)

    def _guard(self, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        db = get_db()
        try:
            return fn()
        except ValidationError as exc:
            db.rollback()
            messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
            return error_ack(400, translate(N_("Please check the highlighted fields.")), translate_errors(messages))
        except DomainError as exc:
            db.rollback()
            message = translate(exc.message, exc.params)
            return error_ack(exc.status, message, {exc.field: [message]} if exc.field else None)
        except (OperationalError, PoolTimeout):  # the database is down, or every connection is in use
            try:
                db.rollback()
            except Exception:
                pass
            log.exception("database busy in %s", getattr(request, "event", None))
            return error_ack(503, translate(N_("The server is busy; your message will be sent again.")))
        except Exception:
            db.rollback()
            log.exception("unexpected error in /live %s", getattr(request, "event", None))
            return error_ack(500, translate(N_("Something went wrong on our side. Nothing was saved; please try again.")))

    @staticmethod
    def _load(schema: type[Schema], data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise ValidationError({"_schema": [Msg(N_("Send a JSON object."))]})
        return schema().load(data)

    def _context(self):
        entry = self.joined.get(request.sid)
        if entry is None:
            raise Forbidden(N_("Join the session first."))
        session, participant = live_service.context(get_db(), session_id=entry[0], participant_id=entry[1])
        if participant.member_id is not None:
            # the member's sign-in is read again on every event: a phone signed out
            # everywhere, or a member deactivated, stops acting on a connection opened before
            me = current_member()
            if me is None or me.id != participant.member_id:
                self._leave(request.sid)  # and it hears the room no more
                raise Forbidden(N_("Please sign in first."))
        return session, participant

    def _leave(self, sid: str) -> None:
        entry = self.joined.pop(sid, None)
        if entry is None:
            return
        leave_room(room_name(entry[0]))
        try:
            self.upkeep.presence.left(sid, entry[0], entry[1], self.clock())
        except Exception:  # presence is best effort
            log.exception("could not record leaving")

    @property
    def broadcasts(self) -> Any:
        return broadcasts_for(current_app)

    def broadcast(self, session_id: int, events: list[Any]) -> None:
        """Emit committed events to the room (their seqs were announced with
        ``broadcasts.sending`` before the commit)."""
        for event in [e for e in events if e is not None]:
            self.broadcasts.emit(session_id, event.seq, lambda event=event: self.socketio.emit(
                "event", live_service.event_dict(event), to=room_name(session_id), namespace=self.namespace))

    def _commit_and_broadcast(self, session_id: int, events: list[Any]) -> None:
        seqs = [e.seq for e in events if e is not None]
        self.broadcasts.sending(session_id, seqs)
        try:
            get_db().commit()
        except BaseException:
            self.broadcasts.cancel(session_id, seqs)
            raise
        self.broadcast(session_id, events)

    def _expire_floor(self, session_id: int) -> None:
        """The lazy check before a snapshot: take back a floor whose time is up (no write
        unless it is; another process doing it at the same moment makes this a no-op)."""
        db = get_db()
        event = live_service.expire_floor(db, session_id=session_id, now=self.clock())
        if event is not None:
            self._commit_and_broadcast(session_id, [event])

    def _op(self, schema: type[Schema], data: Any, action: Callable[..., Any]) -> dict[str, Any]:
        def run() -> dict[str, Any]:
            payload = self._load(schema, data)
            session, participant = self._context()
            db = get_db()
            key = live_service.client_key(participant, payload.pop("cid"))
            existing = live_service.find_event(db, session_id=session.id, key=key)
            if existing is not None:
                return {"ok": True, "seq": existing.seq, "duplicate": True}
            try:
                event = action(db, session=session, participant=participant, key=key, now=self.clock(), **payload)
                self.broadcasts.sending(session.id, [event.seq])
                try:
                    db.commit()
                except BaseException:
                    self.broadcasts.cancel(session.id, [event.seq])
                    raise
            except IntegrityError:  # the same emit raced in on another connection
                db.rollback()
                existing = live_service.find_event(db, session_id=session.id, key=key)
                if existing is None:
                    raise
                return {"ok": True, "seq": existing.seq, "duplicate": True}
            self.broadcast(session.id, [event])
            return {"ok": True, "seq": event.seq}

        return self._guard(run)

    # -- connection --------------------------------------------------------

    def on_connect(self, auth: Any = None) -> bool:
        try:
            self.upkeep.start()
        except Exception:  # upkeep is retried by later connections; the client is served anyway
            log.exception("could not start the live upkeep")
        return True

    def on_disconnect(self, reason: Any = None) -> None:
        """Noted in memory only: the process's presence flush deletes the connection's row
        and tells the room, together with the other joins and leaves of the moment."""
        entry = self.joined.pop(request.sid, None)
        if entry is None:
            return
        try:
            self.upkeep.presence.left(request.sid, entry[0], entry[1], self.clock())
        except Exception:  # presence is best effort; the connection is gone anyway
            log.exception("could not record leaving")

    def on_join(self, data: Any = None) -> dict[str, Any]:
        def run() -> dict[str, Any]:
            payload = self._load(schemas.JoinSchema, data)
            address = request.remote_addr or "?"
            if self.limiter.blocked(address):
                return error_ack(429, translate(N_("Too many attempts; please wait a moment.")))
            db = get_db()
            try:
                session = live_service.session_by_code(db, payload["code"])
            except DomainError:
                self.limiter.failed(address)
                raise
            member: Member | None = current_member()
            previous = self.joined.get(request.sid)
            if previous is not None and previous[0] != session.id:
                raise Forbidden(N_("This connection is already in another session."))
            upkeep = self.upkeep
            upkeep.start()
            joined = live_service.join(db, session=session, member=member, sid=request.sid,
                                       guest_name=payload["guest_name"], guest_token=payload["guest_token"],
                                       now=self.clock(), process_id=upkeep.process_id,
                                       new_connection=previous is None)
            db.commit()
            self.joined[request.sid] = (session.id, joined.participant.id)
            join_room(room_name(session.id))
            mark = self.broadcasts.mark()  # what this process broadcasts from now on reaches this phone
            room = live_service.find_room(db, session.id)  # held: the checks below read it once
            live = self.broadcasts.live_since(session.id, mark)  # …and what it is about to
            self._expire_floor(session.id)  # a floor whose time ran out while no timer was running
            p = joined.participant
            you = {**live_service.brief(p), "guest": p.member_id is None, "can_vote": p.member_id is not None,
                   "host": live_service.is_host(p)}
            if joined.guest_token:
                you["guest_token"] = joined.guest_token
            ack: dict[str, Any] = {"ok": True, "you": you}
            since = payload["since"]
            last = room.last_seq if room is not None else 0
            if since is not None and since <= last and last - since <= live_service.MAX_REPLAY:
                # up to the seq read after joining the room: what comes later reaches it live
                ack["events"] = [e for e in self._events(session.id, since, p, upto=last) if e["seq"] not in live]
                ack["seq"] = last
            else:
                ack["state"] = live_service.snapshot(db, session=session, viewer=p, now=self.clock())
                ack["seq"] = ack["state"]["seq"]
            db.commit()  # nothing to write: ends the reads, so an announcement made now waits on nothing of ours
            # announced after the ack is made, so the joiner gets its own announcement live, not twice
            upkeep.presence.joined(session.id, p.id)
            return ack

        return self._guard(run)

    def _events(self, session_id: int, since: int, viewer: Any, upto: int | None = None) -> list[dict[str, Any]]:
        db = get_db()
        if upto is not None:  # a re-join: most of it was read for the phones before
            found = recent_events_for(current_app).between(db, session_id, since, upto)
        else:
            found = live_service.events_since(db, session_id=session_id, after=since)
        hidden = (live_service.hidden_message_ids(db, session_id) if any(e.kind == "message" for e in found)
                  else set())
        return [live_service.event_dict(e, viewer=viewer, hidden_ids=hidden) for e in found]

    def on_sync(self, data: Any = None) -> dict[str, Any]:
        def run() -> dict[str, Any]:
            payload = self._load(schemas.SyncSchema, data)
            session, participant = self._context()
            events = self._events(session.id, payload["since"], participant)
            last = live_service.last_seq(get_db(), session.id)
            more = bool(events) and events[-1]["seq"] < last
            return {"ok": True, "events": events, "seq": last, "more": more}

        return self._guard(run)

    def on_state(self, data: Any = None) -> dict[str, Any]:
        def run() -> dict[str, Any]:
            session, participant = self._context()
            self._expire_floor(session.id)
            return {"ok": True, "state": live_service.snapshot(get_db(), session=session, viewer=participant,
                                                               now=self.clock())}

        return self._guard(run)

    # -- participants ------------------------------------------------------

    def on_message(self, data: Any = None) -> dict[str, Any]:
        def action(db, *, reply_to=None, **kw):
            return live_service.post_message(db, reply_to_id=reply_to, **kw)

        return self._op(schemas.MessageSchema, data, action)

    def on_raise_hand(self, data: Any = None) -> dict[str, Any]:
        return self._op(schemas.CidSchema, data, live_service.raise_hand)

    def on_lower_hand(self, data: Any = None) -> dict[str, Any]:
        return self._op(schemas.CidSchema, data, live_service.lower_hand)

    # -- host and moderators -----------------------------------------------

    def on_hide(self, data: Any = None) -> dict[str, Any]:
        return self._op(schemas.HideSchema, data, live_service.hide_message)

    def on_grant_floor(self, data: Any = None) -> dict[str, Any]:
        granted: list[Any] = []

        def action(db, *, participant_id, **kw):
            event = live_service.grant_floor(db, to_participant_id=participant_id, **kw)
            granted.append(event)
            return event

        ack = self._op(schemas.GrantSchema, data, action)
        if ack.get("ok") and granted and granted[0].payload.get("ends_at"):
            from datetime import datetime

            data = granted[0].payload
            self.upkeep.arm(granted[0].session_id, data["request_id"], datetime.fromisoformat(data["ends_at"]))
        return ack

    def on_revoke_floor(self, data: Any = None) -> dict[str, Any]:
        return self._op(schemas.CidSchema, data, live_service.revoke_floor)

    def on_agenda(self, data: Any = None) -> dict[str, Any]:
        return self._op(schemas.AgendaSchema, data, live_service.set_agenda)

    def on_pin(self, data: Any = None) -> dict[str, Any]:
        return self._op(schemas.PinSchema, data, live_service.pin)

    def on_status(self, data: Any = None) -> dict[str, Any]:
        def action(db, **kw):
            return live_service.set_status(db, member=current_member(), pm=current_courtyard().pm, **kw)

        return self._op(schemas.StatusSchema, data, action)

    def trigger_event(self, event: str, *args: Any) -> Any:
        handler_name = "on_" + (event or "")
        if event not in ("connect", "disconnect") and not hasattr(self, handler_name):
            return error_ack(400, "Unknown event.")  # no request context here to translate in
        return super().trigger_event(event, *args)

