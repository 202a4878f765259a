"""Courtyard's domain: models, services, hook specifications and the plugin manager.

Nothing in this package imports flask, flask_socketio or marshmallow: the web layer
(``web/``) is the edge that talks to people; ``core`` is what it talks about.
"""

__version__ = "0.1.0"
