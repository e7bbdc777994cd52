"""The message log in the admin panel: every attempt at every provider, what it cost, how the
providers are doing, and a CSV export of the same rows.

The recipient filter takes a number in any notation and matches it through its keyed hash;
pages and exports only ever show the masked number.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import date

from flask import render_template, request
from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from idp import state
from idp.admin import bp
from idp.admin.pagination import paginate
from idp.errors import InvalidInput
from idp.models.sms_log import STATUSES
from idp.security.derived_keys import phone_hash
from idp.sms.phone import normalise
from idp.verification import attempts, message_log
from idp.verification import verifiers as store
from idp.verification.challenges import Purpose
from idp.verification.message_log import LogFilter

#: The query parameters of the filter form. Links (pager, CSV) carry the recipient as "rh",
#: its keyed hash, rather than the number typed, so it does not spread through URLs and logs.
PARAMS = ("from", "to", "verifier", "status", "purpose", "recipient", "rh")
_HASH = re.compile(r"[0-9a-f]{64}")


def _date(raw: str, field: str) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(_("Enter a date as YYYY-MM-DD."), field=field) from None


def parse_filter(
    args: MultiDict[str, str],
) -> tuple[LogFilter, dict[str, str], dict[str, list[str]]]:
    """The filter the query string asks for, the raw values to show back, and field errors.

    A field with an error is left out of the filter.
    """
    raw = {key: args.get(key, "").strip()[: 64 if key == "rh" else 40] for key in PARAMS}
    errors: dict[str, list[str]] = {}
    days: dict[str, date | None] = {}
    for key in ("from", "to"):
        try:
            days[key] = _date(raw[key], key)
        except InvalidInput as exc:
            errors[key] = [exc.message]
            days[key] = None
    since, until = days["from"], days["to"]
    if since is not None and until is not None and until < since:
        errors["to"] = [_("The end date is before the start date.")]
        until = None
    status = raw["status"] or None
    if status is not None and status not in STATUSES:
        errors["status"] = [_("Choose one of: %(choices)s.", choices=", ".join(STATUSES))]
        status = None
    recipient_hash = None
    if raw["recipient"]:
        try:
            e164 = normalise(raw["recipient"], state.current().settings.default_region)
        except InvalidInput as exc:
            errors["recipient"] = [exc.message]
        else:
            recipient_hash = phone_hash(e164)
    elif raw["rh"]:
        if _HASH.fullmatch(args.get("rh", "")):
            recipient_hash = args["rh"]
        else:
            errors["recipient"] = [
                _("This recipient search link is damaged; type the number again.")
            ]
    log_filter = LogFilter(
        since=since,
        until=until,
        verifier=raw["verifier"] or None,
        status=status,
        purpose=raw["purpose"][:20] or None,
        recipient_hash=recipient_hash,
    )
    return log_filter, raw, errors


def link_args(raw: dict[str, str], log_filter: LogFilter) -> dict[str, str]:
    """The filter as query parameters for links: the recipient by its hash only."""
    args = {key: value for key, value in raw.items() if value and key not in ("recipient", "rh")}
    if log_filter.recipient_hash:
        args["rh"] = log_filter.recipient_hash
    return args


@bp.get("/sms-log")
def sms_log() -> tuple[str, int]:
    log_filter, raw, errors = parse_filter(request.args)
    now = state.current().clock()
    purposes = sorted({str(p) for p in Purpose} | set(message_log.known_purposes()))
    verifiers = sorted({v.name for v in store.all_verifiers()} | set(message_log.known_verifiers()))
    page = render_template(
        "admin/sms_log.html",
        page=paginate(message_log.entries(log_filter)),
        grand=message_log.totals(log_filter),
        per_verifier=message_log.totals(log_filter, by="verifier"),
        per_purpose=message_log.totals(log_filter, by="purpose"),
        per_day=message_log.totals(log_filter, by="day"),
        health=message_log.health(now),
        raw=raw,
        args=link_args(raw, log_filter),
        searched=(
            message_log.masked_recipient(log_filter.recipient_hash) or _("a number not in the log")
            if log_filter.recipient_hash and not raw["recipient"]
            else None
        ),
        errors=errors,
        statuses=STATUSES,
        shown_status=attempts.shown_status,
        now=now,
        purposes=purposes,
        verifiers=verifiers,
        filtered=any(raw.values()),
    )
    return page, (400 if errors else 200)


@bp.get("/sms-log.csv")
def sms_log_csv() -> Response:
    log_filter, _raw, errors = parse_filter(request.args)
    if errors:
        field, messages = next(iter(errors.items()))
        raise InvalidInput(f"{field}: {' '.join(messages)}", field=field)

    rows = message_log.export_rows(log_filter)  # reads the database only while streaming

    def generate() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
        for number, row in enumerate(rows):
            writer.writerow(row)
            if number % 200 == 0:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    stamp = state.current().clock().strftime("%Y%m%d-%H%M")
    return Response(
        generate(),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="poort-sms-log-{stamp}.csv"',
            "Cache-Control": "no-store",
        },
    )
