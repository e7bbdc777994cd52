"""The message log: one row per attempt at one provider, with its outcome and cost."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, Integer, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from idp.clock import now
from idp.models.base import Base, UTCDateTime

#: Logged (and committed) before the provider is called; completed when it answers.
SENDING = "sending"
ACCEPTED = "accepted"
FAILED = "failed"
DELIVERED = "delivered"
UNDELIVERED = "undelivered"
#: Still "sending" when its worker died: the provider may have taken (and billed) it or not.
UNKNOWN = "unknown"
STATUSES = (SENDING, ACCEPTED, FAILED, DELIVERED, UNDELIVERED, UNKNOWN)


class SmsLogEntry(Base):
    __tablename__ = "sms_log"
    __table_args__ = (
        Index("ix_sms_log_verifier_created", "verifier_id", "created_at"),
        Index("ix_sms_log_recipient", "recipient_hash", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, index=True)
    #: Our id for the attempt, sent to the provider so delivery reports find this row.
    reference: Mapped[str] = mapped_column(String(32), unique=True)
    verifier_id: Mapped[int | None] = mapped_column(ForeignKey("verifiers.id", ondelete="SET NULL"))
    verifier_name: Mapped[str] = mapped_column(String(40))  # kept if the verifier is deleted
    provider: Mapped[str] = mapped_column(String(40))
    # The number is never stored in clear here: masked for reading, keyed hash for searching.
    recipient_masked: Mapped[str] = mapped_column(String(20))
    recipient_hash: Mapped[str] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(String(20), index=True)
    status: Mapped[str] = mapped_column(String(12), index=True)
    raw_code: Mapped[str | None] = mapped_column(String(40))
    raw_meaning: Mapped[str | None] = mapped_column(String(200))
    provider_message_id: Mapped[str | None] = mapped_column(String(100), index=True)
    segments: Mapped[int] = mapped_column(Integer, default=1)
    encoding: Mapped[str] = mapped_column(String(8))
    cost: Mapped[Decimal] = mapped_column(Numeric(12, 4), default=Decimal("0"))
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    error_class: Mapped[str | None] = mapped_column(String(40))
    error_message: Mapped[str | None] = mapped_column(String(300))
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    challenge_id: Mapped[int | None] = mapped_column(
        ForeignKey("challenges.id", ondelete="SET NULL")
    )
