"""An instance ready to sign in to: its database migrated and a person with a password."""

from __future__ import annotations

import json
import re
import threading
from datetime import UTC, datetime

from flask import Flask

from idp import create_app
from idp.config import SECRET_KEY_FILE
from idp.extensions import db
from idp.models import Authenticator, User
from idp.security.secret_box import KEYS_FILE
from idp.verification import verifiers
from tests.production.driver import PASSWORD
from tests.production.server import ISSUER, PoortServer

#: The login of the person :func:`seed` makes.
LOGIN = "known"
PHONE = "+31612345678"
#: The console SMS provider's outbox in the instance folder: the phone of these tests.
OUTBOX = "sms-outbox.jsonl"
_CODE = re.compile(r"\n\n@[^\s#]+ #(?P<code>\d+)$")


def texted_code(server: PoortServer, phone: str) -> str | None:
    """The last code texted to *phone* (read from the console provider's outbox)."""
    outbox = server.instance / OUTBOX
    if not outbox.exists():
        return None
    codes = [
        match.group("code")
        for line in outbox.read_text(encoding="utf-8").splitlines()
        if (message := json.loads(line))["to"] == phone and (match := _CODE.search(message["text"]))
    ]
    return codes[-1] if codes else None


class Outbox:
    """The console provider's outbox read as it grows: each line parsed once (for long loads).

    :func:`texted_code` reads the whole file on every call, fine for a few sign-ins; this
    remembers how far it read, and hands out each code once, so a person signing in again
    never gets the code of the time before. Thread-safe.
    """

    def __init__(self, server: PoortServer) -> None:
        self.path = server.instance / OUTBOX
        self.offset = 0
        self.codes: dict[str, str] = {}
        self._lock = threading.Lock()

    def new_code(self, phone: str) -> str | None:
        """The last code texted to *phone* since the last call that returned one."""
        with self._lock:
            if self.path.exists():
                with self.path.open("rb") as outbox:
                    outbox.seek(self.offset)
                    chunk = outbox.read()
                complete = chunk[: chunk.rfind(b"\n") + 1]  # a line being written waits
                self.offset += len(complete)
                for line in complete.decode("utf-8").splitlines():
                    message = json.loads(line)
                    if match := _CODE.search(message["text"]):
                        self.codes[message["to"]] = match.group("code")
            return self.codes.pop(phone, None)


def admin_app(server: PoortServer, database_url: str, name: str) -> Flask:
    """An app on *server*'s database and keys, as an admin's shell beside it would have."""
    return create_app(
        {
            "instance_path": str(server.folder / name),
            "dev": True,
            "issuer": ISSUER,
            "secret_key": (server.instance / SECRET_KEY_FILE).read_text().strip(),
            "secret_keys": (server.instance / KEYS_FILE).read_text(encoding="utf-8").split(),
            "database_url": database_url,
            "password_hash_profile": "cheapest",
        }
    )


def seed(server: PoortServer, database_url: str, sms: bool = False) -> None:
    """`poort db upgrade`, then what an admin sets up once: the password authenticator and
    one person (login ``known``, :data:`PASSWORD`, phone :data:`PHONE`); with *sms*, also
    sign-in by text message through the console provider (see :func:`texted_code`)."""
    server.poort("db", "upgrade")
    app = admin_app(server, database_url, "setup")
    with app.app_context():
        from idp import state

        db.session.add_all(
            [
                Authenticator(
                    name="password", method="password", title="Password", enabled=True,
                    position=1, options={},
                ),
                User(
                    nickname="Known", username=LOGIN, email="known@example.org", phone=PHONE,
                    password_hash=state.current().passwords.hash(PASSWORD),
                ),
            ]
        )  # fmt: skip
        if sms:
            row, _ = verifiers.save(
                None, {"name": "console", "provider": "console", "sender": "Poort"}, {}
            )
            row.confirmed_at = datetime.now(UTC)
            verifiers.set_enabled(row, True)
            verifiers.set_default(row)
            db.session.add(
                Authenticator(
                    name="sms", method="sms", title="Text message", enabled=True, position=2,
                    options={"verifier": "", "use_for": "both", "allow_signup": False,
                             "unknown_numbers": "silent", "countries": ""},
                )
            )  # fmt: skip
            user = db.session.query(User).filter_by(username=LOGIN).one()
            user.phone_verified_at = datetime.now(UTC)
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
