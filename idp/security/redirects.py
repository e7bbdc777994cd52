"""Checking where we send people after a login: our own paths only, never another host."""

from __future__ import annotations

from urllib.parse import urlsplit


def safe_next(url: str | None) -> str | None:
    """*url* when it is a path on this site ("/admin?x=1"), else None."""
    if not url or len(url) > 2000 or not url.startswith("/"):
        return None
    # "//evil.example" and "/\evil.example" are read by browsers as other hosts.
    if url.startswith(("//", "/\\")) or any(c in url for c in "\r\n\t\\"):
        return None
    parts = urlsplit(url)
    if parts.scheme or parts.netloc:
        return None
    return url
