"""Fake SMS providers for tests: their options say how they behave.

``FakeProvider`` ("fake") does what its ``outcome`` option says: accept, or raise a temporary,
configuration or recipient error, crash like a buggy plugin, or end the worker mid-send
(``abort``: SystemExit, as gunicorn's worker timeout raises). Every message it is given is
appended to ``SENT`` (cleared before each test by the fixtures that use it), so tests see what
reached "the network", code included.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wtforms import StringField
from wtforms.validators import AnyOf, Optional

from idp.options import OptionsForm, SecretField
from idp.plugins import Registry, from_classes
from idp.sms import (
    SmsConfigurationError,
    SmsMessage,
    SmsProvider,
    SmsReceipt,
    SmsRecipientError,
    SmsTemporaryError,
)
from idp_password import PasswordMethod
from idp_sms_providers.console import ConsoleProvider


@dataclass(frozen=True)
class Sent:
    provider: str
    message: SmsMessage
    options: dict[str, Any]


SENT: list[Sent] = []

OUTCOMES = ("ok", "temporary", "configuration", "recipient", "bug", "abort")


class FakeOptions(OptionsForm):
    outcome = StringField("Outcome", default="ok", validators=[AnyOf(OUTCOMES)])
    api_key = SecretField("API key")
    message_id = StringField("Message id to answer with", validators=[Optional()])


class FakeProvider(SmsProvider):
    name = "fake"
    title = "Fake gateway"
    options_form = FakeOptions

    def send(self, message: SmsMessage) -> SmsReceipt:
        SENT.append(Sent(self.name, message, dict(self.options)))
        outcome = self.options.get("outcome", "ok")
        if outcome == "temporary":
            raise SmsTemporaryError(
                "Fake gateway: technical error", provider=self.name, raw_code="800"
            )
        if outcome == "configuration":
            raise SmsConfigurationError(
                "Fake gateway: insufficient credits",
                provider=self.name,
                raw_code="203",
                raw_meaning="insufficient credits",
            )
        if outcome == "recipient":
            raise SmsRecipientError(
                "Fake gateway: invalid number", provider=self.name, raw_code="104"
            )
        if outcome == "bug":
            raise ZeroDivisionError("division by zero in a badly written plugin")
        if outcome == "abort":  # gunicorn's timeout (SIGABRT) or a shutdown ends the worker so
            raise SystemExit(1)
        return SmsReceipt(
            provider_message_id=self.options.get("message_id") or f"fake-{len(SENT)}",
            raw_code="1",
            raw_meaning="received",
        )


class OtherFakeProvider(FakeProvider):
    """A second provider id, for chains that mix vendors."""

    name = "fake-two"
    title = "Second fake gateway"


def fake_registry() -> Registry:
    """Password login, the console provider and both fakes."""
    return from_classes(PasswordMethod, ConsoleProvider, FakeProvider, OtherFakeProvider)
