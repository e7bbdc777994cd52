"""The ceiling: a Flask app with one route that answers "ok".

Served by the bench with exactly the gunicorn settings Poort gets, in the same run, so every
Poort figure can be read as a fraction of what Flask and gunicorn do on this machine with no
application work at all.
"""

from __future__ import annotations

from flask import Flask

app = Flask(__name__)


@app.get("/")
def ok() -> str:
    return "ok"


def create_app() -> Flask:
    """For servers that are given a factory, like ``idp:create_app()``."""
    return app
