"""The Courtyard plugin kit: pytest fixtures for testing a plugin in a few lines.

Installed with Courtyard as a pytest plugin (the ``pytest11`` entry point
``courtyard = "web.testing"``), so a plugin's tests need no conftest of their own beyond
naming the plugin under test::

    # tests/conftest.py
    import pytest
    import courtyard_myplugin

    @pytest.fixture
    def courtyard_plugins():
        return [courtyard_myplugin]

    # tests/test_myplugin.py
    def test_page(courtyard_community, courtyard_client):
        courtyard_community.login(courtyard_client, "resident")
        assert courtyard_client.get(f"/c/{courtyard_community.slug}/my-page").status_code == 200

Fixtures (all prefixed ``courtyard_``):

``courtyard_plugins``  the plugins under test (override it): modules or objects, or
                       ``(name, plugin)``; a module ``courtyard_x`` is registered as ``x``.
``courtyard_config``   extra app configuration (override it).
``courtyard_make_app`` a factory ``make(plugins=None, **config)`` → a Flask app on a
                       throwaway SQLite database with every table created.
``courtyard_app``      ``courtyard_make_app()``.
``courtyard_db``       a database session on that app (rolled back and closed after).
``courtyard_make_community`` a factory ``make(slug, enable=None, app=None)`` →
                       :class:`KitCommunity`, a community with a member of every role, the
                       plugins under test enabled (or those in ``enable``), on
                       ``courtyard_app`` (or ``app``).
``courtyard_community`` ``courtyard_make_community("renfu")``.
``courtyard_client``   ``courtyard_app.test_client()``.
``courtyard_socket_client`` a factory ``connect(namespace="/", client=None)`` → a
                       flask_socketio test client sharing the HTTP client's sign-in
                       (and its app); disconnected after the test.

Nothing here runs at import time beyond defining fixtures, so loading the kit costs a
project that does not use it nothing.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

PASSWORD = "kit password 1234"
ROLES = ("admin", "moderator", "host", "grid_head", "department", "resident", "resident2")


def plugin_name(plugin: Any) -> str:
    """The name a plugin is registered under: ``courtyard_points`` → ``points``."""
    if isinstance(plugin, tuple):
        return plugin[0]
    explicit = getattr(plugin, "plugin_name", None)
    if explicit:
        return explicit
    name = getattr(plugin, "__name__", None) or type(plugin).__name__
    return name[len("courtyard_"):] if name.startswith("courtyard_") else name


def csrf_token(response: Any) -> str:
    """The CSRF token of a rendered page (its ``<meta name="csrf-token">``)."""
    match = re.search(r'name="csrf-token" content="([^"]+)"', response.get_data(as_text=True))
    assert match, "no CSRF token on the page"
    return match.group(1)


class KitCommunity:
    """A community made by the kit: ``id``, ``slug``, ``members`` (role → member id)."""

    def __init__(self, app: Any, slug: str, enable: list[str]):
        from core.db import session_scope
        from core.models.member import Role
        from core.services import communities as cs
        from core.services import plugins as plugin_settings

        self.app = app
        cy = app.extensions["courtyard"]
        with session_scope(cy.sessionmaker) as db:
            c = cs.create_community(db, slug=slug, names={"zh_CN": f"{slug}社区", "en": f"{slug} community"})
            grid = cs.add_place(db, actor=None, community=c, kind="grid", name="东片网格")
            unit = cs.add_place(db, actor=None, community=c, kind="unit", name="9栋1单元", parent=grid)
            self.id, self.slug = c.id, c.slug
            roles = {
                "admin": ("计菲菲", [(Role.ADMIN, None)], None),
                "moderator": ("莫主持", [(Role.MODERATOR, None)], None),
                "host": ("李月昌", [(Role.HOST, None)], grid),
                "grid_head": ("沈网格长", [(Role.GRID_HEAD, grid)], grid),
                "department": ("城管局", [(Role.DEPARTMENT, None)], None),
                "resident": ("王阿婆", [(Role.RESIDENT, unit)], unit),
                "resident2": ("张师傅", [(Role.RESIDENT, unit)], unit),
            }
            self.members: dict[str, int] = {}
            for role, (display, role_list, place) in roles.items():
                m = cs.add_member(db, actor=None, community=c, display_name=display, username=f"{slug}-{role}",
                                  password=PASSWORD, place=place, roles=role_list)
                self.members[role] = m.id
            for name in enable:
                plugin_settings.set_enabled(db, actor=None, pm=cy.pm, community_id=c.id, name=name, enabled=True)

    def session(self):
        """A unit of work on the app's database (``with community.session() as db:``)."""
        from core.db import session_scope

        return session_scope(self.app.extensions["courtyard"].sessionmaker)

    def set_plugin(self, name: str, enabled: bool) -> None:
        from core.services import plugins as plugin_settings

        with self.session() as db:
            plugin_settings.set_enabled(db, actor=None, pm=self.app.extensions["courtyard"].pm,
                                        community_id=self.id, name=name, enabled=enabled)

    def enable(self, name: str) -> None:
        self.set_plugin(name, True)

    def disable(self, name: str) -> None:
        self.set_plugin(name, False)

    def login(self, client: Any, role: str = "resident") -> str:
        """Sign the member of ``role`` in on ``client``; returns a CSRF token for posts."""
        page = client.get("/sign-in")
        response = client.post("/sign-in", data={"csrf_token": csrf_token(page), "username": f"{self.slug}-{role}",
                                                 "password": PASSWORD})
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        return self.csrf(client)

    def csrf(self, client: Any) -> str:
        return csrf_token(client.get("/sign-in"))


@pytest.fixture
def courtyard_plugins() -> list[Any]:
    """The plugins under test; override in your conftest."""
    return []


@pytest.fixture
def courtyard_config() -> dict[str, Any]:
    """Extra app configuration; override in your conftest."""
    return {}


@pytest.fixture
def courtyard_make_app(tmp_path: Path, courtyard_plugins: list[Any],
                       courtyard_config: dict[str, Any]) -> Callable[..., Any]:
    made: list[int] = []

    def make(plugins: list[Any] | None = None, **config: Any) -> Any:
        from core.services.auth import use_cheap_hashing
        from web import create_app

        use_cheap_hashing()  # argon2 at test cost: a community of members in milliseconds

        chosen = courtyard_plugins if plugins is None else plugins
        made.append(1)
        settings = {
            "DATABASE_URL": f"sqlite:///{tmp_path / f'courtyard-kit-{len(made)}.db'}",
            "CREATE_TABLES": True,
            "SECRET_KEY": "courtyard-kit",
            "PLUGIN_ENTRYPOINTS": False,
            "TESTING": True,
            "SERVER_NAME": "courtyard.test",
            "PLUGIN_HOOK_TIMEOUT": 5.0,
            "EXTRA_PLUGINS": [(plugin_name(p), p[1] if isinstance(p, tuple) else p) for p in chosen],
        }
        settings.update(courtyard_config)
        settings.update(config)
        app = create_app(settings)
        app.extensions["courtyard_kit_plugins"] = [plugin_name(p) for p in chosen]
        return app

    return make


@pytest.fixture
def courtyard_app(courtyard_make_app: Callable[..., Any]) -> Any:
    return courtyard_make_app()


@pytest.fixture
def courtyard_db(courtyard_app: Any) -> Iterator[Any]:
    session = courtyard_app.extensions["courtyard"].sessionmaker()
    yield session
    session.rollback()
    session.close()


@pytest.fixture
def courtyard_make_community(courtyard_app: Any) -> Callable[..., KitCommunity]:
    def make(slug: str = "renfu", enable: list[str] | None = None, app: Any = None) -> KitCommunity:
        app = app or courtyard_app
        names = app.extensions.get("courtyard_kit_plugins", []) if enable is None else enable
        return KitCommunity(app, slug, list(names))

    return make


@pytest.fixture
def courtyard_community(courtyard_make_community: Callable[..., KitCommunity]) -> KitCommunity:
    return courtyard_make_community("renfu")


@pytest.fixture
def courtyard_client(courtyard_app: Any) -> Any:
    return courtyard_app.test_client()


@pytest.fixture
def courtyard_socket_client(courtyard_app: Any, courtyard_client: Any) -> Iterator[Callable[..., Any]]:
    clients: list[Any] = []

    def connect(namespace: str = "/", client: Any = None, **kwargs: Any) -> Any:
        client = client or courtyard_client
        app = client.application  # the app of the (signed-in) HTTP client
        socketio = app.extensions["courtyard"].socketio
        sc = socketio.test_client(app, namespace=namespace, flask_test_client=client, **kwargs)
        clients.append((sc, namespace))
        return sc

    yield connect
    for sc, namespace in clients:
        if sc.is_connected(namespace):
            sc.disconnect(namespace=namespace)
