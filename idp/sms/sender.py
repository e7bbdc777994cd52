"""Sender ids: what may stand in the "from" of an SMS."""

from __future__ import annotations

import re

from idp.errors import InvalidInput

_ALPHANUMERIC = re.compile(r"[A-Za-z0-9 ]{1,11}")
_NUMERIC = re.compile(r"\+?[0-9]{1,16}")


def sender_problem(sender: str) -> str | None:
    """Why *sender* cannot be used, or None.

    Alphanumeric: at most 11 of A-Z, a-z, 0-9 and space, with at least one letter.
    Numeric: at most 16 digits, optionally after a +.
    """
    if not sender:
        return "Enter a sender: a name of at most 11 letters and digits, or a phone number."
    if _NUMERIC.fullmatch(sender):
        return None
    if any(ch.isdigit() for ch in sender) and not any(ch.isalpha() for ch in sender):
        return "A numeric sender has at most 16 digits (an optional + in front)."
    if len(sender) > 11:
        return f"An alphanumeric sender has at most 11 characters; this one has {len(sender)}."
    if not _ALPHANUMERIC.fullmatch(sender):
        return "An alphanumeric sender may only use A-Z, a-z, 0-9 and spaces."
    if sender.strip() != sender:
        return "A sender may not start or end with a space."
    return None


def check_sender(sender: str) -> str:
    """*sender* when it is valid; raises InvalidInput (field ``sender``) otherwise."""
    problem = sender_problem(sender)
    if problem:
        raise InvalidInput(problem, field="sender")
    return sender


def is_alphanumeric(sender: str) -> bool:
    return not _NUMERIC.fullmatch(sender)
