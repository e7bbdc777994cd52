"""Test databases: a fresh SQLite file per test, or throwaway PostgreSQL databases.

When DATABASE_URL points at PostgreSQL, each test run creates its own database (named with
the process id and a random suffix) and drops it at the end, so runs never share state.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


def normalise(url: str) -> str:
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def is_postgres(url: str | None) -> bool:
    return bool(url) and normalise(url).startswith("postgresql")


@contextlib.contextmanager
def throwaway_postgres(server_url: str) -> Iterator[str]:
    """Create a new, empty database on the server of *server_url*; drop it afterwards."""
    admin_url = make_url(normalise(server_url))
    name = f"poort_test_{secrets.token_hex(4)}"
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()
