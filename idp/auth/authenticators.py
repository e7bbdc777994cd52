"""Authenticators: looking them up, making them, and binding them to their method.

The changes an admin makes (add, enable, disable) are functions here, used by the admin panel
and the command line alike: each checks, changes and audits; the caller commits.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask_babel import gettext
from sqlalchemy import func, select

from idp import state
from idp.auth.method import AuthMethod, Role
from idp.errors import InvalidInput, NotFound
from idp.extensions import db
from idp.models import Authenticator
from idp.models.base import SLUG
from idp.options import open_options, public_options, validate_options
from idp.security import audit


def all_authenticators() -> list[Authenticator]:
    return list(
        db.session.scalars(select(Authenticator).order_by(Authenticator.position, Authenticator.id))
    )


def enabled_authenticators(role: Role = Role.FIRST_FACTOR) -> list[Authenticator]:
    """Enabled authenticators whose method is loaded and can play *role*, in the admin's order."""
    registry = state.current().registry
    rows = db.session.scalars(
        select(Authenticator)
        .where(Authenticator.enabled.is_(True))
        .order_by(Authenticator.position, Authenticator.id)
    )
    result = []
    for row in rows:
        cls = registry.auth_method(row.method)
        if cls is not None and role in cls.roles and method_for(row).has_role(role):
            result.append(row)
    return result


def get(name: str) -> Authenticator:
    """The authenticator called *name*, enabled or not; NotFound when there is none."""
    row = db.session.scalar(select(Authenticator).where(Authenticator.name == name))
    if row is None:
        raise NotFound(gettext("There is no authenticator with that name."))
    return row


def get_enabled(name: str) -> Authenticator:
    """The enabled authenticator called *name*; unknown, disabled and unloaded are all 404."""
    row = db.session.scalar(select(Authenticator).where(Authenticator.name == name))
    if row is None or not row.enabled or state.current().registry.auth_method(row.method) is None:
        raise NotFound(gettext("There is no such way to sign in."))
    return row


def method_for(row: Authenticator) -> AuthMethod:
    """An instance of the row's method, bound to its options (secrets decrypted)."""
    s = state.current()
    cls = s.registry.auth_method(row.method)
    if cls is None:
        raise NotFound(
            gettext(
                "The plugin %(plugin)s of authenticator %(name)s is not loaded.",
                plugin=repr(row.method),
                name=repr(row.name),
            )
        )
    return cls(row, open_options(row.options or {}, s.secret_box))


def check_name(name: str, *, existing: Authenticator | None = None) -> str:
    name = (name or "").strip().lower()
    if not SLUG.fullmatch(name):
        raise InvalidInput(
            gettext(
                "Use 1 to 40 lower-case letters, digits and hyphens, starting with a letter or "
                "digit."
            ),
            field="name",
        )
    clash = db.session.scalar(select(Authenticator).where(Authenticator.name == name))
    if clash is not None and clash is not existing:
        raise InvalidInput(
            gettext("An authenticator called %(name)s exists already.", name=repr(name)),
            field="name",
        )
    return name


def create_authenticator(
    *, name: str, method: str, title: str, options: Any, enabled: bool = False
) -> Authenticator:
    """Validate and add a new authenticator to the session (the caller audits and commits).

    :raises InvalidInput: for the name, method or title; ``OptionsInvalid`` for options.
    """
    s = state.current()
    cls = s.registry.auth_method(method)
    if cls is None:
        raise InvalidInput(
            gettext("No auth method called %(method)s is installed.", method=repr(method)),
            field="method",
        )
    name = check_name(name)
    title = (title or "").strip() or cls.title
    if len(title) > 80:
        raise InvalidInput(gettext("Use at most 80 characters."), field="title")
    stored = validate_options(cls.options_form, options, s.secret_box)
    last = db.session.scalar(select(func.max(Authenticator.position))) or 0
    row = Authenticator(
        name=name, method=method, title=title, enabled=enabled, position=last + 1, options=stored
    )
    db.session.add(row)
    return row


def add(
    *, name: str, method: str, title: str, options: Any, enabled: bool = False
) -> Authenticator:
    """Create an authenticator (as :func:`create_authenticator` checks it) and audit it."""
    row = create_authenticator(
        name=name, method=method, title=title, options=options, enabled=enabled
    )
    db.session.flush()
    audit.record("authenticator.create", f"authenticator:{row.name}", after=public_view(row))
    return row


def set_enabled(row: Authenticator, enabled: bool) -> bool:
    """Show or hide *row* on the login page, audited; whether anything changed.

    :raises InvalidInput: when enabling an authenticator whose plugin is not loaded.
    """
    if enabled and state.current().registry.auth_method(row.method) is None:
        raise InvalidInput(
            gettext(
                "The plugin %(plugin)s is not loaded, so %(name)s cannot be enabled.",
                plugin=repr(row.method),
                name=row.name,
            )
        )
    if row.enabled == enabled:
        return False
    before = public_view(row)
    row.enabled = enabled
    audit.record(
        "authenticator.enable" if enabled else "authenticator.disable",
        f"authenticator:{row.name}",
        before=before,
        after=public_view(row),
    )
    return True


def password_methods() -> list[str]:
    """Ids of the loaded first-factor methods that check a password (RFC 8176 ``pwd``)."""
    registry = state.current().registry
    return sorted(
        plugin.id
        for plugin in registry.auth_methods.values()
        if issubclass(plugin.cls, AuthMethod)
        and "pwd" in plugin.cls.amr
        and Role.FIRST_FACTOR in plugin.cls.roles
    )


def public_view(row: Authenticator) -> Mapping[str, Any]:
    """The row without secrets, for audit entries."""
    return {
        "name": row.name,
        "method": row.method,
        "title": row.title,
        "enabled": row.enabled,
        "position": row.position,
        "options": public_options(row.options),
    }
