"""Phone numbers: any common notation in, E.164 out; masked for logs and pages."""

from __future__ import annotations

import re

import phonenumbers
from flask import current_app, has_app_context
from flask_babel import gettext

from idp.errors import InvalidInput

# Digits and the punctuation people type between them; no letters (no vanity numbers).
_ALLOWED = re.compile(r"[0-9+\-().\s/]{3,32}")


class InvalidPhoneNumber(InvalidInput):
    """This is not a phone number we can send to."""

    code = "invalid_phone_number"


def normalise(raw: str, default_region: str | None = None) -> str:
    """Return the E.164 form of *raw* ("06-12345678" -> "+31612345678").

    *default_region* applies to numbers typed without a country code; by default it is the
    app's ``default_region`` setting (NL outside an app).

    :raises InvalidPhoneNumber: with a message a person can act on.
    """
    if default_region is None:
        default_region = _configured_region()
    text = (raw or "").strip()
    if not text:
        raise InvalidPhoneNumber(gettext("Enter a phone number."), field="phone")
    if not _ALLOWED.fullmatch(text):
        raise InvalidPhoneNumber(
            gettext("A phone number has only digits, spaces, hyphens and an optional leading +."),
            field="phone",
        )
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber(
            gettext(
                "This does not look like a phone number; "
                "include the country code, e.g. +31 6 1234 5678."
            ),
            field="phone",
        ) from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhoneNumber(
            gettext("This phone number does not exist; check the digits and the country code."),
            field="phone",
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _configured_region() -> str:
    # Read off the app's state directly (as idp.clock does): the provider contract imports no
    # module above it, and idp.state imports idp.sms.
    if not has_app_context() or "idp" not in current_app.extensions:
        return "NL"
    region: str = current_app.extensions["idp"].settings.default_region
    return region


def mask(e164: str | None) -> str:
    """Hide all but the country code and the last two digits: +31*******78."""
    if not e164:
        return ""
    try:
        country = str(phonenumbers.parse(e164).country_code)
    except phonenumbers.NumberParseException:
        country = ""
    digits = e164.lstrip("+")
    hidden = max(len(digits) - len(country) - 2, 0)
    return f"+{country}{'*' * hidden}{digits[-2:]}"
