"""Plugin classes, good and bad, that tests/test_plugins.py points entry points at."""

from __future__ import annotations

from markupsafe import Markup

from idp.auth import AuthMethod, LoginContext
from idp.sms.provider import SmsMessage, SmsProvider, SmsReceipt


class GoodMethod(AuthMethod):
    name = "good"
    title = "A good method"

    def render_login(self, ctx: LoginContext) -> Markup:
        return Markup("<p>good</p>")


class GoodProvider(SmsProvider):
    name = "good_sms"
    title = "A good provider"

    def send(self, message: SmsMessage) -> SmsReceipt:
        return SmsReceipt(provider_message_id="1")


class NotAPlugin:
    name = "plain"
    title = "Extends nothing"


class HalfDone(AuthMethod):
    """Forgot to implement render_login."""

    name = "half_done"
    title = "Half done"


class Misnamed(AuthMethod):
    name = "something_else"
    title = "Registered under another name"

    def render_login(self, ctx: LoginContext) -> Markup:
        return Markup("")


class FromTheFuture(AuthMethod):
    name = "future"
    title = "Written for a newer Poort"
    api_version = 99

    def render_login(self, ctx: LoginContext) -> Markup:
        return Markup("")


def not_a_class() -> None:
    """An entry point may name any object; a function is no plugin."""
