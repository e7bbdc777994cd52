"""Entry point for gunicorn and `flask --app wsgi`."""

from idp import create_app

app = create_app()
