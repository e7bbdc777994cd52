"""Finding plugins: entry-point discovery, contract checks, and the registry kept on the app.

Three entry-point groups exist, ``idp.auth_methods``, ``idp.sms_providers`` and
``idp.human_checks`` (the check before a code is sent, :mod:`idp.abuse.human_check`). The
entry-point name is the plugin's id, and that id (never a class path) is what the database stores.
Installed is not enabled: the registry only says what *could* be used; an admin makes an
authenticator or verifier to use it. A plugin that fails to import or to pass its checks is
reported once (log and admin panel) and skipped; Poort starts without it.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points

from idp.abuse.human_check import GROUP as HUMAN_CHECK_GROUP
from idp.auth.method import AuthMethod
from idp.sms.provider import SmsProvider

log = logging.getLogger(__name__)

AUTH_METHODS = "idp.auth_methods"
SMS_PROVIDERS = "idp.sms_providers"
#: The base class every plugin of a group must extend.
GROUPS: dict[str, type] = {AUTH_METHODS: AuthMethod, SMS_PROVIDERS: SmsProvider}
HUMAN_CHECKS = HUMAN_CHECK_GROUP
#: Every group; human checks have no base class: they are checked by their attributes.
ALL_GROUPS = (AUTH_METHODS, SMS_PROVIDERS, HUMAN_CHECKS)
SUPPORTED_API_VERSIONS = frozenset({1})


@dataclass(frozen=True)
class Plugin:
    """A loaded plugin class with where it came from."""

    id: str
    group: str
    cls: type
    distribution: str | None = None
    version: str | None = None

    @property
    def title(self) -> str:
        return str(getattr(self.cls, "title", self.id))


@dataclass(frozen=True)
class PluginFailure:
    """A plugin that was not loaded, and why (shown to admins)."""

    id: str
    group: str
    reason: str
    distribution: str | None = None


@dataclass
class Registry:
    """The plugins one app may use; built per app, never a module global."""

    plugins: dict[str, dict[str, Plugin]] = field(
        default_factory=lambda: {group: {} for group in ALL_GROUPS}
    )
    failures: list[PluginFailure] = field(default_factory=list)

    @property
    def auth_methods(self) -> dict[str, Plugin]:
        return self.plugins[AUTH_METHODS]

    @property
    def sms_providers(self) -> dict[str, Plugin]:
        return self.plugins[SMS_PROVIDERS]

    @property
    def human_checks(self) -> dict[str, Plugin]:
        return self.plugins[HUMAN_CHECKS]

    def auth_method(self, plugin_id: str) -> type[AuthMethod] | None:
        plugin = self.auth_methods.get(plugin_id)
        return plugin.cls if plugin else None

    def sms_provider(self, plugin_id: str) -> type[SmsProvider] | None:
        plugin = self.sms_providers.get(plugin_id)
        return plugin.cls if plugin else None

    def _fail(self, failure: PluginFailure) -> None:
        log.error(
            "plugin %r (%s) not loaded: %s", failure.id, failure.distribution or "?", failure.reason
        )
        self.failures.append(failure)


def contract_problem(cls: object, group: str, plugin_id: str) -> str | None:
    """Why *cls* cannot serve as plugin *plugin_id* of *group*, or None when it can."""
    if group == HUMAN_CHECKS:
        return _human_check_problem(cls, plugin_id)
    base = GROUPS[group]
    if not inspect.isclass(cls) or not issubclass(cls, base):
        return f"{cls!r} is not a subclass of {base.__module__}.{base.__name__}"
    if inspect.isabstract(cls):
        missing = ", ".join(sorted(getattr(cls, "__abstractmethods__", ())))
        return f"{cls.__name__} leaves abstract methods unimplemented: {missing}"
    name = getattr(cls, "name", None)
    if name != plugin_id:
        return f"{cls.__name__}.name is {name!r}, but the entry point is named {plugin_id!r}"
    if group == AUTH_METHODS:
        endpoints: object = getattr(cls, "sign_in_endpoints", frozenset())
        if (
            isinstance(endpoints, str)
            or not isinstance(endpoints, Iterable)
            or not all(isinstance(e, str) for e in endpoints)
        ):
            return f"{cls.__name__}.sign_in_endpoints must be a set of endpoint names"
    version = getattr(cls, "api_version", None)
    if version not in SUPPORTED_API_VERSIONS:
        supported = ", ".join(map(str, sorted(SUPPORTED_API_VERSIONS)))
        return f"{cls.__name__} was written for API version {version!r}; Poort supports {supported}"
    return None


def is_human_check(cls: object) -> bool:
    """Whether *cls* has what a human check needs: name, title, render() and verify(form)."""
    return (
        inspect.isclass(cls)
        and all(hasattr(cls, attr) for attr in ("name", "title"))
        and callable(getattr(cls, "render", None))
        and callable(getattr(cls, "verify", None))
    )


def _human_check_problem(cls: object, plugin_id: str) -> str | None:
    if not is_human_check(cls):
        return f"{cls!r} is not a human check: it needs name, title, render() and verify(form)"
    name = getattr(cls, "name", None)
    if name != plugin_id:
        title = getattr(cls, "__name__", cls)
        return f"{title}.name is {name!r}, but the entry point is named {plugin_id!r}"
    return None


def _distribution(ep: EntryPoint) -> tuple[str | None, str | None]:
    dist = ep.dist
    return (dist.name, dist.version) if dist is not None else (None, None)


def discover(blocked: Iterable[str] = (), found: Sequence[EntryPoint] | None = None) -> Registry:
    """Load every entry point of every group (or only *found*, in tests) into a new registry.

    When *found* holds no human check, the installed ones are loaded (as :func:`from_classes`
    does), so an app built on that registry still has its default check.
    """
    registry = Registry()
    for group in ALL_GROUPS:
        if group == HUMAN_CHECKS and found is not None and all(ep.group != group for ep in found):
            _load_group(registry, group, blocked)
        else:
            _load_group(registry, group, blocked, found)
    return registry


def _load_group(
    registry: Registry,
    group: str,
    blocked: Iterable[str] = (),
    found: Sequence[EntryPoint] | None = None,
) -> None:
    blocked = set(blocked)
    eps = (
        [ep for ep in found if ep.group == group]
        if found is not None
        else list(entry_points(group=group))
    )
    by_name: dict[str, list[EntryPoint]] = {}
    for ep in eps:
        by_name.setdefault(ep.name, []).append(ep)
    for plugin_id, candidates in sorted(by_name.items()):
        dist, version = _distribution(candidates[0])
        if len(candidates) > 1:
            owners = " and ".join(sorted(_distribution(ep)[0] or ep.value for ep in candidates))
            registry._fail(
                PluginFailure(plugin_id, group, f"id claimed twice, by {owners}", owners)
            )
            continue
        if plugin_id in blocked:
            registry._fail(PluginFailure(plugin_id, group, "blocked by IDP_PLUGINS_BLOCKED", dist))
            continue
        try:
            cls = candidates[0].load()
        except Exception as exc:  # noqa: BLE001 - any import failure must not stop Poort
            registry._fail(
                PluginFailure(plugin_id, group, f"import failed: {type(exc).__name__}: {exc}", dist)
            )
            continue
        problem = contract_problem(cls, group, plugin_id)
        if problem:
            registry._fail(PluginFailure(plugin_id, group, problem, dist))
            continue
        registry.plugins[group][plugin_id] = Plugin(plugin_id, group, cls, dist, version)


def from_classes(*classes: type, blocked: Iterable[str] = ()) -> Registry:
    """A registry of exactly these classes, checked like entry points (for tests and embedding).

    Human checks among *classes* are the only ones; without any, the installed ones (the
    ``idp.human_checks`` entry points) are loaded, so the default ``pow`` keeps working.
    """
    registry = Registry()
    for cls in classes:
        group = next(
            (g for g, base in GROUPS.items() if isinstance(cls, type) and issubclass(cls, base)),
            HUMAN_CHECKS if is_human_check(cls) else None,
        )
        plugin_id = str(getattr(cls, "name", cls))
        if group is None:
            raise TypeError(f"{cls!r} is neither an AuthMethod, an SmsProvider nor a human check")
        if plugin_id in blocked:
            registry._fail(PluginFailure(plugin_id, group, "blocked by IDP_PLUGINS_BLOCKED"))
            continue
        problem = contract_problem(cls, group, plugin_id)
        if problem:
            registry._fail(PluginFailure(plugin_id, group, problem))
            continue
        # Classes handed over directly come from no installed distribution.
        registry.plugins[group][plugin_id] = Plugin(plugin_id, group, cls)
    if not any(is_human_check(cls) for cls in classes):
        _load_group(registry, HUMAN_CHECKS, blocked)
    return registry
