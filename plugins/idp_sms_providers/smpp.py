"""SMPP 3.4: a direct bind to an operator's or aggregator's SMSC, through :mod:`smpplib`.

Sending: ``bind_transmitter`` (or ``bind_transceiver`` to get delivery receipts on the same
connection) with system_id, password and system_type, then one ``submit_sm`` per part, each
answered by a ``submit_sm_resp`` whose ``command_status`` is read and judged (smpplib's own
``send_message`` only writes; privacyIDEA never read the answer, so it never saw a refusal).

- Sender: an alphanumeric sender goes with TON/NPI 5/0, an international number (a + or at
  least 10 digits) with 1/1, a short code (up to 8 digits) with 3/0. The recipient always
  goes as digits with 1/1.
- Text: GSM 03.38 unpacked (data_coding 0) when every character is in the GSM alphabet,
  UCS-2 big-endian (data_coding 8) otherwise. A longer text is split into parts with a
  concatenation UDH (``05 00 03 ref total seq``, esm_class 0x40), never cutting an escape
  pair (``{``, ``€`` ...) or a surrogate pair (most emoji) in two. smpplib's own splitter is
  not used: it maps some characters wrongly and may cut escape pairs.
- Connections: with ``ProviderContext.connections`` (the app's pool) a bound connection is
  kept between messages; the pool's keeper sends ``enquire_link`` on idle ones, and a
  connection idle for longer than the keep-alive interval proves itself with an
  ``enquire_link`` before it is used. The SMSC's own ``enquire_link`` are answered whenever
  Poort reads. A connection that failed (dropped, timed out, garbled) is closed, and the next
  message binds afresh. Without a pool, each message binds and unbinds.
- Delivery receipts (``deliver_sm`` with esm_class 0x04, on a transceiver bind) are
  acknowledged and handed to ``ProviderContext.report_sink`` as delivery reports.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import select
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext
from wtforms import BooleanField, FloatField, IntegerField, SelectField, StringField
from wtforms.validators import InputRequired, Length, NumberRange, Optional, Regexp

from idp.options import OptionsForm, SecretField
from idp.sms import (
    SmsConfigurationError,
    SmsMessage,
    SmsProvider,
    SmsReceipt,
    SmsRecipientError,
    SmsTemporaryError,
)
from idp.sms.encoding import GSM_EXTENSION, is_gsm7
from idp.sms.errors import SmsError
from idp.sms.reports import DELIVERED, UNDELIVERED, DeliveryReport, short
from idp_sms_providers.fields import choices

try:  # an optional dependency: pip install 'poort[smpp]'
    import smpplib.client
    import smpplib.consts
    import smpplib.exceptions
    import smpplib.smpp
except ImportError:  # pragma: no cover - exercised by test_missing_library_is_a_clear_error
    smpplib = None

log = logging.getLogger(__name__)
#: smpplib logs every PDU in hex at DEBUG: bind PDUs carry the password, submit_sm the text.
WIRE_LOGGER = "idp_sms_providers.smpp.wire"


class _NoPduDumps(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        return not message.startswith((">>", "<<")) and "in the bound state" not in message


logging.getLogger(WIRE_LOGGER).addFilter(_NoPduDumps())

TRANSMITTER, TRANSCEIVER = "transmitter", "transceiver"
_CONFIG, _RECIPIENT, _TEMPORARY = SmsConfigurationError, SmsRecipientError, SmsTemporaryError

#: command_status values: name, meaning, error class, what the admin should do.
STATUSES: dict[int, tuple[str, str, type[SmsError], str]] = {
    0x01: ("ESME_RINVMSGLEN", "message length invalid", _CONFIG, "shorten the template"),
    0x02: ("ESME_RINVCMDLEN", "command length invalid", _CONFIG, "check the SMSC settings"),
    0x03: ("ESME_RINVCMDID", "invalid command id", _CONFIG, "check the SMSC settings"),
    0x04: ("ESME_RINVBNDSTS", "wrong bind state", _TEMPORARY, "Poort binds again"),
    0x05: ("ESME_RALYBND", "already bound", _TEMPORARY, "too many binds; try again"),
    0x08: ("ESME_RSYSERR", "system error", _TEMPORARY, "a fault at the SMSC"),
    0x0A: ("ESME_RINVSRCADR", "invalid source address", _CONFIG, "check the sender"),
    0x0B: ("ESME_RINVDSTADR", "invalid destination address", _RECIPIENT, "the number was refused"),
    0x0C: ("ESME_RINVMSGID", "invalid message id", _CONFIG, "check the SMSC settings"),
    0x0D: ("ESME_RBINDFAIL", "bind failed", _CONFIG, "check system id, password and type"),
    0x0E: ("ESME_RINVPASWD", "invalid password", _CONFIG, "check the password"),
    0x0F: ("ESME_RINVSYSID", "invalid system id", _CONFIG, "check the system id"),
    0x14: ("ESME_RMSGQFUL", "message queue full", _TEMPORARY, "the SMSC is busy; try again"),
    0x15: ("ESME_RINVSERTYP", "invalid service type", _CONFIG, "check the service type"),
    0x43: ("ESME_RINVESMCLASS", "invalid esm_class", _CONFIG, "the SMSC refused long messages"),
    0x45: ("ESME_RSUBMITFAIL", "submit failed", _TEMPORARY, "the SMSC could not take it"),
    0x48: ("ESME_RINVSRCTON", "invalid source TON", _CONFIG, "check the sender"),
    0x49: ("ESME_RINVSRCNPI", "invalid source NPI", _CONFIG, "check the sender"),
    0x50: ("ESME_RINVDSTTON", "invalid destination TON", _CONFIG, "ask the operator"),
    0x51: ("ESME_RINVDSTNPI", "invalid destination NPI", _CONFIG, "ask the operator"),
    0x53: ("ESME_RINVSYSTYP", "invalid system type", _CONFIG, "check the system type"),
    0x58: ("ESME_RTHROTTLED", "throttled", _TEMPORARY, "sending too fast; try again"),
    0x61: ("ESME_RINVSCHED", "invalid scheduled time", _CONFIG, "check the settings"),
    0x62: ("ESME_RINVEXPIRY", "invalid validity period", _CONFIG, "check the validity"),
    0x64: ("ESME_RX_T_APPN", "temporary application error", _TEMPORARY, "try again"),
    0x65: ("ESME_RX_P_APPN", "permanent application error", _RECIPIENT, "the number is refused"),
    0x66: ("ESME_RX_R_APPN", "application rejected the message", _CONFIG, "ask the operator"),
    0xFF: ("ESME_RUNKNOWNERR", "unknown error", _TEMPORARY, "see the SMSC's log"),
}
#: Receipt states: the ``stat:`` word of the text and the ``message_state`` TLV.
_STAT_WORDS = {
    "DELIVRD": DELIVERED,
    "EXPIRED": UNDELIVERED,
    "DELETED": UNDELIVERED,
    "UNDELIV": UNDELIVERED,
    "REJECTD": UNDELIVERED,
}
_STAT_MEANINGS = {
    "DELIVRD": "delivered",
    "EXPIRED": "expired",
    "DELETED": "deleted",
    "UNDELIV": "undeliverable",
    "REJECTD": "rejected",
}
_STATE_TLV = {2: "DELIVRD", 3: "EXPIRED", 4: "DELETED", 5: "UNDELIV", 8: "REJECTD"}
_RECEIPT = re.compile(
    r"id:(?P<id>[0-9A-Za-z-]{1,65}).*?stat:(?P<stat>[A-Z]{5,8})(?:.*?err:(?P<err>[0-9A-Za-z]{1,3}))?",
    re.DOTALL,
)

# GSM 03.38 basic table in code order (0x1B is the escape to the extension table).
GSM_TABLE = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_CODES = {ch: code for code, ch in enumerate(GSM_TABLE) if code != 0x1B}
GSM_ESCAPES = {"\f": 0x0A, "^": 0x14, "{": 0x28, "}": 0x29, "\\": 0x2F, "[": 0x3C, "~": 0x3D,
               "]": 0x3E, "|": 0x40, "€": 0x65}  # fmt: skip
assert set(GSM_ESCAPES) == set(GSM_EXTENSION)

GSM_DEFAULT, UCS2 = 0x00, 0x08
UDHI = 0x40
MAX_PARTS = 255


@dataclass(frozen=True)
class Encoded:
    """A text as the octets of its parts, with the data_coding and esm_class to send them."""

    data_coding: int
    esm_class: int
    parts: tuple[bytes, ...]


def _characters(text: str) -> tuple[int, list[bytes]]:
    """The data_coding for *text* and each character's octets (never split between parts)."""
    if is_gsm7(text):
        chars = [
            bytes([0x1B, GSM_ESCAPES[ch]]) if ch in GSM_ESCAPES else bytes([GSM_CODES[ch]])
            for ch in text
        ]
        return GSM_DEFAULT, chars
    return UCS2, [ch.encode("utf-16-be") for ch in text]


def encode(text: str, reference: int | None = None) -> Encoded:
    """Split *text* into SMS parts: one without a header when it fits, else UDH parts.

    GSM: 160 septets alone, 153 per part; UCS-2: 140 octets alone, 134 per part. A
    character's octets always stay in one part.
    """
    coding, chars = _characters(text)
    single, per_part = (160, 153) if coding == GSM_DEFAULT else (140, 134)
    whole = b"".join(chars)
    if len(whole) <= single:
        return Encoded(coding, 0, (whole,))
    chunks: list[bytes] = []
    current = b""
    for octets in chars:
        if len(current) + len(octets) > per_part:
            chunks.append(current)
            current = b""
        current += octets
    chunks.append(current)
    if len(chunks) > MAX_PARTS:
        raise ValueError("text too long for 255 parts")
    ref = secrets.randbelow(256) if reference is None else reference & 0xFF
    total = len(chunks)
    parts = tuple(bytes([5, 0, 3, ref, total, seq]) + chunk for seq, chunk in enumerate(chunks, 1))
    return Encoded(coding, UDHI, parts)


def sender_address(sender: str) -> tuple[int, int, str]:
    """TON, NPI and address of a sender: 5/0 alphanumeric, 1/1 international, 3/0 short code."""
    digits = sender.lstrip("+")
    if digits.isdigit():
        if sender.startswith("+") or len(digits) >= 10:
            return 1, 1, digits
        return 3, 0, digits
    return 5, 0, sender


def parse_receipt(pdu: Any) -> DeliveryReport | None:
    """A delivery report from a ``deliver_sm`` receipt, or None (not a receipt, not final)."""
    esm_class = int(getattr(pdu, "esm_class", 0) or 0)
    if not esm_class & 0x04:
        return None
    text = bytes(getattr(pdu, "short_message", b"") or b"").decode("latin-1", errors="replace")
    match = _RECEIPT.search(text)
    receipted = getattr(pdu, "receipted_message_id", None)
    message_id = (
        receipted.decode("ascii", errors="replace") if isinstance(receipted, bytes) else receipted
    )
    message_id = short(message_id, 65) or (match.group("id") if match else None)
    state = getattr(pdu, "message_state", None)
    stat = _STATE_TLV.get(state) if isinstance(state, int) else None
    if stat is None and match:
        stat = match.group("stat")
    if not message_id or stat not in _STAT_WORDS:
        return None
    err = match.group("err") if match else None
    reason = _STAT_MEANINGS[stat] + (f" (err {err})" if err and err.strip("0") else "")
    return DeliveryReport(
        outcome=_STAT_WORDS[stat],
        provider_message_id=message_id.strip(),
        raw_code=f"{stat}:{err}" if err else stat,
        reason=reason,
    )


class SmppOptions(OptionsForm):
    host = StringField(lazy_gettext("SMSC host"), validators=[InputRequired(), Length(max=253)])
    port = IntegerField(
        lazy_gettext("Port"),
        default=2775,
        validators=[InputRequired(), NumberRange(min=1, max=65535)],
    )
    use_tls = BooleanField(lazy_gettext("Connect over TLS"), default=False)
    system_id = StringField(
        lazy_gettext("System id"),
        validators=[InputRequired(), Length(max=15)],
        description=lazy_gettext("Your SMPP login."),
    )
    password = SecretField(lazy_gettext("Password"), validators=[InputRequired(), Length(max=8)])
    system_type = StringField(
        lazy_gettext("System type (optional)"),
        validators=[Optional(), Length(max=12)],
        description=lazy_gettext("Only when the operator gave you one."),
    )
    bind_mode = SelectField(
        lazy_gettext("Bind as"),
        choices=choices(
            (TRANSMITTER, lazy_gettext("transmitter (send only)")),
            (TRANSCEIVER, lazy_gettext("transceiver (send, and receive delivery receipts)")),
        ),
        default=TRANSMITTER,
    )
    delivery_receipts = BooleanField(lazy_gettext("Ask for delivery receipts"), default=True)
    service_type = StringField(
        lazy_gettext("Service type (optional)"),
        validators=[Optional(), Length(max=5), Regexp(r"^[A-Za-z0-9]*$")],
    )
    keepalive = FloatField(
        lazy_gettext("Keep-alive interval (seconds)"),
        default=30.0,
        validators=[Optional(), NumberRange(min=0.01, max=600)],
        description=lazy_gettext("An idle connection sends enquire_link this often."),
    )
    timeout = FloatField(
        lazy_gettext("Timeout (seconds)"),
        default=5.0,
        validators=[Optional(), NumberRange(min=0.1, max=60)],
        description=lazy_gettext(
            "How long to wait for the SMSC's answer before trying the fallback."
        ),
    )


class _Broken(Exception):
    """The connection cannot be used any more (dropped, timed out, garbled)."""


def _status_error(status: int, provider: str, what: str) -> SmsError:
    name, meaning, error, hint = STATUSES.get(
        status, (f"0x{status:02X}", "unknown status", _TEMPORARY, "see the SMSC's log")
    )
    return error(
        f"The SMSC refused the {what} with {name} (0x{status:02X}, {meaning}): {hint}.",
        provider=provider,
        raw_code=f"0x{status:02X}",
        raw_meaning=meaning,
    )


class SmppConnection:
    """One bound SMPP session: submits, reads answers, answers the SMSC, keeps itself alive."""

    def __init__(
        self,
        client: Any,
        *,
        provider: str,
        keepalive_interval: float,
        sink: Callable[[DeliveryReport], None] | None,
    ) -> None:
        self.client = client
        self.provider = provider
        self.keepalive_interval = keepalive_interval
        self.sink = sink
        self.broken = False
        self.submits = 0
        self.last_activity = time.monotonic()
        self.lock = threading.RLock()

    # -- reading ------------------------------------------------------------------------------

    def _read(self) -> Any:
        try:
            pdu = self.client.read_pdu()
        except TimeoutError:
            self.broken = True
            raise
        except (smpplib.exceptions.ConnectionError, OSError) as exc:
            self.broken = True
            raise _Broken("connection dropped") from exc
        except (
            smpplib.exceptions.PDUError,
            smpplib.exceptions.UnknownCommandError,
            struct.error,
            ValueError,
            LookupError,
            TypeError,
        ) as exc:
            self.broken = True
            raise _Broken("garbled answer") from exc
        if pdu is None:
            self.broken = True
            raise _Broken("garbled answer")
        self.last_activity = time.monotonic()
        return pdu

    def _answer(self, pdu: Any) -> bool:
        """Handle a PDU the SMSC sent on its own; True when it was one of those."""
        command = pdu.command
        if command == "enquire_link":
            reply = smpplib.smpp.make_pdu("enquire_link_resp", client=self.client)
            reply.sequence = pdu.sequence
            self.client.send_pdu(reply)
            return True
        if command == "deliver_sm":
            reply = smpplib.smpp.make_pdu("deliver_sm_resp", client=self.client)
            reply.sequence = pdu.sequence
            self.client.send_pdu(reply)
            self._deliver(pdu)
            return True
        if command == "unbind":
            reply = smpplib.smpp.make_pdu("unbind_resp", client=self.client)
            reply.sequence = pdu.sequence
            self.client.send_pdu(reply)
            self.broken = True
            raise _Broken("the SMSC unbound")
        if command == "alert_notification":
            return True
        return False

    def _deliver(self, pdu: Any) -> None:
        try:
            report = parse_receipt(pdu)
        except ValueError:
            log.info("smpp: a receipt from the SMSC could not be read; ignored")
            return
        if report is None:
            return
        if self.sink is None:
            log.info("smpp: a delivery receipt arrived but nothing records it; ignored")
            return
        try:
            self.sink(report)
        except Exception:  # a bookkeeping fault must not break the SMPP session
            log.exception("smpp: recording a delivery receipt failed")

    def _until(self, sequence: int, commands: tuple[str, ...]) -> Any:
        """Read until the answer to *sequence*, answering what the SMSC sends meanwhile."""
        while True:
            pdu = self._read()
            if self._answer(pdu):
                continue
            if pdu.command in commands and pdu.sequence == sequence:
                return pdu
            if pdu.command == "generic_nack" and pdu.sequence == sequence:
                return pdu
            log.debug("smpp: ignored an unexpected %s", pdu.command)

    def _send(self, pdu: Any) -> None:
        try:
            self.client.send_pdu(pdu)
        except (smpplib.exceptions.ConnectionError, OSError) as exc:
            self.broken = True
            raise _Broken("connection dropped") from exc
        except smpplib.exceptions.PDUError as exc:  # not bound (any more)
            self.broken = True
            raise _Broken("not bound") from exc

    def pending(self) -> None:
        """Handle what the SMSC sent while the connection was idle; do not wait."""
        sock = getattr(self.client, "_socket", None)  # smpplib has no public accessor
        if sock is None:
            self.broken = True
            raise _Broken("not connected")
        while True:
            readable, _, _ = select.select([sock], [], [], 0)
            if not readable:
                return
            pdu = self._read()
            if not self._answer(pdu) and pdu.command != "enquire_link_resp":
                log.debug("smpp: ignored an unexpected %s", pdu.command)

    def enquire(self) -> None:
        """One enquire_link round trip."""
        pdu = smpplib.smpp.make_pdu("enquire_link", client=self.client)
        self._send(pdu)
        self._until(pdu.sequence, ("enquire_link_resp",))

    def ready(self) -> None:
        """Make sure the connection still works before a message uses it."""
        with self.lock:
            self.pending()
            idle = time.monotonic() - self.last_activity
            if self.submits and idle >= self.keepalive_interval:  # a fresh bind needs no proof
                self.enquire()

    def keepalive(self) -> bool:
        """For the pool's keeper: answer the SMSC, and enquire when idle for long. Alive?"""
        with self.lock:
            try:
                self.ready()
            except (_Broken, TimeoutError):
                return False
            return not self.broken

    # -- sending ------------------------------------------------------------------------------

    def submit(self, fields: dict[str, Any]) -> tuple[int, str | None]:
        """One submit_sm: its command_status and message id."""
        with self.lock:
            pdu = smpplib.smpp.make_pdu("submit_sm", client=self.client, **fields)
            self.submits += 1
            self._send(pdu)
            answer = self._until(pdu.sequence, ("submit_sm_resp",))
            message_id = getattr(answer, "message_id", None)
            if isinstance(message_id, bytes):
                message_id = message_id.decode("ascii", errors="replace")
            return int(answer.status), short(message_id, 65)

    def close(self) -> None:
        with self.lock:
            client, self.client = self.client, None
        if client is None:
            return
        if not self.broken:
            try:
                pdu = smpplib.smpp.make_pdu("unbind", client=client)
                client.send_pdu(pdu)
                client.read_pdu()
            except Exception:  # noqa: S110 - unbinding is a courtesy; the socket closes anyway
                pass
        try:
            client.disconnect()
        except Exception:  # noqa: S110
            pass


def default_smpp_factory(
    host: str, port: int, timeout: float, ssl_context: ssl.SSLContext | None = None
) -> Any:
    """An unconnected smpplib client that keeps its PDU dumps out of the logs."""
    return smpplib.client.Client(
        host,
        port,
        timeout=timeout,
        logger_name=WIRE_LOGGER,
        ssl_context=ssl_context,
        allow_unknown_opt_params=True,
    )


class SmppProvider(SmsProvider):
    name = "smpp"
    #: Kept as written (a new verifier's default title); pages show it translated.
    title = "SMPP (direct SMSC connection)"
    _title_text = lazy_gettext("SMPP (direct SMSC connection)")  # for the catalogues
    options_form = SmppOptions
    docs_url = "https://smpp.org/SMPP_v3_4_Issue1_2.pdf"
    delivery_report_help = lazy_gettext(
        "Nothing to paste: with 'Bind as transceiver' the SMSC sends delivery receipts over "
        "the SMPP connection itself."
    )

    def _require_library(self) -> None:
        if smpplib is None:
            raise SmsConfigurationError(
                "The SMPP provider needs the smpplib package: pip install 'poort[smpp]'.",
                provider=self.name,
                raw_meaning="smpplib not installed",
            )

    @property
    def timeout(self) -> float:
        return float(self.options.get("timeout") or 5.0)

    @property
    def pool_key(self) -> tuple[Any, ...]:
        o = self.options
        secret = hashlib.sha256(str(o.get("password") or "").encode()).hexdigest()
        return (
            self.name,
            o.get("host"),
            int(o.get("port") or 2775),
            bool(o.get("use_tls")),
            o.get("system_id"),
            secret,
            o.get("system_type") or "",
            o.get("bind_mode") or TRANSMITTER,
        )

    def _error(self, cls: type[SmsError], message: str, meaning: str) -> SmsError:
        return cls(message, provider=self.name, raw_meaning=meaning)

    def connect(self) -> SmppConnection:
        """Open and bind a new connection (the pool's factory)."""
        o = self.options
        host, port = str(o.get("host") or ""), int(o.get("port") or 2775)
        context = ssl.create_default_context() if o.get("use_tls") else None
        factory = self.context.smpp_factory or default_smpp_factory
        client = factory(host, port, self.timeout, context)
        try:
            client.connect()
        except smpplib.exceptions.ConnectionError as exc:
            client.disconnect()  # smpplib made a socket before it failed to connect
            cause = exc.__context__
            if isinstance(cause, ssl.SSLCertVerificationError):
                raise self._error(
                    _CONFIG,
                    "The SMSC's TLS certificate could not be verified; check the host.",
                    "TLS verification failed",
                ) from exc
            if isinstance(cause, TimeoutError | socket.timeout):
                raise self._error(
                    _TEMPORARY, f"The SMSC did not answer within {self.timeout:g} s.", "timeout"
                ) from exc
            raise self._error(
                _TEMPORARY, "Could not connect to the SMSC.", "connection failed"
            ) from exc
        bind = (
            client.bind_transceiver
            if o.get("bind_mode") == TRANSCEIVER
            else client.bind_transmitter
        )
        try:
            bind(
                system_id=str(o.get("system_id") or ""),
                password=str(o.get("password") or ""),
                system_type=str(o.get("system_type") or ""),
            )
        except smpplib.exceptions.PDUError as exc:
            client.disconnect()
            status = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], int) else 0xFF
            raise _status_error(status, self.name, "bind") from exc
        except (smpplib.exceptions.ConnectionError, OSError) as exc:
            client.disconnect()
            raise self._error(
                _TEMPORARY, "The SMSC dropped the connection during the bind.", "bind failed"
            ) from exc
        except (
            smpplib.exceptions.UnknownCommandError,
            struct.error,
            ValueError,
            LookupError,
        ) as exc:
            client.disconnect()
            raise self._error(
                _TEMPORARY, "The SMSC gave an answer we do not understand.", "unexpected answer"
            ) from exc
        return SmppConnection(
            client,
            provider=self.name,
            keepalive_interval=float(o.get("keepalive") or 30.0),
            sink=self.context.report_sink,
        )

    def _lend(self) -> SmppConnection:
        pool = self.context.connections
        if pool is None:
            return self.connect()
        for _ in range(3):  # an idle connection that turns out dead is replaced
            connection = pool.acquire(self.pool_key, self.connect)
            try:
                connection.ready()
            except (_Broken, TimeoutError):
                pool.discard(connection)
                continue
            return connection
        return self.connect()

    def _give_back(self, connection: SmppConnection) -> None:
        pool = self.context.connections
        if pool is None:
            connection.close()
        else:
            pool.release(self.pool_key, connection)

    def send(self, message: SmsMessage) -> SmsReceipt:
        self._require_library()
        if not message.sender:
            raise self._error(_CONFIG, "SMPP needs a sender; set one on the verifier.", "no sender")
        try:
            encoded = encode(message.text)
        except ValueError as exc:
            raise self._error(
                _CONFIG, "The text is too long for one SMS message.", "too long"
            ) from exc
        ton, npi, source = sender_address(message.sender)
        registered = 1 if self.options.get("delivery_receipts", True) else 0
        base = {
            "service_type": str(self.options.get("service_type") or ""),
            "source_addr_ton": ton,
            "source_addr_npi": npi,
            "source_addr": source,
            "dest_addr_ton": 1,
            "dest_addr_npi": 1,
            "destination_addr": message.digits,
            "esm_class": encoded.esm_class,
            "data_coding": encoded.data_coding,
            "registered_delivery": registered,
        }
        connection = self._lend()
        ids: list[str | None] = []
        try:
            for part in encoded.parts:
                status, message_id = connection.submit({**base, "short_message": part})
                if status != 0:
                    if status == 0x04:
                        connection.broken = True
                    raise _status_error(status, self.name, "message")
                ids.append(message_id)
        except TimeoutError as exc:
            connection.broken = True
            raise self._error(
                _TEMPORARY, f"The SMSC did not answer within {self.timeout:g} s.", "timeout"
            ) from exc
        except _Broken as exc:
            connection.broken = True
            raise self._error(
                _TEMPORARY,
                f"The SMSC connection failed during the submit ({exc}); the next message "
                "binds again.",
                str(exc),
            ) from exc
        finally:
            self._give_back(connection)
        parts = len(encoded.parts)
        return SmsReceipt(
            provider_message_id=ids[0] if ids else None,
            raw_code="0x00",
            raw_meaning="accepted" if parts == 1 else f"accepted ({parts} parts)",
            segments=parts,
        )
