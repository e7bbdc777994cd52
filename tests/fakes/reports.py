"""Delivery reports as Spryng and MessageBird send them (reference F.1-F.3): query strings of
a GET to the report address configured in their dashboards."""

from __future__ import annotations


def spryng_legacy(reference: str, status: str = "Delivered") -> dict[str, str]:
    """send.php era: ``REFERENCE`` and ``STATUS`` (Delivered, Not Delivered, Buffered)."""
    return {"REFERENCE": reference, "STATUS": status}


def spryng_rest(reference: str, status: str = "10", reason: str = "0") -> dict[str, str]:
    """REST v1: ``STATUS`` 10 delivered or 20 failed, with a ``REASONCODE``."""
    return {"STATUS": status, "REASONCODE": reason, "REFERENCE": reference}


def messagebird(
    message_id: str, reference: str, status: str = "delivered", recipient: str = "31612345678"
) -> dict[str, str]:
    return {
        "id": message_id,
        "reference": reference,
        "recipient": recipient,
        "status": status,
        "statusDatetime": "2026-01-05T09:00:05+00:00",
    }
