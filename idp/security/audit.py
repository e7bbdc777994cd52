"""Writing audit events. They join the caller's transaction: no change without its record."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from flask import has_request_context
from flask_login import current_user

from idp.extensions import db
from idp.models import AuditEvent, User
from idp.security.client_ip import client_ip
from idp.sms.phone import mask

#: A phone number in E.164 form, as an SMS sign-up's nickname holds it.
_E164 = re.compile(r"\+\d{7,15}")


def actor_name(user: User) -> str:
    """The name an event is recorded under: the display name with any phone number in it
    masked (an SMS sign-up is called by its number until the user picks a nickname, and
    keeps that name after changing numbers)."""
    return _E164.sub(lambda match: mask(match.group()), user.display_name)


def record(
    action: str,
    target: str | None = None,
    *,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    actor: User | None = None,
) -> AuditEvent:
    """Add an audit event to the current transaction; the caller commits.

    *before* and *after* must already be free of secrets (see ``idp.options.public_options``).
    """
    if actor is None and has_request_context() and current_user.is_authenticated:
        actor = current_user._get_current_object()  # noqa: SLF001 - a real row, not the proxy
    if actor is not None:
        actor_label: str | None = actor_name(actor)
    else:
        # Outside a request the change came from the command line.
        actor_label = None if has_request_context() else "cli"
    event = AuditEvent(
        actor_id=actor.id if actor else None,
        actor=actor_label,
        action=action,
        target=target,
        before=dict(before) if before is not None else None,
        after=dict(after) if after is not None else None,
        ip=client_ip() if has_request_context() else None,
    )
    db.session.add(event)
    return event
