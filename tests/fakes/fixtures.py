"""Pytest fixtures for the vendor fakes; a conftest imports the ones it needs.

Each fake is a real server on 127.0.0.1, started for one test and stopped after it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from idp.security.secret_box import SecretBox, new_key
from idp.sms import ProviderContext, SmsMessage
from tests.fakes.clock import FakeClock
from tests.fakes.generic_gateways import GenericGatewaysFake
from tests.fakes.http_server import FakeHttpApp, FakeHttpServer
from tests.fakes.messagebird import MessageBirdFake
from tests.fakes.spryng import SpryngFake

#: The read timeout tests give providers; the ``slow`` scenario sleeps just past it.
TIMEOUT = 0.5
CODE = "918273"
TEXT = f"Your Poort code is {CODE}. It expires in 5 minutes.\n\n@login.example.test #{CODE}"
RECIPIENT = "+31612345678"


def message(**overrides: Any) -> SmsMessage:
    """A typical one-time-code message; keyword arguments override its fields."""
    values: dict[str, Any] = {
        "recipient": RECIPIENT,
        "text": TEXT,
        "sender": "Poort",
        "purpose": "login",
        "reference": "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
        "code": CODE,
    }
    values.update(overrides)
    return SmsMessage(**values)


class RecordingSession(requests.Session):
    """A real session that also notes the arguments of every request (the seam, not a mock)."""

    def __init__(self) -> None:
        super().__init__()
        self.trust_env = False  # an HTTP_PROXY of the machine must not reroute loopback calls
        self.calls: list[dict[str, Any]] = []

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        self.calls.append({"method": method, "url": url, **kwargs})
        return super().request(method, url, *args, **kwargs)


def _serve(app: FakeHttpApp) -> Iterator[FakeHttpServer]:
    with FakeHttpServer(app) as server:
        yield server


@pytest.fixture
def spryng_fake() -> Iterator[FakeHttpServer]:
    yield from _serve(SpryngFake())


@pytest.fixture
def messagebird_fake() -> Iterator[FakeHttpServer]:
    yield from _serve(MessageBirdFake())


@pytest.fixture
def gateways_fake() -> Iterator[FakeHttpServer]:
    yield from _serve(GenericGatewaysFake())


@pytest.fixture
def recording_session() -> Iterator[RecordingSession]:
    session = RecordingSession()
    yield session
    session.close()


@pytest.fixture
def provider_context(recording_session: RecordingSession, tmp_path: Path) -> ProviderContext:
    """What Poort hands a provider: one HTTP session, an instance folder, a fixed clock."""
    return ProviderContext(session=recording_session, instance_path=tmp_path, clock=FakeClock())


@pytest.fixture
def options_box() -> SecretBox:
    return SecretBox([new_key()])
