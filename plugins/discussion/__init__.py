"""Live discussion over Socket.IO (the ``/live`` namespace): joining by code, presence,
messages, the golden microphone floor. Its handlers are contributed to the web layer
through ``courtyard_register_socket_handlers`` and ``courtyard_register_blueprints``."""
