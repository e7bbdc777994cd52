"""Global branding: the name, logo and accent colour an admin sets at /admin/branding.

They are stored as the site setting ``branding`` (``{"name", "logo_url", "colour"}``); a key
that is missing means the default: the ``site_name`` setting, no logo, Poort's blue. Templates
get the result as ``brand`` (and ``site_name``, its name) from a context processor that builds
it once per request. The colour reaches the pages without an inline style, which the
Content-Security-Policy forbids: ``base.html`` links ``/brand.css``, a one-line stylesheet that
sets the ``--brand`` custom property of ``static/poort.css``.

The ``auto_dir`` template filter belongs to the same presentation layer: it isolates text that
people typed (nicknames, application names) so right-to-left text keeps its own direction.

Buttons print white text on the brand colour, so a colour is accepted only when that text keeps
a contrast ratio of at least 4.5:1 (WCAG 2 AA for normal text).
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import unicodedata
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Flask, Response, request
from flask_babel import gettext
from markupsafe import Markup
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.wrappers import Response as BaseResponse

from idp import site_settings, state
from idp.extensions import db
from idp.request_cache import forget, request_cache
from idp.security.headers import PUBLIC_CACHE

log = logging.getLogger(__name__)

#: The accent colour when the admin set none: white text on it is 6.67:1.
DEFAULT_COLOUR = "#0b5cad"
#: The least contrast ratio of white button text on the brand colour (WCAG 2 AA).
MIN_CONTRAST = 4.5
NAME_MAX = 60
LOGO_MAX = 500
SETTING = "branding"

_COLOUR = re.compile(r"#?([0-9a-fA-F]{6})")
_CACHE = "brand"

bp = Blueprint("branding", __name__)


# -- colours --------------------------------------------------------------------------------


def _channel(value: int) -> float:
    c = value / 255
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def relative_luminance(colour: str) -> float:
    """WCAG 2 relative luminance of ``#rrggbb``."""
    hex_ = colour.lstrip("#")
    r, g, b = (int(hex_[i : i + 2], 16) for i in (0, 2, 4))
    return 0.2126 * _channel(r) + 0.7152 * _channel(g) + 0.0722 * _channel(b)


def contrast_ratio(first: str, second: str) -> float:
    """WCAG 2 contrast ratio of two ``#rrggbb`` colours, from 1 to 21."""
    light, dark = sorted((relative_luminance(first), relative_luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def shown_ratio(ratio: float) -> str:
    """*ratio* with two decimals, rounded down: a refused 4.497 must not read as 4.50."""
    return f"{math.floor(ratio * 100) / 100:.2f}"


def normal_colour(raw: str) -> str | None:
    """``#rrggbb`` in lower case from what an admin typed (the ``#`` may be left out)."""
    match = _COLOUR.fullmatch(raw.strip())
    return f"#{match.group(1).lower()}" if match else None


# -- what an admin may enter ----------------------------------------------------------------


def name_problem(name: str) -> str | None:
    if not 1 <= len(name) <= NAME_MAX:
        return gettext("Give a name of 1 to %(max)s characters.", max=NAME_MAX)
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        return gettext("The name may not contain line breaks or other control characters.")
    return None


def logo_problem(url: str) -> str | None:
    """Why *url* cannot be the logo: it must be an https URL or a path on this site."""
    if len(url) > LOGO_MAX:
        return gettext("The logo address is longer than %(max)s characters.", max=LOGO_MAX)
    if any(ch.isspace() or ch == "\\" or unicodedata.category(ch) == "Cc" for ch in url):
        return gettext("The logo address may not contain spaces or backslashes.")
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = None
    if url.startswith("/") and not url.startswith("//"):
        if parts is not None and not parts.scheme and not parts.netloc:
            return None
    elif parts is not None and parts.scheme == "https" and parts.hostname:
        if parts.username is not None or parts.password is not None:
            return gettext("The logo address may not contain a user name or password.")
        return None
    return gettext(
        "The logo must be an https address (https://…) or a path on this site (/static/…)."
    )


def colour_problem(raw: str) -> str | None:
    colour = normal_colour(raw)
    if colour is None:
        return gettext(
            "Give the colour as #rrggbb, for example %(example)s.", example=DEFAULT_COLOUR
        )
    ratio = contrast_ratio(colour, "#ffffff")
    if ratio < MIN_CONTRAST:
        return gettext(
            "White text on %(colour)s has a contrast ratio of %(ratio)s:1; buttons need at "
            "least %(minimum)s:1. Choose a darker colour.",
            colour=colour,
            ratio=shown_ratio(ratio),
            minimum=MIN_CONTRAST,
        )
    return None


def check(form: Any) -> tuple[dict[str, str], dict[str, list[str]]]:
    """The branding to store from a submitted form, and the problems of each field."""
    name = str(form.get("name", "")).strip()
    logo_url = str(form.get("logo_url", "")).strip()
    colour = str(form.get("colour", "")).strip()
    problems = {
        "name": name_problem(name),
        "logo_url": logo_problem(logo_url) if logo_url else None,
        "colour": colour_problem(colour),
    }
    errors = {field: [message] for field, message in problems.items() if message}
    value = {"name": name, "colour": normal_colour(colour) or colour}
    if logo_url:
        value["logo_url"] = logo_url
    return value, errors


# -- what the pages show --------------------------------------------------------------------


@dataclass(frozen=True)
class Brand:
    name: str
    logo_url: str | None
    colour: str
    #: Whether an admin changed anything (else every value is the default).
    custom: bool = False

    @property
    def stylesheet(self) -> str:
        return f":root{{--brand:{self.colour}}}\n"

    @property
    def version(self) -> str:
        """Changes with the colour: the stylesheet's ETag, and its URL's ``v`` parameter."""
        return hashlib.sha256(self.stylesheet.encode()).hexdigest()[:16]

    @property
    def contrast(self) -> str:
        """White text on the colour, as the admin page shows it (e.g. ``6.67``)."""
        return shown_ratio(contrast_ratio(self.colour, "#ffffff"))


def default() -> Brand:
    return Brand(name=state.settings().site_name, logo_url=None, colour=DEFAULT_COLOUR)


def from_setting(stored: Any) -> Brand:
    """The brand of a stored setting; a value that does not pass the checks (edited by hand
    in the database) falls back to its default, so a page never shows an unchecked URL or puts
    an unchecked string into the stylesheet."""
    stored = stored if isinstance(stored, dict) else {}
    base = default()
    name = stored.get("name")
    logo_url = stored.get("logo_url")
    colour = stored.get("colour")
    good_name = isinstance(name, str) and name_problem(name) is None
    good_logo = isinstance(logo_url, str) and bool(logo_url) and logo_problem(logo_url) is None
    good_colour = isinstance(colour, str) and normal_colour(colour) == colour
    return Brand(
        name=name if good_name else base.name,
        logo_url=logo_url if good_logo else None,
        colour=colour if good_colour else base.colour,
        custom=bool(stored),
    )


def current() -> Brand:
    """This request's brand: read once (with the other site settings), then from the cache.

    A page must render even when the database does not answer (the error page of that very
    failure), so a failed read gives the defaults.
    """
    cache = request_cache()
    if cache is not None and _CACHE in cache:
        brand: Brand = cache[_CACHE]
        return brand
    from idp import database_outage

    try:
        brand = default() if database_outage.seen() else from_setting(site_settings.get(SETTING))
    except SQLAlchemyError as exc:
        if database_outage.is_unavailable(exc):
            database_outage.note(exc)  # logged once per outage, not a traceback per page
        else:
            log.warning("Could not read the branding; the page uses the defaults.", exc_info=True)
        try:
            db.session.rollback()
        except SQLAlchemyError:
            pass
        brand = default()
    if cache is not None:
        cache[_CACHE] = brand
    return brand


def put(value: dict[str, str], *, actor_id: int | None) -> dict[str, str]:
    """Store *value* (already checked); return the previous one. The caller audits, commits."""
    before = site_settings.put(SETTING, value, actor_id=actor_id)
    forget(_CACHE)
    return dict(before or {})


@bp.get("/brand.css")
def stylesheet() -> BaseResponse:
    """``:root{--brand:#...}``: public, cached briefly, with the value's ETag."""
    brand = current()
    response = Response(brand.stylesheet, mimetype="text/css")
    response.set_etag(brand.version)
    response.headers["Cache-Control"] = PUBLIC_CACHE
    return response.make_conditional(request)


def auto_dir(value: Any) -> Markup:
    """*value*, escaped, in ``<span dir="auto">``: text someone typed (a nickname, an
    application's name) inside a sentence keeps its own direction, and right-to-left text
    cannot reorder the words around it. Inside ``_()`` it stays markup:
    ``_("Hello, %(name)s", name=user.display_name|auto_dir)``."""
    return Markup('<span dir="auto">%s</span>') % ("" if value is None else value)


def _template_context() -> dict[str, Any]:
    brand = current()
    return {"brand": brand, "site_name": brand.name}


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.context_processor(_template_context)
    app.jinja_env.filters["auto_dir"] = auto_dir
