"""A database that cannot be opened: 503 with Retry-After and the outage's own error, never a
500; the probes still answer. (tests/production/ stops a real PostgreSQL under load.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from idp import create_app
from idp.plugins import Registry


def test_an_unreachable_database_answers_503_not_500(
    app_config: dict[str, Any], registry: Registry, tmp_path: Path
) -> None:
    gone = tmp_path / "no-such-folder" / "poort.sqlite3"
    app = create_app({**app_config, "database_url": f"sqlite:///{gone}"}, registry=registry)
    client = app.test_client()

    page = client.get("/login")
    api = client.get("/login", headers={"Accept": "application/json"})
    token = client.post(
        "/oauth/token",
        data={"grant_type": "authorization_code", "code": "x"},
        auth=("an-app", "secret"),
    )

    assert page.status_code == 503 and int(page.headers["Retry-After"]) > 0
    assert "Nothing was changed" in page.get_data(as_text=True)
    assert api.status_code == 503 and api.get_json()["error"] == "database_unavailable"
    assert token.status_code == 503 and token.get_json()["error"] == "database_unavailable"
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 503
