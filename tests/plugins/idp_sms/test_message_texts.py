"""Message texts per purpose and language: the built-in ones, the admin's, and their checks."""

from __future__ import annotations

import pytest

from idp import site_settings
from idp.errors import InvalidInput
from idp.extensions import db
from idp.sms.encoding import segments
from idp.verification import messages
from idp.verification.messages import BUILT_IN, LANGUAGES, PURPOSES, code_text, validate_template


def test_every_purpose_has_an_english_and_a_dutch_text():
    for language in LANGUAGES:
        assert set(BUILT_IN[language]) == set(PURPOSES)
        for text in BUILT_IN[language].values():
            assert validate_template(text) == text


def test_every_built_in_text_fits_in_one_segment_with_a_long_code_and_host(app):
    with app.test_request_context("/", base_url="https://login.example-company.nl"):
        for language in LANGUAGES:
            for purpose in PURPOSES:
                text = code_text(purpose, "1234567890", language=language)
                assert segments(text).count == 1, text


def test_a_code_text_ends_in_the_origin_bound_line(app):
    with app.test_request_context("/", base_url="https://login.example.nl"):
        text = code_text("login", "123456", language="nl")

    assert text == (
        "Je Poort-inlogcode is 123456. Deze verloopt over 5 minuten.\n\n@login.example.nl #123456"
    )


def test_an_unknown_language_falls_back_to_english(app):
    with app.app_context():
        assert code_text("login", "123456", host="h.example", language="fr").startswith(
            "Your Poort login code is 123456."
        )


def store(app, templates):
    with app.app_context():
        site_settings.put("sms_templates", templates)
        db.session.commit()


def test_the_admins_text_is_used_when_stored(app):
    store(app, {"login": {"nl": "Code {code} voor {app}, {minutes} min."}})

    with app.app_context():
        assert code_text("login", "123456", host="h.example", language="nl") == (
            "Code 123456 voor Poort, 5 min.\n\n@h.example #123456"
        )
        assert code_text("login", "123456", host="h.example").startswith("Your Poort login")


def test_a_broken_stored_text_falls_back_to_the_built_in_one(app):
    store(app, {"login": {"en": "Code {code} {nope}"}})

    with app.app_context():
        assert code_text("login", "123456", host="h.example").startswith("Your Poort login")


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("", "Type the text"),
        ("Your code", "must contain {code}"),
        ("Code {code} for {user}", "{user} is not a placeholder"),
        ("Code {code:>8}", "{code:>8} is not a placeholder"),
        ("Code {code!r}", "{code!r} is not a placeholder"),
        ("Code {}", "{} is not a placeholder"),
        ("Code {code.__class__}", "is not a placeholder"),
        ("Code {code", "A brace is not closed"),
        ("Code {code}\n\n@login.example.nl #{code}", "Leave out the line that starts with @"),
        ("x" * 481 + "{code}", "Use at most 480 characters"),
    ],
)
def test_bad_templates_are_refused_with_a_reason(template, message):
    with pytest.raises(InvalidInput) as caught:
        validate_template(template)
    assert message in caught.value.message
    assert caught.value.field == "template"


def test_a_template_is_tidied():
    assert validate_template("  Code {code}\r\nBye {{friend}}  ") == "Code {code}\nBye {{friend}}"


def test_an_e_mail_address_in_a_template_is_fine():
    assert validate_template("Code {code}. Help: help@example.org #1").startswith("Code")


def test_sample_uses_a_code_of_the_configured_length(app_config, registry, clock):
    from idp import create_app

    app = create_app({**app_config, "code_length": 8}, registry=registry, clock=clock)
    with app.test_request_context("/", base_url="https://h.example"):
        text, info = messages.sample("{code}")
    assert text == "12345678\n\n@h.example #12345678"
    assert info.encoding == "GSM-7" and info.count == 1
