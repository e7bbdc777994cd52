"""The admin pages of this work: message texts with their cost, and the sign-in policy."""

from __future__ import annotations

import pytest

from idp.auth.policy import current_policy
from tests.conftest import post_form
from tests.plugins.idp_sms.support import body, events, last_code, outbox, start

TEXTS = "/admin/sms-templates"
LOGIN_EN = f"{TEXTS}/login/en"


def edit(client, template, path=LOGIN_EN):
    return post_form(client, path, {"template": template}, page=path)


def test_the_list_shows_each_purpose_and_language_with_its_cost(app, admin_client):
    page = body(admin_client.get(TEXTS))

    assert 'href="/admin/sms-templates"' in page  # in the admin navigation
    for label in (
        "Sign-in code (English)",
        "Sign-in code (Dutch)",
        "Code to confirm a new number (Dutch)",
    ):
        assert label in page
    assert page.count(">GSM-7<") == 12
    assert "Your {app} login code is {code}." in page
    assert "@localhost #code" in page


def test_edit_a_text_and_it_is_sent(app, admin_client, sms):
    page = body(admin_client.get(LOGIN_EN))
    assert "12345678" not in page and "123456" in page  # the sample uses a 6-digit code
    assert "@localhost #123456" in page and "1 segment · GSM-7 · " in page

    response = edit(admin_client, "Hi! {code} is your {app} code ({minutes} min).")

    assert response.status_code == 303
    [event] = events(app, "sms_template.update")
    assert event.target == "sms_template:login/en"
    assert event.after == {"text": "Hi! {code} is your {app} code ({minutes} min).", "segments": 1}
    page = body(admin_client.get(TEXTS))
    assert "edited" in page and "Hi! {code} is your {app} code" in page

    start(app.test_client(), "+31 6 12345678")  # a sign-up: its own text, unchanged
    assert outbox(app)[-1]["text"].startswith("Your Poort sign-up code is ")


def test_the_edited_login_text_reaches_the_phone(app, admin_client, sms, make_user, clock):
    make_user(nickname="K", phone="+31612345678", phone_verified_at=clock())
    edit(admin_client, "Hi! {code} is your {app} code.")

    start(app.test_client(), "06 12345678")

    code = last_code(app)
    assert outbox(app)[-1]["text"] == f"Hi! {code} is your Poort code.\n\n@localhost #{code}"


def test_a_bad_text_is_refused_with_the_reason(app, admin_client):
    response = edit(admin_client, "Your code is {otp}")

    assert response.status_code == 400
    assert "{otp} is not a placeholder" in body(response)
    assert events(app, "sms_template.update") == []


def test_a_text_over_the_budget_is_refused_with_its_count(app, admin_client):
    long = "Your code is {code}. " + "This sentence makes the message longer. " * 7

    response = edit(admin_client, long)

    assert response.status_code == 400
    page = body(response)
    assert "This text costs 3 segments (GSM-7)" in page and "the budget is 2" in page
    assert "3 segments · GSM-7 · " in page  # the preview of what would be sent
    assert events(app, "sms_template.update") == []


def test_unicode_costs_more_and_is_shown_as_ucs2(app, admin_client):
    response = edit(admin_client, "Je code: {code} 🔐", path=f"{TEXTS}/login/nl")

    assert response.status_code == 303
    page = body(admin_client.get(TEXTS))
    assert ">UCS-2<" in page


def test_reset_goes_back_to_the_built_in_text(app, admin_client):
    edit(admin_client, "Code {code}")

    response = post_form(admin_client, f"{LOGIN_EN}/reset", page=TEXTS)

    assert response.status_code == 303
    assert "edited" not in body(admin_client.get(TEXTS))
    [event] = events(app, "sms_template.reset")
    assert event.before == {"text": "Code {code}"}


def test_the_budget_can_be_raised(app, admin_client):
    long = "Your code is {code}. " + "This sentence makes the message longer. " * 7
    post_form(admin_client, f"{TEXTS}/budget", {"budget": "3"}, page=TEXTS)

    assert edit(admin_client, long).status_code == 303
    [event] = events(app, "sms_template.budget")
    assert event.after == {"segments": 3}
    assert (
        post_form(admin_client, f"{TEXTS}/budget", {"budget": "0"}, page=TEXTS).status_code == 303
    )
    assert len(events(app, "sms_template.budget")) == 1


@pytest.mark.parametrize("path", [f"{TEXTS}/nope/en", f"{TEXTS}/login/fr"])
def test_unknown_texts_are_404(admin_client, path):
    assert admin_client.get(path).status_code == 404


def test_the_texts_are_for_admins_only(app, client, make_user, password):
    from tests.conftest import password_login

    make_user(username="eve")
    password_login(client, "eve")

    assert client.get(TEXTS).status_code == 403
    assert client.get("/admin/policy").status_code == 403


# -- sign-in policy ---------------------------------------------------------------------------


def test_the_policy_page_shows_the_choices_and_saves_one(app, admin_client):
    page = body(admin_client.get("/admin/policy"))
    assert 'href="/admin/policy"' in page
    assert 'value="optional" checked' in page
    assert "Required for everyone" in page
    assert "No enabled authenticator can serve as a second factor." in page

    response = post_form(
        admin_client, "/admin/policy", {"second_factor_policy": "everyone"}, page="/admin/policy"
    )

    assert response.status_code == 303
    with app.app_context():
        assert current_policy().value == "everyone"
    [event] = events(app, "policy.update")
    assert event.before == {"second_factor_policy": "optional"}
    assert event.after == {"second_factor_policy": "everyone"}
    assert "cannot finish signing in" in body(admin_client.get("/admin/policy"))


def test_an_unknown_policy_is_refused(app, admin_client):
    response = post_form(
        admin_client, "/admin/policy", {"second_factor_policy": "sometimes"}, page="/admin/policy"
    )

    assert response.status_code == 400
    assert "Choose one of the policies." in body(response)
    assert events(app, "policy.update") == []


def test_the_policy_page_lists_the_second_factors_on_offer(app, admin_client, sms):
    page = body(admin_client.get("/admin/policy"))

    assert "Text message (<code>sms</code>)" in page
