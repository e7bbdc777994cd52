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
import socket
import ssl
import struct
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
from idp.sms.errors import SmsError
from idp_sms_providers.fields import choices
from idp_sms_providers.smpp_connection import Broken, SmppConnection, status_error
from idp_sms_providers.smpp_messages import (
    encode,
    sender_address,
)

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
            raise status_error(status, self.name, "bind") from exc
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
            except (Broken, TimeoutError):
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
                    raise status_error(status, self.name, "message")
                ids.append(message_id)
        except TimeoutError as exc:
            connection.broken = True
            raise self._error(
                _TEMPORARY, f"The SMSC did not answer within {self.timeout:g} s.", "timeout"
            ) from exc
        except Broken as exc:
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
