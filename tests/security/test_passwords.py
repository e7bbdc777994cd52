"""Password rules (NIST SP 800-63B lengths) and argon2id hashing."""

from __future__ import annotations

import re
from typing import Any

import pytest

from idp.security.passwords import Passwords, password_problem
from tests.conftest import password_login


@pytest.fixture(scope="module")
def cheap() -> Passwords:
    return Passwords("cheapest")


@pytest.fixture(scope="module")
def default() -> Passwords:
    return Passwords("default")


def phc_parameters(stored: str) -> dict[str, int]:
    """The m, t and p of an argon2id PHC string ("$argon2id$v=19$m=65536,t=3,p=4$...")."""
    match = re.fullmatch(r"\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$[^$]+\$[^$]+", stored)
    assert match, f"not an argon2id hash: {stored!r}"
    m, t, p = map(int, match.groups())
    return {"m": m, "t": t, "p": p}


class VerifySpy:
    """Stands in for the argon2 PasswordHasher and records the hashes verify() checked."""

    def __init__(self, hasher: Any) -> None:
        self._hasher = hasher
        self.checked: list[str] = []

    def verify(self, stored: str, password: str) -> bool:
        self.checked.append(stored)
        return self._hasher.verify(stored, password)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._hasher, name)


# -- policy -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("a" * 7, "at least 8"),
        ("a" * 8, None),
        ("correct horse battery staple", None),
        ("a" * 128, None),
        ("a" * 129, "at most 128"),
        ("\u00e9" * 8, None),
        # seven é, each typed as e + combining accent: 14 code points, 7 characters after NFKC
        ("e\u0301" * 7, "at least 8"),
        ("e\u0301" * 8, None),
    ],
)
def test_length_policy(password, problem):
    found = password_problem(password)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found


def test_no_composition_rules():
    assert password_problem("aaaaaaaa") is None
    assert password_problem("        x") is None


# -- hashing and checking -----------------------------------------------------------------


def test_hash_then_verify(cheap):
    stored = cheap.hash("correct horse battery staple")
    assert stored != "correct horse battery staple"
    assert cheap.verify(stored, "correct horse battery staple") is True
    assert cheap.verify(stored, "correct horse battery stapler") is False
    assert cheap.verify(stored, "") is False


def test_same_password_hashes_differently_each_time(cheap):
    assert cheap.hash("correct horse battery staple") != cheap.hash("correct horse battery staple")


def test_the_whole_password_matters(cheap):
    password = "".join(chr(ord("a") + i % 26) for i in range(100))
    stored = cheap.hash(password)
    changed = password[:98] + "Z" + password[99:]  # the 99th character
    assert cheap.verify(stored, password) is True
    assert cheap.verify(stored, changed) is False


def test_compatible_unicode_forms_are_the_same_password(cheap):
    stored = cheap.hash("caf\u00e9 au lait")
    assert cheap.verify(stored, "cafe\u0301 au lait") is True


@pytest.mark.parametrize("stored", [None, "", "not-a-hash", "$argon2id$v=19$m=8,t=1,p=1$broken"])
def test_missing_or_corrupt_hash_never_verifies(cheap, stored):
    assert cheap.verify(stored, "correct horse battery staple") is False


def test_unknown_account_and_wrong_password_each_run_one_full_check(cheap, monkeypatch):
    spy = VerifySpy(cheap._hasher)
    monkeypatch.setattr(cheap, "_hasher", spy)
    stored = cheap.hash("correct horse battery staple")

    assert cheap.verify(None, "guess guess guess") is False
    assert len(spy.checked) == 1
    # The stand-in hash is a real hash with the same cost as a stored one.
    assert phc_parameters(spy.checked[0]) == phc_parameters(stored)

    assert cheap.verify(stored, "guess guess guess") is False
    assert spy.checked[1:] == [stored]


@pytest.mark.parametrize(
    "case", ["unknown account", "wrong password", "inactive account", "right password"]
)
def test_every_login_outcome_runs_exactly_one_argon2_check(
    app, client, admin, make_user, monkeypatch, case
):
    passwords = app.extensions["idp"].passwords
    spy = VerifySpy(passwords._hasher)
    monkeypatch.setattr(passwords, "_hasher", spy)
    make_user(username="gone", active=False)
    login, password = {
        "unknown account": ("nobody", "correct horse battery staple"),
        "wrong password": ("root", "wrong horse battery staple"),
        "inactive account": ("gone", "correct horse battery staple"),
        "right password": ("root", "correct horse battery staple"),
    }[case]

    response = password_login(client, login, password)

    assert len(spy.checked) == 1
    assert response.status_code == (303 if case == "right password" else 200)


# -- cost ---------------------------------------------------------------------------------


def test_default_profile_meets_the_owasp_floor(default):
    params = phc_parameters(default.hash("correct horse battery staple"))
    assert params["m"] >= 19456  # KiB
    assert params["t"] >= 2


def test_needs_rehash_when_the_profile_changes(cheap, default):
    cheap_hash = cheap.hash("correct horse battery staple")
    assert cheap.needs_rehash(cheap_hash) is False
    assert default.needs_rehash(cheap_hash) is True
    assert default.verify(cheap_hash, "correct horse battery staple") is True
