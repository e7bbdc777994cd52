"""The SmsProvider contract: code that hands one text to one vendor.

A plugin subclasses :class:`SmsProvider` and registers it under the ``idp.sms_providers``
entry-point group. A *verifier* is an admin-made, configured instance of a provider.
A provider never returns "failed": on failure it raises an ``IdpError``.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from idp.options import OptionsForm


@dataclass(frozen=True)
class SmsMessage:
    """One outbound text."""

    recipient: str  # E.164
    text: str
    sender: str | None = None
    purpose: str = "other"
    reference: str | None = None


@dataclass(frozen=True)
class SmsReceipt:
    """Proof a provider accepted a message."""

    provider_message_id: str | None = None
    raw_code: str | None = None
    raw_meaning: str | None = None
    segments: int | None = None


class SmsProvider(abc.ABC):
    """Base class of every SMS provider plugin."""

    name: ClassVar[str]
    title: ClassVar[str]
    api_version: ClassVar[int] = 1
    options_form: ClassVar[type[OptionsForm]] = OptionsForm

    def __init__(self, options: Mapping[str, Any]) -> None:
        """Bind validated options (secrets decrypted); open no connections yet."""
        self.options = options

    @abc.abstractmethod
    def send(self, message: SmsMessage) -> SmsReceipt:
        """Hand *message* to the vendor and return its receipt, or raise."""
