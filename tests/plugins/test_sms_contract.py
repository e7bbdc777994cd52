"""Every SMS provider registered in pyproject.toml passes the shared contract suite.

One harness per provider (per API for Spryng) points the provider at its local fake. The
harnesses of the first providers are here; other test modules of this folder may hold more (a
``Test...`` subclass of SmsProviderContract with a ``provider`` class attribute). A provider
registered without a harness anywhere in this folder fails
:func:`test_every_registered_provider_has_a_harness`.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import tomllib
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any, ClassVar

import pytest

from idp.sms import SmsMessage, SmsProvider, SmsReceipt
from idp.testing.sms_contract import EXPECTED, SmsProviderContract
from idp_sms_providers.console import ConsoleProvider
from idp_sms_providers.http import HttpProvider
from idp_sms_providers.messagebird import MessageBirdProvider
from idp_sms_providers.spryng import SpryngProvider
from tests.fakes import generic_gateways as gw
from tests.fakes import messagebird as mb
from tests.fakes import spryng
from tests.fakes.fixtures import TIMEOUT

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
GROUP = "idp.sms_providers"


def registered() -> dict[str, str]:
    """The SMS providers pyproject.toml registers: id -> object reference."""
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    return dict(project.get("entry-points", {}).get(GROUP, {}))


class _Harness(SmsProviderContract):
    provider: ClassVar[type[SmsProvider]]

    @pytest.fixture
    def provider_class(self) -> type[SmsProvider]:
        return self.provider


class TestConsoleContract(_Harness):
    provider = ConsoleProvider
    not_applicable = frozenset(EXPECTED)  # nothing leaves the machine: no timeout, no 5xx, no auth

    @pytest.fixture
    def provider_options(self) -> dict[str, Any]:
        return {"outbox": "sms-outbox.jsonl"}


class TestHttpContract(_Harness):
    """The generic provider, configured for Twilio as privacyIDEA's example does."""

    provider = HttpProvider

    @pytest.fixture
    def provider_fake(self, gateways_fake):
        return gateways_fake

    @pytest.fixture
    def provider_options(self, gateways_fake) -> dict[str, Any]:
        return {
            "url": f"{gateways_fake.url}/2010-04-01/Accounts/{gw.TWILIO_SID}/Messages.json",
            "method": "POST",
            "body": "form",
            "username": gw.TWILIO_SID,
            "password": gw.TWILIO_TOKEN,
            "parameters": "From=Poort\nBody={message}\nTo={phone}",
            "return_success": '"status": "queued"',
            "check_ssl": True,
            "timeout": TIMEOUT,
            "phone_format": "e164",
        }


class _SpryngHarness(_Harness):
    provider = SpryngProvider
    path: ClassVar[str]
    key: ClassVar[str] = spryng.PASSWORD

    @pytest.fixture
    def provider_fake(self, spryng_fake):
        return spryng_fake

    @pytest.fixture
    def provider_options(self, spryng_fake) -> dict[str, Any]:
        return {
            "endpoint": spryng_fake.url + self.path,
            "username": spryng.USERNAME,
            "password": self.key,
            "route": "business",
            "allow_long": True,
            "timeout": TIMEOUT,
        }


class TestSpryngLegacyContract(_SpryngHarness):
    path = "/api/send.php"


class TestSpryngSimpleContract(_SpryngHarness):
    path = "/api/simple/message"


class TestSpryngRestContract(_SpryngHarness):
    path = "/v1/messages"
    key = spryng.API_KEY


class TestMessageBirdContract(_Harness):
    provider = MessageBirdProvider

    @pytest.fixture
    def provider_fake(self, messagebird_fake):
        return messagebird_fake

    @pytest.fixture
    def provider_options(self, messagebird_fake) -> dict[str, Any]:
        return {"endpoint": messagebird_fake.url, "access_key": mb.ACCESS_KEY, "timeout": TIMEOUT}


HARNESSES: list[type[_Harness]] = [
    TestConsoleContract,
    TestHttpContract,
    TestSpryngLegacyContract,
    TestSpryngSimpleContract,
    TestSpryngRestContract,
    TestMessageBirdContract,
]


def all_harnesses() -> list[type[SmsProviderContract]]:
    """The harnesses in every test module of this folder (imported here if pytest has not yet)."""
    package = importlib.import_module(__package__ or "tests.plugins")
    for module in pkgutil.iter_modules(package.__path__):
        if module.name.startswith("test_"):
            importlib.import_module(f"{package.__name__}.{module.name}")
    found, stack = [], [SmsProviderContract]
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if cls.__name__.startswith("Test") and isinstance(getattr(cls, "provider", None), type):
            found.append(cls)
    return found


def test_every_registered_provider_has_a_harness():
    harnesses = all_harnesses()
    assert set(HARNESSES) <= set(harnesses)
    for plugin_id, value in sorted(registered().items()):
        cls = EntryPoint(plugin_id, value, GROUP).load()
        assert any(h.provider is cls for h in harnesses), (
            f"the registered SMS provider {plugin_id!r} has no contract harness in tests/plugins"
        )


@pytest.mark.parametrize("harness", HARNESSES, ids=lambda h: h.__name__)
def test_each_harness_tests_the_registered_class(harness):
    value = registered().get(harness.provider.name)
    assert value, f"{harness.provider.name} is not registered in pyproject.toml"
    assert EntryPoint(harness.provider.name, value, GROUP).load() is harness.provider


# -- the suite itself catches what it promises to catch --------------------------------------


class _Leaky(SmsProvider):
    name = "leaky"
    title = "Leaky"

    def send(self, message: SmsMessage) -> SmsReceipt:
        logging.getLogger("leaky").debug("sending %s", message.text)
        return SmsReceipt(provider_message_id="1")


class _ReturnsNone(SmsProvider):
    name = "returns_none"
    title = "Returns None"

    def send(self, message: SmsMessage) -> SmsReceipt:
        return None  # type: ignore[return-value]


class _SaysFailed(SmsProvider):
    name = "says_failed"
    title = "Says failed"

    def send(self, message: SmsMessage) -> SmsReceipt:
        return SmsReceipt(raw_code="failed", raw_meaning="failed")


def test_the_suite_catches_a_provider_that_logs_the_text(caplog, provider_context):
    suite = TestConsoleContract()
    with pytest.raises(AssertionError, match="appears in the log"):
        suite.test_text_code_and_secrets_stay_out_of_logs_and_errors(
            caplog, _Leaky, {}, None, provider_context
        )


@pytest.mark.parametrize("provider", [_ReturnsNone, _SaysFailed])
def test_the_suite_catches_a_provider_that_returns_failure(provider, provider_context):
    suite = TestConsoleContract()
    with pytest.raises(AssertionError):
        suite.test_success_gives_a_receipt(provider, {}, None, provider_context)
