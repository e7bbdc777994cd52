"""Queued sending (sms_queue = "redis"): the request enqueues, ``poort worker`` sends.

The app queues in Redis database 13 under a key prefix (and so a queue and job ids) of its own,
deleted after each test. Without a reachable Redis these tests are skipped, unless
``POORT_REQUIRE_REDIS=1`` (CI) makes them fail. The settings tests need no Redis.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from idp import state
from idp.config import load_settings
from idp.errors import ConfigError
from idp.extensions import db
from idp.models import Challenge, SmsLogEntry, User
from idp.plugins import Registry, from_classes
from idp.sms import SmsMessage, SmsReceipt
from idp.verification import dispatch, queue
from idp.verification.resolution import resolve
from idp.worker import run_worker
from idp_password import PasswordMethod
from idp_sms import SmsMethod
from idp_sms_providers.console import ConsoleProvider
from tests.conftest import REDIS_URL, post_form
from tests.fakes.clock import FakeClock
from tests.sms_setup import add_sms_authenticator
from tests.verification.providers import SENT, FakeProvider, OtherFakeProvider

KNOWN = "+31612345678"
CODE_PAGE = "/m/sms/sms/login/code"
UNDELIVERED = (
    "We could not send a text message to this number. Ask for a new code, or sign in another way."
)
#: The test process; a worker forked from it is the one that may die.
PARENT_PID = os.getpid()


class DyingProvider(FakeProvider):
    """Kills the process that sends through it, as kill -9 or the OOM killer would a worker."""

    name = "dying"
    title = "Dies mid-send (tests)"

    def send(self, message: SmsMessage) -> SmsReceipt:
        if os.getpid() != PARENT_PID:
            os.kill(os.getpid(), signal.SIGKILL)
        # Never kill the test run itself: a retry that tried this channel again fails here.
        raise AssertionError("a channel whose attempt was cut off was tried again")


# -- Redis, and an app that queues ---------------------------------------------------------------


@pytest.fixture
def token(redis_token: str) -> str:
    return redis_token


@pytest.fixture
def sms_table() -> dict[str, Any] | None:
    """The [sms] table of poort.toml; parametrise a test over it to have one."""
    return None


@pytest.fixture
def app_config(
    app_config: dict[str, Any], redis_settings: dict[str, str], sms_table: dict[str, Any] | None
) -> dict[str, Any]:
    app_config.update(redis_settings, sms_queue="redis", human_check="off")
    if sms_table is not None:
        app_config["sms"] = sms_table
    return app_config


@pytest.fixture
def registry() -> Registry:
    return from_classes(
        PasswordMethod,
        SmsMethod,
        ConsoleProvider,
        FakeProvider,
        OtherFakeProvider,
        DyingProvider,
    )


@pytest.fixture
def chain(
    app: Flask, make_verifier: Callable[..., Any], make_authenticator: Callable[..., Any]
) -> Callable[..., None]:
    """Verifiers "first" (the default) with fallback "second", and an "sms" authenticator."""

    def make(first: str = "ok", second: str = "ok", *, first_provider: str = "fake") -> None:
        with app.app_context():
            make_verifier("second", provider="fake-two", options={"outcome": second})
            make_verifier(
                "first",
                provider=first_provider,
                options={"outcome": first},
                fallback="second",
                default=True,
            )
        add_sms_authenticator(make_authenticator)

    return make


@pytest.fixture
def known(make_user: Callable[..., User], clock: FakeClock) -> User:
    return make_user(nickname="Known", phone=KNOWN, phone_verified_at=clock())


@pytest.fixture
def work(app: Flask, token: str) -> Callable[[], bool]:
    """Run a worker in burst mode, in this process, as `poort worker --burst` does."""
    turn = iter(range(1, 100))

    def run() -> bool:
        return run_worker(app, burst=True, name=f"test-{token}-{next(turn)}")

    return run


def login(client: FlaskClient, phone: str = KNOWN) -> Any:
    return post_form(client, "/m/sms/sms/login", {"phone": phone})


def the_challenge(app: Flask) -> Challenge:
    with app.app_context():
        row = db.session.scalars(select(Challenge).order_by(Challenge.id.desc())).first()
        assert row is not None
        db.session.expunge(row)
        return row


def attempts(app: Flask) -> list[tuple[str, str, str | None]]:
    """The message log: (verifier, status, error class) per row, oldest first."""
    with app.app_context():
        rows = db.session.scalars(select(SmsLogEntry).order_by(SmsLogEntry.id))
        return [(row.verifier_name, row.status, row.error_class) for row in rows]


def job_of(app: Flask, redis_client: Any, row: Challenge) -> Any:
    from rq.job import Job

    with app.app_context():
        return Job.fetch(queue.job_id(row), connection=redis_client, serializer=queue.serializer())


def queue_name(app: Flask) -> str:
    with app.app_context():
        return queue.queue_name()


# -- the settings --------------------------------------------------------------------------------


def _settings(tmp_path: Path, environ: dict[str, str]) -> Any:
    return load_settings(tmp_path, {"secret_key": "x" * 40, "dev": True}, environ=environ)


def test_inline_sending_is_the_default(tmp_path: Path) -> None:
    assert _settings(tmp_path, {}).sms_queue == "inline"


def test_sms_queue_is_read_from_the_plain_environment_variable(tmp_path: Path) -> None:
    settings = _settings(tmp_path, {"SMS_QUEUE": "redis", "REDIS_URL": REDIS_URL})

    assert (settings.sms_queue, settings.redis_url) == ("redis", REDIS_URL)


def test_a_redis_queue_without_redis_url_stops_the_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        _settings(tmp_path, {"SMS_QUEUE": "redis"})

    assert "sms_queue" in caught.value.message and "redis_url" in caught.value.message
    assert "SMS_QUEUE" in caught.value.message and "REDIS_URL" in caught.value.message


def test_an_unknown_kind_of_queue_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="SMS_QUEUE: sms_queue must be"):
        _settings(tmp_path, {"SMS_QUEUE": "celery", "REDIS_URL": REDIS_URL})


# -- queued, then sent ---------------------------------------------------------------------------


def test_the_code_request_returns_at_once_and_the_worker_sends_it(
    app: Flask, client: FlaskClient, runner: Any, chain: Any, known: User
) -> None:
    chain()
    response = login(client)

    assert response.status_code == 303 and response.headers["Location"] == CODE_PAGE
    assert SENT == []  # no provider was called in the request
    assert the_challenge(app).delivery == "queued"
    page = client.get(CODE_PAGE).get_data(as_text=True)
    assert "We sent a text message with a code to" in page and UNDELIVERED not in page

    result = runner.invoke(args=["idp", "worker", "--burst"])

    assert result.exit_code == 0, result.output
    [sent] = SENT
    assert (sent.provider, sent.message.recipient) == ("fake", KNOWN)
    assert the_challenge(app).delivery == "sent"
    assert attempts(app) == [("first", "accepted", None)]
    answer = post_form(client, CODE_PAGE, {"code": sent.message.code}, page=CODE_PAGE)
    assert answer.status_code == 303 and answer.headers["Location"] == "/"


def test_redis_holds_the_number_and_the_code_only_sealed(
    app: Flask, client: FlaskClient, redis_client: Any, chain: Any, known: User, work: Any
) -> None:
    chain()
    login(client)
    job = job_of(app, redis_client, the_challenge(app))
    raw = redis_client.hgetall(job.key)
    data = zlib.decompress(raw[b"data"])
    stored = b" ".join([data, *(v for k, v in raw.items() if k != b"data")])

    work()

    [sent] = SENT
    assert sent.message.code and sent.message.code.encode() not in data
    for clear in (KNOWN, KNOWN[1:], KNOWN[3:], sent.message.text):
        assert clear.encode() not in stored
    _function, _instance, args, _kwargs = json.loads(data)
    payload = args[1]
    assert set(payload) == {"channels", "source", "purpose", "sealed"}
    with app.app_context():
        opened = json.loads(state.current().secret_box.open(payload["sealed"]))
    assert opened == {"recipient": KNOWN, "text": sent.message.text, "code": sent.message.code}
    assert not redis_client.exists(job.key)  # a finished job is not kept


def test_when_redis_cannot_take_the_job_the_person_is_told_at_once(
    app: Flask, client: FlaskClient, chain: Any, known: User
) -> None:
    import redis

    chain()
    # The queue's client of this app, pointed at a port where nothing listens.
    app.extensions["idp.sms_queue"] = redis.Redis(
        host="127.0.0.1", port=1, socket_connect_timeout=1, socket_timeout=1
    )

    response = login(client)

    # Not lost in silence, not sent uncounted: refused now, the person asks again later.
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    assert "cannot be sent right now" in response.get_data(as_text=True)
    assert the_challenge(app).delivery == "failed"
    assert SENT == []


def test_enqueueing_a_challenge_again_gives_the_same_job(
    app: Flask, client: FlaskClient, redis_client: Any, chain: Any, known: User
) -> None:
    from rq import Queue

    chain()
    login(client)
    row = the_challenge(app)
    with app.app_context():
        again = queue.enqueue(
            resolve(),
            recipient=KNOWN,
            text="Your code is 000000",
            purpose="login",
            code="000000",
            challenge_id=row.id,
        )
        assert again.id == queue.job_id(row)
    waiting = Queue(queue_name(app), connection=redis_client, serializer=queue.serializer())
    assert waiting.job_ids == [again.id]


def test_the_worker_fails_over_to_the_next_verifier(
    app: Flask, client: FlaskClient, chain: Any, known: User, work: Any
) -> None:
    chain(first="temporary")
    login(client)

    work()

    assert [s.provider for s in SENT] == ["fake", "fake-two"]
    assert attempts(app) == [
        ("first", "failed", "sms_temporary"),
        ("second", "accepted", None),
    ]
    assert the_challenge(app).delivery == "sent"


def test_when_no_verifier_can_send_the_code_page_says_so(
    app: Flask, client: FlaskClient, chain: Any, known: User, work: Any
) -> None:
    chain(first="temporary", second="configuration")
    login(client)

    work()

    assert the_challenge(app).delivery == "failed"
    assert attempts(app) == [
        ("first", "failed", "sms_temporary"),
        ("second", "failed", "sms_configuration"),
    ]
    page = client.get(CODE_PAGE).get_data(as_text=True)
    assert UNDELIVERED in page
    assert "We sent a text message" not in page


@pytest.mark.parametrize("sms_table", [{"provider": "fake", "sender": "Poort"}])
def test_the_sms_table_of_poort_toml_sends_queued_codes_too(
    app: Flask, client: FlaskClient, make_authenticator: Any, known: User, work: Any
) -> None:
    add_sms_authenticator(make_authenticator)  # no verifier: the [sms] table sends
    login(client)

    work()

    assert [(s.provider, s.message.recipient) for s in SENT] == [("fake", KNOWN)]
    assert attempts(app) == [("poort.toml", "accepted", None)]
    assert the_challenge(app).delivery == "sent"


def test_a_refused_number_is_not_tried_elsewhere(
    app: Flask, client: FlaskClient, chain: Any, known: User, work: Any
) -> None:
    chain(first="recipient")
    login(client)

    work()

    assert attempts(app) == [("first", "failed", "sms_recipient")]
    assert the_challenge(app).delivery == "failed"


def test_an_unknown_number_is_withheld_and_never_queued(
    app: Flask, client: FlaskClient, redis_client: Any, chain: Any, make_authenticator: Any
) -> None:
    chain()
    with app.app_context():  # sign-up off: an unknown number is answered like a known one
        from idp.models import Authenticator

        row = db.session.scalar(select(Authenticator).where(Authenticator.name == "sms"))
        assert row is not None
        row.options = {**row.options, "allow_signup": False}
        db.session.commit()

    response = login(client, "+31687654321")

    assert response.status_code == 303
    assert the_challenge(app).delivery == "withheld"
    assert not redis_client.exists(f"rq:queue:{queue_name(app)}")
    page = client.get(CODE_PAGE).get_data(as_text=True)
    assert "We sent a text message with a code to" in page


def test_a_new_code_asked_for_while_queued_is_queued_too(
    app: Flask, client: FlaskClient, clock: FakeClock, chain: Any, known: User, work: Any
) -> None:
    chain()
    login(client)
    clock.advance(seconds=60)

    response = post_form(client, "/m/sms/sms/login/resend", page=CODE_PAGE)

    assert response.status_code == 303 and SENT == []
    work()
    [sent] = SENT  # the replaced code is not sent: only the new one is any use
    with app.app_context():
        rows = db.session.scalars(select(Challenge).order_by(Challenge.id)).all()
        assert [row.delivery for row in rows] == ["failed", "sent"]
    answer = post_form(client, CODE_PAGE, {"code": sent.message.code}, page=CODE_PAGE)
    assert answer.status_code == 303 and answer.headers["Location"] == "/"


def test_a_code_that_expired_in_the_queue_is_not_sent(
    app: Flask, client: FlaskClient, clock: FakeClock, chain: Any, known: User, work: Any
) -> None:
    chain()
    login(client)
    clock.advance(seconds=301)

    work()

    assert SENT == []
    assert the_challenge(app).delivery == "failed"
    assert attempts(app) == [("first", "failed", "expired_in_queue")]


# -- a worker that dies, a job that is lost ------------------------------------------------------


def test_a_worker_killed_mid_send_is_retried_on_the_next_channel(
    app: Flask,
    client: FlaskClient,
    redis_client: Any,
    chain: Any,
    known: User,
    work: Any,
    token: str,
) -> None:
    from rq.job import JobStatus
    from rq.registry import StartedJobRegistry

    chain(first_provider="dying")
    login(client)
    pid = os.fork()
    if pid == 0:  # the worker that is killed while the provider has the message
        try:
            with app.app_context():
                db.engine.dispose(close=False)  # never touch the parent's connections
            run_worker(app, burst=True, name=f"test-{token}-killed")
        finally:
            os._exit(3)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL

    row = the_challenge(app)
    assert row.delivery == "queued"
    # Logged before the provider was asked: the text it may have sent (and billed) is there.
    assert attempts(app) == [("first", "sending", None)]
    assert len(row.context["queue"]["begun"]) == 1
    job = job_of(app, redis_client, row)
    assert job.get_status() == JobStatus.STARTED

    # RQ finds the abandoned job when its registry entry expires (the job timeout + 60 s).
    StartedJobRegistry(
        queue_name(app), connection=redis_client, serializer=queue.serializer()
    ).cleanup(timestamp=time.time() + queue.JOB_TIMEOUT + 120)
    assert job.get_status() == JobStatus.QUEUED  # retried at once
    work()

    assert [s.provider for s in SENT] == ["fake-two"]  # "first" was not tried again
    assert attempts(app) == [
        ("first", "unknown", "interrupted"),  # it may have been sent: counted, not retried
        ("second", "accepted", None),
    ]
    assert the_challenge(app).delivery == "sent"


def test_a_job_that_failed_for_good_is_requeued_while_channels_are_left(
    app: Flask,
    client: FlaskClient,
    redis_client: Any,
    clock: FakeClock,
    chain: Any,
    known: User,
    work: Any,
) -> None:
    from rq import Queue
    from rq.job import JobStatus
    from rq.registry import FailedJobRegistry

    chain()
    login(client)
    row = the_challenge(app)
    job = job_of(app, redis_client, row)
    name = queue_name(app)
    # As RQ leaves a job whose retries are spent (the database was down for a minute, say).
    Queue(name, connection=redis_client, serializer=queue.serializer()).remove(job)
    job.set_status(JobStatus.FAILED)
    FailedJobRegistry(name, connection=redis_client, serializer=queue.serializer()).add(
        job, exc_string="OperationalError"
    )
    clock.advance(seconds=90)

    with app.app_context():
        done = queue.reconcile(redis_client)

    assert done == {"requeued": 1}
    work()
    assert [s.provider for s in SENT] == ["fake"]
    assert the_challenge(app).delivery == "sent"


def test_a_lost_job_marks_its_code_failed_and_the_page_says_so(
    app: Flask,
    client: FlaskClient,
    redis_client: Any,
    clock: FakeClock,
    chain: Any,
    known: User,
    work: Any,
) -> None:
    chain()
    login(client)
    job_of(app, redis_client, the_challenge(app)).delete()  # e.g. Redis restarted without it
    clock.advance(seconds=30)

    work()  # too early to call it lost: its job may still be on its way

    assert the_challenge(app).delivery == "queued"
    clock.advance(seconds=60)
    work()  # the worker reconciles when it starts

    assert SENT == []
    assert the_challenge(app).delivery == "failed"
    assert attempts(app) == [("first", "failed", "queue_lost")]
    assert UNDELIVERED in client.get(CODE_PAGE).get_data(as_text=True)


# -- poort worker ------------------------------------------------------------------------------


def test_poort_worker_needs_redis(app: Flask, runner: Any) -> None:
    with app.app_context():
        current = state.current()
        current.settings = dataclasses.replace(current.settings, redis_url=None)

    result = runner.invoke(args=["idp", "worker", "--burst"])

    assert result.exit_code == 1
    assert "redis_url" in result.output


def test_poort_worker_stops_gracefully_on_sigterm(
    app: Flask, app_config: dict[str, Any], redis_client: Any, token: str, tmp_path: Path
) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("IDP_")},
        "IDP_INSTANCE_PATH": app_config["instance_path"],
        "IDP_SECRET_KEY": app_config["secret_key"],
        "IDP_SECRET_KEYS": ",".join(app_config["secret_keys"]),
        "IDP_ISSUER": app_config["issuer"],
        "DATABASE_URL": app_config["database_url"],
        "REDIS_URL": REDIS_URL,
        "IDP_REDIS_PREFIX": app_config["redis_prefix"],
        "SMS_QUEUE": "redis",
        "IDP_HUMAN_CHECK": "off",
    }
    worker = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-c", "from idp.cli import main; main()", "worker"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: RQ's scheduler is a child of it
    )
    try:
        deadline = time.monotonic() + 90  # building the app takes a while on a busy machine
        while time.monotonic() < deadline and worker.poll() is None:
            keys = redis_client.smembers(f"rq:workers:{queue_name(app)}")
            if any(redis_client.hget(key, "state") == b"idle" for key in keys):
                break  # it waits for jobs, its SIGTERM handler in place
            time.sleep(0.1)
        assert worker.poll() is None, worker.communicate()[0].decode()
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.communicate()
        with contextlib.suppress(ProcessLookupError):  # a scheduler left behind by a failure
            os.killpg(worker.pid, signal.SIGKILL)
    assert worker.returncode == 0, output.decode()


def test_the_reconciler_marks_abandoned_sends_unknown(
    app: Flask,
    redis_client: Any,
    clock: FakeClock,
    chain: Any,
) -> None:
    """A web worker killed mid-send (inline sending) leaves its row "sending"; the worker's
    reconciler writes it down as "unknown", counted as spent, once it is past the bound."""
    from idp.verification import attempts as log_attempts

    chain(first="abort")
    with app.app_context(), pytest.raises(SystemExit):
        dispatch.send(resolve("first"), recipient=KNOWN, text="Hello", purpose="login")
    clock.advance(seconds=60)

    with app.app_context():
        assert queue.reconcile(redis_client) == {}  # its provider may still answer
    clock.advance(seconds=log_attempts.UNKNOWN_AFTER.total_seconds())
    with app.app_context():
        assert queue.reconcile(redis_client) == {"interrupted": 1}

    assert attempts(app) == [("first", "unknown", "interrupted")]
