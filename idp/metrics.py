"""Prometheus metrics: what Poort counts, the helpers that count it, and ``GET /metrics``.

Every metric has a ``poort_`` prefix and only low-cardinality labels: an authenticator, a
verifier or a provider name, a fixed result, a limit's kind, a grant type. Never a user,
a phone number or an address.

``poort_logins_total{method,result}``, ``poort_sms_sent_total{verifier,result}``,
``poort_sms_provider_seconds{provider}`` (histogram), ``poort_sms_failovers_total``,
``poort_limits_tripped_total{limit}``, ``poort_tokens_issued_total{grant_type}`` and
``poort_codes_verified_total{result}``; docs/deployment.md (Metrics) says what each counts.

The metric objects are made on first use, not at import: prometheus_client decides once,
when it is first imported, whether it runs in multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``,
which gunicorn's master sets before the workers start), and importing Poort must not make
that decision early. ``LOGINS`` and the other names below are module attributes all the same.

``GET /metrics`` answers only a client inside ``metrics_networks`` that, when
``metrics_token`` is set, sends ``Authorization: Bearer <token>``; anyone else gets the
ordinary 404 page, so the endpoint is not advertised.
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
import logging
import os
import threading
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeVar

from flask import Blueprint, Response, abort, request

from idp import state
from idp.extensions import csrf
from idp.security.client_ip import client_ip

if TYPE_CHECKING:
    from prometheus_client import Counter, Histogram

log = logging.getLogger(__name__)

#: The environment variable that switches prometheus_client to multiprocess mode.
MULTIPROC_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"

#: Buckets of the provider latency histogram: SMS provider HTTP APIs, 50 ms to 10 s.
PROVIDER_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# Results, each a fixed label value.
SUCCESS, FAILURE, LOCKED = "success", "failure", "locked"
ACCEPTED, FAILED, BUDGET_SPENT = "accepted", "failed", "budget_spent"


class _Metrics:
    """The metric objects, registered in prometheus_client's default registry.

    All or none: when one cannot be made (its multiprocess file cannot be written), those
    already registered are unregistered again, so the next try does not find duplicates.
    """

    def __init__(self) -> None:
        from prometheus_client import REGISTRY

        try:
            self._make()
        except Exception:
            for made in list(vars(self).values()):
                try:
                    REGISTRY.unregister(made)
                except KeyError:
                    pass
            raise

    def _make(self) -> None:
        from prometheus_client import Counter, Histogram

        self.logins: Counter = Counter(
            "poort_logins",
            "Sign-ins by authenticator (a finished login names all its factors, joined by +) "
            "and result: success (signed in), failure (a step refused), locked (a lock began).",
            ["method", "result"],
        )
        self.sms_sent: Counter = Counter(
            "poort_sms_sent",
            "Attempts to send a text, by verifier and result: accepted by the provider, "
            "failed, or budget_spent (the verifier was skipped, its budget being spent).",
            ["verifier", "result"],
        )
        self.sms_provider_seconds: Histogram = Histogram(
            "poort_sms_provider_seconds",
            "How long SMS provider calls took, accepted or failed, by provider plugin.",
            ["provider"],
            buckets=PROVIDER_BUCKETS,
        )
        self.sms_failovers: Counter = Counter(
            "poort_sms_failovers",
            "Times a text moved on to a fallback verifier after one failed or was skipped.",
        )
        self.limits_tripped: Counter = Counter(
            "poort_limits_tripped",
            "Code sends refused by a send limit or budget, every refusal, by the limit's kind "
            "(num-h, num-d, num-c, ip-h, net-h, flow, budget-h, budget-d, vbudget-h, ...).",
            ["limit"],
        )
        self.tokens_issued: Counter = Counter(
            "poort_tokens_issued",
            "Successful token responses of the OpenID Connect token endpoint, by grant type.",
            ["grant_type"],
        )
        self.codes_verified: Counter = Counter(
            "poort_codes_verified",
            "One-time SMS codes judged, by result: ok, wrong, expired, used, superseded, "
            "too_many, unknown.",
            ["result"],
        )


_made: _Metrics | None = None
_making = threading.Lock()

#: Module attribute -> attribute of :class:`_Metrics`.
_NAMES = {
    "LOGINS": "logins",
    "SMS_SENT": "sms_sent",
    "SMS_PROVIDER_SECONDS": "sms_provider_seconds",
    "SMS_FAILOVERS": "sms_failovers",
    "LIMITS_TRIPPED": "limits_tripped",
    "TOKENS_ISSUED": "tokens_issued",
    "CODES_VERIFIED": "codes_verified",
}


def _metrics() -> _Metrics:
    global _made
    made = _made
    if made is None:
        with _making:  # two threads of a worker must not register the metrics twice
            if _made is None:
                _made = _Metrics()
            made = _made
    return made


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        return getattr(_metrics(), _NAMES[name])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# -- recording: one line at each call site --------------------------------------------------

_F = TypeVar("_F", bound=Callable[..., None])
_failed_once = False


def _never_fails(record: _F) -> _F:
    """Counting must never fail what was counted (a sign-in): a failure is logged, once."""

    @functools.wraps(record)
    def counted(*args: Any, **kwargs: Any) -> None:
        global _failed_once
        try:
            record(*args, **kwargs)
        except Exception as exc:
            if not _failed_once:
                _failed_once = True
                log.warning("metrics: could not count (%s: %s)", type(exc).__name__, exc)

    return counted  # type: ignore[return-value]



@_never_fails
def login_succeeded(method: str) -> None:
    """A login finished; *method* names its authenticators (``password+totp``)."""
    _metrics().logins.labels(method, SUCCESS).inc()


@_never_fails
def login_failed(method: str) -> None:
    """A step of a login was refused (wrong password or code, locked, inactive account)."""
    _metrics().logins.labels(method, FAILURE).inc()


@_never_fails
def login_locked(method: str) -> None:
    """Failures in a row started a wait or a lock that needs an admin."""
    _metrics().logins.labels(method, LOCKED).inc()


@_never_fails
def sms_attempt(
    verifier: str, result: str, provider: str | None = None, seconds: float | None = None
) -> None:
    """One attempt to send through *verifier*; with *seconds*, the provider call's duration."""
    made = _metrics()
    made.sms_sent.labels(verifier, result).inc()
    if provider is not None and seconds is not None:
        made.sms_provider_seconds.labels(provider).observe(seconds)


@_never_fails
def sms_failover() -> None:
    _metrics().sms_failovers.inc()


@_never_fails
def limit_tripped(key: str) -> None:
    """A send refused by the window *key*; the label is its kind, never the number or address."""
    _metrics().limits_tripped.labels(key.split(":", 1)[0]).inc()


@_never_fails
def token_issued(grant_type: str) -> None:
    _metrics().tokens_issued.labels(grant_type).inc()


@_never_fails
def code_verified(result: str) -> None:
    _metrics().codes_verified.labels(str(result)).inc()


# -- GET /metrics ---------------------------------------------------------------------------

bp = Blueprint("metrics", __name__)


@lru_cache(maxsize=8)
def _networks(cidrs: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(cidr) for cidr in cidrs)


def address_allowed(ip: str | None, cidrs: tuple[str, ...]) -> bool:
    """Whether *ip* lies inside one of *cidrs* (an IPv4-mapped IPv6 address counts as IPv4)."""
    if not ip:
        return False
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in _networks(cidrs))


def token_allowed(expected: str) -> bool:
    """Whether the request carries ``Authorization: Bearer <expected>`` (constant time)."""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), expected.encode())


def _registry() -> Any:
    from prometheus_client import REGISTRY, CollectorRegistry, multiprocess

    if not os.environ.get(MULTIPROC_VARIABLE):
        return REGISTRY
    # Every worker writes its own files; a fresh registry each scrape reads them all.
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry


@bp.get("/metrics")
@csrf.exempt
def scrape() -> Response:
    settings = state.settings()
    if settings.metrics_token and not token_allowed(settings.metrics_token):
        abort(404)
    if not address_allowed(client_ip(), settings.metrics_networks):
        abort(404)
    from prometheus_client.exposition import choose_encoder

    _metrics()  # a scrape before anything was counted still lists every metric
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    response = Response(encoder(_registry()), content_type=content_type)
    response.headers["Cache-Control"] = "no-store"
    return response
