"""The admin panel in Dutch: a browser that asks for Dutch gets the pages, the limit labels,
the form errors (ours and WTForms' own) and the flash messages in Dutch; English stays the
default (the other admin tests read the English pages)."""

from __future__ import annotations

import pytest

from idp.plugins import from_classes
from idp_password import PasswordMethod
from idp_sms_providers.console import ConsoleProvider
from idp_sms_providers.smtp import SmtpProvider
from tests.conftest import post_form


@pytest.fixture
def registry():
    return from_classes(PasswordMethod, ConsoleProvider, SmtpProvider)


@pytest.fixture
def dutch(admin_client):
    """The signed-in admin's browser, now asking for Dutch on every request."""
    admin_client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "nl-NL,nl;q=0.9,en;q=0.5"
    return admin_client


def body(response) -> str:
    return response.get_data(as_text=True)


def test_the_verifiers_page_is_dutch(dutch):
    page = body(dutch.get("/admin/verifiers"))
    assert '<html lang="nl">' in page
    assert "Wat sms-authenticators gebruiken" in page
    assert "Nog geen verifiers; voeg er hieronder een toe." in page
    assert "Verifier toevoegen" in page
    assert "Console (demo, bezorgt niets)" in page  # a provider's title, from the plugin
    assert "Add a verifier" not in page and "No verifiers yet" not in page


def test_the_users_page_is_dutch(dutch, make_user):
    make_user(username="alice", nickname="Alice")
    page = body(dutch.get("/admin/users"))
    assert '<html lang="nl">' in page
    assert "Zoek op naam, gebruikersnaam, e-mail of telefoon" in page
    assert "2 gebruikers." in page
    assert ">actief<" in page and ">beheerder<" in page
    assert "Gebruikers" in page and "Search" not in page


def test_the_limits_page_is_dutch(dutch):
    page = body(dutch.get("/admin/limits"))
    assert "Globaal budget nu" in page
    assert "Codes versturen" in page  # a group title (lazy, made at import time)
    assert "Codes naar één nummer per uur" in page  # a limit's label (lazy as well)
    assert "0 van 100 codes dit uur" in page
    assert "standaard 60" in page
    assert "Limieten opslaan" in page
    assert "Codes to one number per hour" not in page


def test_a_limits_form_error_is_dutch(dutch):
    response = post_form(
        dutch,
        "/admin/limits",
        {"number_per_hour": "veel", "global_per_hour": "50", "global_per_day": "10"},
        page="/admin/limits",
    )
    assert response.status_code == 400
    page = body(response)
    assert "Er is niets opgeslagen: 2 waarden moeten worden verbeterd." in page
    assert "Vul een geheel getal in." in page
    assert "Mag niet lager zijn dan het budget per uur." in page
    assert "Enter a whole number." not in page


def test_an_options_form_is_dutch_with_wtforms_messages_too(dutch):
    response = post_form(
        dutch,
        "/admin/verifiers/new",
        {"provider": "smtp", "name": "mail", "sender": "Poort", "currency": "EUR"},
        page="/admin/verifiers/new?provider=smtp",
    )
    assert response.status_code == 400
    page = body(response)
    assert "Verbeter de velden die hieronder zijn gemarkeerd." in page
    assert "SMTP-server" in page and "Beveiliging van de verbinding" in page  # labels
    assert "Dit veld is vereist." in page  # WTForms' own message, from its Dutch catalogue
    assert "This field is required." not in page


def test_flash_messages_are_dutch(dutch, make_user):
    alice = make_user(username="alice", nickname="Alice")
    response = post_form(
        dutch, f"/admin/users/{alice.id}/admin", {"is_admin": "1"}, page="/admin/users"
    )
    assert response.status_code == 303
    assert "Alice is nu beheerder." in body(dutch.get(response.headers["Location"]))


def test_english_stays_the_default(admin_client):
    page = body(admin_client.get("/admin/limits"))
    assert '<html lang="en">' in page
    assert "Codes to one number per hour" in page and "Save limits" in page
