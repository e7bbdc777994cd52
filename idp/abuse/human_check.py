"""A check that a person, not a script, asks for a code: pluggable, proof of work by default.

Once an address has asked for more than ``human_check_after`` codes in an hour, the form that
asks for a code carries the check's fields (``render``) and a send goes ahead only when
``verify`` accepts the submitted form. Which check that is comes from the ``human_check``
setting: the name of an entry point in the ``idp.human_checks`` group (``pow``, Poort's own
proof of work, by default), or ``"off"``.

Checks are found through the plugin registry (:mod:`idp.plugins`) like the other groups: a
check that fails to import or its contract check, or is named in ``IDP_PLUGINS_BLOCKED``, is
reported once in the log and the admin panel's plugin list, and naming it is a config error.

A check is a class with ``name``, ``title``, ``render()`` and ``verify(form)``, made with no
arguments; it reads what it needs from the app (``idp.state.current()``) when it is called.
One instance serves every request of an app, so it keeps no per-request state on itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from flask import current_app
from markupsafe import Markup

from idp import state
from idp.errors import ConfigError

if TYPE_CHECKING:
    from idp.plugins import Plugin

#: The entry-point group of human checks; the plugin registry (a layer above) loads it.
GROUP = "idp.human_checks"
#: The value of ``human_check`` that switches the check off.
OFF = "off"
_EXTENSION = "idp.human_check"


@runtime_checkable
class HumanCheck(Protocol):
    #: The entry-point name, e.g. ``"pow"``.
    name: str
    #: Shown to admins.
    title: str

    def render(self) -> Markup:
        """The fields and markup to put *inside* the form that asks for a code."""
        ...

    def verify(self, form: Mapping[str, str]) -> bool:
        """True once per solved challenge (single use); False for anything else, never raise."""
        ...


def installed_checks() -> dict[str, Plugin]:
    """The checks of this app's plugin registry (the ``idp.human_checks`` group), by name."""
    return state.current().registry.human_checks


def load_check() -> HumanCheck | None:
    """The check named by the ``human_check`` setting, or None when it is ``"off"``.

    Made once per app and kept in ``app.extensions``. An unknown name, or an entry point that
    does not load or is not a check, raises :class:`ConfigError` naming the setting and the
    installed checks.
    """
    wanted = state.current().settings.human_check.strip()
    cached = current_app.extensions.get(_EXTENSION)
    if cached is not None and cached[0] == wanted:
        return cached[1]
    check = _make(wanted)
    current_app.extensions[_EXTENSION] = (wanted, check)
    return check


def _make(wanted: str) -> HumanCheck | None:
    if wanted.lower() == OFF:
        return None
    found = installed_checks()
    if wanted not in found:
        failure = next(
            (f for f in state.current().registry.failures if f.group == GROUP and f.id == wanted),
            None,
        )
        if failure is not None:
            raise ConfigError(
                f"human_check {wanted!r} could not be loaded: {failure.reason}",
                setting="human_check",
            )
        names = ", ".join(sorted(found)) or "none"
        raise ConfigError(
            f"human_check is {wanted!r}, but no such check is installed in the {GROUP} "
            f'entry-point group; installed: {names} (or "{OFF}")',
            setting="human_check",
        )
    try:
        check = found[wanted].cls()
    except Exception as exc:  # noqa: BLE001 - any start-up fault is a config fault
        raise ConfigError(
            f"human_check {wanted!r} could not be made: {type(exc).__name__}: {exc}",
            setting="human_check",
        ) from exc
    if not isinstance(check, HumanCheck):
        raise ConfigError(
            f"human_check {wanted!r} is not a human check: it needs "
            "name, title, render() and verify(form)",
            setting="human_check",
        )
    return check
