"""The texts that carry codes. Each ends in the origin-bound line ``@host #code``, so browsers
offer the code only on our own site (WebOTP, Safari autofill).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import has_request_context, request

from idp import state

DEFAULT_TEMPLATES = {
    "login": "Your {app} login code is {code}. It expires in {minutes} minutes.",
    "signup": "Your {app} sign-up code is {code}. It expires in {minutes} minutes.",
    "second_factor": "Your {app} verification code is {code}. It expires in {minutes} minutes.",
    "enrolment": "Your {app} code to add this phone is {code}. It expires in {minutes} minutes.",
    "phone_change": "Your {app} code to confirm this new number is {code}. "
    "It expires in {minutes} minutes.",
    "admin_test": "Your {app} test code is {code}. Type it in the admin panel to confirm "
    "this verifier.",
}


def site_host() -> str | None:
    """The host people see in the address bar, for the origin-bound line."""
    if has_request_context():
        return urlsplit(request.host_url).hostname
    return None


def code_text(purpose: str, code: str, host: str | None = None) -> str:
    """The message for *purpose* with *code* filled in."""
    settings = state.current().settings
    template = DEFAULT_TEMPLATES.get(purpose, DEFAULT_TEMPLATES["login"])
    text = template.format(
        app=settings.site_name, code=code, minutes=max(1, settings.code_ttl_seconds // 60)
    )
    host = host or site_host()
    return f"{text}\n\n@{host} #{code}" if host else text
