"""`poort worker --burst` returns as soon as its queue is empty.

RQ 3 with redis-py 8 could hang on the way out for up to a minute: it unsubscribed its command
listener before stopping it, so the listener read the reply and went back to waiting. These
tests run the real command in a subprocess, bounded by a timeout, never timing it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
from flask import Flask

from tests.conftest import REDIS_URL

#: Far more than building the app takes on a busy machine, far less than the old hang.
BOUND_SECONDS = 45

#: The listener reads the reply to UNSUBSCRIBE before the worker goes on to stop it: the
#: schedule that hung, made certain rather than left to chance.
_SLOW_STOP = """
import time
from idp.cli import main
from idp.worker import PoortWorker

subscribe = PoortWorker.subscribe

def slow_subscribe(self):
    subscribe(self)
    pubsub, unsubscribe = self.pubsub, self.pubsub.unsubscribe

    def unsubscribe_then_wait(*args, **kwargs):
        unsubscribe(*args, **kwargs)
        for _ in range(500):  # the listener has read the reply once nothing is subscribed
            if not pubsub.subscribed:
                break
            time.sleep(0.01)

    pubsub.unsubscribe = unsubscribe_then_wait

PoortWorker.subscribe = slow_subscribe
main()
"""


@pytest.fixture
def app_config(app_config: dict[str, Any], redis_settings: dict[str, str]) -> dict[str, Any]:
    app_config.update(redis_settings, sms_queue="redis", human_check="off")
    return app_config


def _worker(app_config: dict[str, Any], code: str) -> subprocess.CompletedProcess[bytes]:
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
    try:
        return subprocess.run(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-c", code, "worker", "--burst"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=BOUND_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"poort worker --burst did not return on an empty queue: {exc.output!r}")


@pytest.mark.slow
def test_burst_on_an_empty_queue_returns(app: Flask, app_config: dict[str, Any]) -> None:
    done = _worker(app_config, "from idp.cli import main; main()")

    assert done.returncode == 0, done.stdout.decode()
    assert b"done, quitting" in done.stdout


@pytest.mark.slow
def test_burst_returns_when_the_listener_read_the_last_reply_first(
    app: Flask, app_config: dict[str, Any]
) -> None:
    done = _worker(app_config, _SLOW_STOP)

    assert done.returncode == 0, done.stdout.decode()
    assert b"done, quitting" in done.stdout
