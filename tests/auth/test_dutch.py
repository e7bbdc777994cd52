"""Signing in, the account page and the error pages in Dutch (Accept-Language: nl), while what
relying applications read (OAuth JSON errors), logs and the command line stay English."""

from __future__ import annotations

import pytest

from idp.auth import recovery
from idp.errors import FlowExpired, NotFound
from idp.extensions import db
from idp.models import User
from idp.plugins import Registry, from_classes
from idp_password import FAILED, PasswordMethod
from idp_totp import TotpMethod
from tests.conftest import PASSWORD, csrf_token
from tests.plugins.idp_totp.support import VERIFY, body, code, give_totp

DUTCH = {"Accept-Language": "nl-NL,nl;q=0.9,en;q=0.5"}


@pytest.fixture
def registry() -> Registry:
    return from_classes(PasswordMethod, TotpMethod)


@pytest.fixture
def alice(make_user, make_authenticator):
    # Titles as a new authenticator gets them: the method's title, kept in English.
    make_authenticator("password", title="Password")
    make_authenticator("totp", method="totp", title="Authenticator app")
    return make_user(username="alice", email="alice@example.org", nickname="Alice")


def dutch_login(client, login: str = "alice", password: str = PASSWORD):
    token = csrf_token(client)
    return client.post(
        "/login/password",
        data={"csrf_token": token, "login": login, "password": password},
        headers=DUTCH,
    )


def test_the_login_page_is_dutch(client, alice):
    page = body(client.get("/login", headers=DUTCH))

    assert '<html lang="nl">' in page
    assert "<title>Inloggen · " in page
    assert "<h1>Inloggen</h1>" in page
    assert ">Wachtwoord</h2>" in page  # the authenticator's stored English title, translated
    assert "Gebruikersnaam of e-mailadres" in page
    assert '<button type="submit">Inloggen</button>' in page
    assert "Sign in" not in page and "Password" not in page


def test_an_admins_own_title_is_shown_as_written(client, make_authenticator):
    make_authenticator("password", title="Personeel 100% wachtwoord")

    page = body(client.get("/login", headers=DUTCH))

    assert ">Personeel 100% wachtwoord</h2>" in page


def test_the_password_error_is_dutch_and_english_without_a_preference(client, alice):
    page = body(dutch_login(client, password="wrong password"))

    assert "Onjuiste gebruikersnaam, e-mailadres of wachtwoord." in page
    assert FAILED not in page
    english = client.post(
        "/login/password",
        data={"csrf_token": csrf_token(client), "login": "alice", "password": "wrong"},
    )
    assert FAILED in body(english)


def test_the_empty_form_asks_in_dutch(client, alice):
    page = body(dutch_login(client, login="", password=""))

    assert "Vul je gebruikersnaam en je wachtwoord in." in page


def test_the_authenticator_app_step_is_dutch(app, client, alice, clock):
    secret = give_totp(app, alice)
    assert dutch_login(client).headers["Location"] == "/login/second"

    page = body(client.get("/login/second", headers=DUTCH))
    assert "<h1>Nog één stap</h1>" in page
    assert "Bevestig met je tweede factor dat jij het bent, " in page
    assert ">Authenticator-app</h2>" in page
    assert "De code van 6 cijfers uit je authenticator-app" in page
    assert '<button type="submit">Doorgaan</button>' in page

    wrong = client.post(
        VERIFY,
        data={"csrf_token": csrf_token(client, "/login/second"), "code": "000000"},
        headers=DUTCH,
    )
    assert "Die code klopt niet of is al gebruikt." in body(wrong)

    right = client.post(
        VERIFY,
        data={"csrf_token": csrf_token(client, "/login/second"), "code": code(secret, clock)},
        headers=DUTCH,
    )
    assert right.status_code == 303
    home = body(client.get("/", headers=DUTCH))
    assert "<h1>Hallo Alice</h1>" in home
    assert "Je bent ingelogd (pwd, otp, mfa)." in home
    assert ">Uitloggen</button>" in home


def test_the_account_page_is_dutch(app, client, alice):
    with app.app_context():
        recovery.regenerate(db.session.get(User, alice.id))
        db.session.commit()
    assert dutch_login(client).status_code == 303

    page = body(client.get("/account", headers=DUTCH))

    assert "<title>Je account · " in page
    assert ">Profiel</h2>" in page
    assert "<dt>Telefoonnummer</dt>" in page
    assert ">Hoe je inlogt</h2>" in page
    assert ">Authenticator-app</h3>" in page
    assert "Authenticator-app instellen" in page
    assert "Je hebt nog <strong>10</strong> ongebruikte codes." in page
    assert ">Waar je bent ingelogd</h2>" in page
    assert '<span class="badge">deze sessie</span>' in page
    assert ">Gekoppelde apps</h2>" in page
    assert ">Recente inlogpogingen</h2>" in page
    assert "<td>ingelogd</td>" in page


def test_the_account_page_counts_one_code_in_the_singular(app, client, alice):
    with app.app_context():
        user = db.session.get(User, alice.id)
        codes = recovery.regenerate(user)
        for used in codes[1:]:
            recovery.use(user, used)
        db.session.commit()
    dutch_login(client)

    assert "Je hebt nog <strong>1</strong> ongebruikte code." in body(
        client.get("/account", headers=DUTCH)
    )
    assert "You have <strong>1</strong> unused code left." in body(client.get("/account"))


def test_a_flash_message_follows_the_language(client, alice):
    dutch_login(client)

    response = client.get("/account/recovery-codes", headers=DUTCH, follow_redirects=True)

    assert "Herstelcodes zie je maar één keer: als ze worden gemaakt." in body(response)


def test_html_error_pages_are_dutch(client, alice):
    missing = client.get("/no/such/page", headers=DUTCH)
    page = body(missing)
    assert missing.status_code == 404
    assert "<h1>Pagina niet gevonden</h1>" in page
    assert "Op dit adres staat niets." in page
    assert "Fout 404 · <code>not_found</code>" in page  # the code stays as it is
    assert ">Naar de startpagina</a>" in page

    expired = client.get("/login/second", headers=DUTCH)  # no login in progress
    assert expired.status_code == 400
    assert "Het inloggen duurde te lang of was al afgerond; begin opnieuw." in body(expired)

    refused = client.post("/logout", data={}, headers=DUTCH)  # no form token
    assert "Laad de pagina opnieuw en probeer het nog eens." in body(refused)


def test_a_json_error_of_the_site_keeps_its_code_and_speaks_dutch(client):
    response = client.get("/no/such/page", headers={**DUTCH, "Accept": "application/json"})

    assert response.get_json()["error"] == "not_found"
    assert response.get_json()["message"].startswith("Op dit adres staat niets.")


def test_the_sign_in_request_error_page_is_dutch_around_the_protocol_words(client, alice):
    query = {
        "client_id": "no-such-client",
        "response_type": "code",
        "redirect_uri": "https://rp.example/cb",
        "scope": "openid",
    }
    english = client.get("/oauth/authorize", query_string=query)
    dutch = client.get("/oauth/authorize", query_string=query, headers=DUTCH)

    assert dutch.status_code == english.status_code == 400
    assert "Dit inlogverzoek kan niet worden verwerkt" in body(dutch)
    assert "Fout: <code>invalid_client</code>." in body(dutch)
    assert "This sign-in request cannot be handled" in body(english)


@pytest.mark.parametrize(
    ("method", "path", "data"),
    [
        ("post", "/oauth/token", {"grant_type": "authorization_code", "code": "made-up"}),
        ("post", "/oauth/token", {"grant_type": "password"}),
        ("get", "/oauth/userinfo", None),
        ("post", "/oauth/revoke", {"token": "x", "client_id": "no-such-client"}),
    ],
)
def test_oauth_json_errors_stay_english(client, method, path, data):
    def ask(headers):
        return getattr(client, method)(path, data=data, headers=headers)

    english, dutch = ask({}), ask(DUTCH)

    assert dutch.status_code == english.status_code
    assert dutch.status_code >= 400
    assert dutch.get_json() == english.get_json()
    assert dutch.headers.get("WWW-Authenticate") == english.headers.get("WWW-Authenticate")


def test_outside_a_request_messages_are_english(app):
    assert FlowExpired().message.startswith("The login took too long")
    with app.app_context():  # the command line runs here: nobody to ask for a language
        from idp.oidc import clients

        assert NotFound().message == "The page or object does not exist, or is switched off."
        assert clients.uri_problem("ftp://x") == "ftp://x must be an absolute https URL."
