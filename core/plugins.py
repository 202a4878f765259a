"""The plugin manager: one per application, built by :func:`make_plugin_manager`.

Built-in plugins are ordinary plugins registered by dotted name; community plugins are
found through the ``courtyard.plugins`` entry-point group. Nothing happens at import
time: a test builds its own manager with ``entrypoints=False``.
"""

from __future__ import annotations

import contextvars
import importlib
import logging
import threading
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
    "plugins.issues",
    "plugins.voting",
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
    per community. A plugin whose registration raises is logged, recorded in
    ``pm.load_failures`` (``courtyard plugins list`` and the admin page show it) and
    skipped. Implementations of a deprecated hook that ``hook_name`` replaced
    (:data:`DEPRECATED_HOOKS`) are forwarded after the current ones.
    """
    out: list[tuple[str, Any]] = []
    caller = getattr(pm.hook, hook_name)
    for impl in reversed(caller.get_hookimpls()):  # registration order, like pluggy's LIFO reversed
        name = impl.plugin_name

        def register(obj: Any, *args: Any, _name: str = name, **kwargs: Any) -> None:
            out.append((_name, (obj, args, kwargs) if (args or kwargs) else obj))

        try:
            impl.function(register=register)
        except Exception as exc:
            log.exception("plugin %s failed in %s", name, hook_name)
            _record_failure(pm, name, f"{hook_name}: {type(exc).__name__}: {exc}")
    for old_name, deprecated in DEPRECATED_HOOKS.items():
        if deprecated.replaced_by != hook_name or not hasattr(pm.hook, old_name):
            continue
        for impl in reversed(getattr(pm.hook, old_name).get_hookimpls()):
            name = impl.plugin_name
            try:
                deprecated.forward(impl.function(), lambda obj, *a, _name=name, **kw: out.append(
                    (_name, (obj, a, kw) if (a or kw) else obj)))
            except Exception as exc:
                log.exception("plugin %s failed in %s", name, old_name)
                _record_failure(pm, name, f"{old_name}: {type(exc).__name__}: {exc}")
    return out


def _record_failure(pm: pluggy.PluginManager, name: str, error: str) -> None:
    failures = getattr(pm, "load_failures", None)
    if failures is not None and not any(f.name == name and f.error == error for f in failures):
        failures.append(PluginFailure(name, error))


# -------------------------------------------------------------------------
# Hook stability: deprecated hooks and the pinned public signatures
# -------------------------------------------------------------------------


@dataclass(frozen=True)
class DeprecatedHook:
    """A hook kept working for one release after it was replaced.

    Its spec in :mod:`core.hookspecs` carries ``warn_on_impl=DeprecationWarning(...)``, so
    pluggy warns when a plugin implementing it is registered; :func:`collect` calls its
    implementations and hands each answer to ``forward(answer, register)``, which
    registers the objects through the replacing hook's ``register`` callback.
    """

    replaced_by: str
    deprecated_in: int
    removed_in: int
    forward: Callable[[Any, Callable[..., None]], None]


def _forward_blueprints(answer: Any, register: Callable[..., None]) -> None:
    for blueprint in answer or ():
        register(blueprint)


#: old hook name → how it is forwarded. Keep an entry for one hook API version.
DEPRECATED_HOOKS: dict[str, DeprecatedHook] = {
    "courtyard_blueprints": DeprecatedHook(
        replaced_by="courtyard_register_blueprints", deprecated_in=1, removed_in=2, forward=_forward_blueprints),
}


def hook_signatures(pm: pluggy.PluginManager | None = None) -> dict[str, Any]:
    """Every public hook spec: argument names, ``firstresult`` and whether it is
    deprecated, keyed by hook name. ``tests/plugins/hook_signatures.json`` pins this;
    regenerate it with ``courtyard plugins pin-hooks`` after a deliberate change."""
    if pm is None:
        pm = pluggy.PluginManager("courtyard")
        pm.add_hookspecs(hookspecs)
    out: dict[str, Any] = {}
    for name in sorted(dir(pm.hook)):
        if not name.startswith("courtyard_"):
            continue
        caller = getattr(pm.hook, name)
        spec = getattr(caller, "spec", None)
        if spec is None:
            continue
        out[name] = {
            "args": list(spec.argnames),
            "firstresult": bool(spec.opts.get("firstresult")),
            "historic": bool(spec.opts.get("historic")),
            "deprecated": spec.opts.get("warn_on_impl") is not None,
        }
    return {"hook_api_version": hookspecs.HOOK_API_VERSION, "hooks": out}


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


class HookTimeout(TimeoutError):
    """A plugin did not return from a notification hook within its time budget."""


def _call(function: Callable[..., Any], args: dict[str, Any], timeout: float | None, label: str) -> None:
    """Call ``function(**args)``; with a ``timeout``, in a worker thread that carries the
    caller's context variables (Flask's application context), giving up after
    ``timeout`` seconds. A plugin that hangs keeps its (daemon) thread; the caller goes on."""
    if timeout is None:
        function(**args)
        return
    ctx = contextvars.copy_context()
    outcome: dict[str, BaseException] = {}

    def run() -> None:
        try:
            ctx.run(function, **args)
        except BaseException as exc:  # handed to the caller's thread
            outcome["exc"] = exc

    worker = threading.Thread(target=run, name=f"courtyard-hook:{label}", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise HookTimeout(f"no answer within {timeout:g}s")
    if "exc" in outcome:
        raise outcome["exc"]


def notify(
    pm: pluggy.PluginManager,
    hook_name: str,
    *,
    enabled: Callable[[str], bool] = lambda name: True,
    on_failure: Callable[[str, BaseException], None] | None = None,
    timeout: float | None = None,
    trusted: Callable[[str], bool] = lambda name: False,
    **kwargs: Any,
) -> list[str]:
    """Call a notification hook one implementation at a time. An implementation that
    raises — or, with ``timeout`` seconds given, does not return in time — is logged with
    its plugin's name and reported to ``on_failure``; the others still run. ``trusted``
    plugins (the built-ins) are called inline, without the thread a time budget needs.
    Returns the names of the plugins that failed.
    """
    failed: list[str] = []
    caller = getattr(pm.hook, hook_name)
    for impl in reversed(caller.get_hookimpls()):
        if not enabled(impl.plugin_name):
            continue
        args = {k: kwargs[k] for k in impl.argnames if k in kwargs}
        started = time.monotonic()
        try:
            budget = None if trusted(impl.plugin_name) else timeout
            _call(impl.function, args, budget, f"{impl.plugin_name}.{hook_name}")
        except HookTimeout as exc:
            log.error("plugin %s did not answer %s within %gs; moving on", impl.plugin_name, hook_name, timeout)
            failed.append(impl.plugin_name)
            if on_failure is not None:
                on_failure(impl.plugin_name, exc)
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
