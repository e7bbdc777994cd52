"""A relying application's own SMS verifier (its own sender) delivers the codes of its logins."""

from __future__ import annotations

from flask import session

from idp.extensions import db
from idp.oidc import clients
from idp.oidc.requests import PENDING_KEY
from idp.verification.resolution import CLIENT_STYLE, OLD_STYLE, resolve


def _client(verifier: str | None) -> str:
    row, _ = clients.save(
        None,
        {"name": "Shop", "redirect_uris": ["https://shop.example/cb"], "verifier": verifier},
    )
    db.session.commit()
    return row.client_id


def _waiting_for(client_id: str) -> None:
    """The state /oauth/authorize leaves while the login for that application is going on."""
    session[PENDING_KEY] = {"id": "r1", "params": [("client_id", client_id)], "at": "x"}


def test_the_applications_verifier_comes_before_the_default(app, make_verifier):
    with app.test_request_context("/login"):
        make_verifier("main", default=True, sender="Poort")
        make_verifier("shop-sms", sender="ShopCo")
        _waiting_for(_client("shop-sms"))

        routed = resolve(None)

        assert routed.source == CLIENT_STYLE
        assert [(c.name, c.sender) for c in routed.channels] == [("shop-sms", "ShopCo")]


def test_without_a_waiting_application_the_usual_rules_apply(app, make_verifier):
    with app.test_request_context("/login"):
        make_verifier("main", default=True)
        make_verifier("shop-sms", sender="ShopCo")
        _client("shop-sms")

        assert resolve(None).source == OLD_STYLE


def test_a_disabled_bound_verifier_never_stops_the_login(app, make_verifier):
    with app.test_request_context("/login"):
        make_verifier("main", default=True)
        make_verifier("shop-sms", enabled=False)
        _waiting_for(_client("shop-sms"))

        routed = resolve(None)

        assert routed.source == OLD_STYLE and routed.channels[0].name == "main"
