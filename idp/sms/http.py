"""HttpSmsProvider: the shared part of every provider that talks HTTP.

It sends through the ``requests.Session`` Poort passes in (connection reuse, and the seam
tests use), always with a connect and a read timeout, and turns transport failures and the
HTTP statuses every vendor agrees on into the typed errors of :mod:`idp.sms.errors`.
"""

from __future__ import annotations

import logging
from typing import Any

import requests

from idp.sms.errors import SmsConfigurationError, SmsTemporaryError
from idp.sms.provider import SmsProvider

CONNECT_TIMEOUT = 3.05
DEFAULT_READ_TIMEOUT = 5.0


def _without_query(value: object) -> object:
    if isinstance(value, str) and "?" in value:
        return value.split("?", 1)[0] + "?[query hidden]"
    return value


class HideQueryStrings(logging.Filter):
    """Keep query strings out of urllib3's debug lines: GET gateways carry the text, the code
    and the password there (``GET /http/sendmsg?password=...&text=...``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_without_query(arg) for arg in record.args)
        return True


_HIDE_QUERY_STRINGS = HideQueryStrings()
for _name in ("urllib3.connectionpool", "urllib3.util.retry", "urllib3.poolmanager"):
    logging.getLogger(_name).addFilter(_HIDE_QUERY_STRINGS)


def retry_after(response: requests.Response) -> int | None:
    value = response.headers.get("Retry-After", "")
    return int(value) if value.isdigit() else None


class HttpSmsProvider(SmsProvider):
    """Base for REST and form-post vendors; subclasses build the request and read the answer."""

    @property
    def read_timeout(self) -> float:
        return float(self.options.get("timeout") or DEFAULT_READ_TIMEOUT)

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """One HTTP exchange with the vendor; transport failures become typed errors."""
        kwargs.setdefault("timeout", (CONNECT_TIMEOUT, self.read_timeout))
        try:
            return self.context.session.request(method, url, **kwargs)
        except requests.exceptions.SSLError as exc:
            raise SmsConfigurationError(
                f"The TLS certificate of {self.title} could not be verified; check the URL.",
                provider=self.name,
                raw_meaning="TLS verification failed",
            ) from exc
        except requests.Timeout as exc:
            raise SmsTemporaryError(
                f"{self.title} did not answer within {self.read_timeout:g} s.",
                provider=self.name,
                raw_meaning="timeout",
            ) from exc
        except requests.ConnectionError as exc:
            raise SmsTemporaryError(
                f"Could not connect to {self.title}.",
                provider=self.name,
                raw_meaning="connection failed",
            ) from exc
        except requests.RequestException as exc:
            raise SmsConfigurationError(
                f"The request to {self.title} could not be made: {type(exc).__name__}.",
                provider=self.name,
            ) from exc

    def raise_for_transport_status(self, response: requests.Response) -> None:
        """Raise for the statuses that mean the same at every vendor: 5xx, 429, 401, 403, 404."""
        status = response.status_code
        raw = f"HTTP {status}"
        if status >= 500:
            raise SmsTemporaryError(
                f"{self.title} had a server error ({raw}).",
                provider=self.name,
                raw_code=raw,
                raw_meaning="server error",
            )
        if status == 429:
            raise SmsTemporaryError(
                f"{self.title} is throttling us ({raw}).",
                provider=self.name,
                raw_code=raw,
                raw_meaning="rate limited",
                retry_after=retry_after(response),
            )
        if status in (401, 403):
            raise SmsConfigurationError(
                f"{self.title} refused our credentials ({raw}); check the key or password.",
                provider=self.name,
                raw_code=raw,
                raw_meaning="authentication failed",
            )
        if status in (404, 405):
            raise SmsConfigurationError(
                f"{self.title} does not know this address ({raw}); check the endpoint URL.",
                provider=self.name,
                raw_code=raw,
                raw_meaning="wrong endpoint",
            )
