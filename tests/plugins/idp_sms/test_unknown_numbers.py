"""Numbers without an account when sign-up is off: by default the same answer as a known
number, and no text (nothing spent, nothing revealed); or, if the admin says so, a message."""

from __future__ import annotations

import pytest

from tests.plugins.idp_sms.support import (
    KNOWN,
    OTHER,
    body,
    challenges,
    enter,
    normalised,
    outbox,
    resend,
    start,
    users_with_phone,
)


@pytest.fixture
def sms_options(sms_options):
    return {**sms_options, "allow_signup": False}


@pytest.fixture
def two(app, sms, known):
    """A browser with the known number and one with an unknown number, each with a code."""
    known_client, unknown_client = app.test_client(), app.test_client()
    return known_client, unknown_client


def test_an_unknown_number_gets_the_same_answers_and_no_text(app, clock, two):
    known_client, unknown_client = two

    answers = []
    for client, number in ((known_client, KNOWN), (unknown_client, OTHER)):
        sent = start(client, number)
        page = client.get("/m/sms/sms/login/code")
        wrong_once = enter(client, "000000")
        answers.append((sent, page, wrong_once))

    for known_answer, unknown_answer in zip(*answers, strict=True):
        assert known_answer.status_code == unknown_answer.status_code
        assert known_answer.headers.get("Location") == unknown_answer.headers.get("Location")
        assert normalised(body(known_answer)) == normalised(body(unknown_answer))
    assert "4 attempts left." in body(answers[1][2])
    assert [m["to"] for m in outbox(app)] == [KNOWN]  # nothing was sent to the unknown number

    # resending too early, and after the cooldown: still the same
    early = [resend(c) for c in two]
    assert early[0].status_code == early[1].status_code == 429
    assert early[0].headers["Retry-After"] == early[1].headers["Retry-After"]
    assert normalised(body(early[0])) == normalised(body(early[1]))
    clock.advance(seconds=60)
    later = [resend(c) for c in two]
    assert [r.status_code for r in later] == [303, 303]
    assert later[0].headers["Location"] == later[1].headers["Location"]
    assert [m["to"] for m in outbox(app)] == [KNOWN, KNOWN]


def test_guesses_on_an_unknown_number_run_out_like_real_ones(app, two):
    _, client = two
    start(client, OTHER)

    pages = [body(enter(client, f"{n:06d}")) for n in range(5)]

    assert "4 attempts left." in pages[0]
    assert "1 attempt left." in pages[3]
    assert "Too many wrong codes. Ask for a new one." in pages[4]
    assert users_with_phone(app, OTHER) == []
    [challenge] = [c for c in challenges(app) if c.phone == OTHER]
    assert challenge.delivery == "withheld" and challenge.attempts == 5


def test_an_unknown_number_never_signs_in_even_with_the_code(app, two, monkeypatch):
    _, client = two
    from idp.verification import challenges as core

    monkeypatch.setattr(core, "new_code", lambda length: "123456")  # pretend it was guessed
    start(client, OTHER)

    response = enter(client, "123456")

    assert response.status_code == 400
    assert "That code is not right" in body(response)
    assert client.get("/").status_code == 302
    assert users_with_phone(app, OTHER) == []


def test_a_deactivated_account_looks_like_any_other_number(app, make_user, sms, clock):
    make_user(nickname="Gone", phone=OTHER, phone_verified_at=clock(), active=False)
    client = app.test_client()

    assert start(client, OTHER).status_code == 303
    assert outbox(app) == []
    assert enter(client, "000000").status_code == 400


@pytest.mark.parametrize("sms_options", [{"allow_signup": False, "unknown_numbers": "reveal"}])
def test_the_admin_may_choose_to_say_the_number_is_unknown(app, client, sms, known):
    response = start(client, OTHER)

    assert response.status_code == 400
    assert "This number has no account here." in body(response)
    assert outbox(app) == [] and challenges(app) == []
    assert start(client, KNOWN).status_code == 303
