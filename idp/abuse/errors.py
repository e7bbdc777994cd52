"""Why a code was not sent or a sign-in not judged. Messages say what to do next, never which
limit or signal refused: an attacker learns nothing, a person knows when to try again."""

from __future__ import annotations

from flask_babel import gettext

from idp.errors import IdpError, InvalidInput, RateLimited, ServiceUnavailable


def wait_text(seconds: int) -> str:
    """ "42 s", "3 min", "2 h": how long, in words a person reads at a glance (in the page's
    language: "2 uur" in Dutch)."""
    if seconds < 60:
        return gettext("%(seconds)s s", seconds=seconds)
    minutes = -(-seconds // 60)
    if minutes < 120:
        return gettext("%(minutes)s min", minutes=minutes)
    return gettext("%(hours)s h", hours=-(-minutes // 60))


class DestinationRefused(InvalidInput):
    """The number is not one we text: its country, its type, or its prefix."""

    code = "destination_refused"

    def __init__(self) -> None:
        super().__init__(
            gettext(
                "This number cannot receive codes here. Use another number, or sign in another way."
            ),
            field="phone",
        )


class SendLimited(RateLimited):
    """Too many codes for this number, address, network or sign-in attempt."""

    code = "send_limited"

    def __init__(self, retry_after: int, *, cooldown: bool = False) -> None:
        if cooldown:  # the everyday case: a second code asked for too soon after the first
            message = gettext(
                "Please wait %(wait)s s before asking for a new code.", wait=retry_after
            )
        else:
            message = gettext(
                "Too many codes were asked for. Try again in %(wait)s.",
                wait=wait_text(retry_after),
            )
        super().__init__(message, retry_after=retry_after)


class SendingPaused(IdpError):
    """A budget is spent: no codes are sent until it has room again or an admin resets it."""

    code = "sending_paused"
    status = 503

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            gettext(
                "Codes by text message are paused for a while. "
                "Try again in %(wait)s, or sign in another way.",
                wait=wait_text(retry_after),
            )
        )
        self.public_message = self.message  # a 503 whose text is meant for the user
        self.retry_after = retry_after


class HumanCheckRequired(IdpError):
    """This address asked for several codes: the next one needs the human check solved."""

    code = "human_check_required"
    status = 429

    def __init__(self) -> None:
        super().__init__(
            gettext(
                "Many codes were asked for from your network. "
                "Let your browser finish the check below, then ask again."
            )
        )
        self.retry_after = None


class SignInLocked(RateLimited):
    """Too many failed sign-ins in a row for this account (or what was typed)."""

    code = "sign_in_locked"

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            gettext(
                "Too many failed attempts. Try again in %(wait)s.", wait=wait_text(retry_after)
            ),
            retry_after=retry_after,
        )


class NeedsRecovery(IdpError):
    """So many failures that waiting is not enough: an administrator must unlock the account."""

    code = "needs_recovery"
    status = 423

    def __init__(self) -> None:
        super().__init__(
            gettext(
                "This account is locked after too many failed attempts. "
                "Ask your administrator to unlock it."
            )
        )


class SendingUnavailable(ServiceUnavailable):
    """Redis, where the send limits are counted, does not answer: no code is sent meanwhile."""

    code = "sending_unavailable"

    def __init__(self) -> None:
        from idp.abuse.redis_outage import RETRY_AFTER_SECONDS

        super().__init__(
            gettext(
                "Codes by text message cannot be sent right now. "
                "Try again in a minute, or sign in another way."
            ),
            retry_after=RETRY_AFTER_SECONDS,
        )
