"""Turning errors into responses: the site's error pages, or JSON for clients that ask."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from idp.errors import IdpError, InvalidInput
from idp.extensions import db

log = logging.getLogger(__name__)

TITLES = {
    400: "That request did not work",
    401: "Please sign in",
    403: "Not allowed",
    404: "Page not found",
    405: "Not allowed here",
    429: "Too many attempts",
    500: "Something went wrong",
}
SERVER_FAULT = "Something went wrong on our side. Please try again in a moment."


def wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return (
        best == "application/json"
        and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]
    )


def error_response(
    status: int, code: str, message: str, retry_after: int | None = None
) -> Response:
    if wants_json():
        response = jsonify(error=code, message=message)
    else:
        title = TITLES.get(status, TITLES[500 if status >= 500 else 400])
        response = Response(
            render_template("error.html", status=status, title=title, message=message, code=code),
            mimetype="text/html",
        )
    response.status_code = status
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def register(app: Flask) -> None:
    @app.before_request
    def refuse_undecodable_query() -> None:
        # Werkzeug decodes the query string as strict UTF-8 when a view reads it; browsers
        # percent-encode, but a raw byte that is not UTF-8 would otherwise end in a 500.
        try:
            request.query_string.decode()
        except UnicodeDecodeError:
            raise InvalidInput(
                "The address has characters that are not valid UTF-8. Check the link."
            ) from None

    @app.errorhandler(IdpError)
    def idp_error(exc: IdpError) -> Response:
        db.session.rollback()
        retry_after = getattr(exc, "retry_after", None)
        if exc.status >= 500:
            if exc.public_message is None:
                log.exception("%s: %s", exc.code, exc.message)
                return error_response(exc.status, exc.code, SERVER_FAULT)
            log.warning("%s: %s", exc.code, exc.message)
        return error_response(exc.status, exc.code, exc.user_message(), retry_after)

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError) -> Response:
        db.session.rollback()
        return error_response(
            400,
            "csrf_failed",
            "This form has expired or was not sent by this site. Reload the page and try again.",
        )

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        db.session.rollback()
        status = exc.code or 500
        if status == 404:
            message = "There is nothing at this address. Check the link, or go to the start page."
        else:
            message = exc.description or TITLES.get(status, "")
        response = error_response(status, exc.name.lower().replace(" ", "_"), message)
        if status == 405 and exc.get_response().headers.get("Allow"):
            response.headers["Allow"] = exc.get_response().headers["Allow"]
        return response

    @app.errorhandler(Exception)
    def server_error(exc: Exception) -> Response:
        db.session.rollback()
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "server_error", SERVER_FAULT)
