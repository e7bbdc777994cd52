"""Delivery reports: the callback address of each verifier, and moving log rows to final.

Each verifier has an unguessable token; its address ``/sms/dlr/<token>`` is what an admin
pastes into the provider's dashboard (some providers get it with every message). A callback
is handled in this order:

1. the token names a verifier whose provider reports delivery, else 404;
2. the provider checks the vendor's signature, where it signs (403 when wrong), and reads
   the report (400 when it cannot);
3. the message-log row with the report's message id or our reference, of this verifier, is
   moved from ``accepted`` to ``delivered`` or ``undelivered`` by one conditional UPDATE.
   A row that is already final (or failed) never changes: replays and late, older reports
   are acknowledged and ignored, as are reports for messages Poort does not know.

Every refusal and every ignored report leaves one log line, without tokens, secrets, texts
or numbers. Nothing a caller sends turns into a 500.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Blueprint, Flask, Response, current_app, request
from sqlalchemy import and_, or_, select, update
from werkzeug.datastructures import MultiDict

from idp import state
from idp.extensions import csrf, db
from idp.models import SmsLogEntry, Verifier
from idp.models.sms_log import ACCEPTED
from idp.models.verifier import new_report_token
from idp.security.origin import allow_cross_site
from idp.sms.provider import ProviderContext, SmsProvider
from idp.sms.reports import (
    DELIVERED,
    BadSignature,
    CallbackRequest,
    DeliveryReport,
    MalformedReport,
)

log = logging.getLogger(__name__)

bp = Blueprint("sms_reports", __name__)

PATH = "/sms/dlr/"
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,64}$")
#: Delivery callbacks are small; anything bigger is refused before a provider reads it.
MAX_BODY = 64 * 1024

UPDATED, UNKNOWN, FINAL = "updated", "unknown", "already final"


# -- the address ------------------------------------------------------------------------------


def report_url(token: str | None) -> str | None:
    """The absolute callback address for a verifier's token (on the issuer's host)."""
    if not token:
        return None
    return f"{state.current().settings.issuer.rstrip('/')}{PATH}{token}"


def ensure_token(row: Verifier) -> str:
    """The verifier's token, made now for a row from before tokens existed (caller commits)."""
    if not row.report_token:
        row.report_token = new_report_token()
        db.session.flush()
    return row.report_token


# -- applying a report ------------------------------------------------------------------------


@dataclass(frozen=True)
class Applied:
    """What a report did: UPDATED, UNKNOWN (no such message) or FINAL (nothing to change)."""

    result: str
    entry_id: int | None = None


def apply_report(
    report: DeliveryReport, *, verifier_id: int | None, provider: str, now: datetime
) -> Applied:
    """Move the matching ``accepted`` row of this verifier to the report's outcome, once.

    The caller commits.
    """
    identify = []
    if report.provider_message_id:
        identify.append(SmsLogEntry.provider_message_id == report.provider_message_id[:100])
    if report.reference:
        identify.append(SmsLogEntry.reference == report.reference[:32])
    scope = (
        SmsLogEntry.verifier_id == verifier_id
        if verifier_id is not None
        else and_(SmsLogEntry.verifier_id.is_(None), SmsLogEntry.provider == provider)
    )
    values: dict[str, Any] = {
        "status": report.outcome,
        "raw_code": (report.raw_code or report.outcome)[:40],
        "raw_meaning": (report.reason or report.outcome)[:200],
    }
    if report.outcome == DELIVERED:
        values["delivered_at"] = report.occurred_at or now
    result = db.session.execute(
        update(SmsLogEntry)
        .where(scope, or_(*identify), SmsLogEntry.status == ACCEPTED)
        .values(**values)
        .returning(SmsLogEntry.id)
        .execution_options(synchronize_session=False)
    )
    changed = [row_id for (row_id,) in result]
    if changed:
        return Applied(UPDATED, changed[0])
    existing = db.session.scalar(select(SmsLogEntry.id).where(scope, or_(*identify)).limit(1))
    return Applied(FINAL if existing is not None else UNKNOWN, existing)


def _describe(report: DeliveryReport, applied: Applied) -> str:
    return f"{report.outcome} ({applied.result}, log row {applied.entry_id or '-'})"


def report_sink(app: Flask, verifier_id: int | None, provider: str) -> Callable[..., None]:
    """A sink for reports that do not arrive over HTTP (SMPP receipts), from any thread."""

    def sink(report: DeliveryReport) -> None:
        with app.app_context():
            try:
                applied = apply_report(
                    report,
                    verifier_id=verifier_id,
                    provider=provider,
                    now=state.current().clock(),
                )
                db.session.commit()
            except Exception:
                db.session.rollback()
                raise
            finally:
                db.session.remove()
            log.info("delivery receipt via %s: %s", provider, _describe(report, applied))

    return sink


def context_extras(verifier_id: int | None, provider: str, token: str | None) -> dict[str, Any]:
    """What a provider's context gets for delivery reports and long-lived connections."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    return {
        "callback_url": report_url(token),
        "connections": state.current().sms_connections,
        "report_sink": report_sink(app, verifier_id, provider),
    }


# -- the callback endpoint --------------------------------------------------------------------


def _plain(text: str, status: int) -> Response:
    return Response(text + "\n", status=status, mimetype="text/plain")


def _callback_request() -> CallbackRequest:
    body = request.get_data(cache=True)
    form: MultiDict[str, str] = MultiDict()
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = MultiDict(request.form)
    return CallbackRequest(
        method=request.method,
        url=request.url,
        headers=dict(request.headers),
        args=MultiDict(request.args),
        form=form,
        body=body,
        content_type=request.mimetype or "",
    )


def _provider(row: Verifier) -> SmsProvider | None:
    from idp.verification.resolution import channel_for

    s = state.current()
    cls = s.registry.sms_provider(row.provider)
    if cls is None or not cls.reports_delivery():
        return None
    channel = channel_for(row)
    context = ProviderContext(
        session=s.http_session(),
        instance_path=s.settings.instance_path,
        dev=s.settings.dev,
        clock=s.clock,
        callback_url=report_url(row.report_token),
    )
    return cls(channel.options, context)


@bp.route(f"{PATH}<token>", methods=["GET", "POST"])
@csrf.exempt
@allow_cross_site
def receive(token: str) -> Response:
    """One delivery callback from a provider."""
    if not _TOKEN.match(token):
        log.info("delivery report refused: not a report address")
        return _plain("not found", 404)
    if (request.content_length or 0) > MAX_BODY:
        log.info("delivery report refused: body too large")
        return _plain("too large", 413)
    row = db.session.scalar(select(Verifier).where(Verifier.report_token == token))
    if row is None:
        log.info("delivery report refused: unknown report address")
        return _plain("not found", 404)
    name = row.name
    try:
        provider = _provider(row)
    except Exception:  # options that no longer open (a lost key): the admin must look
        log.exception("delivery report for verifier %s: its provider could not be made", name)
        return _plain("not found", 404)
    if provider is None:
        log.info("delivery report for verifier %s refused: %s reports nothing", name, row.provider)
        return _plain("not found", 404)
    try:
        callback = _callback_request()
        report = provider.parse_delivery_report(callback)
    except BadSignature as exc:
        log.warning("delivery report for verifier %s refused: %s", name, exc.message)
        return _plain("signature refused", 403)
    except MalformedReport as exc:
        log.info("delivery report for verifier %s refused: %s", name, exc.message)
        return _plain("malformed report", 400)
    except Exception as exc:  # a provider's parser must not turn a bad callback into a 500
        log.error(
            "delivery report for verifier %s: %s could not read it (%s)",
            name,
            row.provider,
            type(exc).__name__,
        )
        return _plain("malformed report", 400)
    if report is None:
        log.info("delivery report for verifier %s ignored: not a final status", name)
        return _plain("ok", 200)
    applied = apply_report(
        report, verifier_id=row.id, provider=row.provider, now=state.current().clock()
    )
    db.session.commit()
    level = logging.WARNING if applied.result == UNKNOWN else logging.INFO
    log.log(level, "delivery report for verifier %s: %s", name, _describe(report, applied))
    return _plain("ok", 200)
