"""Delivery reports of the providers whose modules predate them: Spryng and MessageBird.

Both call the address set in their dashboard with GET and query parameters, and neither signs
the call in a way Poort checks (MessageBird's optional JWT needs a signing key Poort does not
ask for); the unguessable token in the address is what keeps strangers out.
"""

from __future__ import annotations

import re

from idp.sms.reports import (
    DELIVERED,
    UNDELIVERED,
    CallbackRequest,
    DeliveryReport,
    MalformedReport,
    short,
)

_REFERENCE = re.compile(r"^[0-9A-Za-z_-]{1,64}$")

#: Spryng REST v1 reason codes of a failed message (STATUS=20).
SPRYNG_REASONS = {
    "20": "number unreachable",
    "21": "number incorrect",
    "22": "delivery failure",
    "31": "recipient blacklisted",
    "32": "originator not registered for the destination country",
}
#: Spryng's STATUS values: the REST numbers and the legacy words.
_SPRYNG_STATUS = {
    "10": DELIVERED,
    "20": UNDELIVERED,
    "delivered": DELIVERED,
    "not delivered": UNDELIVERED,
    "undelivered": UNDELIVERED,
}
_MESSAGEBIRD_STATUS = {
    "delivered": DELIVERED,
    "delivery_failed": UNDELIVERED,
    "expired": UNDELIVERED,
}


def _value(request: CallbackRequest, *names: str) -> str:
    values = request.values
    for name in names:
        for key in (name, name.lower(), name.upper()):
            if key in values:
                return values[key].strip()
    return ""


def spryng_report(request: CallbackRequest) -> DeliveryReport | None:
    """``GET ...?REFERENCE=<ref>&STATUS=10&REASONCODE=0`` (REST) or ``STATUS=Delivered``."""
    reference = _value(request, "REFERENCE")
    status = _value(request, "STATUS")
    if not _REFERENCE.match(reference) or not status or len(status) > 20:
        raise MalformedReport("A Spryng report names a REFERENCE and a STATUS.")
    outcome = _SPRYNG_STATUS.get(status.lower())
    if outcome is None:
        return None  # buffered, or a status on the way
    code = short(_value(request, "REASONCODE"), 4)
    reason = "delivered" if outcome == DELIVERED else "not delivered"
    if outcome == UNDELIVERED and code in SPRYNG_REASONS:
        reason = SPRYNG_REASONS[code]
    return DeliveryReport(
        outcome=outcome,
        reference=reference,
        raw_code=f"{status}:{code}" if code and code != "0" else status,
        reason=reason,
    )


def messagebird_report(request: CallbackRequest) -> DeliveryReport | None:
    """``GET ...?id=<id>&reference=<ref>&recipient=...&status=delivered&statusDatetime=...``"""
    message_id = _value(request, "id")
    reference = _value(request, "reference")
    status = _value(request, "status").lower()
    if not (_REFERENCE.match(message_id) or _REFERENCE.match(reference)) or not status:
        raise MalformedReport("A MessageBird report names an id or reference, and a status.")
    if not re.fullmatch(r"[a-z_]{1,30}", status):
        raise MalformedReport("A MessageBird status is a word.")
    outcome = _MESSAGEBIRD_STATUS.get(status)
    if outcome is None:
        return None
    code = short(_value(request, "statusErrorCode"), 10)
    return DeliveryReport(
        outcome=outcome,
        provider_message_id=message_id if _REFERENCE.match(message_id) else None,
        reference=reference if _REFERENCE.match(reference) else None,
        raw_code=f"{status}:{code}" if code else status,
        reason=status.replace("_", " "),
    )
