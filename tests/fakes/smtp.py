"""A real SMTP server on 127.0.0.1 (aiosmtpd) standing in for an e-mail-to-SMS gateway (F.11).

It records every accepted message (envelope sender, recipients and the parsed e-mail), can
speak plain SMTP, offer STARTTLS, or run over TLS from the first byte (SMTPS), with a
self-signed certificate for 127.0.0.1, and can require a login.

Scenarios (``fake.scenario``): ``success``; ``auth_failure`` (535 on AUTH);
``recipient_refused`` (550 on RCPT); ``recipient_deferred`` (450 on RCPT); ``sender_refused``
(553 on MAIL); ``server_error`` (451 after DATA); ``rejected`` (554 after DATA); ``slow``
(the answer to DATA comes after the client's timeout); ``reset`` (the connection is aborted
after DATA); ``malformed`` (a line that is no SMTP reply after DATA).
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import logging
import socket
import ssl
import warnings
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.fakes.http_server import SLOW_SECONDS

USERNAME = "gateway-user"
PASSWORD = "smtp-pass-6b1e"
_LOGGERS = ("mail.log", "mail.debug")


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (and localhost), and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


class _Handler:
    def __init__(self, fake: SmtpFake) -> None:
        self.fake = fake

    async def handle_MAIL(self, server, session, envelope, address, mail_options):  # noqa: N802
        if self.fake.scenario == "sender_refused":
            return "553 5.7.1 Sender address rejected: not owned by user"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if self.fake.scenario == "recipient_refused":
            return f"550 5.1.1 <{address}>: Recipient address rejected"
        if self.fake.scenario == "recipient_deferred":
            return "450 4.2.0 Recipient address deferred"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        scenario = self.fake.scenario
        if scenario == "server_error":
            return "451 4.3.0 Temporary gateway failure"
        if scenario == "rejected":
            return "554 5.7.1 Message rejected"
        if scenario == "reset":
            server.transport.abort()
            return "250 OK"
        if scenario == "malformed":
            await server.push("hello, this is not an SMTP reply")
            server.transport.close()
            return "250 OK"
        if scenario == "slow":
            await asyncio.sleep(self.fake.slow_seconds)
        message = message_from_bytes(
            envelope.original_content or envelope.content, policy=policy.default
        )
        self.fake.received.append(
            Received(envelope.mail_from, list(envelope.rcpt_tos), message)  # type: ignore[arg-type]
        )
        return "250 2.0.0 OK queued"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class SmtpFake:
    """``with SmtpFake(tmp_path, security="starttls", login=True) as fake: fake.port``"""

    def __init__(self, folder: Path, *, security: str = "plain", login: bool = False) -> None:
        self.folder = folder
        self.security = security
        self.login = login
        self.scenario = "success"
        self.slow_seconds = SLOW_SECONDS
        self.received: list[Received] = []
        self.logins: list[str] = []
        self.cert_path, self.key_path = make_certificate(folder)
        self.port = 0
        self._controller: Controller | None = None
        self._disabled: dict[str, bool] = {}

    @property
    def last(self) -> Received:
        assert self.received, "the SMTP fake received no message"
        return self.received[-1]

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts this fake's certificate (and checks the host)."""
        context = ssl.create_default_context()
        context.load_verify_locations(cafile=str(self.cert_path))
        return context

    def _authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == USERNAME.encode()
            and auth_data.password == PASSWORD.encode()
            and self.scenario != "auth_failure"
        )
        if ok:
            self.logins.append(USERNAME)
        return AuthResult(success=ok, handled=False)

    def start(self) -> SmtpFake:
        # aiosmtpd logs the conversation (texts included) at DEBUG; keep it out of caplog.
        for name in _LOGGERS:
            self._disabled[name] = logging.getLogger(name).disabled
            logging.getLogger(name).disabled = True
        server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_tls.load_cert_chain(str(self.cert_path), str(self.key_path))
        kwargs: dict[str, Any] = {"hostname": "127.0.0.1", "port": _free_port()}
        if self.security == "ssl":
            kwargs["ssl_context"] = server_tls
        elif self.security == "starttls":
            kwargs["tls_context"] = server_tls
            kwargs["require_starttls"] = True
        if self.login:
            kwargs["authenticator"] = self._authenticate
            kwargs["auth_require_tls"] = self.security == "starttls"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "AUTH without TLS" is what a plain test wants
            self._controller = Controller(_Handler(self), **kwargs)
            if self.security == "ssl":
                # Controller's readiness probe speaks plain TCP; give it a context that
                # trusts our certificate so the probe's TLS handshake succeeds.
                self._controller.ssl_context = server_tls
            self._controller.start()
        self.port = int(kwargs["port"])
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
        for name, value in self._disabled.items():
            logging.getLogger(name).disabled = value

    def __enter__(self) -> SmtpFake:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
