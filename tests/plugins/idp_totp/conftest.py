"""The TOTP tests use the password method for the first step and the TOTP method for the second."""

from __future__ import annotations

import pytest

from idp.plugins import Registry, from_classes
from idp_password import PasswordMethod
from idp_totp import TotpMethod


@pytest.fixture
def registry() -> Registry:
    return from_classes(PasswordMethod, TotpMethod)


@pytest.fixture
def methods(make_authenticator):
    """A password authenticator and an authenticator-app one, both enabled."""
    make_authenticator("password")
    make_authenticator("totp", method="totp", title="Authenticator app")


@pytest.fixture
def alice(make_user, methods):
    return make_user(username="alice", email="alice@example.org", nickname="Alice")
