"""What can go wrong when sending an SMS, sorted by who has to act.

::

    IdpError
    └── SmsError                   carries provider, raw_code, raw_meaning
        ├── SmsTemporaryError      503 sms_temporary      try the fallback verifier, or later
        ├── SmsConfigurationError  502 sms_configuration  admin must fix credentials, credit, route
        ├── SmsRecipientError      400 sms_recipient      the user must give another number
        └── SmsNotSent             503 sms_not_sent       every verifier failed; nothing delivered

A provider raises the first three (never returns "failed"), always ``from`` the underlying
exception when there is one. The sending service raises :class:`SmsNotSent` when no verifier
in the chain took the message.
"""

from __future__ import annotations

from flask_babel import lazy_gettext

from idp.errors import IdpError

#: What a person reads when a code could not be sent, whatever the cause.
COULD_NOT_SEND = lazy_gettext("We could not send the code. Please try again in a moment.")


class SmsError(IdpError):
    """Sending an SMS failed."""

    code = "sms_error"
    status = 502
    public_message = COULD_NOT_SEND

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        raw_code: str | None = None,
        raw_meaning: str | None = None,
    ) -> None:
        super().__init__(message, provider=provider, raw_code=raw_code)
        self.provider = provider
        self.raw_code = raw_code
        self.raw_meaning = raw_meaning or message


class SmsTemporaryError(SmsError):
    """The provider could not take the message now (timeout, 5xx, throttled, technical error)."""

    code = "sms_temporary"
    status = 503

    def __init__(
        self, message: str, *, retry_after: int | None = None, **kwargs: str | None
    ) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class SmsConfigurationError(SmsError):
    """The provider refused our settings (credentials, credit, route, sender); an admin must act."""

    code = "sms_configuration"
    status = 502


class SmsRecipientError(SmsError):
    """The provider refused the recipient: an invalid, unreachable or blocked number."""

    code = "sms_recipient"
    status = 400
    public_message = lazy_gettext(
        "This number cannot receive our text messages. Check it, or use another."
    )


class SmsNotSent(SmsError):
    """No verifier could send the message."""

    code = "sms_not_sent"
    status = 503


__all__ = [
    "COULD_NOT_SEND",
    "SmsConfigurationError",
    "SmsError",
    "SmsNotSent",
    "SmsRecipientError",
    "SmsTemporaryError",
]
