"""The SmsProvider contract: code that hands one text to one vendor.

A plugin subclasses :class:`SmsProvider` (or :class:`idp.sms.http.HttpSmsProvider` for a
REST vendor) and registers it under the ``idp.sms_providers`` entry-point group with its
``name`` as the entry-point name. A *verifier* is an admin-made, configured instance of a
provider. :meth:`SmsProvider.send` returns a :class:`SmsReceipt` or raises one of the errors in
:mod:`idp.sms.errors`; it never returns "failed".
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import requests

from idp.clock import Clock, system_clock
from idp.options import OptionsForm
from idp.sms.pool import ConnectionPool
from idp.sms.reports import CallbackRequest, DeliveryReport


@dataclass(frozen=True)
class SmsMessage:
    """One outbound text; ``text`` and ``code`` stay out of ``repr``, so logs cannot leak them."""

    recipient: str  # E.164, "+31612345678"
    text: str = field(repr=False)
    sender: str | None = None
    purpose: str = "other"
    #: Our id for this attempt; providers pass it on so delivery reports can find the log row.
    reference: str | None = None
    #: The one-time code inside ``text``, for providers whose templates place it themselves.
    code: str | None = field(default=None, repr=False)

    @property
    def digits(self) -> str:
        """The recipient without the +, as most vendors want it ("31612345678")."""
        return self.recipient.lstrip("+")


@dataclass(frozen=True)
class SmsReceipt:
    """Proof that a provider accepted a message (accepted is not yet delivered)."""

    provider_message_id: str | None = None
    raw_code: str | None = None
    raw_meaning: str | None = None
    #: Segments as the vendor counted them, when it says; otherwise Poort counts them.
    segments: int | None = None
    #: What the vendor says it charged, when it says.
    cost: Decimal | None = None


@dataclass
class ProviderContext:
    """The seams a provider gets from Poort instead of making its own."""

    session: requests.Session = field(default_factory=requests.Session)
    instance_path: Path = field(default_factory=lambda: Path("instance"))
    dev: bool = False
    clock: Clock = system_clock
    #: Where this verifier's delivery reports go (``https://.../sms/dlr/<token>``), for
    #: providers that take a callback address with each message; None when unknown.
    callback_url: str | None = None
    #: Long-lived connections (SMPP binds) shared by the messages of one app; None: the
    #: provider opens and closes its own for each message.
    connections: ConnectionPool | None = None
    #: Where a provider hands delivery reports that do not arrive over HTTP (SMPP receipts).
    report_sink: Callable[[DeliveryReport], None] | None = None
    #: Seams for clients that are not HTTP: ``smtp_factory(host, port, timeout, mode,
    #: ssl_context)`` returns a connected ``smtplib.SMTP``-like client, ``smpp_factory(host,
    #: port, timeout)`` an ``smpplib.client.Client``-like one. None: the real library.
    smtp_factory: Callable[..., Any] | None = None
    smpp_factory: Callable[..., Any] | None = None


class SmsProvider(abc.ABC):
    """Base class of every SMS provider plugin."""

    #: Stable id; equals the entry-point name and is stored on verifier rows.
    name: ClassVar[str]
    #: Vendor name shown to admins.
    title: ClassVar[str]
    api_version: ClassVar[int] = 1
    #: The options an admin fills in; secrets as ``idp.options.SecretField``.
    options_form: ClassVar[type[OptionsForm]] = OptionsForm
    #: Where an admin finds help for this provider (shown in the panel).
    docs_url: ClassVar[str | None] = None
    #: True for a provider that only pretends to send (for development and demos): the admin
    #: panel warns when a verifier uses it while Poort is not in dev mode.
    delivers_nothing: ClassVar[bool] = False

    def __init__(self, options: Mapping[str, Any], context: ProviderContext | None = None) -> None:
        """Bind validated options (secrets decrypted) and Poort's seams; open no connection yet."""
        self.options = options
        self.context = context or ProviderContext()

    @abc.abstractmethod
    def send(self, message: SmsMessage) -> SmsReceipt:
        """Hand *message* to the vendor.

        :returns: the vendor's receipt once it accepted the message.
        :raises idp.sms.errors.SmsTemporaryError: timeouts, 5xx, throttling, technical errors.
        :raises idp.sms.errors.SmsConfigurationError: credentials, credit, route, sender.
        :raises idp.sms.errors.SmsRecipientError: the number is invalid or blocked.
        """

    def close(self) -> None:  # noqa: B027 - optional hook; most providers hold nothing open
        """Release what the provider holds open (an SMPP bind, an SMTP connection)."""

    # -- optional: delivery reports ------------------------------------------------------------

    #: For admins: where, in the vendor's dashboard, the callback address goes (shown on the
    #: verifier's page beside that address). Only for providers that report delivery.
    delivery_report_help: ClassVar[str | None] = None

    def parse_delivery_report(self, request: CallbackRequest) -> DeliveryReport | None:
        """Read one delivery callback of this vendor (optional; see :mod:`idp.sms.reports`).

        Check the vendor's signature first, when it signs its callbacks.

        :returns: the final outcome, or None for a callback that changes nothing (an
            intermediate status such as ``buffered``).
        :raises idp.sms.reports.BadSignature: the signature is missing or wrong.
        :raises idp.sms.reports.MalformedReport: the callback cannot be read.
        """
        raise NotImplementedError(f"{self.name} does not report delivery")

    @classmethod
    def reports_delivery(cls) -> bool:
        """Whether this provider overrides :meth:`parse_delivery_report`."""
        return cls.parse_delivery_report is not SmsProvider.parse_delivery_report
