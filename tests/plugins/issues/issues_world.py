"""Fixtures for the issues tests: the world with the app's clock injected, and helpers."""

from __future__ import annotations

import struct
import zlib
from typing import Any

import pytest
from sqlalchemy import func, select

from core.db import session_scope


def png_bytes(width: int = 4, height: int = 3) -> bytes:
    """A real, tiny PNG (above 100 × 100 pixels only its header: enough to sniff)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height)) if width * height < 10_000 else b""
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


@pytest.fixture
def iw(app, world, clock):
    """The world, with the issues clock injected into the app."""
    app.config["ISSUES_CLOCK"] = clock
    world.clock = clock
    return world


def counts(app) -> dict[str, int]:
    """Rows in every issue table (to assert nothing was written on a refusal)."""
    from core.models import Issue, IssueEvent, IssuePhoto, IssueRating, IssueSupport, Notification, OutsideBody

    with session_scope(app.extensions["courtyard"].sessionmaker) as db:
        return {m.__tablename__: db.scalar(select(func.count()).select_from(m))
                for m in (Issue, IssueEvent, IssuePhoto, IssueRating, IssueSupport, Notification, OutsideBody)}


def api(client, world, method: str, path: str, **kwargs: Any):
    headers = kwargs.pop("headers", {}) or {}
    if method != "get":
        headers.update(world.api_headers(client))
    return getattr(client, method)(f"/api/v1/communities/{world.slug}{path}", headers=headers, **kwargs)
