"""Turning errors into responses: the site's error pages, or JSON for clients that ask."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, g, jsonify, render_template, request
from flask_babel import gettext, lazy_gettext
from flask_wtf.csrf import CSRFError
from markupsafe import escape
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.wrappers import Response

from idp import database_outage
from idp.errors import DatabaseUnavailable, IdpError
from idp.extensions import db, login_manager

log = logging.getLogger(__name__)

TITLES = {
    400: lazy_gettext("That request did not work"),
    401: lazy_gettext("Please sign in"),
    403: lazy_gettext("Not allowed"),
    404: lazy_gettext("Page not found"),
    405: lazy_gettext("Not allowed here"),
    429: lazy_gettext("Too many attempts"),
    500: lazy_gettext("Something went wrong"),
    503: lazy_gettext("Briefly unavailable"),
}
SERVER_FAULT = lazy_gettext("Something went wrong on our side. Please try again in a moment.")


#: Endpoints for programs (OAuth and OpenID Connect clients, APIs): their errors are JSON.
JSON_PATHS = (
    "/oauth/token",
    "/oauth/userinfo",
    "/oauth/revoke",
    "/oauth/introspect",
    "/oauth/jwks",
    "/.well-known/",
    "/api/",
)


PLAIN_PAGE = (
    '<!doctype html><html><meta charset="utf-8"><title>{title}</title>'
    "<h1>{title}</h1><p>{message}</p></html>"
)


def wants_json() -> bool:
    if request.path.startswith(JSON_PATHS):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return (
        best == "application/json"
        and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]
    )


def error_response(
    status: int, code: str, message: str, retry_after: int | None = None
) -> Response:
    message = str(message)  # a lazy text becomes the person's language here
    response: Response
    if wants_json():
        response = jsonify(error=code, message=message)
    else:
        title = str(TITLES.get(status, TITLES[500 if status >= 500 else 400]))
        try:
            page = render_template(
                "error.html", status=status, title=title, message=message, code=code
            )
        except Exception:
            # The site's page needs what failed (the database, for the signed-in user): a
            # plain page still says what happened, rather than a bare 500 from gunicorn.
            log.debug("the error page could not be rendered", exc_info=True)
            page = PLAIN_PAGE.format(title=escape(title), message=escape(message))
        response = Response(page, mimetype="text/html")
    response.status_code = status
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def _rollback() -> None:
    """Roll back what the request did; on a database that is gone there is nothing to undo."""
    try:
        db.session.rollback()
    except SQLAlchemyError:
        log.debug("rollback failed", exc_info=True)


def unavailable_response(exc: BaseException | None = None) -> Response:
    """The 503 of a database outage (noted, so the rest of the request leaves it alone)."""
    if exc is not None:
        database_outage.note(exc)
    # Nobody is shown signed in: their user row, expired by the rollback, cannot be read.
    g._login_user = login_manager.anonymous_user()
    error = DatabaseUnavailable(retry_after=database_outage.RETRY_AFTER)
    return error_response(error.status, error.code, error.user_message(), error.retry_after)


def _percent_encoded_query(wsgi_app: Any) -> Any:
    """Percent-encode raw bytes beyond ASCII in the query string, as browsers do.

    Werkzeug decodes the query string as strict UTF-8 (for ``request.args`` and
    ``request.full_path``), so a raw byte that is not UTF-8, as curl can send, would be a 500
    on every page; percent-encoded, it is read like any other odd value.
    """

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        query = environ.get("QUERY_STRING", "")
        if not query.isascii():
            environ["QUERY_STRING"] = "".join(c if c.isascii() else f"%{ord(c):02X}" for c in query)
        return wsgi_app(environ, start_response)

    return app


def register(app: Flask) -> None:
    app.wsgi_app = _percent_encoded_query(app.wsgi_app)  # type: ignore[method-assign]

    @app.errorhandler(DBAPIError)
    @app.errorhandler(PoolTimeout)
    def database_error(exc: Exception) -> Response:
        _rollback()
        if database_outage.is_unavailable(exc):
            return unavailable_response(exc)
        return server_error(exc)

    @app.errorhandler(InternalServerError)
    def unhandled(exc: InternalServerError) -> Response:
        # Raised outside a view (opening or saving the session): Flask's own path.
        original = exc.original_exception
        if original is not None and database_outage.is_unavailable(original):
            _rollback()
            return unavailable_response(original)
        return http_error(exc)

    @app.errorhandler(IdpError)
    def idp_error(exc: IdpError) -> Response:
        _rollback()
        retry_after = getattr(exc, "retry_after", None)
        if exc.status >= 500:
            if exc.public_message is None:
                log.exception("%s: %s", exc.code, exc.message)
                return error_response(exc.status, exc.code, str(SERVER_FAULT))
            if exc.log_each:
                log.warning("%s: %s", exc.code, exc.message)
        return error_response(exc.status, exc.code, exc.user_message(), retry_after)

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError) -> Response:
        _rollback()
        return error_response(
            400,
            "csrf_failed",
            gettext(
                "This form has expired or was not sent by this site. Reload the page and try again."
            ),
        )

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        _rollback()
        status = exc.code or 500
        if status == 404:
            message = gettext(
                "There is nothing at this address. Check the link, or go to the start page."
            )
        elif status == 405:
            message = gettext("This address does not take that kind of request.")
        else:
            message = exc.description or str(TITLES.get(status, ""))
        response = error_response(status, exc.name.lower().replace(" ", "_"), message)
        if status == 405 and exc.get_response().headers.get("Allow"):
            response.headers["Allow"] = exc.get_response().headers["Allow"]
        return response

    @app.errorhandler(Exception)
    def server_error(exc: Exception) -> Response:
        _rollback()
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "server_error", str(SERVER_FAULT))
