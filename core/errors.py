"""Domain errors. Services raise these; the web layer maps them to status codes.

Each carries a message id (marked with ``N_`` for extraction, translated at the edge),
named parameters for it, and optionally the name of the input field at fault.
"""

from __future__ import annotations

from typing import Any

from core.i18n import N_


class DomainError(Exception):
    """Base class: ``message`` is a translatable id, ``params`` fill its placeholders."""

    status = 400
    default_message = N_("The request could not be carried out.")

    def __init__(self, message: str | None = None, *, field: str | None = None, **params: Any):
        self.message = message or self.default_message
        self.field = field
        self.params = params
        super().__init__(self.message % params if params else self.message)


class NotFound(DomainError):
    status = 404
    default_message = N_("Not found.")


class Forbidden(DomainError):
    status = 403
    default_message = N_("You are not allowed to do this.")


class Conflict(DomainError):
    status = 409
    default_message = N_("This conflicts with the current state; reload and try again.")


class Invalid(DomainError):
    status = 422
    default_message = N_("This value is not valid.")
