"""Counters behind the abuse limits, when they live in the database rather than in Redis."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from idp.clock import now
from idp.models.base import Base, UTCDateTime


class LimitEvent(Base):
    """One counted event (a code sent, a failed guess) under a limit's key: a sliding log."""

    __tablename__ = "limit_events"
    __table_args__ = (
        Index("ix_limit_events_key_at", "key", "at"),
        Index("ix_limit_events_token", "token"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    key: Mapped[str] = mapped_column(String(160))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    #: What the event adds to a weighted window (a cost, in micro-units); 1 elsewhere.
    weight: Mapped[int] = mapped_column(BigInteger, default=1, server_default="1")
    #: The reservation the event belongs to, so it can be settled or released later.
    token: Mapped[str | None] = mapped_column(String(32), default=None)


class FailureCounter(Base):
    """Consecutive failed sign-ins for an account (or a typed identifier without one)."""

    __tablename__ = "failure_counters"

    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
