"""Turning errors into responses: the site's error pages, or JSON for clients that ask."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify, render_template, request
from flask_babel import gettext, lazy_gettext
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.wrappers import Response

from idp.errors import IdpError
from idp.extensions import db

log = logging.getLogger(__name__)

TITLES = {
    400: lazy_gettext("That request did not work"),
    401: lazy_gettext("Please sign in"),
    403: lazy_gettext("Not allowed"),
    404: lazy_gettext("Page not found"),
    405: lazy_gettext("Not allowed here"),
    429: lazy_gettext("Too many attempts"),
    500: lazy_gettext("Something went wrong"),
}
SERVER_FAULT = lazy_gettext("Something went wrong on our side. Please try again in a moment.")


def wants_json() -> bool:
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
        response = Response(
            render_template("error.html", status=status, title=title, message=message, code=code),
            mimetype="text/html",
        )
    response.status_code = status
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


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

    @app.before_request
    def nothing_is_named_with_nul() -> None:
        # A path segment with %00 names nothing, and PostgreSQL refuses NUL in a parameter.
        if any("\x00" in str(value) for value in (request.view_args or {}).values()):
            raise NotFound()

    @app.errorhandler(IdpError)
    def idp_error(exc: IdpError) -> Response:
        db.session.rollback()
        retry_after = getattr(exc, "retry_after", None)
        if exc.status >= 500:
            if exc.public_message is None:
                log.exception("%s: %s", exc.code, exc.message)
                return error_response(exc.status, exc.code, str(SERVER_FAULT))
            log.warning("%s: %s", exc.code, exc.message)
        return error_response(exc.status, exc.code, exc.user_message(), retry_after)

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError) -> Response:
        db.session.rollback()
        return error_response(
            400,
            "csrf_failed",
            gettext(
                "This form has expired or was not sent by this site. Reload the page and try again."
            ),
        )

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        db.session.rollback()
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
        db.session.rollback()
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "server_error", str(SERVER_FAULT))
