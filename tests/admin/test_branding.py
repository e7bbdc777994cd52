"""Branding in the admin panel (issue 9): the site's name, logo and accent colour.

Saved as a site setting and audited; refused with the reason next to the field (a colour with
its measured contrast ratio); shown in the header of every page; the colour reaches the pages
through /brand.css, never through an inline style.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from markupsafe import escape
from sqlalchemy import event, select

from idp import branding, site_settings
from idp.extensions import db
from idp.models import AuditEvent, SiteSetting
from tests.conftest import csrf_token

PAGE = "/admin/branding"
GOOD = {"name": "Acme Login", "logo_url": "https://cdn.example.org/acme.svg", "colour": "#1A4D2E"}


def body(response: Any) -> str:
    return response.get_data(as_text=True)


def save(client: Any, **fields: str) -> Any:
    return client.post(PAGE, data={"csrf_token": csrf_token(client, PAGE), **fields})


def stored(app: Flask) -> Any:
    with app.app_context():
        return site_settings.get("branding")


def events(app: Flask) -> list[AuditEvent]:
    with app.app_context():
        return list(
            db.session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action == "branding.update")
                .order_by(AuditEvent.id)
            )
        )


def field_error(page: str, field: str) -> str:
    match = re.search(rf'<p class="field-error" id="{field}-error">([^<]*)</p>', page)
    assert match, f"no error next to {field}"
    return match.group(1)


# -- the page -------------------------------------------------------------------------------


def test_the_page_shows_the_defaults_and_is_in_the_admin_menu(admin_client):
    page = body(admin_client.get(PAGE))

    assert "<h1>Branding</h1>" in page
    assert f'<a href="{PAGE}" aria-current="page">Branding</a>' in page
    assert 'id="name"' in page and 'value="Poort"' in page
    assert 'value="#0b5cad"' in page
    assert "white text on it: 6.66:1" in page
    assert "Reset to the defaults" not in page  # nothing to reset yet


def test_other_admin_pages_link_to_it(admin_client):
    page = body(admin_client.get("/admin/"))

    assert re.search(rf'<a href="{PAGE}"\s*>Branding</a>', page)


# -- saving ---------------------------------------------------------------------------------


def test_valid_branding_is_saved_audited_and_shown(app, admin_client):
    response = save(admin_client, **GOOD)

    assert response.status_code == 303
    assert response.headers["Location"] == PAGE
    value = {"name": "Acme Login", "logo_url": GOOD["logo_url"], "colour": "#1a4d2e"}
    assert stored(app) == value
    [event_] = events(app)
    assert event_.target == "site:branding"
    assert event_.before == {}
    assert event_.after == value
    assert event_.actor == "Root"

    page = body(admin_client.get(PAGE))
    assert "Branding saved." in page
    assert "white text on it: 9.79:1" in page
    # The preview shows the logo alone, so its text is the name.
    assert f'<img src="{GOOD["logo_url"]}" alt="Acme Login" class="brand-preview"' in page


def test_the_header_and_title_show_the_name_and_logo(app, admin_client):
    save(admin_client, **GOOD)

    page = body(app.test_client().get("/login"))

    header = page.split('<header class="site-header">')[1].split("</header>")[0]
    assert '<span class="brand-name" dir="auto">Acme Login</span>' in header
    # Beside the visible name the logo is decoration: alt="" so the name is read once.
    assert f'<img class="brand-logo" src="{GOOD["logo_url"]}" alt=""' in header
    assert "<title>Sign in · Acme Login</title>" in page
    assert "Poort" not in header


def test_a_path_on_this_site_is_a_good_logo(app, admin_client):
    response = save(admin_client, name="Acme", logo_url="/static/acme.png", colour="0B5CAD")

    assert response.status_code == 303
    assert stored(app) == {"name": "Acme", "logo_url": "/static/acme.png", "colour": "#0b5cad"}


def test_an_empty_logo_means_no_logo(app, admin_client):
    save(admin_client, **GOOD)
    save(admin_client, **{**GOOD, "logo_url": "  "})

    assert "logo_url" not in stored(app)
    assert 'class="brand-logo"' not in body(admin_client.get("/"))


def test_saving_the_same_values_again_writes_no_event(app, admin_client):
    save(admin_client, **GOOD)
    save(admin_client, **GOOD)

    assert len(events(app)) == 1


def test_reset_goes_back_to_the_defaults(app, admin_client):
    save(admin_client, **GOOD)
    assert "Reset to the defaults" in body(admin_client.get(PAGE))

    response = admin_client.post(
        f"{PAGE}/reset", data={"csrf_token": csrf_token(admin_client, PAGE)}
    )

    assert response.status_code == 303
    assert stored(app) == {}
    first, second = events(app)
    assert second.before == first.after and second.after == {}
    page = body(admin_client.get(PAGE))
    assert '<span class="brand-name" dir="auto">Poort</span>' in page
    assert "Branding reset to the defaults." in page


def test_saving_needs_the_csrf_token(app, admin_client):
    response = admin_client.post(PAGE, data=GOOD)

    assert response.status_code == 400
    assert stored(app) == {}


def test_ordinary_users_cannot_change_it(app, client, make_user, admin):
    from tests.conftest import password_login

    make_user(username="mallory")
    password_login(client, "mallory")
    response = client.post(PAGE, data={"csrf_token": csrf_token(client, "/account/"), **GOOD})

    assert response.status_code == 403
    assert stored(app) == {}


# -- refusing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "logo",
    [
        "http://cdn.example.org/acme.png",
        "javascript:alert(1)",
        "data:image/png;base64,iVBORw0KGgo=",
        "//evil.example/acme.png",
        "/\\evil.example/acme.png",
        "https://user:secret@cdn.example.org/acme.png",
        "https:///acme.png",
        "/static/acme logo.png",
        "acme.png",
        "https://cdn.example.org/" + "a" * 500,
    ],
)
def test_a_bad_logo_address_is_refused_next_to_its_field(app, admin_client, logo):
    response = save(admin_client, **{**GOOD, "logo_url": logo})

    assert response.status_code == 400
    page = body(response)
    assert "logo" in field_error(page, "logo_url").lower()
    assert re.search(r'id="logo_url"[^>]*aria-invalid="true"', page, re.S)
    assert 'aria-describedby="logo_url-hint logo_url-error"' in page
    assert f'value="{escape(logo)}"' in page  # what was typed stays, to correct it
    assert stored(app) == {}
    assert events(app) == []


@pytest.mark.parametrize(
    ("colour", "ratio"),
    [("#ffcc00", "1.51"), ("#777777", "4.47"), ("#FFFFFF", "1.00"), ("#0b8cdd", "3.61")],
)
def test_a_colour_too_light_for_white_text_is_refused_with_its_ratio(
    app, admin_client, colour, ratio
):
    response = save(admin_client, **{**GOOD, "colour": colour})

    assert response.status_code == 400
    message = field_error(body(response), "colour")
    assert f"contrast ratio of {ratio}:1" in message
    assert "at least 4.5:1" in message
    assert colour.lower() in message
    assert stored(app) == {}


def test_the_ratio_is_computed_as_wcag_says():
    assert branding.contrast_ratio("#000000", "#ffffff") == pytest.approx(21)
    assert branding.contrast_ratio("#ffffff", "#ffffff") == pytest.approx(1)
    assert branding.contrast_ratio("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)
    assert branding.shown_ratio(4.4999) == "4.49"  # never rounded up past the limit


def test_the_darkest_grey_that_passes_is_accepted(app, admin_client):
    assert save(admin_client, **{**GOOD, "colour": "#767676"}).status_code == 303


@pytest.mark.parametrize("colour", ["", "blue", "#12345", "#1234567", "#gggggg", "rgb(0,0,0)"])
def test_a_colour_that_is_not_rrggbb_is_refused(app, admin_client, colour):
    response = save(admin_client, **{**GOOD, "colour": colour})

    assert response.status_code == 400
    assert "#rrggbb" in field_error(body(response), "colour")


@pytest.mark.parametrize("name", ["", "   ", "x" * 61, "Acme\nLogin"])
def test_a_bad_name_is_refused(app, admin_client, name):
    response = save(admin_client, **{**GOOD, "name": name})

    assert response.status_code == 400
    assert field_error(body(response), "name")
    assert stored(app) == {}


def test_every_problem_is_shown_at_once(admin_client):
    page = body(save(admin_client, name="", logo_url="ftp://x", colour="#eeeeee"))

    for field in ("name", "logo_url", "colour"):
        assert field_error(page, field)
    assert "Please correct the fields marked below." in page


def test_a_long_right_to_left_name_with_emoji_is_kept_whole(app, admin_client):
    name = "بوابة الدخول 🔐 " + "ا" * 45
    assert len(name) == 60

    assert save(admin_client, **{**GOOD, "name": name}).status_code == 303
    page = body(admin_client.get("/"))
    assert f'<span class="brand-name" dir="auto">{name}</span>' in page


def test_the_page_speaks_dutch(admin_client):
    page = body(
        admin_client.post(
            PAGE,
            data={"csrf_token": csrf_token(admin_client, PAGE), **GOOD, "colour": "#ffcc00"},
            headers={"Accept-Language": "nl"},
        )
    )

    assert "<h1>Huisstijl</h1>" in page
    assert "Witte tekst op #ffcc00 heeft een contrastverhouding van 1.51:1" in page


# -- /brand.css -----------------------------------------------------------------------------


def test_brand_css_sets_the_default_colour_and_may_be_cached(client):
    response = client.get("/brand.css")

    assert response.status_code == 200
    assert response.mimetype == "text/css"
    assert body(response) == ":root{--brand:#0b5cad}\n"
    assert response.headers["Cache-Control"] == "public, max-age=300"
    etag = response.headers["ETag"]

    again = client.get("/brand.css", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.headers["Cache-Control"] == "public, max-age=300"


def test_brand_css_follows_the_saved_colour(app, admin_client):
    before = app.test_client().get("/brand.css")
    save(admin_client, **GOOD)

    after = app.test_client().get("/brand.css")

    assert body(after) == ":root{--brand:#1a4d2e}\n"
    assert after.headers["ETag"] != before.headers["ETag"]
    stale = app.test_client().get("/brand.css", headers={"If-None-Match": before.headers["ETag"]})
    assert stale.status_code == 200


def test_every_page_links_brand_css_after_poort_css_with_its_version(app, admin_client):
    save(admin_client, **GOOD)
    with app.test_request_context():
        version = branding.current().version

    page = body(app.test_client().get("/login"))

    links = re.findall(r'<link rel="stylesheet" href="([^"]+)">', page)
    assert links == ["/static/poort.css", f"/brand.css?v={version}"]
    assert "style=" not in page and "<style" not in page


def test_a_hand_edited_setting_cannot_inject_into_the_stylesheet_or_the_page(app, client):
    with app.app_context():
        db.session.add(
            SiteSetting(
                key="branding",
                value={
                    "name": "",
                    "colour": "red}body{display:none",
                    "logo_url": "javascript:alert(1)",
                },
            )
        )
        db.session.commit()

    assert body(client.get("/brand.css")) == ":root{--brand:#0b5cad}\n"
    page = body(client.get("/login"))
    assert "javascript:" not in page
    assert '<span class="brand-name" dir="auto">Poort</span>' in page


def test_a_page_reads_the_branding_once(app, client, make_authenticator):
    make_authenticator()
    reads: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "site_settings" in statement:
            reads.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        response = client.get("/login")
    finally:
        event.remove(engine, "before_cursor_execute", count)

    assert response.status_code == 200
    assert len(reads) <= 1, reads
