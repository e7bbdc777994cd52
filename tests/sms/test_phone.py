"""Phone numbers: any common notation in, E.164 out; masked wherever they are shown or logged."""

from __future__ import annotations

import pytest

from idp.errors import InvalidInput
from idp.sms.phone import InvalidPhoneNumber, mask, normalise


@pytest.mark.parametrize(
    "raw",
    [
        "06-12345678",
        "+31 6 1234 5678",
        "0031612345678",
        "06 1234 5678",
        "(06) 12345678",
        "+31 (0)6 12345678",
        "+31612345678",
        "  06 12 34 56 78  ",
    ],
)
def test_dutch_notations_become_e164(raw):
    assert normalise(raw, "NL") == "+31612345678"


def test_belgian_number_with_country_code():
    assert normalise("+32 470 12 34 56", "NL") == "+32470123456"


def test_default_region_applies_to_numbers_without_country_code():
    assert normalise("0470 12 34 56", "BE") == "+32470123456"
    with pytest.raises(InvalidPhoneNumber):
        normalise("0470 12 34 56", "NL")  # one digit too many for a Dutch number


def test_default_region_of_an_app_is_nl(app):
    with app.app_context():
        assert normalise("06-12345678") == "+31612345678"
        with pytest.raises(InvalidPhoneNumber):
            normalise("0470 12 34 56")


@pytest.fixture
def belgian_app_config(app_config):
    app_config["default_region"] = "BE"
    return app_config


def test_configured_region_is_used_without_an_argument(belgian_app_config, app):
    with app.app_context():
        assert normalise("0470 12 34 56") == "+32470123456"
        # A number with its country code does not depend on the region.
        assert normalise("+31 6 1234 5678") == "+31612345678"


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("", "Enter a phone number"),
        ("   ", "Enter a phone number"),
        ("06-CALLME", "only digits"),
        ("+31 6 1234 5678 ext 2", "only digits"),
        ("06-123", "does not exist"),
        ("+31 6 1234 56789", "does not exist"),
        ("00000000", "does not exist"),
        ("+999 1234567", "country code"),
    ],
)
def test_invalid_numbers_are_refused_with_a_clear_message(raw, says):
    with pytest.raises(InvalidPhoneNumber) as info:
        normalise(raw, "NL")
    assert says in info.value.user_message()
    assert info.value.field == "phone"
    assert info.value.code == "invalid_phone_number"
    assert info.value.status == 400
    assert isinstance(info.value, InvalidInput)


def test_none_is_refused_like_empty():
    with pytest.raises(InvalidPhoneNumber, match="Enter a phone number"):
        normalise(None, "NL")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("e164", "masked"),
    [
        ("+31612345678", "+31*******78"),
        ("+32470123456", "+32*******56"),
        ("+12025550123", "+1********23"),
    ],
)
def test_mask_keeps_only_country_code_and_last_two_digits(e164, masked):
    assert mask(e164) == masked
    assert len(mask(e164)) == len(e164)


@pytest.mark.parametrize("empty", ["", None])
def test_mask_of_nothing_is_empty(empty):
    assert mask(empty) == ""
