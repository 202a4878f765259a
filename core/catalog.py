"""What the plugins contribute, gathered once per application and filtered per community."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Generic, Iterable, TypeVar

import pluggy

from core.plugins import collect
from core.registry import Category, NavLink, SessionFormat, TallyMethod

T = TypeVar("T")


@dataclass
class Contributions(Generic[T]):
    """Objects keyed by ``key``, remembering which plugin contributed each one."""

    items: dict[str, tuple[str, T]] = field(default_factory=dict)

    def add(self, plugin: str, obj: Any) -> None:
        # the first registration of a key wins (community plugins are called first)
        self.items.setdefault(obj.key, (plugin, obj))

    def all(self, enabled: Callable[[str], bool] = lambda name: True) -> list[T]:
        return [obj for plugin, obj in self.items.values() if enabled(plugin)]

    def get(self, key: str, enabled: Callable[[str], bool] = lambda name: True) -> T | None:
        hit = self.items.get(key)
        if hit is None or not enabled(hit[0]):
            return None
        return hit[1]

    def plugin_of(self, key: str) -> str | None:
        hit = self.items.get(key)
        return hit[0] if hit else None


class Catalog:
    """Formats, categories and tally methods from every registered plugin."""

    def __init__(self, pm: pluggy.PluginManager):
        self.pm = pm
        self.formats: Contributions[SessionFormat] = Contributions()
        self.categories: Contributions[Category] = Contributions()
        self.tally_methods: Contributions[TallyMethod] = Contributions()
        self.nav_links: Contributions[NavLink] = Contributions()
        self.reload()

    def reload(self) -> None:
        for target, hook in (
            (self.formats, "courtyard_register_formats"),
            (self.categories, "courtyard_register_categories"),
            (self.tally_methods, "courtyard_register_tally_methods"),
            (self.nav_links, "courtyard_register_nav_links"),
        ):
            target.items.clear()
            for plugin, obj in collect(self.pm, hook):
                target.add(plugin, obj)

    @staticmethod
    def keys(objs: Iterable[Any]) -> list[str]:
        return [o.key for o in objs]
