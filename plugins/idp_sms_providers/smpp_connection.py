"""One SMPP connection to an SMSC: bind, submit a message and read its answer, answer the
SMSC's own PDUs, and hand delivery receipts on; plus what each command_status means."""

from __future__ import annotations

import logging
import select
import struct
import threading
import time
from collections.abc import Callable
from typing import Any

from idp.sms import (
    SmsConfigurationError,
    SmsRecipientError,
    SmsTemporaryError,
)
from idp.sms.errors import SmsError
from idp.sms.reports import DeliveryReport, short
from idp_sms_providers.smpp_messages import parse_receipt

try:  # an optional dependency: pip install 'poort[smpp]'
    import smpplib.client
    import smpplib.consts
    import smpplib.exceptions
    import smpplib.smpp
except ImportError:  # pragma: no cover - exercised by test_missing_library_is_a_clear_error
    smpplib = None

log = logging.getLogger("idp_sms_providers.smpp")

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


class Broken(Exception):
    """The connection cannot be used any more (dropped, timed out, garbled)."""


def status_error(status: int, provider: str, what: str) -> SmsError:
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
            raise Broken("connection dropped") from exc
        except (
            smpplib.exceptions.PDUError,
            smpplib.exceptions.UnknownCommandError,
            struct.error,
            ValueError,
            LookupError,
            TypeError,
        ) as exc:
            self.broken = True
            raise Broken("garbled answer") from exc
        if pdu is None:
            self.broken = True
            raise Broken("garbled answer")
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
            raise Broken("the SMSC unbound")
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
            raise Broken("connection dropped") from exc
        except smpplib.exceptions.PDUError as exc:  # not bound (any more)
            self.broken = True
            raise Broken("not bound") from exc

    def pending(self) -> None:
        """Handle what the SMSC sent while the connection was idle; do not wait."""
        sock = getattr(self.client, "_socket", None)  # smpplib has no public accessor
        if sock is None:
            self.broken = True
            raise Broken("not connected")
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
            except (Broken, TimeoutError):
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
