"""Small pieces the HTTP providers share: option fields, validators, line parsing, answers.

Nothing here talks to a vendor; :class:`idp.sms.http.HttpSmsProvider` does that.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import requests
from flask_babel import gettext, lazy_gettext
from markupsafe import Markup
from wtforms import FloatField
from wtforms.validators import NumberRange, Optional, ValidationError
from wtforms.widgets import TextArea

from idp.options import SecretField

#: Characters a header name may use (an RFC 9110 token).
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


class HttpUrl:
    """An http:// or https:// address with a host (loopback and ports allowed)."""

    def __init__(self, message: str | None = None) -> None:
        self.message = message

    def __call__(self, form: Any, field: Any) -> None:
        if not field.data:
            return
        parts = urlsplit(str(field.data).strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValidationError(
                self.message or gettext("Enter a full address starting with https:// (or http://).")
            )
        try:
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number
        except ValueError:
            raise ValidationError(gettext("The port in this address is not a number.")) from None


def timeout_field(default: float) -> FloatField:
    return FloatField(
        lazy_gettext("Timeout (seconds)"),
        default=default,
        validators=[Optional(), NumberRange(min=0.1, max=60)],
        description=lazy_gettext(
            "How long to wait for the provider's answer before trying the fallback."
        ),
    )


class SecretLinesField(SecretField):
    """A secret written as several lines; rendered as an empty text area, never filled in."""

    widget = TextArea()

    def _value(self) -> str:
        return ""

    def __call__(self, **kwargs: Any) -> Markup:
        kwargs.setdefault("autocomplete", "off")
        return self.widget(self, **kwargs)


def _lines(text: str | None) -> list[str]:
    """Non-blank lines that are not comments (#)."""
    return [
        line.strip()
        for line in (text or "").splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]


def parse_pairs(text: str | None) -> list[tuple[str, str]]:
    """``key=value`` lines as pairs, in order; the value may itself contain ``=``."""
    pairs = []
    for line in _lines(text):
        key, _, value = line.partition("=")
        pairs.append((key.strip(), value.strip()))
    return pairs


def parse_headers(text: str | None) -> list[tuple[str, str]]:
    """``Name: value`` lines as pairs, in order."""
    headers = []
    for line in _lines(text):
        name, _, value = line.partition(":")
        headers.append((name.strip(), value.strip()))
    return headers


class PairLines:
    """Each line is ``key=value`` with a non-empty key (the error names the line, not the value)."""

    def __call__(self, form: Any, field: Any) -> None:
        for number, line in enumerate((field.data or "").splitlines(), start=1):
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            key, sep, _ = stripped.partition("=")
            if not sep or not key.strip():
                raise ValidationError(
                    gettext("Line %(number)s is not of the form key=value.", number=number)
                )


class HeaderLines:
    """Each line is ``Name: value`` with a valid header name."""

    def __call__(self, form: Any, field: Any) -> None:
        for number, line in enumerate((field.data or "").splitlines(), start=1):
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            name, sep, _ = stripped.partition(":")
            if not sep or not _HEADER_NAME.match(name.strip()):
                raise ValidationError(
                    gettext("Line %(number)s is not of the form Name: value.", number=number)
                )


def json_body(response: requests.Response) -> Any:
    """The answer parsed as JSON, or None when it is not JSON."""
    try:
        return response.json()
    except ValueError:
        return None


def plain_text(response: requests.Response, limit: int = 4096) -> str:
    """The answer as text (at most *limit* characters); read to judge it, never to log it."""
    try:
        return response.content[:limit].decode(response.encoding or "utf-8", errors="replace")
    except LookupError:
        return response.content[:limit].decode("utf-8", errors="replace")
