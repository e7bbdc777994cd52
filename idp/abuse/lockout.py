"""Guessing: consecutive failed sign-ins per account, and failed passwords per address.

After ``failures_before_wait`` failures in a row an account waits before the next attempt
is judged: 1 minute, then 2, 4, 8, up to ``max_wait_minutes``. After
``failures_before_recovery`` it stays locked until an admin unlocks it (NIST SP 800-63B
§3.2.2). A success resets the count; asking for a new code does not.

What was typed for an account that does not exist is counted under its own key in exactly
the same way, so the answers never tell whether an account exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from idp import metrics, state
from idp.abuse import limits
from idp.abuse.errors import NeedsRecovery, SignInLocked
from idp.abuse.store import Window
from idp.extensions import db
from idp.security import audit
from idp.security.derived_keys import keyed_hash

HOUR = 3600


def account_key(user_id: int) -> str:
    return f"acct:{user_id}"


def identifier_key(kind: str, value: str) -> str:
    """The key for what was typed (a username, a number) when no account has it."""
    return f"ident:{keyed_hash('lockout-identifier', f'{kind}:{value}')[:40]}"


def subject_key(user_id: int | None, kind: str, value: str) -> str:
    return account_key(user_id) if user_id is not None else identifier_key(kind, value)


@dataclass(frozen=True)
class Lock:
    failures: int
    wait_seconds: int  # 0 with needs_recovery
    needs_recovery: bool = False

    def error(self) -> SignInLocked | NeedsRecovery:
        return NeedsRecovery() if self.needs_recovery else SignInLocked(self.wait_seconds)


def wait_after(failures: int) -> timedelta:
    """The wait before the next attempt after *failures* in a row (none below the threshold)."""
    values = limits.current()
    over = failures - values["failures_before_wait"]
    if over < 0:
        return timedelta(0)
    minutes = min(values["max_wait_minutes"], 2 ** min(over, 20))
    return timedelta(minutes=minutes)


def lock_of(key: str) -> Lock | None:
    """The lock on *key* now, or None when an attempt may be judged."""
    s = state.current()
    seen = s.counters.failures(key)
    if seen.count == 0 or seen.last_at is None:
        return None
    if seen.count >= limits.value("failures_before_recovery"):
        return Lock(seen.count, 0, needs_recovery=True)
    until = seen.last_at + wait_after(seen.count)
    remaining = (until - s.clock()).total_seconds()
    if remaining <= 0:
        return None
    return Lock(seen.count, max(1, int(-(-remaining // 1))))


def ensure_unlocked(key: str, *, ip: str | None = None) -> None:
    """Raise when *key* (or, for passwords, the address *ip*) must wait.

    :raises SignInLocked: wait, then try again.
    :raises NeedsRecovery: an admin has to unlock the account.
    """
    lock = lock_of(key)
    if lock is not None:
        raise lock.error()
    if ip is not None:
        s = state.current()
        window = _ip_window(ip)
        if s.counters.count(window, s.clock()) >= window.limit:
            raise SignInLocked(_ip_retry(ip))


def _ip_window(ip: str) -> Window:
    return Window(f"pwfail-ip:{ip}", limits.value("ip_failures_per_hour"), HOUR)


def _ip_retry(ip: str) -> int:
    # Taking from a full window never counts; it reports when the window has room again.
    s = state.current()
    refusal = s.counters.take([_ip_window(ip)], s.clock())
    return refusal.retry_after if refusal is not None else 1


def failed(key: str, *, method: str, ip: str | None = None) -> None:
    """Count a failed attempt on *key* (and, for passwords, from *ip*); audit a new lock."""
    s = state.current()
    count = s.counters.fail(key, s.clock())
    if ip is not None:
        s.counters.take([_ip_window(ip)], s.clock())
    values = limits.current()
    if count in (values["failures_before_wait"], values["failures_before_recovery"]):
        audit.record(
            "login.locked",
            f"user:{key[5:]}" if key.startswith("acct:") else "identifier",
            after={
                "method": method,
                "failures": count,
                "needs_recovery": count >= values["failures_before_recovery"],
            },
        )
        db.session.commit()
        metrics.login_locked(method)


def succeeded(key: str) -> None:
    state.current().counters.clear_failures(key)


def unlock(user_id: int) -> None:
    """An admin's unlock: the count starts again from zero. The caller audits."""
    succeeded(account_key(user_id))
