"""Which numbers the SMS method texts: valid, mobile, and from an allowed country.

The number is normalised to E.164 first (any common notation, the configured default region
for numbers without a country code). Only mobile numbers (and those a numbering plan cannot
tell from landlines, such as in the US) can receive a text; a number from a country the
authenticator does not allow is refused before anything is sent or looked up.
"""

from __future__ import annotations

from collections.abc import Iterable

import phonenumbers
from flask import has_request_context
from flask_babel import gettext
from phonenumbers import PhoneNumberType, geocoder

from idp import state
from idp.abuse.destinations import voip_allowed
from idp.sms.phone import InvalidPhoneNumber, normalise

#: Number types that can receive a text message.
TEXTABLE = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})


def parse_regions(raw: str | None) -> tuple[str, ...]:
    """ "be, de" -> ("BE", "DE"); unknown codes are dropped (the options form refuses them)."""
    regions = []
    for item in (raw or "").replace(";", ",").split(","):
        code = item.strip().upper()
        if code and code in phonenumbers.SUPPORTED_REGIONS and code not in regions:
            regions.append(code)
    return tuple(regions)


def allowed_regions(extra: Iterable[str] = ()) -> frozenset[str]:
    """The default region, plus the ones an authenticator adds."""
    return frozenset({state.current().settings.default_region, *extra})


def country_name(number: phonenumbers.PhoneNumber) -> str:
    """The country of *number*, named in the page's language."""
    language = "en"
    if has_request_context():
        from idp.i18n import current_language

        language = current_language()
    return geocoder.country_name_for_number(number, language) or gettext("that country")


def screen(raw: str, regions: Iterable[str] = ()) -> str:
    """Return the E.164 form of *raw* when we may text it.

    :param regions: regions allowed beside the default region.
    :raises InvalidPhoneNumber: for a malformed, non-mobile or not-allowed number, with a
        message a person can act on.
    """
    settings = state.current().settings
    e164 = normalise(raw, settings.default_region)
    number = phonenumbers.parse(e164)
    kind = phonenumbers.number_type(number)
    if kind not in TEXTABLE and not (kind == PhoneNumberType.VOIP and voip_allowed()):
        raise InvalidPhoneNumber(
            gettext("This number cannot receive text messages. Enter a mobile number."),
            field="phone",
        )
    region = phonenumbers.region_code_for_number(number)
    if region not in allowed_regions(regions):
        raise InvalidPhoneNumber(
            gettext(
                "We cannot send text messages to numbers from %(country)s here. "
                "Enter a mobile number from an allowed country.",
                country=country_name(number),
            ),
            field="phone",
        )
    return e164


def example_number() -> str:
    """A mobile number of the default region as people write it there ("06 12345678")."""
    region = state.current().settings.default_region
    number = phonenumbers.example_number_for_type(region, PhoneNumberType.MOBILE)
    if number is None:
        return "+31 6 12345678"
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
