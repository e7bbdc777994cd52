"""Authorization requests that survive a login: parameters kept in the server-side session."""

from __future__ import annotations

from collections import defaultdict

from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc6749.requests import OAuth2Payload
from werkzeug.datastructures import MultiDict

from idp.auth.pending import MAX_PARAMS, PENDING_KEY, forget, recall, remember
from idp.oidc.server import issuer

__all__ = [
    "MAX_PARAMS",
    "PENDING_KEY",
    "ParamsPayload",
    "forget",
    "oauth_request",
    "recall",
    "remember",
]


class ParamsPayload(OAuth2Payload):
    """Authlib's view of a stored parameter list (first value, and every value)."""

    def __init__(self, params: MultiDict[str, str]) -> None:
        self._params = params

    @property
    def data(self) -> dict[str, str]:
        return {key: self._params.get(key, "") for key in self._params}

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        result: defaultdict[str, list[str]] = defaultdict(list)
        for key, value in self._params.items(multi=True):
            result[key].append(value)
        return result


def oauth_request(params: MultiDict[str, str]) -> OAuth2Request:
    request = OAuth2Request("GET", f"{issuer()}/oauth/authorize")
    request.payload = ParamsPayload(params)
    return request
