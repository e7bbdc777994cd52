"""MessageBird's signed status reports: the ``MessageBird-Signature-JWT`` header.

The JWT is signed (HS256/384/512) with the account's signing key and carries ``iss``
("MessageBird"), ``nbf``, ``exp``, ``url_hash`` (SHA-256 of the full URL called) and, when the
call has a body, ``payload_hash`` (SHA-256 of the body). A report passes only when all of them
hold, so a captured report cannot be replayed against another URL, later, or with a changed body.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey

from idp.sms.reports import BadSignature, CallbackRequest

HEADER = "MessageBird-Signature-JWT"
#: Clock difference tolerated between MessageBird and Poort.
LEEWAY = 60


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_signature_jwt(request: CallbackRequest, signing_key: str, now: datetime) -> None:
    """Raise BadSignature unless *request* carries a valid signature made with *signing_key*."""
    token = request.header(HEADER)
    if not token or len(token) > 4096:
        raise BadSignature(f"The report has no {HEADER} header.")
    try:
        decoded = jwt.decode(
            token, OctKey.import_key(signing_key), algorithms=["HS256", "HS384", "HS512"]
        )
    except (JoseError, ValueError) as exc:
        raise BadSignature("The report's signature does not match the signing key.") from exc
    claims = decoded.claims
    moment = int(now.timestamp())
    if claims.get("iss") != "MessageBird":
        raise BadSignature("The report's signature was not issued by MessageBird.")
    if int(claims.get("nbf", 0)) > moment + LEEWAY or int(claims.get("exp", 0)) < moment - LEEWAY:
        raise BadSignature("The report's signature is not valid at this time.")
    if not hmac.compare_digest(str(claims.get("url_hash", "")), _sha256(request.url.encode())):
        raise BadSignature("The report's signature was made for another address.")
    expected_payload = _sha256(request.body) if request.body else None
    if claims.get("payload_hash") != expected_payload:
        raise BadSignature("The report's signature does not cover this body.")
