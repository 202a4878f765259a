"""Live discussion over Socket.IO (the ``/live`` namespace): joining by code, presence,
messages, the golden microphone floor, host controls and the minutes. Its handlers are
contributed to the web layer through ``courtyard_register_socket_handlers`` and
``courtyard_register_blueprints``; the protocol is in ``docs/realtime.md``."""

from __future__ import annotations

from typing import Any, Callable

from core.plugins import hookimpl


@hookimpl
def courtyard_register_blueprints(register: Callable[..., None]) -> None:
    from plugins.discussion.views import bp

    register(bp)


@hookimpl
def courtyard_register_socket_handlers(socketio: Any) -> None:
    from plugins.discussion.namespace import LiveNamespace

    socketio.on_namespace(LiveNamespace())
