"""Languages: English and Dutch, chosen by the person (a switcher on every page), else by the
browser's Accept-Language. Flask-Babel does the translating; catalogues live in
``translations/`` and are built by ``tools/i18n.py`` (see docs/translations.md).
"""

from __future__ import annotations

from flask import Blueprint, Flask, has_request_context, redirect, request, session
from flask_babel import Babel, get_locale, gettext
from werkzeug.wrappers import Response

from idp.extensions import csrf
from idp.resources import resource_dir
from idp.security.redirects import safe_next

#: Every language Poort speaks, by code; the first is the fallback.
LANGUAGES: dict[str, str] = {"en": "English", "nl": "Nederlands"}
SESSION_KEY = "lang"

bp = Blueprint("i18n", __name__)


def select_language() -> str:
    """The person's choice, else the best match for the browser, else English.

    Outside a request (the command line, the worker) there is nobody to ask: English.
    """
    fallback = next(iter(LANGUAGES))
    if not has_request_context():
        return fallback
    chosen = session.get(SESSION_KEY)
    if chosen in LANGUAGES:
        return str(chosen)
    return request.accept_languages.best_match(list(LANGUAGES), fallback) or fallback


def current_language() -> str:
    """The language of this request's pages (and of the texts it sends)."""
    locale = get_locale()
    return locale.language if locale is not None else next(iter(LANGUAGES))


def translated(text: str | None) -> str:
    """A text kept as written, such as an authenticator's title: its translation when the
    catalogues have it (a plugin's default title, marked for extraction where it is defined),
    else the text itself. Never formatted, so a ``%`` in an admin's title is harmless."""
    return gettext(text) if text else ""


@bp.post("/language")
def choose() -> Response:
    """The switcher: remember the choice in the session and go back where the person was.

    It carries no form token, so that pages which have no other form (an error page, a
    static-looking page) need no session row. The worst a forged request can do is change
    someone's page language; browsers' cross-site POSTs are still refused by the Origin
    check in :mod:`idp.security.origin`.
    """
    chosen = request.form.get("lang", "")
    if chosen in LANGUAGES:
        session[SESSION_KEY] = chosen
    return redirect(safe_next(request.form.get("next")) or "/", code=303)


def init_app(app: Flask) -> None:
    Babel(
        app,
        locale_selector=select_language,
        default_translation_directories=str(resource_dir("translations")),
    )
    csrf.exempt(choose)
    app.register_blueprint(bp)
    app.jinja_env.globals.update(languages=LANGUAGES, current_language=current_language)
    app.jinja_env.filters["translated"] = translated
