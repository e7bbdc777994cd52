"""Where templates, static files and migrations are, in a checkout and in an installed wheel."""

from __future__ import annotations

import sys
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent


def resource_dir(name: str) -> Path:
    """``<checkout>/<name>`` when running from source, else ``<prefix>/share/poort/<name>``."""
    local = CHECKOUT / name
    if local.is_dir():
        return local
    return Path(sys.prefix) / "share" / "poort" / name
