"""MessageBird status reports with a signing key: only a current JWT for this URL passes."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest
from joserfc import jwt
from joserfc.jwk import OctKey
from werkzeug.datastructures import MultiDict

from idp.sms import ProviderContext
from idp.sms.reports import BadSignature, CallbackRequest
from idp_sms_providers.messagebird import MessageBirdProvider

KEY = "mb-signing-key-for-tests-0123456789"
NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
URL = (
    "https://login.example.test/sms/dlr/token?id=0123456789abcdef0123456789abcdef"
    "&reference=ref1&status=delivered"
)


def _token(key: str = KEY, **overrides: object) -> str:
    now = int(NOW.timestamp())
    claims = {
        "iss": "MessageBird",
        "nbf": now,
        "exp": now + 300,
        "jti": "j1",
        "url_hash": hashlib.sha256(URL.encode()).hexdigest(),
    }
    claims.update(overrides)
    return jwt.encode({"alg": "HS256"}, claims, OctKey.import_key(key))


def _request(url: str = URL, token: str | None = None) -> CallbackRequest:
    args = MultiDict(
        [("id", "0123456789abcdef0123456789abcdef"), ("reference", "ref1"), ("status", "delivered")]
    )
    headers = {"MessageBird-Signature-JWT": token} if token else {}
    return CallbackRequest(method="GET", url=url, headers=headers, args=args)


def _provider(signing_key: str | None) -> MessageBirdProvider:
    options = {"access_key": "k", "endpoint": "https://rest.messagebird.com"}
    if signing_key:
        options["signing_key"] = signing_key
    return MessageBirdProvider(options, ProviderContext(clock=lambda: NOW))


def test_a_correctly_signed_report_passes():
    report = _provider(KEY).parse_delivery_report(_request(token=_token()))
    assert report is not None and report.outcome == "delivered"


@pytest.mark.parametrize(
    "request_",
    [
        _request(token=None),
        _request(token=_token(key="another-key-entirely-0123456789")),
        _request(url=URL + "&status=x", token=_token()),
        _request(token=_token(iss="Someone")),
        _request(token=_token(exp=int(NOW.timestamp()) - 3600)),
        _request(token=_token(nbf=int(NOW.timestamp()) + 3600)),
        _request(token=_token(payload_hash=hashlib.sha256(b"{}").hexdigest())),
        _request(token="not.a.jwt"),
    ],
    ids=["missing", "wrong-key", "other-url", "wrong-iss", "expired", "not-yet", "body", "junk"],
)
def test_anything_else_is_refused(request_):
    with pytest.raises(BadSignature):
        _provider(KEY).parse_delivery_report(request_)


def test_without_a_signing_key_the_url_token_alone_admits_the_report():
    report = _provider(None).parse_delivery_report(_request())
    assert report is not None
