"""NUL characters (U+0000): refused in every request, and never handed to the database.

PostgreSQL text cannot hold NUL: a parameter with one fails the statement (psycopg's
``DataError``), which would be a 500 wherever request input reaches a query. Two layers:

- :func:`refuse_nul_input`, run before every view, looks at all of a request's input: the
  path, the query string, every header (cookies included; RFC 9110 lets a server reject a
  field value with NUL), HTTP Basic credentials (form-urlencoded, RFC 6749 2.3.1), the form,
  file names and a JSON body. A NUL anywhere answers 400 with a message; on the OAuth
  endpoints an RFC 6749 error in JSON (``invalid_client`` when it is in the client's
  credentials, else ``invalid_request``); a NUL in the path names nothing (404).
- :func:`install_statement_guard` replaces NUL with U+FFFD in every text parameter of every
  statement, so input that comes another way (a provider's answer, a plugin) is stored
  without one instead of failing. SQLite could hold NUL; the guard acts the same on both.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote_plus

from flask import Flask, Response, jsonify, request
from flask_babel import gettext
from sqlalchemy import event
from werkzeug.exceptions import NotFound

from idp.errors import InvalidInput

log = logging.getLogger(__name__)

NUL = "\x00"
REPLACEMENT = "\ufffd"
#: OAuth endpoints whose errors are RFC 6749 JSON; the value says whether they allow CORS.
OAUTH_ENDPOINTS = {"/oauth/token": True, "/oauth/revoke": True, "/oauth/introspect": False}
#: The bearer-token endpoint (RFC 6750 errors).
USERINFO = "/oauth/userinfo"
#: Fields that carry the client's credentials in a form (client_secret_post).
CLIENT_FIELDS = frozenset({"client_id", "client_secret"})
#: At most this many JSON values are looked at (a deep or huge body is the view's problem).
JSON_NODES = 10_000


class NulInInput(InvalidInput):
    """The request holds a NUL character (U+0000), which Poort never accepts."""

    code = "nul_in_input"

    def __init__(self, where: str, *, credentials: bool = False) -> None:
        super().__init__(
            gettext(
                "The request contains a NUL character (U+0000) in %(where)s. "
                "Remove it and try again.",
                where=where,
            ),
            field=None,
        )
        self.where = where
        #: True when it was in the OAuth client's credentials (Basic or form).
        self.credentials = credentials


def _basic(header: str) -> tuple[str, str] | None:
    """The user name and password of a Basic Authorization header, form-decoded."""
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=False).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return None
    user, _, password = decoded.partition(":")
    return user, password


def _json_strings(data: Any) -> Iterator[str]:
    """Every key and string of a parsed JSON value, without recursion, up to JSON_NODES."""
    stack, seen = [data], 0
    while stack and seen < JSON_NODES:
        item = stack.pop()
        seen += 1
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _where(part: str, name: str) -> str:
    # A field name is named only when it is short and plain: input is not echoed otherwise.
    if name and len(name) <= 40 and name.isascii() and name.isprintable():
        return gettext("%(part)s field “%(name)s”", part=part, name=name)
    return part


def find_nul() -> NulInInput | None:
    """The first NUL in this request's input, as the error to answer with, or None."""
    if NUL in request.path:
        return NulInInput(gettext("the address"))
    for name, value in request.args.items(multi=True):
        if NUL in name or NUL in value:
            return NulInInput(_where(gettext("the query string"), name))
    for name, value in request.headers.items():
        if NUL in value:
            return NulInInput(_where(gettext("the header"), name))
    for name, value in request.cookies.items(multi=True):
        if NUL in name or NUL in value:
            return NulInInput(gettext("a cookie"))
    basic = _basic(request.headers.get("Authorization", ""))
    if basic is not None and any(NUL in unquote_plus(part) or NUL in part for part in basic):
        return NulInInput(gettext("the Authorization header"), credentials=True)
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return None
    # Keep the raw body (at most MAX_CONTENT_LENGTH) for views that read it after the form,
    # such as a signed delivery report: the form is then parsed from this copy.
    request.get_data(cache=True, parse_form_data=False)
    for name, value in request.form.items(multi=True):
        if NUL in name or NUL in value:
            return NulInInput(_where(gettext("the form"), name), credentials=name in CLIENT_FIELDS)
    for name, upload in request.files.items(multi=True):
        if NUL in name or NUL in (upload.filename or ""):
            return NulInInput(gettext("an uploaded file's name"))
    if request.is_json:
        try:
            data = request.get_json(silent=True)
        except (RecursionError, ValueError):  # too deep to read: the view answers that
            data = None
        if any(NUL in text for text in _json_strings(data)):
            return NulInInput(gettext("the JSON body"))
    return None


def _oauth_error(found: NulInInput, cors: bool) -> Response:
    """An RFC 6749 (5.2) error: invalid_client for the credentials, else invalid_request."""
    error = "invalid_client" if found.credentials else "invalid_request"
    response = jsonify(error=error, error_description=found.message)
    response.status_code = 400
    if found.credentials and request.headers.get("Authorization", "").lower().startswith("basic"):
        # A client that authenticated with Basic must hear 401 and the scheme (RFC 6749 5.2).
        response.status_code = 401
        response.headers["WWW-Authenticate"] = f'Basic error="{error}"'
    response.headers["Cache-Control"] = "no-store"
    if cors:
        response.headers["Access-Control-Allow-Origin"] = "*"
    return response


def _bearer_error(found: NulInInput) -> Response:
    """An RFC 6750 (3.1) invalid_request."""
    response = jsonify(error="invalid_request", error_description=found.message)
    response.status_code = 400
    response.headers["WWW-Authenticate"] = 'Bearer error="invalid_request"'
    response.headers["Cache-Control"] = "no-store"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


def refuse_nul_input() -> Response | None:
    """Before every view: answer a request with a NUL in its input, or let it through."""
    path = request.path
    if NUL in path:
        raise NotFound()  # a path with NUL names nothing
    found = find_nul()
    if found is None:
        return None
    if path in OAUTH_ENDPOINTS:
        return _oauth_error(found, OAUTH_ENDPOINTS[path])
    if path == USERINFO:
        return _bearer_error(found)
    raise found


# -- the database --------------------------------------------------------------------------


def _clean(value: Any) -> tuple[Any, bool]:
    if isinstance(value, str) and NUL in value:
        return value.replace(NUL, REPLACEMENT), True
    if isinstance(value, dict):
        changed = False
        out = {}
        for key, item in value.items():
            out[key], hit = _clean(item)
            changed |= hit
        return (out, True) if changed else (value, False)
    if isinstance(value, list | tuple):
        items = [_clean(item) for item in value]
        if any(hit for _, hit in items):
            return type(value)(item for item, _ in items), True
    return value, False


def _before_execute(
    conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
) -> tuple[str, Any]:
    cleaned, changed = _clean(parameters)
    if changed:
        log.warning("a NUL character in a statement parameter was stored as U+FFFD")
    return statement, cleaned


def install_statement_guard(engine: Any) -> None:
    """Replace NUL in the text parameters of every statement *engine* runs."""
    if not event.contains(engine, "before_cursor_execute", _before_execute):
        event.listen(engine, "before_cursor_execute", _before_execute, retval=True)


def init_app(app: Flask) -> None:
    """Refuse NUL in requests (registered first of the before-request hooks) and in
    statements of the app's engines."""
    from idp.extensions import db

    app.before_request_funcs.setdefault(None, []).insert(0, refuse_nul_input)
    with app.app_context():
        for engine in db.engines.values():
            install_statement_guard(engine)
