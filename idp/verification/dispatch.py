"""Sending a text through a resolution's channels, failing over, and logging every attempt.

Each attempt is one row in the message log, committed as "sending" before the provider is
called and completed after it answers (see :mod:`idp.verification.attempts`), so a text the
provider took is in the log whatever dies in between. Provider calls run outside any database
transaction.

One attempt, in order: ``admit_channel`` (reserves the message and its expected cost under the
budgets), ``attempts.begin`` (the row, committed), the provider, ``attempts.complete`` (its
answer, committed), then the reservation is settled: released when nothing was sent, set to the
real cost when it differs. A worker that dies in between leaves it counted, like its row.
Temporary and configuration errors move on to the next channel (another provider has its
own credentials, credit and routes); a recipient error stops, because the number is the
problem wherever we send it.
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass
from decimal import Decimal

from idp import metrics, state
from idp.abuse import sending
from idp.abuse.errors import SendingPaused
from idp.extensions import db
from idp.models import SmsLogEntry
from idp.models.sms_log import ACCEPTED, FAILED
from idp.sms.encoding import segments
from idp.sms.errors import SmsError, SmsNotSent, SmsRecipientError
from idp.sms.phone import mask
from idp.sms.provider import ProviderContext, SmsMessage, SmsProvider
from idp.verification import attempts
from idp.verification.delivery_reports import context_extras
from idp.verification.resolution import Channel, Resolution

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivered:
    """The attempt that succeeded, and how many attempts it took."""

    entry: SmsLogEntry
    attempts: int


def build_provider(channel: Channel) -> SmsProvider:
    s = state.current()
    cls = s.registry.sms_provider(channel.provider)
    if cls is None:
        raise SmsNotSent(f"The SMS provider {channel.provider!r} is not loaded.")
    context = ProviderContext(
        session=s.http_session(),
        instance_path=s.settings.instance_path,
        dev=s.settings.dev,
        clock=s.clock,
        **context_extras(channel.verifier_id, channel.provider, channel.report_token),
    )
    return cls(channel.options, context)


def _skipped(channel: Channel, message: SmsMessage, challenge_id: int | None) -> None:
    """Log an attempt that never reached the provider: its verifier's budget is spent."""
    attempts.row_for(
        channel,
        message,
        challenge_id,
        status=FAILED,
        latency_ms=0,
        error_class="budget_spent",
        error_message="The verifier's budget is spent; it was skipped.",
    )
    db.session.commit()


def _failed(entry_id: int, seconds: float, exc: Exception) -> None:
    """Complete a refused or broken attempt: nothing was sent, nothing is spent."""
    if isinstance(exc, SmsError):
        details: dict[str, object] = {
            "raw_code": exc.raw_code,
            "raw_meaning": (exc.raw_meaning or "")[:200] or None,
            "error_class": exc.code,
            "error_message": exc.message[:300],
        }
    else:  # a provider bug: the class name only, its message may hold anything
        details = {"error_class": "provider_bug", "error_message": type(exc).__name__}
    attempts.complete(
        entry_id, status=FAILED, latency_ms=int(seconds * 1000), cost=Decimal(0), **details
    )


def send(
    resolution: Resolution,
    *,
    recipient: str,
    text: str,
    purpose: str,
    code: str | None = None,
    challenge_id: int | None = None,
) -> Delivered:
    """Send *text* to *recipient* through the first channel that takes it.

    :raises SmsRecipientError: the number was refused; trying elsewhere would not help.
    :raises SmsNotSent: no channel took the message (every attempt is in the log).
    :raises SendingPaused: every channel's budget is spent.
    """
    if not resolution.available:
        raise SmsNotSent(resolution.reason or "No verifier is available.")
    last_error: Exception | None = None
    budget_waits: list[int] = []
    for attempt, channel in enumerate(resolution.channels, start=1):
        if attempt > 1:  # the channel before failed or was skipped
            metrics.sms_failover()
        message = SmsMessage(
            recipient=recipient,
            text=text,
            sender=channel.sender,
            purpose=purpose,
            reference=secrets.token_hex(16),
            code=code,
        )
        estimate = Decimal(channel.price_per_segment) * segments(text).count
        reservation = sending.admit_channel(channel.name, estimate)
        if isinstance(reservation, int):
            # Skipped, not silently: the log shows why this verifier did not send.
            _skipped(channel, message, challenge_id)
            metrics.sms_attempt(channel.name, metrics.BUDGET_SPENT)
            budget_waits.append(reservation)
            continue
        try:
            # In the log, committed, before the provider is asked: no paid text goes unlogged.
            entry_id = attempts.begin(channel, message, challenge_id)
        except Exception:
            sending.release(reservation)
            raise
        started = time.perf_counter()
        try:
            receipt = build_provider(channel).send(message)
        except Exception as exc:  # a provider bug must not lose the attempt or the user's code
            seconds = time.perf_counter() - started
            _failed(entry_id, seconds, exc)
            sending.release(reservation)  # nothing was sent, nothing is spent
            metrics.sms_attempt(channel.name, metrics.FAILED, channel.provider, seconds)
            if isinstance(exc, SmsError):
                log.warning("sms to %s via %s failed: %s", mask(recipient), channel.name, exc.code)
            else:
                log.exception("sms provider %s raised unexpectedly", channel.provider)
            last_error = exc
            if isinstance(exc, SmsRecipientError):
                raise
            continue
        seconds = time.perf_counter() - started
        count = receipt.segments or segments(text).count
        cost = receipt.cost if receipt.cost is not None else channel.price_per_segment * count
        attempts.complete(
            entry_id,
            status=ACCEPTED,
            segments=count,
            latency_ms=int(seconds * 1000),
            raw_code=receipt.raw_code,
            raw_meaning=receipt.raw_meaning,
            provider_message_id=receipt.provider_message_id,
            cost=Decimal(cost),
        )
        sending.settle(reservation, Decimal(cost))
        metrics.sms_attempt(channel.name, metrics.ACCEPTED, channel.provider, seconds)
        log.info("sms to %s accepted by %s", mask(recipient), channel.name)
        return Delivered(db.session.get_one(SmsLogEntry, entry_id), attempt)
    if len(budget_waits) == len(resolution.channels):
        raise SendingPaused(min(budget_waits))
    raise SmsNotSent(
        f"No verifier could send the message ({len(resolution.channels)} tried)."
    ) from last_error
