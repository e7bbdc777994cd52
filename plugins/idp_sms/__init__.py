"""Sign up and sign in with a phone number and a code by text message; SMS as a second factor.

Registered in pyproject.toml under ``idp.auth_methods`` as ``sms``, exactly as a third-party
plugin would register itself. It uses only the public modules of ``idp``: the login flow,
one-time-code challenges, verifier resolution, delivery and the message texts.
"""

from __future__ import annotations

# The route modules add their views to the blueprint when imported.
from idp_sms import login_views, phone_views, second_views
from idp_sms.method import SmsMethod, SmsOptions

__all__ = ["SmsMethod", "SmsOptions", "login_views", "phone_views", "second_views"]
