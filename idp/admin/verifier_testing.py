"""Proving a verifier works in the admin panel: a test code to the admin's own phone through
that verifier alone, typed back to confirm it (see ``idp.verification.confirmation``)."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.wrappers import Response

from idp import state
from idp.admin import bp
from idp.admin.verifiers import delivers_nothing, signed_in_admin, target
from idp.errors import InvalidInput, RateLimited
from idp.extensions import db
from idp.models import Challenge, SmsLogEntry, Verifier
from idp.security import audit
from idp.security.derived_keys import phone_hash
from idp.sms.errors import SmsError
from idp.sms.phone import mask, normalise
from idp.verification import confirmation
from idp.verification import verifiers as store
from idp.verification.challenges import Purpose


def _last_attempt(row: Verifier, recipient: str) -> SmsLogEntry | None:
    """The log row of the test send that just failed (every attempt is logged)."""
    return db.session.scalar(
        select(SmsLogEntry)
        .where(
            SmsLogEntry.verifier_id == row.id,
            SmsLogEntry.purpose == Purpose.ADMIN_TEST,
            SmsLogEntry.recipient_hash == phone_hash(recipient),
        )
        .order_by(SmsLogEntry.id.desc())
        .limit(1)
    )


@bp.route("/verifiers/<name>/test", methods=["GET", "POST"])
def verifier_test(name: str) -> Response | tuple[str, int]:
    row = store.get(name)
    admin = signed_in_admin()
    errors: dict[str, list[str]] = {}
    failure: dict[str, Any] | None = None
    status = 200
    phone_value = request.form.get("phone", "") if request.method == "POST" else admin.phone or ""
    if request.method == "POST":
        try:
            phone = normalise(phone_value, state.current().settings.default_region)
            challenge = confirmation.send_test_code(row, phone, admin)
        except RateLimited as exc:
            db.session.rollback()
            errors["form"] = [exc.message]
            status = 429
        except SmsError as exc:
            db.session.rollback()
            cause = exc.__cause__ if isinstance(exc.__cause__, SmsError) else exc
            entry = _last_attempt(row, phone)
            failure = {
                "error_class": entry.error_class if entry else cause.code,
                "raw_code": entry.raw_code if entry else cause.raw_code,
                "raw_meaning": entry.raw_meaning if entry else cause.raw_meaning,
                "recipient": mask(phone),
            }
            audit.record(
                "verifier.test_code",
                target(row),
                after={
                    "recipient": mask(phone),
                    "outcome": "failed",
                    "error_class": failure["error_class"],
                },
            )
            db.session.commit()
            status = cause.status
        except InvalidInput as exc:
            db.session.rollback()
            errors[exc.field or "phone"] = [exc.message]
        else:
            audit.record(
                "verifier.test_code",
                target(row),
                after={"recipient": mask(phone), "outcome": "sent"},
            )
            db.session.commit()
            flash(
                _(
                    "A test code was sent to %(phone)s through %(name)s.",
                    phone=mask(phone),
                    name=row.name,
                ),
                "success",
            )
            return redirect(
                url_for("admin.verifier_confirm", name=row.name, challenge=challenge.public_id),
                code=303,
            )
    page = render_template(
        "admin/verifier_test.html",
        row=row,
        errors=errors,
        failure=failure,
        phone=phone_value,
        console=delivers_nothing(row.provider),
    )
    return page, (400 if errors and status == 200 else status)


@bp.route("/verifiers/<name>/confirm", methods=["GET", "POST"])
def verifier_confirm(name: str) -> Response | tuple[str, int]:
    row = store.get(name)
    admin = signed_in_admin()
    public_id = request.values.get("challenge", "").strip()[:64]
    challenge = (
        db.session.scalar(
            select(Challenge).where(
                Challenge.public_id == public_id,
                Challenge.purpose == Purpose.ADMIN_TEST,
                Challenge.user_id == admin.id,
            )
        )
        if public_id
        else None
    )
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        if challenge is None:
            errors["form"] = [_("Send a test code first, then type it in here.")]
        else:
            before = store.public_view(row)
            try:
                result = confirmation.confirm(row, public_id, request.form.get("code", ""), admin)
            except InvalidInput as exc:
                db.session.rollback()
                errors["code"] = [exc.message]
            else:
                if result.ok:
                    audit.record(
                        "verifier.confirm",
                        target(row),
                        before=before,
                        after=store.public_view(row),
                    )
                    db.session.commit()
                    flash(
                        _(
                            "%(name)s delivered the test code: it is confirmed and can be enabled.",
                            name=row.name,
                        ),
                        "success",
                    )
                    return redirect(url_for("admin.verifiers"), code=303)
                errors["code"] = [result.message]
    sent_to = mask((challenge.context or {}).get("phone")) if challenge is not None else None
    page = render_template(
        "admin/verifier_confirm.html",
        row=row,
        errors=errors,
        challenge=challenge,
        sent_to=sent_to,
    )
    return page, (400 if errors else 200)
