"""Text people typed renders escaped and in its own direction (issue 9, bad input).

Nicknames, application names and SMS texts may be right-to-left, hold emoji, look like markup
or be very long. Each is escaped, and sits in an element with ``dir="auto"`` so that Arabic or
Hebrew keeps its direction without reordering the sentence around it; the stylesheet lets such
elements wrap anywhere instead of widening the page.
"""

from __future__ import annotations

from types import SimpleNamespace

from flask import render_template
from markupsafe import escape

from idp import site_settings
from idp.extensions import db
from tests.conftest import password_login
from tests.oidc.support import Rp, make_client

#: Hebrew, markup, an emoji with a skin tone and a ZWJ sequence, Arabic.
NICKNAME = "שלום <b>עולם</b> 👋🏽 👩‍💻 مرحبا"
SAFE = str(escape(NICKNAME))


def body(response) -> str:
    return response.get_data(as_text=True)


def test_the_nickname_is_escaped_and_isolated_in_the_header_and_the_account(
    client, make_user, make_authenticator
):
    make_authenticator()
    make_user(username="dana", nickname=NICKNAME)
    password_login(client, "dana")

    page = body(client.get("/account"))

    assert "<b>עולם</b>" not in page
    assert f'<span class="who" dir="auto">{SAFE}</span>' in page
    assert f'<dd dir="auto">{SAFE}</dd>' in page


def test_admins_see_the_nickname_isolated_too(app, admin_client, make_user):
    user = make_user(username="dana", nickname=NICKNAME)

    listing = body(admin_client.get("/admin/users"))
    detail = body(admin_client.get(f"/admin/users/{user.id}"))

    assert f'dir="auto">{SAFE}</a>' in listing
    assert f'<h1 dir="auto">{SAFE}</h1>' in detail
    assert "<b>עולם</b>" not in listing + detail


def test_a_300_character_application_name_is_escaped_and_wraps(app):
    name = ("تطبيق <i>x</i> 🚀 " + "Ω" * 40) * 10
    name = name[:300]
    client = SimpleNamespace(name=name, logo_url="https://rp.example/logo.png")

    with app.test_request_context("/login"):
        page = render_template("auth/login.html", parts=[], failed=None, client=client)

    banner = page.split('<div class="client-banner">')[1].split("</div>")[0]
    assert len(name) == 300
    assert f'<strong class="client-name" dir="auto">{escape(name)}</strong>' in banner
    assert "<i>" not in banner
    assert 'src="https://rp.example/logo.png" alt="" class="client-logo"' in banner


def test_the_login_page_names_the_application_that_asks(app, client, make_authenticator):
    make_authenticator()
    name = "متجر🛒" + "ع" * 67 + "<script>"  # 80 characters, the most allowed
    client_id, secret = make_client(app, name=name, logo_url="https://shop.example/logo.png")

    response = Rp(client, client_id, secret).authorize()
    assert response.status_code in (302, 303)
    page = body(client.get(response.headers["Location"]))

    assert (
        f'Sign in to continue to <strong class="client-name" dir="auto">{escape(name)}</strong>'
        in page
    )
    assert "<script>" not in page.split("<main")[1]
    assert '<img src="https://shop.example/logo.png" alt="" class="client-logo"' in page


def test_sms_texts_keep_their_own_direction_in_the_admin_panel(app, admin_client):
    text = "رمز الدخول {code} ✅ <b>{app}</b>"
    with app.app_context():
        site_settings.put("sms_templates", {"login": {"en": text}})
        db.session.commit()

    listing = body(admin_client.get("/admin/sms-templates"))
    form = body(admin_client.get("/admin/sms-templates/login/en"))

    assert f'<pre dir="auto">{escape(text)}</pre>' in listing
    assert 'id="template" name="template" rows="4" required dir="auto"' in form
    assert "<b>{app}</b>" not in listing + form
