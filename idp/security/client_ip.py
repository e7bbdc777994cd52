"""The client's address, trusting X-Forwarded-For only as far as configured proxies reach."""

from __future__ import annotations

from flask import request


def client_ip() -> str | None:
    # ProxyFix (set up in create_app from trusted_proxies) has already rewritten remote_addr.
    return request.remote_addr
