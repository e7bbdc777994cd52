"""The SMS method's routes and templates, mounted by the core at /m/sms."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("idp_sms", __name__, template_folder="templates")
