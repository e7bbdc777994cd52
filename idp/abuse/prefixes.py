"""Fraud signals: how many of the codes sent to a country or number prefix were used.

Pumping sends codes that nobody types in. A prefix (the number without its last four
digits) that received more than ``prefix_min_sends`` codes in the last hour, of which fewer
than ``prefix_min_verified_percent`` were verified, is blocked for ``prefix_block_hours``;
an admin can lift the block in the panel. For ``prefix_lift_grace_hours`` after a lift only
codes sent after it count, so the same old codes cannot block the prefix again at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, case, func, select, text, update

from idp import state
from idp.abuse import limits
from idp.abuse.store import lock_id
from idp.extensions import db
from idp.models import BlockedPrefix, Challenge
from idp.security import audit

#: Challenges that never cost anything or are an admin's own test do not count.
_NOT_COUNTED = ("withheld", "failed")
_ADMIN_TEST = "admin_test"


def prefix_of(e164: str) -> str:
    return e164[:-4]


@dataclass(frozen=True)
class Conversion:
    group: str  # a prefix or a region
    sent: int
    verified: int

    @property
    def percent(self) -> int:
        return round(100 * self.verified / self.sent) if self.sent else 0


def _counted(since: datetime) -> list:
    return [
        Challenge.created_at > since,
        Challenge.delivery.not_in(_NOT_COUNTED),
        Challenge.purpose != _ADMIN_TEST,
    ]


def _verified() -> ColumnElement[int]:
    return func.sum(case((Challenge.consumed_at.is_not(None), 1), else_=0))


def active_block(prefix: str, now: datetime) -> BlockedPrefix | None:
    return db.session.scalar(
        select(BlockedPrefix)
        .where(
            BlockedPrefix.prefix == prefix,
            BlockedPrefix.until > now,
            BlockedPrefix.lifted_at.is_(None),
        )
        .limit(1)
    )


def _since(prefix: str, now: datetime) -> ColumnElement[bool]:
    """Codes counted for *prefix*: the last hour's, and after a recent lift only newer ones."""
    grace = timedelta(hours=state.current().settings.prefix_lift_grace_hours)
    lifted = (
        select(func.max(BlockedPrefix.lifted_at))
        .where(BlockedPrefix.prefix == prefix, BlockedPrefix.lifted_at > now - grace)
        .scalar_subquery()
    )
    return Challenge.created_at > func.coalesce(lifted, now - timedelta(hours=1))


def _serialise(prefix: str) -> None:
    """Make this transaction the only one deciding about *prefix* until it commits."""
    if db.engine.dialect.name == "postgresql":
        db.session.execute(
            text("SELECT pg_advisory_xact_lock(:id)"), {"id": lock_id(f"prefix:{prefix}")}
        )
    else:  # a write, even of nothing, takes SQLite's single write lock
        db.session.execute(
            update(BlockedPrefix)
            .where(BlockedPrefix.id == -1)
            .values(prefix=BlockedPrefix.prefix)
            .execution_options(synchronize_session=False)
        )


def judge(e164: str, region: str | None) -> bool:
    """True when codes may go to *e164*'s prefix; blocks the prefix when its rate is too low.

    A new block is committed with its audit event at once: it must hold for every worker
    even if this request fails later. Requests racing to block one prefix are serialised, so
    it gets one block row and one audit event.
    """
    now = state.current().clock()
    prefix = prefix_of(e164)
    # One round trip for both questions, on every code sent: is the prefix blocked, and how
    # many of the last hour's codes to it were used.
    blocked = (
        select(BlockedPrefix.id)
        .where(
            BlockedPrefix.prefix == prefix,
            BlockedPrefix.until > now,
            BlockedPrefix.lifted_at.is_(None),
        )
        .exists()
    )
    sent, verified, is_blocked = db.session.execute(
        select(func.count(), _verified(), blocked).where(
            Challenge.prefix == prefix, _since(prefix, now), *_counted(now - timedelta(hours=1))
        )
    ).one()
    if is_blocked:
        return False
    values = limits.current()
    verified = verified or 0
    if sent < values["prefix_min_sends"]:
        return True
    if verified * 100 >= sent * values["prefix_min_verified_percent"]:
        return True
    _serialise(prefix)
    if active_block(prefix, now) is not None:  # another request blocked it meanwhile
        db.session.commit()
        return False
    until = now + timedelta(hours=values["prefix_block_hours"])
    db.session.add(
        BlockedPrefix(
            prefix=prefix, region=region, blocked_at=now, until=until, sent=sent, verified=verified
        )
    )
    audit.record(
        "prefix.blocked",
        f"prefix:{prefix}",
        after={"sent": sent, "verified": verified, "until": until.isoformat()},
    )
    db.session.commit()
    return False


def lift(block_id: int, *, actor_id: int | None) -> BlockedPrefix | None:
    """End a block early; the caller commits (with its audit event)."""
    now = state.current().clock()
    row = db.session.get(BlockedPrefix, block_id)
    if row is None or row.lifted_at is not None or row.until <= now:
        return None
    db.session.execute(
        update(BlockedPrefix)
        .where(BlockedPrefix.id == row.id)
        .values(lifted_at=now, lifted_by=actor_id)
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(row)
    audit.record("prefix.lifted", f"prefix:{row.prefix}")
    return row


def blocked_now() -> list[BlockedPrefix]:
    now = state.current().clock()
    return list(
        db.session.scalars(
            select(BlockedPrefix)
            .where(BlockedPrefix.until > now, BlockedPrefix.lifted_at.is_(None))
            .order_by(BlockedPrefix.blocked_at.desc())
        )
    )


def conversion(by: str, hours: int = 24, top: int = 20) -> list[Conversion]:
    """Sent and verified codes per ``"region"`` or ``"prefix"`` over the last *hours*."""
    column = Challenge.region if by == "region" else Challenge.prefix
    since = state.current().clock() - timedelta(hours=hours)
    rows = db.session.execute(
        select(column, func.count(), _verified())
        .where(column.is_not(None), *_counted(since))
        .group_by(column)
        .order_by(func.count().desc())
        .limit(top)
    ).all()
    return [
        Conversion(group, sent, verified or 0)
        for group, sent, verified in rows
        if group is not None  # never: the query skips them; says so to the type checker
    ]
