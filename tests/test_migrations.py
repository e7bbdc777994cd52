"""The checked-in migrations and the models describe the same schema.

Each test starts from a brand-new, empty database: a SQLite file, and, when the suite runs on
PostgreSQL, a throwaway PostgreSQL database. ``flask_migrate.upgrade()`` must build every table
the models declare, and alembic's autogenerate comparison must then find nothing left to do.
A model change without its migration fails here.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import inspect

from idp import create_app
from idp.extensions import db
from idp.plugins import from_classes
from idp_password import PasswordMethod
from tests.database import is_postgres, throwaway_postgres

# The autouse fixture in conftest.py clears DATABASE_URL before every test; read it now.
OUTER_DATABASE_URL = os.environ.get("DATABASE_URL")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def fresh_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a database no test has touched."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
        return
    if not is_postgres(OUTER_DATABASE_URL):
        pytest.skip("PostgreSQL is tested when DATABASE_URL points at a PostgreSQL server")
    assert OUTER_DATABASE_URL is not None
    with throwaway_postgres(OUTER_DATABASE_URL) as url:
        yield url


@pytest.fixture
def migrated(app_config: dict[str, Any], fresh_database: str) -> Iterator[Flask]:
    """An app on the fresh database, upgraded to the newest migration."""
    app = create_app(
        {**app_config, "database_url": fresh_database}, registry=from_classes(PasswordMethod)
    )
    with app.app_context():
        upgrade()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_upgrade_creates_every_table(migrated: Flask) -> None:
    with migrated.app_context():
        tables = set(inspect(db.engine).get_table_names())

    assert tables == set(db.metadata.tables) | {"alembic_version"}


def test_migrations_and_models_do_not_differ(migrated: Flask) -> None:
    with migrated.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, db.metadata)

    assert differences == [], (
        "The models changed without a migration; run `flask --app wsgi db migrate -m '...'` "
        f"and review the result. Differences: {differences}"
    )


def test_upgrade_twice_is_a_no_op(migrated: Flask) -> None:
    with migrated.app_context():
        before = set(inspect(db.engine).get_table_names())
        upgrade()
        after = set(inspect(db.engine).get_table_names())

    assert before == after
