"""Sealing secret ballots while they wait to be mixed (docs/voting.md, "Secret ballots in
the database files").

An acknowledged secret vote must survive a crash, so something of it is on disk when the
voter is told "you voted" — in the same transaction as their participation. That record
(``pending_ballots``) is sealed: AES-256-GCM under a key derived from the server's secret
key, which is not kept in the database. Someone holding the database files (a dump, a
backup, a replica, the SQLite ``-wal`` file) sees a random id, a lookup hash of the
voter's change code and a block of ciphertext whose length does not depend on the ballot.
Only the server, holding the key, opens it — when it writes the pending ballots out,
shuffled, in a transaction of their own (:func:`core.services.votes.write_pending`).

This module is core: it never reads the application's configuration. The web layer builds
a :class:`BallotSeal` from its secret keys and hands it to every database session
(``session.info["ballot_seal"]``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from typing import Any, Iterable

# AES-GCM from the PyCA library: the standard, maintained AEAD for Python
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

#: plaintexts are padded to a multiple of this many bytes, so the length of a sealed ballot
#: says nothing about the ballot (a yes/no/abstain ballot is always one block)
BLOCK = 512
_CONTEXT = b"courtyard ballot seal v1"


class SealError(Exception):
    """A sealed ballot could not be opened with any of the server's keys (the secret key
    changed while a secret vote was open, or the record was altered)."""


class BallotSeal:
    """Seals and opens pending secret ballots. ``secrets``: the server's secret key first,
    then older keys still accepted (Flask's ``SECRET_KEY_FALLBACKS``): a ballot sealed
    under an older key is still opened."""

    def __init__(self, secrets: Iterable[str | bytes]) -> None:
        keys = []
        for secret in secrets:
            if not secret:
                continue
            raw = secret.encode() if isinstance(secret, str) else bytes(secret)
            keys.append(AESGCM(hmac.new(raw, _CONTEXT, hashlib.sha256).digest()))
        if not keys:
            raise ValueError("a ballot seal needs a secret key")
        self._keys = keys

    @staticmethod
    def _aad(motion_id: int) -> bytes:
        return f"courtyard-pending-ballot:{motion_id}".encode()

    def seal(self, motion_id: int, payload: dict[str, Any]) -> bytes:
        data = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        size = len(data) + 4
        padded = len(data).to_bytes(4, "big") + data + b"\0" * (-size % BLOCK)
        nonce = os.urandom(12)
        return nonce + self._keys[0].encrypt(nonce, padded, self._aad(motion_id))

    def open(self, motion_id: int, blob: bytes) -> dict[str, Any]:
        blob = bytes(blob)
        nonce, body = blob[:12], blob[12:]
        for key in self._keys:
            try:
                padded = key.decrypt(nonce, body, self._aad(motion_id))
            except InvalidTag:
                continue
            size = int.from_bytes(padded[:4], "big")
            return json.loads(padded[4:4 + size].decode())
        raise SealError(f"a pending secret ballot of motion {motion_id} cannot be opened with this server's keys")


def seal_of(db: Any) -> BallotSeal:
    """The seal the session was given (``session.info["ballot_seal"]``)."""
    seal = db.info.get("ballot_seal")
    if seal is None:
        raise RuntimeError("secret ballots need the server's ballot seal: open the database session from the "
                           "application's sessionmaker (or pass info={'ballot_seal': BallotSeal([key])})")
    return seal
