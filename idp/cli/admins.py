"""``poort create-admin``: an administrator account from the command line."""

from __future__ import annotations

from typing import Any

import click
from flask.cli import with_appcontext
from sqlalchemy import or_, select

from idp.errors import InvalidInput


def create_admin(
    username: str, email: str | None, password: str, nickname: str | None = None
) -> Any:
    """Check and add an admin, audited and committed; InvalidInput names the bad field."""
    from idp import state
    from idp.extensions import db
    from idp.models import User
    from idp.security import audit
    from idp.security.passwords import password_problem

    username = username.strip().casefold()
    email = email.strip().casefold() if email else None
    if not username:
        raise InvalidInput("A username is required.", field="username")
    problem = password_problem(password)
    if problem:
        raise InvalidInput(problem, field="password")
    same = [User.username == username] + ([User.email == email] if email else [])
    clash = db.session.scalar(select(User).where(or_(*same)))
    if clash is not None:
        raise InvalidInput(
            f"A user called {username!r} or with that e-mail exists.", field="username"
        )
    user = User(
        nickname=nickname or username,
        username=username,
        email=email,
        password_hash=state.current().passwords.hash(password),
        is_admin=True,
    )
    db.session.add(user)
    db.session.flush()
    audit.record("user.create_admin", f"user:{user.id}", after={"username": username})
    db.session.commit()
    return user


@click.command("create-admin")
@click.option("--username", prompt=True)
@click.option("--email", default=None)
@click.option("--nickname", default=None)
@click.password_option("--password")
@with_appcontext
def create_admin_command(
    username: str, email: str | None, nickname: str | None, password: str
) -> None:
    """Create an administrator account."""
    try:
        user = create_admin(username, email, password, nickname)
    except InvalidInput as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Created admin {user.username}.")
