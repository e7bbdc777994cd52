"""Delivery reports: what a provider tells Poort after it accepted a message.

An optional part of the provider contract. A provider that reports delivery overrides
:meth:`idp.sms.provider.SmsProvider.parse_delivery_report`; Poort's callback endpoint
(``/sms/dlr/<token>``, one token per verifier) hands it the request as a
:class:`CallbackRequest`, and the provider answers with a :class:`DeliveryReport`, with None
for a callback that carries nothing final (``buffered``, ``sent``), or raises
:class:`BadSignature` / :class:`MalformedReport`. Poort then moves the message-log row that
has the report's message id (or our reference) to ``delivered`` or ``undelivered``, once: a
row that already has a final status never changes again.

SMPP receipts arrive on the SMPP connection instead of over HTTP; the SMPP provider turns
them into the same :class:`DeliveryReport` and hands them to ``ProviderContext.report_sink``.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from werkzeug.datastructures import MultiDict

from idp.errors import IdpError

DELIVERED = "delivered"
UNDELIVERED = "undelivered"
OUTCOMES = (DELIVERED, UNDELIVERED)


@dataclass(frozen=True)
class DeliveryReport:
    """One final word from a provider about one message.

    At least one of ``provider_message_id`` (the vendor's id from the receipt) and
    ``reference`` (our id, sent with the message) must be set.
    """

    outcome: str  # DELIVERED or UNDELIVERED
    provider_message_id: str | None = None
    reference: str | None = None
    #: The provider's own status or error code ("DELIVRD", "30003", "20:21").
    raw_code: str | None = None
    #: That code in words ("unknown destination handset"), never provider free text.
    reason: str | None = None
    #: When the provider says it happened; Poort's clock when it does not say.
    occurred_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, not {self.outcome!r}")
        if not (self.provider_message_id or self.reference):
            raise ValueError("a delivery report names a provider message id or a reference")


@dataclass(frozen=True)
class CallbackRequest:
    """An HTTP callback as a provider sent it, independent of the web framework.

    ``url`` is the full address the provider called (scheme, host, path and query string),
    as the provider signed it.
    """

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    args: MultiDict[str, str] = field(default_factory=MultiDict)
    form: MultiDict[str, str] = field(default_factory=MultiDict)
    body: bytes = field(default=b"", repr=False)
    content_type: str = ""

    def header(self, name: str) -> str | None:
        """A header by name, case-insensitively."""
        lowered = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lowered:
                return value
        return None

    @property
    def values(self) -> MultiDict[str, str]:
        """Query and form fields together (providers that call with GET or POST)."""
        merged: MultiDict[str, str] = MultiDict(self.args)
        for key, value in self.form.items(multi=True):
            merged.add(key, value)
        return merged

    def json(self) -> Any:
        """The body parsed as JSON; :class:`MalformedReport` when it is not JSON."""
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise MalformedReport("The body is not JSON.") from None


class DeliveryReportError(IdpError):
    """A delivery callback was refused."""

    code = "delivery_report_error"
    status = 400


class BadSignature(DeliveryReportError):
    """The callback's signature is missing or wrong."""

    code = "delivery_report_signature"
    status = 403


class MalformedReport(DeliveryReportError):
    """The callback is not a delivery report this provider sends."""

    code = "delivery_report_malformed"
    status = 400


def same(a: str | bytes, b: str | bytes) -> bool:
    """Constant-time comparison of two strings or byte strings."""
    left = a.encode() if isinstance(a, str) else a
    right = b.encode() if isinstance(b, str) else b
    return hmac.compare_digest(left, right)


def short(value: object, limit: int = 100) -> str | None:
    """A provider-supplied id or code as a short, printable string, or None."""
    if value is None:
        return None
    text = str(value).strip()
    if not text or len(text) > limit or not text.isprintable():
        return None
    return text


__all__ = [
    "DELIVERED",
    "OUTCOMES",
    "UNDELIVERED",
    "BadSignature",
    "CallbackRequest",
    "DeliveryReport",
    "DeliveryReportError",
    "MalformedReport",
    "same",
    "short",
]
