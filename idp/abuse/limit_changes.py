"""Changing the limits, as the admin panel and ``poort limits set`` both do: check every value
(one bad value and nothing is saved), store the changed ones, and audit them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from idp.abuse import limits
from idp.security import audit


@dataclass(frozen=True)
class LimitsUpdate:
    """What :func:`update` did: the refused values, or each changed limit as (before, after)."""

    errors: dict[str, str] = field(default_factory=dict)
    changed: dict[str, tuple[int, int]] = field(default_factory=dict)


def update(submitted: Mapping[str, Any], *, actor_id: int | None = None) -> LimitsUpdate:
    """Parse *submitted* limits; when all are valid, save and audit the changes.

    The caller commits when ``changed`` is not empty; with ``errors`` nothing was stored.
    """
    values, errors = limits.parse(submitted)
    if errors:
        return LimitsUpdate(errors=errors)
    before = limits.current()
    changed = {name: (before[name], values[name]) for name in limits.LIMITS}
    changed = {name: pair for name, pair in changed.items() if pair[0] != pair[1]}
    if changed:
        limits.save(values, actor_id=actor_id)
        audit.record(
            "limits.update",
            "abuse_limits",
            before={name: old for name, (old, _) in changed.items()},
            after={name: new for name, (_, new) in changed.items()},
        )
    return LimitsUpdate(changed=changed)
