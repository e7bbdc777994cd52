"""Pytest fixtures for the fakes of Twilio, Vonage, Clickatell, GTX, sipgate, a webhook
receiver, an SMTP gateway and an SMSC; a test module imports the ones it needs.

Each is a real server on 127.0.0.1, started for one test and stopped after it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.clickatell import ClickatellFake
from tests.fakes.gtx import GtxFake
from tests.fakes.http_server import FakeHttpApp, FakeHttpServer
from tests.fakes.sipgate import SipgateFake
from tests.fakes.smsc import SmscFake
from tests.fakes.smtp import SmtpFake
from tests.fakes.twilio import TwilioFake
from tests.fakes.vonage import VonageFake
from tests.fakes.webhook import WebhookReceiverFake


def _serve(app: FakeHttpApp) -> Iterator[FakeHttpServer]:
    with FakeHttpServer(app) as server:
        yield server


@pytest.fixture
def twilio_fake() -> Iterator[FakeHttpServer]:
    yield from _serve(TwilioFake())


@pytest.fixture
def vonage_fake() -> Iterator[FakeHttpServer]:
    yield from _serve(VonageFake())


@pytest.fixture
def clickatell_fake() -> Iterator[FakeHttpServer]:
    yield from _serve(ClickatellFake())


@pytest.fixture
def gtx_fake() -> Iterator[FakeHttpServer]:
    yield from _serve(GtxFake())


@pytest.fixture
def sipgate_fake() -> Iterator[FakeHttpServer]:
    yield from _serve(SipgateFake())


@pytest.fixture
def webhook_fake() -> Iterator[FakeHttpServer]:
    yield from _serve(WebhookReceiverFake())


@pytest.fixture
def smtp_fake(tmp_path: Path) -> Iterator[SmtpFake]:
    """A plain SMTP gateway that requires a login."""
    with SmtpFake(tmp_path, security="plain", login=True) as fake:
        yield fake


@pytest.fixture
def smsc_fake() -> Iterator[SmscFake]:
    with SmscFake() as fake:
        yield fake
