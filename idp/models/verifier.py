"""Verifiers: configured ways to deliver codes (a provider, its options, sender and price)."""

from __future__ import annotations

import secrets
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, Numeric, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from idp.clock import now
from idp.models.base import Base, UTCDateTime


def new_report_token() -> str:
    """An unguessable token for a verifier's delivery-report address (43 characters)."""
    return secrets.token_urlsafe(32)


class Verifier(Base):
    __tablename__ = "verifiers"
    __table_args__ = (
        # At most one default verifier, enforced by the database itself.
        Index(
            "uq_verifiers_one_default",
            "is_default",
            unique=True,
            sqlite_where=text("is_default"),
            postgresql_where=text("is_default"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(40), unique=True)
    title: Mapped[str] = mapped_column(String(80))
    provider: Mapped[str] = mapped_column(String(40))  # plugin id
    # Validated by the provider's options form; secret fields hold secret-box tokens.
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    sender: Mapped[str] = mapped_column(String(17))
    price_per_segment: Mapped[Decimal] = mapped_column(Numeric(10, 4), default=Decimal("0"))
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    fallback_id: Mapped[int | None] = mapped_column(ForeignKey("verifiers.id", ondelete="SET NULL"))
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # Set when a test code sent through this verifier came back; cleared when options change.
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    confirmed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    #: In the address providers call with delivery reports (/sms/dlr/<token>); NULL on rows
    #: made before it existed, until the verifier's page gives them one.
    report_token: Mapped[str | None] = mapped_column(
        String(64), unique=True, default=new_report_token
    )
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, onupdate=now)

    fallback: Mapped[Verifier | None] = relationship(remote_side=[id])

    def __repr__(self) -> str:
        return f"<Verifier {self.name} ({self.provider})>"
