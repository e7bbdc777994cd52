"""What Poort puts into and reads out of SMPP PDUs: text as GSM 03.38 (unpacked) or UCS-2
parts with a concatenation header, the sender's TON/NPI, and delivery receipts."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

from idp.sms.encoding import GSM_EXTENSION, is_gsm7
from idp.sms.reports import DELIVERED, UNDELIVERED, DeliveryReport, short

#: Receipt states: the ``stat:`` word of the text and the ``message_state`` TLV.
_STAT_WORDS = {
    "DELIVRD": DELIVERED,
    "EXPIRED": UNDELIVERED,
    "DELETED": UNDELIVERED,
    "UNDELIV": UNDELIVERED,
    "REJECTD": UNDELIVERED,
}
_STAT_MEANINGS = {
    "DELIVRD": "delivered",
    "EXPIRED": "expired",
    "DELETED": "deleted",
    "UNDELIV": "undeliverable",
    "REJECTD": "rejected",
}
_STATE_TLV = {2: "DELIVRD", 3: "EXPIRED", 4: "DELETED", 5: "UNDELIV", 8: "REJECTD"}
_RECEIPT = re.compile(
    r"id:(?P<id>[0-9A-Za-z-]{1,65}).*?stat:(?P<stat>[A-Z]{5,8})(?:.*?err:(?P<err>[0-9A-Za-z]{1,3}))?",
    re.DOTALL,
)

# GSM 03.38 basic table in code order (0x1B is the escape to the extension table).
GSM_TABLE = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_CODES = {ch: code for code, ch in enumerate(GSM_TABLE) if code != 0x1B}
GSM_ESCAPES = {"\f": 0x0A, "^": 0x14, "{": 0x28, "}": 0x29, "\\": 0x2F, "[": 0x3C, "~": 0x3D,
               "]": 0x3E, "|": 0x40, "€": 0x65}  # fmt: skip
assert set(GSM_ESCAPES) == set(GSM_EXTENSION)

GSM_DEFAULT, UCS2 = 0x00, 0x08
UDHI = 0x40
MAX_PARTS = 255


@dataclass(frozen=True)
class Encoded:
    """A text as the octets of its parts, with the data_coding and esm_class to send them."""

    data_coding: int
    esm_class: int
    parts: tuple[bytes, ...]


def _characters(text: str) -> tuple[int, list[bytes]]:
    """The data_coding for *text* and each character's octets (never split between parts)."""
    if is_gsm7(text):
        chars = [
            bytes([0x1B, GSM_ESCAPES[ch]]) if ch in GSM_ESCAPES else bytes([GSM_CODES[ch]])
            for ch in text
        ]
        return GSM_DEFAULT, chars
    return UCS2, [ch.encode("utf-16-be") for ch in text]


def encode(text: str, reference: int | None = None) -> Encoded:
    """Split *text* into SMS parts: one without a header when it fits, else UDH parts.

    GSM: 160 septets alone, 153 per part; UCS-2: 140 octets alone, 134 per part. A
    character's octets always stay in one part.
    """
    coding, chars = _characters(text)
    single, per_part = (160, 153) if coding == GSM_DEFAULT else (140, 134)
    whole = b"".join(chars)
    if len(whole) <= single:
        return Encoded(coding, 0, (whole,))
    chunks: list[bytes] = []
    current = b""
    for octets in chars:
        if len(current) + len(octets) > per_part:
            chunks.append(current)
            current = b""
        current += octets
    chunks.append(current)
    if len(chunks) > MAX_PARTS:
        raise ValueError("text too long for 255 parts")
    ref = secrets.randbelow(256) if reference is None else reference & 0xFF
    total = len(chunks)
    parts = tuple(bytes([5, 0, 3, ref, total, seq]) + chunk for seq, chunk in enumerate(chunks, 1))
    return Encoded(coding, UDHI, parts)


def sender_address(sender: str) -> tuple[int, int, str]:
    """TON, NPI and address of a sender: 5/0 alphanumeric, 1/1 international, 3/0 short code."""
    digits = sender.lstrip("+")
    if digits.isdigit():
        if sender.startswith("+") or len(digits) >= 10:
            return 1, 1, digits
        return 3, 0, digits
    return 5, 0, sender


def parse_receipt(pdu: Any) -> DeliveryReport | None:
    """A delivery report from a ``deliver_sm`` receipt, or None (not a receipt, not final)."""
    esm_class = int(getattr(pdu, "esm_class", 0) or 0)
    if not esm_class & 0x04:
        return None
    text = bytes(getattr(pdu, "short_message", b"") or b"").decode("latin-1", errors="replace")
    match = _RECEIPT.search(text)
    receipted = getattr(pdu, "receipted_message_id", None)
    message_id = (
        receipted.decode("ascii", errors="replace") if isinstance(receipted, bytes) else receipted
    )
    message_id = short(message_id, 65) or (match.group("id") if match else None)
    state = getattr(pdu, "message_state", None)
    stat = _STATE_TLV.get(state) if isinstance(state, int) else None
    if stat is None and match:
        stat = match.group("stat")
    if not message_id or stat not in _STAT_WORDS:
        return None
    err = match.group("err") if match else None
    reason = _STAT_MEANINGS[stat] + (f" (err {err})" if err and err.strip("0") else "")
    return DeliveryReport(
        outcome=_STAT_WORDS[stat],
        provider_message_id=message_id.strip(),
        raw_code=f"{stat}:{err}" if err else stat,
        reason=reason,
    )
