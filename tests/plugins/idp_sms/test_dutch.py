"""The SMS pages, their refusals and the text sent speak Dutch to a Dutch browser."""

from __future__ import annotations

import html

import pytest
from flask import Flask
from flask.testing import FlaskClient

from idp.abuse.errors import wait_text
from tests.abuse.support import set_limits
from tests.fakes.clock import FakeClock
from tests.plugins.idp_sms.support import KNOWN, body, enter, last_code, outbox, start, wrong

pytestmark = pytest.mark.usefixtures("sms", "password")


def dutch_browser(app: Flask) -> FlaskClient:
    """A new browser that asks for Dutch pages."""
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "nl-NL,nl;q=0.9,en;q=0.5"
    return client


@pytest.fixture
def dutch(app: Flask) -> FlaskClient:
    return dutch_browser(app)


def text(response) -> str:
    return html.unescape(body(response))


def test_the_login_form_is_dutch(dutch: FlaskClient) -> None:
    page = text(dutch.get("/login"))

    assert "Telefoonnummer" in page
    assert "We sturen je een code per sms." in page
    assert "Code versturen" in page


def test_the_code_page_a_wrong_code_and_the_text_are_dutch(
    app: Flask, dutch: FlaskClient, known
) -> None:
    assert start(dutch, KNOWN).status_code == 303
    page = text(dutch.get("/m/sms/sms/login/code"))
    assert "<h1>Vul de code in</h1>" in page
    assert "We hebben een sms met een code gestuurd naar" in page
    assert "Nieuwe code versturen" in page

    [sent] = outbox(app)
    assert sent["text"].startswith("Je Poort-inlogcode is ")

    answer = enter(dutch, wrong(last_code(app)))
    assert answer.status_code == 400
    assert (
        "Die code klopt niet. Controleer de sms en probeer het opnieuw. Nog 4 pogingen over."
        in text(answer)
    )


def test_invalid_numbers_are_refused_in_dutch(dutch: FlaskClient) -> None:
    landline = text(start(dutch, "+31 20 123 4567"))
    assert "Dit nummer kan geen sms ontvangen. Vul een mobiel nummer in." in landline

    belgian = text(start(dutch, "+32 470 12 34 56"))
    assert "We kunnen hier geen sms sturen naar nummers uit België." in belgian

    assert "Dit telefoonnummer bestaat niet" in text(start(dutch, "+31 6 123"))


def test_too_many_codes_is_refused_in_dutch(
    app: Flask, dutch: FlaskClient, clock: FakeClock, known
) -> None:
    set_limits(app, number_per_hour=1)
    assert start(dutch, KNOWN).status_code == 303
    clock.advance(seconds=61)

    refused = start(dutch_browser(app), KNOWN)  # another browser: no code of its own yet

    assert refused.status_code == 429
    assert "Er zijn te veel codes gevraagd. Probeer het over 59 min opnieuw." in text(refused)
    assert len(outbox(app)) == 1


def test_waits_read_naturally_in_dutch(app: Flask) -> None:
    with app.test_request_context("/", headers={"Accept-Language": "nl"}):
        assert [wait_text(s) for s in (42, 180, 7200)] == ["42 s", "3 min", "2 uur"]
    with app.test_request_context("/"):
        assert [wait_text(s) for s in (42, 180, 7200)] == ["42 s", "3 min", "2 h"]
