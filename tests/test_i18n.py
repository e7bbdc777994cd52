"""English and Dutch: complete catalogues, the language switcher, Accept-Language."""

from __future__ import annotations

from tools import i18n as catalogues


def test_every_message_is_in_both_catalogues_and_they_are_compiled():
    problems = catalogues.problems()
    assert problems == [], "\n".join(problems[:50])


def test_the_browser_language_is_used_when_nobody_chose(client):
    page = client.get("/login", headers={"Accept-Language": "nl-BE,nl;q=0.9,en;q=0.5"})
    html = page.get_data(as_text=True)
    assert '<html lang="nl">' in html
    assert "Taal:" in html


def test_english_is_the_fallback(client):
    html = client.get("/login", headers={"Accept-Language": "de, fr"}).get_data(as_text=True)
    assert '<html lang="en">' in html
    assert "Language:" in html


def test_the_switcher_remembers_the_choice_over_the_browser(client):
    response = client.post("/language", data={"lang": "nl", "next": "/login?x=1"})
    assert response.status_code == 303
    assert response.headers["Location"] == "/login?x=1"
    html = client.get("/login", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert '<html lang="nl">' in html


def test_the_switcher_refuses_unknown_languages_and_foreign_next(client):
    response = client.post("/language", data={"lang": "xx", "next": "https://evil.example/"})
    assert response.status_code == 303
    assert response.headers["Location"] == "/"
    html = client.get("/login", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert '<html lang="en">' in html


def test_the_switcher_refuses_other_sites(client):
    response = client.post(
        "/language", data={"lang": "nl"}, headers={"Origin": "https://evil.example"}
    )
    assert response.status_code == 403


def test_a_page_without_forms_stores_no_session(app, client):
    from sqlalchemy import func, select

    from idp.extensions import db
    from idp.models import UserSession

    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert "Set-Cookie" not in response.headers
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(UserSession)) == 0
