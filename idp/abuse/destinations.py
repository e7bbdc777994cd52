"""Where codes may go: countries on the allow-list, and number types that can take a text.

Premium-rate, shared-cost and toll-free numbers are where SMS pumping earns its money;
they never receive codes. VoIP numbers are refused unless an admin allows them.
"""

from __future__ import annotations

import phonenumbers
from phonenumbers import PhoneNumberType

from idp import site_settings, state
from idp.abuse.errors import DestinationRefused

#: Types that can receive a text message wherever the country is allowed.
TEXTABLE = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})


def allowed_countries() -> tuple[str, ...]:
    """The allow-list, or the configured default region when the admin has chosen none."""
    chosen = site_settings.get("sms_countries") or []
    return tuple(chosen) or (state.current().settings.default_region,)


def voip_allowed() -> bool:
    return bool(site_settings.get("sms_allow_voip"))


def region_of(e164: str) -> str | None:
    return phonenumbers.region_code_for_number(phonenumbers.parse(e164))


def check(e164: str) -> str:
    """Return the number's region when codes may go there.

    :raises DestinationRefused: for a country off the list or a type that cannot take codes.
    """
    number = phonenumbers.parse(e164)
    kind = phonenumbers.number_type(number)
    textable = kind in TEXTABLE or (kind == PhoneNumberType.VOIP and voip_allowed())
    region = phonenumbers.region_code_for_number(number)
    if not textable or region not in allowed_countries():
        raise DestinationRefused()
    return region
