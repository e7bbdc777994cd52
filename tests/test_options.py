"""Plugin options: one form validates the panel, the CLI and poort.toml alike; secrets sealed."""

from __future__ import annotations

import json

import pytest
from werkzeug.datastructures import MultiDict
from wtforms import BooleanField, IntegerField, StringField
from wtforms.validators import DataRequired, InputRequired, NumberRange

from idp.errors import ConfigError
from idp.options import (
    SEALED,
    OptionsForm,
    OptionsInvalid,
    SecretField,
    bind_form,
    open_options,
    public_options,
    validate_options,
)
from idp.security.secret_box import SecretBox, new_key

API_KEY = "live_9f8e7d6c5b4a"


class SampleOptions(OptionsForm):
    api_key = SecretField("API key", validators=[InputRequired()])
    endpoint = StringField("Endpoint", validators=[DataRequired()])
    timeout = IntegerField("Timeout (s)", default=10, validators=[NumberRange(min=1, max=60)])
    verify_tls = BooleanField("Check the TLS certificate", default=True)


class OptionalSecretOptions(OptionsForm):
    webhook_secret = SecretField("Webhook secret")


@pytest.fixture
def box() -> SecretBox:
    return SecretBox([new_key()])


def browser_form(**fields: str) -> MultiDict:
    """What a browser posts from the admin panel: prefixed names, strings, other fields too."""
    data = MultiDict({"csrf_token": "token", "name": "spryng"})
    for key, value in fields.items():
        data.add(f"options-{key}", value)
    return data


def errors_of(form_cls, formdata, box, stored=None) -> dict[str, list[str]]:
    with pytest.raises(OptionsInvalid) as info:
        validate_options(form_cls, formdata, box, stored)
    return info.value.errors


# -- two ways in, one result --------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "form"),
    [
        (
            {
                "api_key": API_KEY,
                "endpoint": "https://sms.example",
                "timeout": 5,
                "verify_tls": True,
            },
            browser_form(
                api_key=API_KEY, endpoint="https://sms.example", timeout="5", verify_tls="y"
            ),
        ),
        (
            {
                "api_key": API_KEY,
                "endpoint": "https://sms.example",
                "timeout": 30,
                "verify_tls": False,
            },
            browser_form(api_key=API_KEY, endpoint="https://sms.example", timeout="30"),
        ),
    ],
)
def test_typed_and_form_input_give_the_same_options(box, typed, form):
    from_typed = validate_options(SampleOptions, typed, box)
    from_form = validate_options(SampleOptions, form, box)
    assert public_options(from_typed) == public_options(from_form)
    assert open_options(from_typed, box) == open_options(from_form, box) == typed


def test_values_are_stored_typed(box):
    stored = validate_options(
        SampleOptions, browser_form(api_key=API_KEY, endpoint="https://x", timeout="7"), box
    )
    assert stored["timeout"] == 7
    assert stored["verify_tls"] is False  # an unchecked box is not sent at all
    assert stored["endpoint"] == "https://x"


@pytest.mark.parametrize(
    ("given", "field"),
    [
        ({"endpoint": ""}, "endpoint"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": 61}, "timeout"),
        ({"timeout": "ten"}, "timeout"),
    ],
)
def test_errors_name_the_field(box, given, field):
    typed = {"api_key": API_KEY, "endpoint": "https://sms.example", **given}
    form = browser_form(**{k: str(v) for k, v in typed.items()})
    for formdata in (typed, form):
        with pytest.raises(OptionsInvalid) as info:
            validate_options(SampleOptions, formdata, box)
        assert set(info.value.errors) == {field}
        assert str(info.value).startswith(f"{field}: ")


def test_every_wrong_field_is_reported_at_once(box):
    errors = errors_of(SampleOptions, {"timeout": 0}, box)
    assert set(errors) == {"api_key", "endpoint", "timeout"}


# -- secrets ------------------------------------------------------------------------------


def test_secrets_are_sealed_not_stored_in_plaintext(box):
    stored = validate_options(SampleOptions, {"api_key": API_KEY, "endpoint": "https://x"}, box)
    assert set(stored["api_key"]) == {SEALED}
    assert API_KEY not in json.dumps(stored)
    assert box.open(stored["api_key"][SEALED]) == API_KEY


def test_sealed_secrets_need_the_key_they_were_sealed_with(box):
    stored = validate_options(SampleOptions, {"api_key": API_KEY, "endpoint": "https://x"}, box)
    with pytest.raises(ConfigError):
        open_options(stored, SecretBox([new_key()]))


@pytest.mark.parametrize(
    "edit",
    [
        {"endpoint": "https://other.example"},  # typed input leaves it out
        {"endpoint": "https://other.example", "api_key": ""},  # typed input sends it blank
        browser_form(endpoint="https://other.example", api_key="", timeout="10"),  # the panel
    ],
)
def test_blank_secret_keeps_the_stored_one(box, edit):
    stored = validate_options(SampleOptions, {"api_key": API_KEY, "endpoint": "https://x"}, box)
    edited = validate_options(SampleOptions, edit, box, stored)
    assert edited["api_key"] == stored["api_key"]
    assert edited["endpoint"] == "https://other.example"
    assert open_options(edited, box)["api_key"] == API_KEY


def test_new_secret_replaces_the_stored_one(box):
    stored = validate_options(SampleOptions, {"api_key": API_KEY, "endpoint": "https://x"}, box)
    edited = validate_options(
        SampleOptions, {"api_key": "live_new", "endpoint": "https://x"}, box, stored
    )
    assert open_options(edited, box)["api_key"] == "live_new"


@pytest.mark.parametrize(
    "formdata",
    [
        {"endpoint": "https://x"},
        {"endpoint": "https://x", "api_key": ""},
        browser_form(endpoint="x"),
    ],
)
def test_required_secret_missing_is_an_error(box, formdata):
    errors = errors_of(SampleOptions, formdata, box)
    assert errors == {"api_key": ["This secret is required."]}


def test_optional_secret_left_blank_is_not_stored(box):
    assert validate_options(OptionalSecretOptions, {}, box) == {}
    assert validate_options(OptionalSecretOptions, browser_form(webhook_secret=""), box) == {}


def test_stored_secret_is_never_put_back_into_the_form(box):
    stored = validate_options(SampleOptions, {"api_key": API_KEY, "endpoint": "https://x"}, box)
    form = bind_form(SampleOptions, stored)
    html = str(form.api_key())
    assert API_KEY not in html
    assert stored["api_key"][SEALED] not in html
    assert 'autocomplete="off"' in html
    assert form.endpoint.data == "https://x"


# -- showing and using --------------------------------------------------------------------


def test_public_options_show_set_instead_of_secrets(box):
    stored = validate_options(
        SampleOptions, {"api_key": API_KEY, "endpoint": "https://x", "timeout": 3}, box
    )
    assert public_options(stored) == {
        "api_key": "set",
        "endpoint": "https://x",
        "timeout": 3,
        "verify_tls": True,
    }
    assert public_options(None) == {}


def test_open_options_decrypts_secrets_and_keeps_the_rest(box):
    stored = validate_options(SampleOptions, {"api_key": API_KEY, "endpoint": "https://x"}, box)
    assert open_options(stored, box) == {
        "api_key": API_KEY,
        "endpoint": "https://x",
        "timeout": 10,
        "verify_tls": True,
    }
