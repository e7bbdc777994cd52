"""Authenticators: admin-made, named instances of an auth method with validated options."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from idp.clock import now
from idp.models.base import Base, UTCDateTime


class Authenticator(Base):
    __tablename__ = "authenticators"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(40), unique=True)  # slug, used in URLs
    method: Mapped[str] = mapped_column(String(40))  # the plugin id, never a class path
    title: Mapped[str] = mapped_column(String(80))
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    position: Mapped[int] = mapped_column(Integer, default=0)
    # Validated by the method's options form; secret fields hold secret-box tokens.
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, onupdate=now)

    def __repr__(self) -> str:
        return f"<Authenticator {self.name} ({self.method})>"
