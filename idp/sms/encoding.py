"""How many SMS segments a text costs: GSM 03.38 (7-bit) when it fits, UCS-2 otherwise.

GSM-7 holds 160 septets in one SMS and 153 per part of a longer one; the characters of the
extension table (``^{}\\[~]|€`` and form feed) take two septets, and the pair is never split
across parts. UCS-2 holds 70 UTF-16 units in one SMS and 67 per part; a character outside the
Basic Multilingual Plane (most emoji) is two units and is not split either.
"""

from __future__ import annotations

from dataclasses import dataclass

GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = frozenset("\f^{}\\[~]|€")

GSM7 = "GSM-7"
UCS2 = "UCS-2"
MAX_SEGMENTS = 255


@dataclass(frozen=True)
class Segments:
    """The encoding a text needs, its length in units of that encoding, and its segment count."""

    encoding: str
    units: int
    count: int


def is_gsm7(text: str) -> bool:
    return all(ch in GSM_BASIC or ch in GSM_EXTENSION for ch in text)


def _pack(units: list[int], single: int, part: int) -> int:
    """Parts needed for characters of the given unit widths, never splitting one character."""
    total = sum(units)
    if total <= single:
        return 1
    parts, used = 1, 0
    for width in units:
        if used + width > part:
            parts, used = parts + 1, 0
        used += width
    return parts


def segments(text: str) -> Segments:
    """Count the segments of *text* the way a handset and an SMSC would."""
    if is_gsm7(text):
        widths = [2 if ch in GSM_EXTENSION else 1 for ch in text]
        return Segments(GSM7, sum(widths), _pack(widths, 160, 153))
    widths = [2 if ord(ch) > 0xFFFF else 1 for ch in text]
    return Segments(UCS2, sum(widths), _pack(widths, 70, 67))
