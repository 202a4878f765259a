"""A phone re-joining while an event is being broadcast gets it exactly once: live or in
its replay, never neither. With a message queue an emit hands the event to this process's
phones at once and then waits on Redis; a phone entering the room during that wait was
left out of both (two processes sharing a room lost one event each for ~200 of 2,000
phones re-joining at once). ``Broadcasts.emit`` records the event as sent before it runs."""

from __future__ import annotations

import pytest

from plugins.discussion.state import Broadcasts

ROOM = 1


class Room:
    """This process's room as the emit sees it, and one phone re-joining with ``since=6``."""

    def __init__(self, broadcasts: Broadcasts) -> None:
        self.broadcasts = broadcasts
        self.members: set[str] = {"old-phone"}
        self.live: dict[str, list[int]] = {"old-phone": [], "phone": []}
        self.mark: int | None = None

    def deliver_here(self, seq: int) -> None:
        for member in self.members:
            self.live[member].append(seq)

    def phone_joins(self) -> None:
        self.members.add("phone")  # join_room, then the mark, as the join handler does
        self.mark = self.broadcasts.mark()

    def replay(self, last_seq: int) -> list[int]:
        excluded = self.broadcasts.live_since(ROOM, self.mark)
        return [seq for seq in range(7, last_seq + 1) if seq not in excluded]


def test_a_phone_joining_while_the_event_waits_on_the_queue_gets_it_once():
    broadcasts = Broadcasts()
    room = Room(broadcasts)
    broadcasts.sending(ROOM, [7])  # before the commit

    def emit() -> None:  # a message-queue emit: this process's phones first …
        room.deliver_here(7)
        room.phone_joins()  # … then the publish waits on Redis, and a phone re-joins meanwhile

    broadcasts.emit(ROOM, 7, emit)
    assert room.live["phone"] + room.replay(last_seq=7) == [7]
    assert room.live["old-phone"] == [7]


def test_a_phone_joining_before_the_emit_gets_it_live_and_not_again_in_its_replay():
    broadcasts = Broadcasts()
    room = Room(broadcasts)
    broadcasts.sending(ROOM, [7])
    room.phone_joins()  # in the room before the broadcast (the event committed: last seq 7)
    broadcasts.emit(ROOM, 7, lambda: room.deliver_here(7))
    assert room.live["phone"] == [7] and room.replay(last_seq=7) == []


def test_a_broadcast_that_fails_is_replayed():
    broadcasts = Broadcasts()
    room = Room(broadcasts)
    broadcasts.sending(ROOM, [7])
    room.phone_joins()

    def emit() -> None:
        raise ConnectionError("the socket went away")

    with pytest.raises(ConnectionError):
        broadcasts.emit(ROOM, 7, emit)
    assert room.replay(last_seq=7) == [7]
