"""GET /metrics: who may read it, and what the counters say after logins, texts and tokens.

The metrics of one process live in prometheus_client's default registry, shared by every test,
so each test reads a value before and after and looks at the difference. Multiprocess mode is
chosen when prometheus_client is first imported, so it is tested in subprocesses.
"""

from __future__ import annotations

import hmac
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from idp import create_app, metrics
from idp.abuse import limits
from idp.abuse.errors import SendLimited
from idp.abuse.sending import SendRequest, admit
from idp.extensions import db
from idp.models import User, UserSession
from idp.plugins import Registry, from_classes
from idp.verification import dispatch
from idp.verification.resolution import Channel, Resolution
from idp_password import PasswordMethod
from idp_sms import SmsMethod
from idp_sms_providers.console import ConsoleProvider
from tests.conftest import password_login, post_form
from tests.oidc.support import Rp, make_client
from tests.plugins.idp_sms.conftest import BrokenProvider, add_verifier
from tests.plugins.idp_sms.support import KNOWN, last_code, start, wrong

CHECKOUT = Path(__file__).resolve().parent.parent
OUTSIDER = {"REMOTE_ADDR": "198.51.100.9"}
TOKEN = "s3cret-metrics-token-0123456789"


@pytest.fixture(autouse=True)
def _single_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests read the default registry, whatever the shell that runs pytest sets."""
    monkeypatch.delenv(metrics.MULTIPROC_VARIABLE, raising=False)


@pytest.fixture
def registry() -> Registry:
    return from_classes(PasswordMethod, SmsMethod, ConsoleProvider, BrokenProvider)


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


class Reading:
    """Values of metric samples now, to compare with later."""

    def __init__(self, *samples: tuple[str, dict[str, str]]) -> None:
        self.samples = samples
        self.before = [value(name, **labels) for name, labels in samples]

    def increase(self) -> list[float]:
        now = [value(name, **labels) for name, labels in self.samples]
        return [after - before for after, before in zip(now, self.before, strict=True)]


def set_limits(app: Flask, **values: int) -> None:
    """Change limits as an admin would (the others keep their values)."""
    with app.app_context():
        parsed, errors = limits.parse(values)
        assert not errors, errors
        limits.save(parsed)
        db.session.commit()


@pytest.fixture
def make_app(app_config: dict[str, Any], registry: Registry) -> Iterator[Callable[..., Flask]]:
    """Apps with settings of the test's choosing (no tables: /metrics needs none)."""
    apps: list[Flask] = []

    def make(**settings: Any) -> Flask:
        made = create_app({**app_config, **settings}, registry=registry)
        made.config["TESTING"] = True
        apps.append(made)
        return made

    yield make
    for made in apps:
        with made.app_context():
            db.engine.dispose()


# -- who may read ---------------------------------------------------------------------------


def test_loopback_reads_the_metrics_in_the_text_format(app: Flask, client: FlaskClient) -> None:
    response = client.get("/metrics")

    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    assert response.headers["Cache-Control"] == "no-store"
    text = response.get_data(as_text=True)
    for name in (
        "poort_logins_total",
        "poort_sms_sent_total",
        "poort_sms_provider_seconds",
        "poort_sms_failovers_total",
        "poort_limits_tripped_total",
        "poort_tokens_issued_total",
        "poort_codes_verified_total",
    ):
        assert f"# HELP {name}" in text, name


def test_ipv6_loopback_reads_them_too(client: FlaskClient) -> None:
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "::1"}).status_code == 200
    mapped = {"REMOTE_ADDR": "::ffff:127.0.0.1"}  # a dual-stack socket's view of 127.0.0.1
    assert client.get("/metrics", environ_base=mapped).status_code == 200


def test_another_address_gets_the_ordinary_404(client: FlaskClient) -> None:
    response = client.get("/metrics", environ_base=OUTSIDER)
    unknown = client.get("/no-such-page", environ_base=OUTSIDER)

    assert response.status_code == 404
    # The same page, but for the path the language switcher sends people back to.
    assert response.get_data(as_text=True).replace("/metrics", "/no-such-page") == (
        unknown.get_data(as_text=True)
    )


def test_the_admin_networks_decide(make_app: Callable[..., Flask]) -> None:
    client = make_app(metrics_networks=["198.51.100.0/24"]).test_client()

    assert client.get("/metrics", environ_base=OUTSIDER).status_code == 200
    assert client.get("/metrics").status_code == 404  # loopback is no longer listed


def test_behind_a_proxy_the_forwarded_address_decides(make_app: Callable[..., Flask]) -> None:
    client = make_app(trusted_proxies=1).test_client()
    forwarded = {"X-Forwarded-For": "198.51.100.9"}

    assert client.get("/metrics", headers=forwarded).status_code == 404
    assert client.get("/metrics").status_code == 200  # a scrape straight at Poort


def test_no_networks_switch_the_endpoint_off(make_app: Callable[..., Flask]) -> None:
    assert make_app(metrics_networks=[]).test_client().get("/metrics").status_code == 404


def test_a_token_is_required_when_set(
    make_app: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    client = make_app(metrics_token=TOKEN).test_client()
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(given: bytes, expected: bytes) -> bool:
        compared.append((given, expected))
        return real(given, expected)

    monkeypatch.setattr(hmac, "compare_digest", spy)

    assert client.get("/metrics").status_code == 404
    wrong_token = {"Authorization": f"Bearer {TOKEN}x"}
    assert client.get("/metrics", headers=wrong_token).status_code == 404
    assert client.get("/metrics", headers={"Authorization": f"Basic {TOKEN}"}).status_code == 404
    right = {"Authorization": f"Bearer {TOKEN}"}
    assert client.get("/metrics", headers=right).status_code == 200
    assert client.get("/metrics", headers={"Authorization": f"bearer {TOKEN}"}).status_code == 200
    assert (f"{TOKEN}x".encode(), TOKEN.encode()) in compared
    # The token does not open the endpoint to addresses outside the networks.
    assert client.get("/metrics", headers=right, environ_base=OUTSIDER).status_code == 404


def test_a_token_with_any_network(make_app: Callable[..., Flask]) -> None:
    client = make_app(metrics_token=TOKEN, metrics_networks=["0.0.0.0/0", "::/0"]).test_client()
    right = {"Authorization": f"Bearer {TOKEN}"}

    assert client.get("/metrics", headers=right, environ_base=OUTSIDER).status_code == 200
    assert client.get("/metrics", environ_base=OUTSIDER).status_code == 404


def test_a_non_ascii_token_is_refused_not_an_error(make_app: Callable[..., Flask]) -> None:
    client = make_app(metrics_token=TOKEN).test_client()
    header = {"Authorization": "Bearer t\u00f6ken-t\u00f6ken-t\u00f6ken".encode().decode("latin-1")}

    assert client.get("/metrics", headers=header).status_code == 404


def test_scrapes_create_no_session_and_need_no_csrf_token(app: Flask, client: FlaskClient) -> None:
    for environ in ({}, OUTSIDER):
        response = client.get("/metrics", environ_base=environ)
        assert "Set-Cookie" not in response.headers
    assert client.head("/metrics").status_code == 200
    assert client.post("/metrics").status_code == 405

    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(UserSession)) == 0


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"metrics_networks": ["10.0.0.1/8"]}, "metrics_networks has '10.0.0.1/8'"),
        ({"metrics_networks": ["localhost"]}, "metrics_networks has 'localhost'"),
        ({"metrics_token": "short"}, "metrics_token must be at least 16"),
        ({"metrics_token": "sixteen chars with spaces"}, "without spaces"),
    ],
)
def test_bad_settings_stop_the_start(
    make_app: Callable[..., Flask], settings: dict[str, Any], message: str
) -> None:
    from idp.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        make_app(**settings)


def test_settings_from_the_environment(tmp_path: Path) -> None:
    from idp.config import load_settings

    environ = {
        "IDP_METRICS_NETWORKS": "10.0.0.0/8, fd00::/8",
        "IDP_METRICS_TOKEN": TOKEN,
    }
    settings = load_settings(tmp_path, {"secret_key": "x" * 40, "dev": True}, environ=environ)
    assert settings.metrics_networks == ("10.0.0.0/8", "fd00::/8")
    assert settings.metrics_token == TOKEN

    defaults = load_settings(tmp_path, {"secret_key": "x" * 40, "dev": True}, environ={})
    assert defaults.metrics_networks == ("127.0.0.1/32", "::1/128")
    assert defaults.metrics_token is None
    blank = load_settings(
        tmp_path, {"secret_key": "x" * 40, "dev": True}, environ={"IDP_METRICS_TOKEN": ""}
    )
    assert blank.metrics_token is None


# -- what is counted ------------------------------------------------------------------------


def test_the_metric_objects_are_module_attributes() -> None:
    from prometheus_client import Counter, Histogram

    assert isinstance(metrics.LOGINS, Counter)
    assert isinstance(metrics.SMS_PROVIDER_SECONDS, Histogram)
    assert metrics.LOGINS is metrics.LOGINS
    with pytest.raises(AttributeError):
        _ = metrics.NO_SUCH_METRIC


def test_password_logins_count_by_method_and_result(
    client: FlaskClient, make_user: Callable[..., User], make_authenticator: Callable[..., Any]
) -> None:
    make_authenticator("password")
    make_user(username="ann")
    reading = Reading(
        ("poort_logins_total", {"method": "password", "result": "success"}),
        ("poort_logins_total", {"method": "password", "result": "failure"}),
        ("poort_logins_total", {"method": "password", "result": "locked"}),
    )

    assert password_login(client, "ann", "not the password").status_code == 200
    assert password_login(client, "ann").status_code == 303

    assert reading.increase() == [1.0, 1.0, 0.0]
    scraped = client.get("/metrics").get_data(as_text=True)
    assert 'poort_logins_total{method="password",result="success"}' in scraped


def test_a_lock_that_starts_counts_as_locked(
    app: Flask,
    client: FlaskClient,
    make_user: Callable[..., User],
    make_authenticator: Callable[..., Any],
) -> None:
    make_authenticator("password")
    make_user(username="bob")
    set_limits(app, failures_before_wait=2)
    reading = Reading(
        ("poort_logins_total", {"method": "password", "result": "failure"}),
        ("poort_logins_total", {"method": "password", "result": "locked"}),
    )

    for _ in range(3):
        password_login(client, "bob", "wrong")

    # The second failure starts the wait; the third is refused while it lasts.
    assert reading.increase() == [3.0, 1.0]


def test_an_sms_login_counts_the_text_the_latency_and_the_codes(
    app: Flask,
    client: FlaskClient,
    clock: Any,
    make_user: Callable[..., User],
    make_authenticator: Callable[..., Any],
) -> None:
    add_verifier(app, clock, "console", "console", default=True)
    options = {"verifier": "", "use_for": "both", "allow_signup": True, "countries": ""}
    make_authenticator("sms", method="sms", options={**options, "unknown_numbers": "silent"})
    make_user(nickname="Known", phone=KNOWN, phone_verified_at=clock())
    reading = Reading(
        ("poort_sms_sent_total", {"verifier": "console", "result": "accepted"}),
        ("poort_sms_provider_seconds_count", {"provider": "console"}),
        ("poort_codes_verified_total", {"result": "wrong"}),
        ("poort_codes_verified_total", {"result": "ok"}),
        ("poort_logins_total", {"method": "sms", "result": "failure"}),
        ("poort_logins_total", {"method": "sms", "result": "success"}),
        ("poort_sms_failovers_total", {}),
    )

    assert start(client, KNOWN).status_code == 303
    code = last_code(app)
    page = "/m/sms/sms/login/code"
    assert post_form(client, page, {"code": wrong(code)}, page=page).status_code == 400
    assert post_form(client, page, {"code": code}, page=page).status_code == 303

    assert reading.increase() == [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0]
    assert value("poort_sms_provider_seconds_bucket", provider="console", le="10.0") >= 1


def _channel(name: str, provider: str, **options: Any) -> Channel:
    return Channel(
        name=name,
        title=name.title(),
        provider=provider,
        options=options,
        sender="Poort",
        price_per_segment=Decimal(0),
        currency="EUR",
    )


def test_a_failed_provider_fails_over_and_both_attempts_count(app: Flask) -> None:
    resolution = Resolution(
        (_channel("flaky", "broken", error="temporary"), _channel("spare", "console"))
    )
    reading = Reading(
        ("poort_sms_sent_total", {"verifier": "flaky", "result": "failed"}),
        ("poort_sms_sent_total", {"verifier": "spare", "result": "accepted"}),
        ("poort_sms_failovers_total", {}),
        ("poort_sms_provider_seconds_count", {"provider": "broken"}),
    )

    with app.test_request_context():
        sent = dispatch.send(resolution, recipient=KNOWN, text="Your code: 123456", purpose="login")

    assert sent.attempts == 2
    assert reading.increase() == [1.0, 1.0, 1.0, 1.0]


def test_every_refused_send_counts_under_its_limit(app: Flask) -> None:
    request = SendRequest(phone="+31611111111", ip="203.0.113.5")
    reading = Reading(("poort_limits_tripped_total", {"limit": "num-c"}))

    with app.test_request_context():
        admit(request)
        for _ in range(3):
            with pytest.raises(SendLimited):
                admit(request)

    assert reading.increase() == [3.0]


def test_a_tripped_window_counts_by_kind_never_by_number(app: Flask) -> None:
    set_limits(app, number_cooldown_seconds=0, number_per_hour=1)
    request = SendRequest(phone="+31622222222", ip="203.0.113.6")
    reading = Reading(("poort_limits_tripped_total", {"limit": "num-h"}))

    with app.test_request_context():
        admit(request)
        for _ in range(2):
            with pytest.raises(SendLimited):
                admit(request)

    assert reading.increase() == [2.0]
    with app.test_request_context():
        text = app.test_client().get("/metrics").get_data(as_text=True)
    assert "+3162222" not in text and "203.0.113" not in text


def test_tokens_issued_count_by_grant_type(app: Flask, client: FlaskClient, admin: User) -> None:
    rp = Rp(client, *make_client(app))  # type: ignore[arg-type]
    assert password_login(client, "root").status_code == 303
    reading = Reading(
        ("poort_tokens_issued_total", {"grant_type": "authorization_code"}),
        ("poort_tokens_issued_total", {"grant_type": "refresh_token"}),
    )

    tokens = rp.login_flow(scope="openid offline_access")
    assert tokens.refresh_token
    assert rp.refresh(tokens.refresh_token).status_code == 200
    assert rp.refresh(tokens.refresh_token).status_code == 400  # reused: nothing issued

    assert reading.increase() == [1.0, 1.0]


# -- multiprocess mode ----------------------------------------------------------------------

_RECORD = """
import sys
from idp import metrics
for _ in range(int(sys.argv[1])):
    metrics.login_succeeded("password")
metrics.sms_attempt("console", metrics.ACCEPTED, "console", 0.2)
"""

_SCRAPE = """
import json, sys
import idp, idp.cli, idp.serving, idp.metrics
assert "prometheus_client" not in sys.modules, "importing Poort chose the metrics mode early"
from idp import create_app, metrics
app = create_app(json.loads(sys.argv[1]))
metrics.login_succeeded("password")
from prometheus_client import values
print(json.dumps({
    "mode": values.ValueClass.__name__,
    "body": app.test_client().get("/metrics").get_data(as_text=True),
}))
"""


def _python(code: str, *args: str, env: dict[str, str]) -> str:
    result = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=CHECKOUT,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_multiprocess_mode_adds_up_every_process(tmp_path: Path, fernet_key: str) -> None:
    folder = tmp_path / "prometheus"
    folder.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("IDP_") and k not in ("DATABASE_URL", "REDIS_URL")
    }
    env[metrics.MULTIPROC_VARIABLE] = str(folder)
    config = {
        "instance_path": str(tmp_path / "instance"),
        "secret_key": "k" * 40,
        "secret_keys": [fernet_key],
        "issuer": "https://localhost",
        "password_hash_profile": "cheapest",
    }

    _python(_RECORD, "2", env=env)  # a worker that has since ended
    scraped = json.loads(_python(_SCRAPE, json.dumps(config), env=env))

    assert scraped["mode"] == "MmapedValue"
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(scraped["body"])
        for sample in family.samples
    }
    assert samples[("poort_logins_total", (("method", "password"), ("result", "success")))] == 3
    assert samples[("poort_sms_sent_total", (("result", "accepted"), ("verifier", "console")))] == 1
    bucket = ("poort_sms_provider_seconds_bucket", (("le", "0.25"), ("provider", "console")))
    assert samples[bucket] == 1
    assert (
        samples[("poort_sms_provider_seconds_bucket", (("le", "0.1"), ("provider", "console")))]
        == 0
    )
    assert list(folder.glob("counter_*.db")) and list(folder.glob("histogram_*.db"))


def test_metrics_that_cannot_be_made_fail_no_sign_in_and_leave_no_duplicates(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As when a worker's multiprocess file cannot be written: the sign-in still counts as
    done, and the next try makes every metric again instead of finding half of them."""
    import prometheus_client

    from idp import metrics

    real = prometheus_client.Counter

    def unwritable(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "poort_sms_failovers":
            raise FileNotFoundError("counter_4242.db")
        return real(name, *args, **kwargs)

    made = metrics._made
    if made is not None:
        for collector in vars(made).values():
            REGISTRY.unregister(collector)
    monkeypatch.setattr(metrics, "_made", None)
    monkeypatch.setattr(prometheus_client, "Counter", unwritable)
    metrics.login_succeeded("password")  # does not raise
    assert metrics._made is None

    monkeypatch.setattr(prometheus_client, "Counter", real)
    before = value("poort_logins_total", method="password", result="success")
    metrics.login_succeeded("password")
    assert value("poort_logins_total", method="password", result="success") == before + 1
    if made is not None:  # the rest of the suite keeps the metrics it had
        for collector in vars(metrics._made).values():
            REGISTRY.unregister(collector)
        for collector in vars(made).values():
            REGISTRY.register(collector)
