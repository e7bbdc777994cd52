"""An instance ready to sign in to: its database migrated and a person with a password."""

from __future__ import annotations

from idp import create_app
from idp.config import SECRET_KEY_FILE
from idp.extensions import db
from idp.models import Authenticator, User
from idp.security.secret_box import KEYS_FILE
from tests.production.driver import PASSWORD
from tests.production.server import ISSUER, PoortServer

#: The login of the person :func:`seed` makes.
LOGIN = "known"
PHONE = "+31612345678"


def seed(server: PoortServer, database_url: str) -> None:
    """`poort db upgrade`, then what an admin sets up once: the password authenticator and
    one person (login ``known``, :data:`PASSWORD`, phone :data:`PHONE`)."""
    server.poort("db", "upgrade")
    app = create_app(
        {
            "instance_path": str(server.folder / "setup"),
            "dev": True,
            "issuer": ISSUER,
            "secret_key": (server.instance / SECRET_KEY_FILE).read_text().strip(),
            "secret_keys": (server.instance / KEYS_FILE).read_text(encoding="utf-8").split(),
            "database_url": database_url,
            "password_hash_profile": "cheapest",
        }
    )
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
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
