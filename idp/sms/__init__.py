"""Sending SMS: the provider contract, message and receipt types."""

from idp.sms.provider import SmsMessage, SmsProvider, SmsReceipt

__all__ = ["SmsMessage", "SmsProvider", "SmsReceipt"]
