"""People who sign in: accounts with their phone, e-mail and password hash."""

from __future__ import annotations

import secrets
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from idp.clock import now
from idp.models.base import Base, UTCDateTime


def new_subject() -> str:
    """The stable, random ``sub`` relying apps see; never the database id."""
    return secrets.token_urlsafe(16)


class User(UserMixin, Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject: Mapped[str] = mapped_column(String(32), unique=True, default=new_subject)
    nickname: Mapped[str] = mapped_column(String(80))
    # Usernames and e-mail addresses are stored case-folded so uniqueness is case-blind.
    username: Mapped[str | None] = mapped_column(String(80), unique=True)
    email: Mapped[str | None] = mapped_column(String(254), unique=True)
    phone: Mapped[str | None] = mapped_column(String(16), unique=True)  # E.164
    phone_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, onupdate=now)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def is_active(self) -> bool:  # Flask-Login reads this
        return self.active

    @property
    def display_name(self) -> str:
        return self.nickname or self.username or self.email or self.phone or f"user {self.id}"

    def __repr__(self) -> str:
        return f"<User {self.id} {self.username or ''}>"
