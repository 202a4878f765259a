"""The plugin manager: one per application, built by :func:`make_plugin_manager`.

Built-in plugins are ordinary plugins registered by dotted name; community plugins are
found through the ``courtyard.plugins`` entry-point group. Nothing happens at import
time: a test builds its own manager with ``entrypoints=False``.
"""

from __future__ import annotations

import importlib
import logging
import time
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Callable, Iterable

import pluggy

from core import hookspecs

log = logging.getLogger("courtyard.plugins")

hookimpl = pluggy.HookimplMarker("courtyard")

ENTRYPOINT_GROUP = "courtyard.plugins"

#: Built-in plugins, by dotted name. ``core`` never imports ``plugins`` otherwise.
BUILTIN_PLUGINS: tuple[str, ...] = (
    "plugins.formats",
    "plugins.categories",
    "plugins.tally",
    "plugins.host_rotation",
    "plugins.discussion",
)


@dataclass
class PluginFailure:
    """A plugin that could not be loaded (``courtyard plugins list`` reports it)."""

    name: str
    error: str


class CourtyardPluginManager(pluggy.PluginManager):
    """A pluggy manager that remembers which plugins are built in and which failed."""

    def __init__(self) -> None:
        super().__init__("courtyard")
        self.builtin_names: set[str] = set()
        self.load_failures: list[PluginFailure] = []
        self.distributions: dict[str, tuple[str, str]] = {}

    def is_builtin(self, name: str) -> bool:
        return name in self.builtin_names


def builtin_name(dotted: str) -> str:
    """``plugins.formats`` → ``formats``: the name a built-in is registered under."""
    return dotted.rsplit(".", 1)[-1]


def make_plugin_manager(*, entrypoints: bool = True, blocked: Iterable[str] = ()) -> CourtyardPluginManager:
    """Build a plugin manager with every hook spec, the built-ins and (optionally) the
    installed community plugins. A community plugin that fails to import is recorded in
    ``pm.load_failures`` and logged; it does not stop the server.
    """
    pm = CourtyardPluginManager()
    pm.add_hookspecs(hookspecs)
    for name in blocked:
        pm.set_blocked(name)
    for dotted in BUILTIN_PLUGINS:
        name = builtin_name(dotted)
        if pm.is_blocked(name):
            continue
        module = importlib.import_module(dotted)
        pm.register(module, name=name)
        pm.builtin_names.add(name)
    if entrypoints:
        _load_entrypoints(pm)
    pm.check_pending()
    return pm


def _load_entrypoints(pm: CourtyardPluginManager) -> None:
    for ep in metadata.entry_points(group=ENTRYPOINT_GROUP):
        if pm.is_blocked(ep.name) or pm.has_plugin(ep.name):
            continue
        try:
            plugin = ep.load()
            pm.register(plugin, name=ep.name)
        except Exception as exc:  # a broken plugin must not stop the server
            log.exception("plugin %s failed to load", ep.name)
            pm.load_failures.append(PluginFailure(ep.name, f"{type(exc).__name__}: {exc}"))
            continue
        if ep.dist is not None:
            pm.distributions[ep.name] = (ep.dist.name, ep.dist.version)


def plugin_names(pm: pluggy.PluginManager) -> list[str]:
    return sorted(name for name, _ in pm.list_name_plugin() if name is not None)


def hooks_implemented(pm: pluggy.PluginManager, name: str) -> list[str]:
    plugin = pm.get_plugin(name)
    if plugin is None:
        return []
    return sorted(caller.name for caller in (pm.get_hookcallers(plugin) or []))


def collect(pm: pluggy.PluginManager, hook_name: str) -> list[tuple[str, Any]]:
    """Call a ``courtyard_register_*`` hook implementation by implementation and return
    ``(plugin_name, obj)`` for every object registered, so contributions can be enabled
    per community. A plugin whose registration raises is logged and skipped.
    """
    out: list[tuple[str, Any]] = []
    caller = getattr(pm.hook, hook_name)
    for impl in reversed(caller.get_hookimpls()):  # registration order, like pluggy's LIFO reversed
        name = impl.plugin_name

        def register(obj: Any, *args: Any, _name: str = name, **kwargs: Any) -> None:
            out.append((_name, (obj, args, kwargs) if (args or kwargs) else obj))

        try:
            impl.function(register=register)
        except Exception:
            log.exception("plugin %s failed in %s", name, hook_name)
    return out


@dataclass
class FailureTracker:
    """Counts failures of notification hooks per (plugin, community); after
    ``threshold`` failures in a row the plugin is reported as tripped."""

    threshold: int = 3
    counts: dict[tuple[str, Any], int] = field(default_factory=dict)

    def failed(self, plugin: str, community: Any) -> bool:
        key = (plugin, community)
        self.counts[key] = self.counts.get(key, 0) + 1
        return self.counts[key] >= self.threshold

    def succeeded(self, plugin: str, community: Any) -> None:
        self.counts.pop((plugin, community), None)


def notify(
    pm: pluggy.PluginManager,
    hook_name: str,
    *,
    enabled: Callable[[str], bool] = lambda name: True,
    on_failure: Callable[[str, BaseException], None] | None = None,
    **kwargs: Any,
) -> list[str]:
    """Call a notification hook one implementation at a time. An implementation that
    raises is logged with its plugin's name and reported to ``on_failure``; the others
    still run. Returns the names of the plugins that failed.
    """
    failed: list[str] = []
    caller = getattr(pm.hook, hook_name)
    for impl in reversed(caller.get_hookimpls()):
        if not enabled(impl.plugin_name):
            continue
        args = {k: kwargs[k] for k in impl.argnames if k in kwargs}
        started = time.monotonic()
        try:
            impl.function(**args)
        except Exception as exc:
            log.exception("plugin %s raised in %s", impl.plugin_name, hook_name)
            failed.append(impl.plugin_name)
            if on_failure is not None:
                on_failure(impl.plugin_name, exc)
        else:
            elapsed = time.monotonic() - started
            if elapsed > 1.0:
                log.warning("plugin %s took %.1fs in %s", impl.plugin_name, elapsed, hook_name)
    return failed
