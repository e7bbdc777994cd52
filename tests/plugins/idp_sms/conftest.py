"""The SMS method tests: password and SMS methods, and a confirmed default console verifier.

Codes are read from the console provider's outbox (<instance>/sms-outbox.jsonl), as a person
would read them from their phone.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from wtforms import SelectField

from idp import site_settings
from idp.extensions import db
from idp.options import OptionsForm
from idp.plugins import Registry, from_classes
from idp.sms import SmsMessage, SmsProvider, SmsReceipt
from idp.sms.errors import SmsRecipientError, SmsTemporaryError
from idp_password import PasswordMethod
from idp_sms import SmsMethod
from idp_sms_providers.console import ConsoleProvider
from tests.fakes.clock import FakeClock
from tests.plugins.idp_sms.support import KNOWN
from tests.sms_setup import add_verifier as add_verifier
from tests.sms_setup import sms_options as sms_options_default


class BrokenOptions(OptionsForm):
    error = SelectField(choices=["temporary", "recipient"], default="temporary")


class BrokenProvider(SmsProvider):
    """Refuses every message: temporarily, or because of the recipient."""

    name = "broken"
    title = "Broken (tests)"
    options_form = BrokenOptions

    def send(self, message: SmsMessage) -> SmsReceipt:
        if self.options.get("error") == "recipient":
            raise SmsRecipientError("unknown subscriber", provider=self.name, raw_code="21")
        raise SmsTemporaryError("gateway timeout", provider=self.name, raw_code="504")


@pytest.fixture
def registry() -> Registry:
    return from_classes(PasswordMethod, SmsMethod, ConsoleProvider, BrokenProvider)


@pytest.fixture
def console(app: Flask, clock: FakeClock) -> None:
    add_verifier(app, clock, "console", "console", default=True)


@pytest.fixture
def sms_options() -> dict[str, Any]:
    """Options of the "sms" authenticator; override or mutate to change them."""
    return sms_options_default()


@pytest.fixture
def sms(make_authenticator, console, sms_options):
    """An enabled SMS authenticator called "sms" using the default (console) verifier."""
    return make_authenticator("sms", method="sms", title="Text message", options=sms_options)


@pytest.fixture
def password(make_authenticator):
    return make_authenticator("password")


@pytest.fixture
def known(make_user, clock):
    """A user whose phone is verified."""
    return make_user(nickname="Known", phone=KNOWN, phone_verified_at=clock())


def set_policy(app: Flask, value: str) -> None:
    with app.app_context():
        site_settings.put("second_factor_policy", value)
        db.session.commit()
