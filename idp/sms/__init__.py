"""Sending SMS: the provider contract, message and receipt types, errors, segments."""

from idp.sms.encoding import Segments, segments
from idp.sms.errors import (
    SmsConfigurationError,
    SmsError,
    SmsNotSent,
    SmsRecipientError,
    SmsTemporaryError,
)
from idp.sms.http import HttpSmsProvider
from idp.sms.provider import ProviderContext, SmsMessage, SmsProvider, SmsReceipt
from idp.sms.reports import (
    BadSignature,
    CallbackRequest,
    DeliveryReport,
    MalformedReport,
)

__all__ = [
    "BadSignature",
    "CallbackRequest",
    "DeliveryReport",
    "HttpSmsProvider",
    "MalformedReport",
    "ProviderContext",
    "Segments",
    "SmsConfigurationError",
    "SmsError",
    "SmsMessage",
    "SmsNotSent",
    "SmsProvider",
    "SmsReceipt",
    "SmsRecipientError",
    "SmsTemporaryError",
    "segments",
]
