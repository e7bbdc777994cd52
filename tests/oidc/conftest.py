"""Fixtures of the OpenID Connect tests: a relying party, users with phones, fake methods."""

from __future__ import annotations

import pytest

from idp.plugins import Registry, from_classes
from idp_password import PasswordMethod
from tests.conftest import password_login
from tests.oidc.support import PHONE, FakeOtp, FakeSms, Rp, make_client


@pytest.fixture
def registry() -> Registry:
    """Password, plus fake SMS and authenticator-app methods (inert until an authenticator
    row uses them)."""
    return from_classes(PasswordMethod, FakeSms, FakeOtp)


@pytest.fixture
def alice(make_user, clock):
    """A user with a verified phone number and a password."""
    return make_user(
        username="alice",
        email="alice@example.org",
        nickname="Alice",
        phone=PHONE,
        phone_verified_at=clock.now,
    )


@pytest.fixture
def rp(app, client, admin) -> Rp:
    """The conformance suite's client: confidential, client_secret_basic, no PKCE required,
    first-party (no consent page), every scope allowed."""
    client_id, secret = make_client(app)
    return Rp(client, client_id, secret)


@pytest.fixture
def signed_in(client, admin):
    """The browser is signed in as the admin "root" with a password (amr pwd)."""
    response = password_login(client, "root")
    assert response.status_code == 303, response.get_data(as_text=True)
    return client
