"""The shared contract suite for Twilio, Vonage, Clickatell, GTX, sipgate, SMTP, SMPP and the
webhook provider, each against its local fake.

The registry check in ``tests/plugins/test_sms_contract.py`` finds these ``Test...Contract``
harnesses by their ``provider`` attribute.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint
from typing import Any, ClassVar

import pytest

from idp.sms import SmsProvider
from idp.testing.sms_contract import SmsProviderContract
from idp_sms_providers.clickatell import ClickatellProvider
from idp_sms_providers.gtx import GtxProvider
from idp_sms_providers.sipgate import SipgateProvider
from idp_sms_providers.smpp import SmppProvider
from idp_sms_providers.smtp import SmtpProvider
from idp_sms_providers.twilio import TwilioProvider
from idp_sms_providers.vonage import VonageProvider
from idp_sms_providers.webhook import WebhookProvider
from tests.fakes import clickatell as ct
from tests.fakes import gtx, sipgate, smsc, smtp, twilio, vonage
from tests.fakes import webhook as wh
from tests.fakes.fixtures import TIMEOUT
from tests.plugins import test_sms_contract as base


class _Harness(SmsProviderContract):
    provider: ClassVar[type[SmsProvider]]

    @pytest.fixture
    def provider_class(self) -> type[SmsProvider]:
        return self.provider


class TestTwilioContract(_Harness):
    provider = TwilioProvider

    @pytest.fixture
    def provider_fake(self, twilio_fake):
        return twilio_fake

    @pytest.fixture
    def provider_options(self, twilio_fake) -> dict[str, Any]:
        return {
            "endpoint": twilio_fake.url,
            "account_sid": twilio.ACCOUNT_SID,
            "auth_token": twilio.AUTH_TOKEN,
            "timeout": TIMEOUT,
        }


class TestVonageContract(_Harness):
    provider = VonageProvider

    @pytest.fixture
    def provider_fake(self, vonage_fake):
        return vonage_fake

    @pytest.fixture
    def provider_options(self, vonage_fake) -> dict[str, Any]:
        return {
            "endpoint": vonage_fake.url,
            "api_key": vonage.API_KEY,
            "api_secret": vonage.API_SECRET,
            "timeout": TIMEOUT,
        }


class TestClickatellContract(_Harness):
    provider = ClickatellProvider

    @pytest.fixture
    def provider_fake(self, clickatell_fake):
        return clickatell_fake

    @pytest.fixture
    def provider_options(self, clickatell_fake) -> dict[str, Any]:
        return {"endpoint": clickatell_fake.url, "api_key": ct.API_KEY, "timeout": TIMEOUT}


class TestGtxContract(_Harness):
    provider = GtxProvider

    @pytest.fixture
    def provider_fake(self, gtx_fake):
        return gtx_fake

    @pytest.fixture
    def provider_options(self, gtx_fake) -> dict[str, Any]:
        return {
            "endpoint": gtx_fake.url,
            "user": gtx.USER,
            "password": gtx.PASSWORD,
            "method": "GET",
            "timeout": TIMEOUT,
        }


class TestSipgateContract(_Harness):
    provider = SipgateProvider

    @pytest.fixture
    def provider_fake(self, sipgate_fake):
        return sipgate_fake

    @pytest.fixture
    def provider_options(self, sipgate_fake) -> dict[str, Any]:
        return {
            "endpoint": sipgate_fake.url,
            "token_id": sipgate.TOKEN_ID,
            "token": sipgate.TOKEN,
            "sms_id": sipgate.SMS_ID,
            "timeout": TIMEOUT,
        }


class TestSmtpContract(_Harness):
    provider = SmtpProvider

    @pytest.fixture
    def provider_fake(self, smtp_fake):
        return smtp_fake

    @pytest.fixture
    def provider_options(self, smtp_fake) -> dict[str, Any]:
        return {
            "host": "127.0.0.1",
            "port": smtp_fake.port,
            "security": "plain",
            "username": smtp.USERNAME,
            "password": smtp.PASSWORD,
            "mail_from": "poort@example.org",
            "mailto": "{phone}@sms.example.net",
            "subject": "{phone}",
            "body": "{message}",
            "phone_format": "digits",
            "timeout": TIMEOUT,
        }


class TestSmppContract(_Harness):
    provider = SmppProvider

    @pytest.fixture
    def provider_fake(self, smsc_fake):
        return smsc_fake

    @pytest.fixture
    def provider_options(self, smsc_fake) -> dict[str, Any]:
        return {
            "host": "127.0.0.1",
            "port": smsc_fake.port,
            "system_id": smsc.SYSTEM_ID,
            "password": smsc.PASSWORD,
            "timeout": TIMEOUT,
        }


class TestWebhookContract(_Harness):
    provider = WebhookProvider

    @pytest.fixture
    def provider_fake(self, webhook_fake):
        return webhook_fake

    @pytest.fixture
    def provider_options(self, webhook_fake) -> dict[str, Any]:
        return {"url": webhook_fake.url + "/sms", "secret": wh.SECRET, "timeout": TIMEOUT}


MORE_HARNESSES: list[type[_Harness]] = [
    TestTwilioContract,
    TestVonageContract,
    TestClickatellContract,
    TestGtxContract,
    TestSipgateContract,
    TestSmtpContract,
    TestSmppContract,
    TestWebhookContract,
]


@pytest.mark.parametrize("harness", MORE_HARNESSES, ids=lambda h: h.__name__)
def test_each_harness_tests_the_registered_class(harness):
    value = base.registered().get(harness.provider.name)
    assert value, f"{harness.provider.name} is not registered in pyproject.toml"
    assert EntryPoint(harness.provider.name, value, base.GROUP).load() is harness.provider
