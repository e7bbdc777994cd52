"""Single use under concurrency, on a real PostgreSQL (security.md O6, O16 and finding 7):
16 parallel exchanges of one code give exactly one success; 8 parallel refreshes of one
refresh token give at most one, and the family is revoked."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

import idp.app
from idp.extensions import db
from idp.models import OAuthToken


@pytest.fixture
def wide_pool(postgres_url: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    """One pooled connection per racing thread; requested before ``app`` so it applies to it."""
    if postgres_url is None:
        pytest.skip(
            "race tests need PostgreSQL (row locks under READ COMMITTED, truly concurrent "
            "connections); SQLite serialises every writer. Run with DATABASE_URL=postgresql://..."
        )
    configure = idp.app._configure_flask

    def with_wide_pool(app: Flask, settings: Any) -> None:
        configure(app, settings)
        options = dict(app.config["SQLALCHEMY_ENGINE_OPTIONS"])
        options.update(pool_size=40, max_overflow=0, pool_timeout=30)
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options

    monkeypatch.setattr(idp.app, "_configure_flask", with_wide_pool)


def race(app: Flask, threads: int, request: Callable[[Any], Any]) -> list[Any]:
    """Send *request* from *threads* threads at once, each with its own test client."""
    barrier = threading.Barrier(threads, timeout=60)
    responses: list[Any] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker() -> None:
        try:
            browser = app.test_client()
            barrier.wait()
            response = request(browser)
            with lock:
                responses.append(response)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread below
            with lock:
                errors.append(exc)

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in workers), "a racing request hung"
    assert not errors, errors
    assert len(responses) == threads
    return responses


def test_race_16_exchanges_of_one_code_give_exactly_one_token(wide_pool, app, rp, signed_in):
    code = rp.code(rp.authorize(scope="openid offline_access"))
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": rp.redirect_uri}

    responses = race(
        app,
        16,
        lambda browser: browser.post("/oauth/token", data=data, auth=(rp.client_id, rp.secret)),
    )

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [400] * 15, statuses
    assert {r.get_json()["error"] for r in responses if r.status_code == 400} == {"invalid_grant"}
    [winner] = [r.get_json() for r in responses if r.status_code == 200]
    with app.app_context():
        rows = db.session.scalars(select(OAuthToken)).all()
        assert len(rows) == 1
        # The code was presented again: what its one success issued is revoked (RFC 6749 4.1.2).
        assert rows[0].revoked_at is not None
    assert rp.userinfo(winner["access_token"]).status_code == 401


def test_race_8_refreshes_of_one_token_give_at_most_one_and_revoke_the_family(
    wide_pool, app, rp, signed_in
):
    first = rp.login_flow(scope="openid offline_access")
    data = {"grant_type": "refresh_token", "refresh_token": first.refresh_token}

    responses = race(
        app,
        8,
        lambda browser: browser.post("/oauth/token", data=data, auth=(rp.client_id, rp.secret)),
    )

    winners = [r.get_json() for r in responses if r.status_code == 200]
    assert len(winners) <= 1, [r.status_code for r in responses]
    assert {r.get_json()["error"] for r in responses if r.status_code != 200} == {"invalid_grant"}
    with app.app_context():
        rows = db.session.scalars(select(OAuthToken)).all()
        assert len(rows) == 1 + len(winners)
        assert all(row.revoked_at is not None for row in rows), "the family must be revoked"
    for winner in winners:
        assert rp.userinfo(winner["access_token"]).status_code == 401
        assert rp.refresh(winner["refresh_token"]).status_code == 400
    assert rp.userinfo(first.access_token).status_code == 401
