"""Checks of single setting values, used by the option table in :mod:`idp.config`: each takes
the value and returns it (perhaps normalised) or raises ValueError saying what is wrong."""

from __future__ import annotations

import ipaddress
import re


def region(value: str) -> str:
    if not re.fullmatch(r"[A-Z]{2}", value):
        raise ValueError("must be a two-letter ISO 3166 region code such as NL or BE")
    return value


def password_profile(value: str) -> str:
    if value not in ("default", "cheapest"):
        raise ValueError('must be "default" or "cheapest" (tests only)')
    return value


def code_length(value: int) -> int:
    if not 6 <= value <= 10:
        raise ValueError("must be between 6 and 10 digits")
    return value


def code_ttl(value: int) -> int:
    # NIST SP 800-63B and ASVS 6.5.5: an out-of-band code is void after 10 minutes at most.
    if not 30 <= value <= 600:
        raise ValueError("must be between 30 and 600 seconds (codes may live 10 minutes at most)")
    return value


def signing_alg(value: str) -> str:
    if value not in ("RS256", "ES256"):
        raise ValueError('must be "RS256" or "ES256"')
    return value


def issuer(value: str) -> str:
    if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", value):
        raise ValueError("must be an absolute URL such as https://login.example.org")
    return value


def positive(value: int) -> int:
    if value <= 0:
        raise ValueError("must be a positive number")
    return value


def not_negative(value: int) -> int:
    if value < 0:
        raise ValueError("must be zero or more")
    return value


def metrics_token(value: str) -> str | None:
    if value and not re.fullmatch(r"[\x21-\x7e]{16,}", value):
        raise ValueError("must be at least 16 printable ASCII characters, without spaces")
    return value or None


def networks(value: list[str]) -> list[str]:
    for item in value:
        try:
            ipaddress.ip_network(item)
        except ValueError as exc:
            raise ValueError(f"has {item!r}, not a network such as 10.0.0.0/8 ({exc})") from None
    return value


def sms_queue(value: str) -> str:
    if value not in ("inline", "redis"):
        raise ValueError('must be "inline" or "redis"')
    return value


def in_flight(value: int) -> int:
    if value < -1:
        raise ValueError("must be -1 (never shed), 0 (derived from the threads) or more")
    return value


def redis_url(value: str) -> str:
    if value and not re.match(r"rediss?://|unix://", value):
        raise ValueError("must start with redis://, rediss:// or unix://")
    return value
