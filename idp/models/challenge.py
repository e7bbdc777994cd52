"""One-time-code challenges: a code (only its HMAC), what it is for, and how it was used."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from idp.clock import now
from idp.models.base import Base, UTCDateTime


class Challenge(Base):
    __tablename__ = "challenges"
    __table_args__ = (
        Index("ix_challenges_target", "purpose", "target", "created_at"),
        Index("ix_challenges_prefix", "prefix", "created_at"),
        Index("ix_challenges_region", "region", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: Random id the browser or admin form carries; never the database id.
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    purpose: Mapped[str] = mapped_column(String(20))
    #: What the code is bound to: "phone:+316..." or "user:42".
    target: Mapped[str] = mapped_column(String(40))
    phone: Mapped[str | None] = mapped_column(String(16))
    #: The number without its last four digits, and its country: for the fraud signals.
    prefix: Mapped[str | None] = mapped_column(String(16))
    region: Mapped[str | None] = mapped_column(String(2))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    code_hmac: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=5)
    consumed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Set when a newer code for the same purpose and target replaced this one.
    superseded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: "pending" until the message was handed to a provider, then "sent" or "failed";
    #: "queued" while `poort worker` has yet to send it (sms_queue = "redis"); "withheld" for a
    #: code that is never sent (a number without an account).
    delivery: Mapped[str] = mapped_column(String(10), default="pending")
    #: Purpose-specific facts, e.g. which verifier an admin test code belongs to.
    context: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
