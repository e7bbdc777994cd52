"""Proving a verifier works before it may be enabled: a test code to the admin's phone.

The test code is bound to the admin who asked for it and to a fingerprint of the verifier's
provider, options and sender, so a code sent before the settings changed confirms nothing.
"""

from __future__ import annotations

import json

from idp import state
from idp.errors import InvalidInput
from idp.extensions import db
from idp.models import Challenge, User, Verifier
from idp.security.derived_keys import keyed_hash
from idp.sms.errors import SmsError
from idp.sms.phone import normalise
from idp.verification import challenges, dispatch
from idp.verification.challenges import CheckResult, Outcome, Purpose
from idp.verification.messages import code_text
from idp.verification.resolution import Resolution, channel_for


def fingerprint(row: Verifier) -> str:
    material = json.dumps([row.provider, row.options, row.sender], sort_keys=True, default=str)
    return keyed_hash("verifier-fingerprint", material)


def send_test_code(row: Verifier, raw_phone: str, admin: User) -> Challenge:
    """Send a test code through *row* alone (no fallback) to *raw_phone*.

    :raises InvalidInput: for a bad number; ``SmsError`` when the provider refused.
    :raises RateLimited: when the previous test code is too recent.
    """
    phone = normalise(raw_phone, state.current().settings.default_region)
    issued = challenges.issue(
        Purpose.ADMIN_TEST,
        user_id=admin.id,
        # One verifier's test code neither waits for nor replaces another's.
        scope=f"verifier:{row.id}",
        context={"verifier": row.id, "fingerprint": fingerprint(row), "phone": phone},
    )
    db.session.commit()
    challenge_id = issued.challenge.id
    try:
        dispatch.send(
            Resolution((channel_for(row),), "test"),
            recipient=phone,
            text=code_text(Purpose.ADMIN_TEST, issued.code),
            purpose=Purpose.ADMIN_TEST,
            code=issued.code,
            challenge_id=challenge_id,
        )
    except SmsError:
        challenges.mark_delivery(challenge_id, "failed")
        db.session.commit()
        raise
    challenges.mark_delivery(challenge_id, "sent")
    db.session.commit()
    return issued.challenge


def confirm(row: Verifier, public_id: str, code: str, admin: User) -> CheckResult:
    """Check the admin's test code; on success mark *row* confirmed (the caller audits, commits)."""
    result = challenges.check(
        public_id, code, Purpose.ADMIN_TEST, user_id=admin.id, scope=f"verifier:{row.id}"
    )
    if not result.ok:
        return result
    context = result.challenge.context if result.challenge else {}
    if context.get("verifier") != row.id or context.get("fingerprint") != fingerprint(row):
        db.session.rollback()
        raise InvalidInput(
            "This code was sent before the verifier's settings changed; send a new test code.",
            field="code",
        )
    row.confirmed_at = state.current().clock()
    row.confirmed_by = admin.id
    return CheckResult(Outcome.OK, result.challenge)
