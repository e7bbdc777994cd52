"""Number prefixes blocked because the codes sent to them were hardly ever used."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from idp.clock import now
from idp.models.base import Base, UTCDateTime


class BlockedPrefix(Base):
    __tablename__ = "blocked_prefixes"
    __table_args__ = (Index("ix_blocked_prefixes_prefix_until", "prefix", "until"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: E.164 without its last four digits, e.g. "+3197010".
    prefix: Mapped[str] = mapped_column(String(16))
    region: Mapped[str | None] = mapped_column(String(2))
    blocked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    until: Mapped[datetime] = mapped_column(UTCDateTime)
    #: What was seen when it was blocked: codes sent and verified in the hour before.
    sent: Mapped[int] = mapped_column(Integer, default=0)
    verified: Mapped[int] = mapped_column(Integer, default=0)
    lifted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lifted_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
