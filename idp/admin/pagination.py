"""A page of query results for the admin lists."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import request
from sqlalchemy import Select, func, select

from idp.extensions import db

PER_PAGE = 50


@dataclass(frozen=True)
class Page:
    items: list[Any]
    number: int
    total: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages


def paginate(stmt: Select[Any], per_page: int = PER_PAGE) -> Page:
    """The page named by ?page= (1 when missing or nonsense)."""
    raw = request.args.get("page", "1")
    # isascii(): "²" passes isdigit() but int() refuses it.
    number = int(raw) if raw.isascii() and raw.isdigit() and 0 < int(raw) < 1_000_000 else 1
    total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    items = db.session.scalars(stmt.limit(per_page).offset((number - 1) * per_page)).all()
    return Page(list(items), number, total, per_page)
