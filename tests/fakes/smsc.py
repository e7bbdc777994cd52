"""A small SMPP 3.4 SMSC on 127.0.0.1, written with asyncio (reference F.10).

It decodes PDUs itself (independently of smpplib, which the provider uses), so a PDU the
provider builds wrongly is caught here. What it does:

- ``bind_transmitter`` / ``bind_transceiver`` / ``bind_receiver``: checks system_id and
  password (0x0F unknown system_id, 0x0E wrong password); commands before a bind get 0x04;
- ``submit_sm``: parses every mandatory field and the TLVs; refuses a wrong ``sm_length``
  (0x01), a destination that is not 1/1 digits (0x0B), a source TON/NPI that does not fit the
  sender (0x48/0x49: 5/0 for letters; 1/1 or 3/0 for digits), a data_coding other than 0 or 8
  (0x45), and an esm_class 0x40 part without a well-formed concatenation UDH (0x43); answers
  ``submit_sm_resp`` with a fresh message id; notes ``problems`` such as a GSM escape or a
  UTF-16 surrogate pair cut between two parts;
- ``enquire_link`` -> ``enquire_link_resp``; it can also send ``enquire_link`` itself
  every ``enquire_every`` seconds and counts the answers;
- ``unbind`` -> ``unbind_resp`` and close; an unknown command -> ``generic_nack`` 0x03;
- delivery receipts: with ``receipts`` on, a submit asking for one on a transceiver bind is
  followed by a ``deliver_sm`` (esm_class 0x04, text ``id:... stat:DELIVRD err:000 ...``,
  TLVs receipted_message_id and message_state); :meth:`SmscFake.push_receipt` sends one later.

Scenarios (``fake.scenario``, for the next submits): ``success``; ``slow`` (the answer comes
after the client's timeout); ``server_error`` (0x08 ESME_RSYSERR); ``reset`` (the connection
drops without an answer); ``malformed`` (a PDU with an unknown command id); ``auth_failure``
(binds get 0x0E); ``bind:<hex>`` (binds get that status); ``submit:<hex>`` (submits get that
status). ``submit_statuses`` (a list) scripts the next submits one by one, before the scenario.
"""

from __future__ import annotations

import asyncio
import itertools
import struct
import threading
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.http_server import SLOW_SECONDS

SYSTEM_ID = "poort"
PASSWORD = "smpp-pw1"  # SMPP passwords are at most 8 characters

BIND_TRANSMITTER, BIND_RECEIVER, BIND_TRANSCEIVER = 0x02, 0x01, 0x09
SUBMIT_SM, DELIVER_SM, UNBIND, ENQUIRE_LINK = 0x04, 0x05, 0x06, 0x15
RESP = 0x80000000
GENERIC_NACK = 0x80000000

GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = {0x0A: "\f", 0x14: "^", 0x28: "{", 0x29: "}", 0x2F: "\\", 0x3C: "[", 0x3D: "~",
                 0x3E: "]", 0x40: "|", 0x65: "€"}  # fmt: skip


def decode_gsm(octets: bytes) -> str:
    out, escape = [], False
    for octet in octets:
        if escape:
            out.append(GSM_EXTENSION.get(octet, "?"))
            escape = False
        elif octet == 0x1B:
            escape = True
        else:
            out.append(GSM_BASIC[octet])
    return "".join(out)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def cstring(self) -> str:
        end = self.data.index(b"\0", self.pos)
        value = self.data[self.pos : end].decode("latin-1")
        self.pos = end + 1
        return value

    def int8(self) -> int:
        value = self.data[self.pos]
        self.pos += 1
        return value

    def octets(self, length: int) -> bytes:
        value = self.data[self.pos : self.pos + length]
        if len(value) != length:
            raise ValueError("short PDU")
        self.pos += length
        return value

    def tlvs(self) -> dict[int, bytes]:
        found = {}
        while self.pos + 4 <= len(self.data):
            tag, length = struct.unpack(">HH", self.data[self.pos : self.pos + 4])
            self.pos += 4
            found[tag] = self.octets(length)
        return found


@dataclass
class Submit:
    """One submit_sm as the SMSC decoded it."""

    service_type: str
    source_addr_ton: int
    source_addr_npi: int
    source_addr: str
    dest_addr_ton: int
    dest_addr_npi: int
    destination_addr: str
    esm_class: int
    registered_delivery: int
    data_coding: int
    short_message: bytes
    tlvs: dict[int, bytes]
    message_id: str | None = None
    status: int = 0

    @property
    def udh(self) -> tuple[int, int, int] | None:
        """(reference, total, sequence) of a concatenation UDH, or None."""
        if not self.esm_class & 0x40:
            return None
        m = self.short_message
        return (m[3], m[4], m[5])

    @property
    def payload(self) -> bytes:
        return self.short_message[6:] if self.esm_class & 0x40 else self.short_message

    def text(self) -> str:
        """This part's text alone (a UCS-2 part must hold whole characters to decode)."""
        if self.data_coding == 8:
            return self.payload.decode("utf-16-be")
        return decode_gsm(self.payload)


@dataclass
class Bind:
    command: int
    system_id: str
    password: str
    system_type: str
    interface_version: int
    status: int


@dataclass
class _Connection:
    writer: asyncio.StreamWriter
    bound: int | None = None
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)


class SmscFake:
    """``with SmscFake() as smsc: smsc.port``; everything it saw is in its lists."""

    def __init__(self, *, receipts: bool = True, enquire_every: float | None = None) -> None:
        self.scenario = "success"
        self.slow_seconds = SLOW_SECONDS
        self.receipts = receipts
        self.enquire_every = enquire_every
        self.receipt_stat = "DELIVRD"
        self.submit_statuses: list[int] = []
        self.binds: list[Bind] = []
        self.submits: list[Submit] = []
        self.problems: list[str] = []
        self.enquire_links = 0  # received from the client
        self.enquire_answers = 0  # answers to ours
        self.receipt_answers = 0  # deliver_sm_resp received
        self.unbinds = 0
        self.connections = 0
        self.port = 0
        self._ids = itertools.count(0x1A2B3C)
        self._seq = itertools.count(0x10000)
        self._open: list[_Connection] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None

    # -- the scenario switch of the contract suite --------------------------------------------

    @property
    def url(self) -> str:
        return f"smpp://127.0.0.1:{self.port}"

    def _bind_status(self, system_id: str, password: str) -> int:
        if self.scenario == "auth_failure":
            return 0x0E
        if self.scenario.startswith("bind:"):
            return int(self.scenario.split(":")[1], 16)
        if system_id != SYSTEM_ID:
            return 0x0F
        if password != PASSWORD:
            return 0x0E
        return 0

    # -- PDUs ---------------------------------------------------------------------------------

    @staticmethod
    def pdu(command: int, status: int, sequence: int, body: bytes = b"") -> bytes:
        return struct.pack(">LLLL", 16 + len(body), command, status, sequence) + body

    async def _send(self, conn: _Connection, data: bytes) -> None:
        conn.writer.write(data)
        await conn.writer.drain()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = _Connection(writer)
        self._open.append(conn)
        self.connections += 1
        try:
            while True:
                head = await reader.readexactly(4)
                (length,) = struct.unpack(">L", head)
                if length < 16 or length > 65536:
                    self.problems.append(f"command_length {length}")
                    return
                rest = await reader.readexactly(length - 4)
                command, _status, sequence = struct.unpack(">LLL", rest[:12])
                if not await self._handle(conn, command, sequence, rest[12:]):
                    return
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            return  # the client left, or the fake is shutting down
        finally:
            for task in conn.tasks:
                task.cancel()
            if conn in self._open:
                self._open.remove(conn)
            writer.close()

    async def _handle(self, conn: _Connection, command: int, sequence: int, body: bytes) -> bool:
        if command in (BIND_TRANSMITTER, BIND_RECEIVER, BIND_TRANSCEIVER):
            r = _Reader(body)
            system_id, password, system_type = r.cstring(), r.cstring(), r.cstring()
            version = r.int8()
            status = self._bind_status(system_id, password)
            self.binds.append(Bind(command, system_id, password, system_type, version, status))
            reply = b"FakeSMSC\0" if status == 0 else b""
            await self._send(conn, self.pdu(command | RESP, status, sequence, reply))
            if status == 0:
                conn.bound = command
                if self.enquire_every:
                    conn.tasks.append(asyncio.ensure_future(self._enquire(conn)))
            return True
        if command == ENQUIRE_LINK | RESP:
            self.enquire_answers += 1
            return True
        if command == DELIVER_SM | RESP:
            self.receipt_answers += 1
            return True
        if conn.bound is None:
            await self._send(conn, self.pdu(command | RESP, 0x04, sequence))
            return True
        if command == ENQUIRE_LINK:
            self.enquire_links += 1
            await self._send(conn, self.pdu(ENQUIRE_LINK | RESP, 0, sequence))
            return True
        if command == UNBIND:
            self.unbinds += 1
            await self._send(conn, self.pdu(UNBIND | RESP, 0, sequence))
            return False
        if command == SUBMIT_SM:
            return await self._submit(conn, sequence, body)
        await self._send(conn, self.pdu(GENERIC_NACK, 0x03, sequence))
        return True

    def _check(self, submit: Submit) -> int:
        if submit.dest_addr_ton != 1 or submit.dest_addr_npi != 1:
            return 0x50 if submit.dest_addr_ton != 1 else 0x51
        if not submit.destination_addr.isdigit():
            return 0x0B
        letters = any(ch.isalpha() for ch in submit.source_addr)
        ton, npi = submit.source_addr_ton, submit.source_addr_npi
        if letters and (ton, npi) != (5, 0) or not letters and (ton, npi) not in ((1, 1), (3, 0)):
            return 0x48 if (ton, npi)[0] != (5 if letters else ton) else 0x49
        if submit.data_coding not in (0, 8):
            return 0x45
        m = submit.short_message
        if submit.esm_class & 0x40 and (
            len(m) < 6 or m[:3] != b"\x05\x00\x03" or not 1 <= m[5] <= m[4]
        ):
            return 0x43
        payload = submit.payload
        if submit.data_coding == 8:
            if len(payload) % 2:
                self.problems.append("odd UCS-2 length")
            elif payload and 0xD8 <= payload[-2] <= 0xDB:
                self.problems.append("a surrogate pair cut between parts")
        elif payload.endswith(b"\x1b") and (len(payload) - len(payload.rstrip(b"\x1b"))) % 2:
            self.problems.append("a GSM escape cut between parts")
        if submit.data_coding == 0 and any(octet > 0x7F for octet in payload):
            self.problems.append("a GSM octet above 0x7F")
        return 0

    async def _submit(self, conn: _Connection, sequence: int, body: bytes) -> bool:
        r = _Reader(body)
        try:
            service_type = r.cstring()
            source = (r.int8(), r.int8(), r.cstring())
            dest = (r.int8(), r.int8(), r.cstring())
            esm_class = r.int8()
            r.int8(), r.int8()  # protocol_id, priority_flag
            r.cstring(), r.cstring()  # schedule_delivery_time, validity_period
            registered_delivery = r.int8()
            r.int8()  # replace_if_present_flag
            data_coding = r.int8()
            r.int8()  # sm_default_msg_id
            short_message = r.octets(r.int8())
            submit = Submit(
                service_type=service_type,
                source_addr_ton=source[0],
                source_addr_npi=source[1],
                source_addr=source[2],
                dest_addr_ton=dest[0],
                dest_addr_npi=dest[1],
                destination_addr=dest[2],
                esm_class=esm_class,
                registered_delivery=registered_delivery,
                data_coding=data_coding,
                short_message=short_message,
                tlvs=r.tlvs(),
            )
        except (ValueError, IndexError):
            await self._send(conn, self.pdu(SUBMIT_SM | RESP, 0x01, sequence))
            return True
        status = self._check(submit)
        if status == 0 and self.submit_statuses:
            status = self.submit_statuses.pop(0)
        elif status == 0:
            scenario = self.scenario
            if scenario == "reset":
                self.submits.append(submit)
                conn.writer.transport.abort()
                return False
            if scenario == "malformed":
                self.submits.append(submit)
                await self._send(conn, self.pdu(0x0DEADBEE, 0, sequence))
                return True
            if scenario == "slow":
                await asyncio.sleep(self.slow_seconds)
            if scenario == "server_error":
                status = 0x08
            elif scenario.startswith("submit:"):
                status = int(scenario.split(":")[1], 16)
        submit.status = status
        self.submits.append(submit)
        if status != 0:
            await self._send(conn, self.pdu(SUBMIT_SM | RESP, status, sequence, b""))
            return True
        submit.message_id = f"{next(self._ids):X}"
        reply = submit.message_id.encode() + b"\0"
        await self._send(conn, self.pdu(SUBMIT_SM | RESP, 0, sequence, reply))
        if self.receipts and submit.registered_delivery & 1 and conn.bound == BIND_TRANSCEIVER:
            await self._send(conn, self.receipt_pdu(submit.message_id, self.receipt_stat))
        return True

    def receipt_pdu(self, message_id: str, stat: str = "DELIVRD", err: str = "000") -> bytes:
        text = (
            f"id:{message_id} sub:001 dlvrd:{'001' if stat == 'DELIVRD' else '000'} "
            f"submit date:2601051200 done date:2601051201 stat:{stat} err:{err} text:"
        ).encode()
        state = {"DELIVRD": 2, "EXPIRED": 3, "DELETED": 4, "UNDELIV": 5, "ACCEPTD": 6,
                 "UNKNOWN": 7, "REJECTD": 8}.get(stat, 7)  # fmt: skip
        body = (
            b"\0"  # service_type
            + bytes([1, 1]) + b"31612345678\0"  # source: the recipient of the original
            + bytes([5, 0]) + b"Poort\0"  # destination: the original sender
            + bytes([0x04, 0, 0]) + b"\0\0"  # esm_class receipt, protocol, priority, times
            + bytes([0, 0, 0, 0, len(text)]) + text
            + struct.pack(">HH", 0x001E, len(message_id) + 1) + message_id.encode() + b"\0"
            + struct.pack(">HHB", 0x0427, 1, state)
        )  # fmt: skip
        return self.pdu(DELIVER_SM, 0, next(self._seq), body)

    async def _enquire(self, conn: _Connection) -> None:
        assert self.enquire_every is not None
        while True:
            await asyncio.sleep(self.enquire_every)
            await self._send(conn, self.pdu(ENQUIRE_LINK, 0, next(self._seq)))

    def push_receipt(self, message_id: str, stat: str = "DELIVRD", err: str = "000") -> None:
        """Send a receipt to every transceiver connection now (from the test's thread)."""
        assert self._loop is not None

        async def push() -> None:
            for conn in list(self._open):
                if conn.bound in (BIND_TRANSCEIVER, BIND_RECEIVER):
                    await self._send(conn, self.receipt_pdu(message_id, stat, err))

        asyncio.run_coroutine_threadsafe(push(), self._loop).result(timeout=5)

    def drop_all(self) -> None:
        """Abort every open connection, as an SMSC restart would."""
        assert self._loop is not None

        async def drop() -> None:
            for conn in list(self._open):
                conn.writer.transport.abort()

        asyncio.run_coroutine_threadsafe(drop(), self._loop).result(timeout=5)

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> SmscFake:
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            self._server = loop.run_until_complete(
                asyncio.start_server(self._serve, "127.0.0.1", 0)
            )
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            loop.run_forever()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="fake-smsc", daemon=True)
        self._thread.start()
        ready.wait(timeout=5)
        return self

    def stop(self) -> None:
        loop = self._loop
        if loop is None:
            return

        async def shutdown() -> None:
            assert self._server is not None
            self._server.close()
            for conn in list(self._open):
                for task in conn.tasks:
                    task.cancel()
                conn.writer.transport.abort()
            await asyncio.sleep(0)

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(timeout=5)
        pending = asyncio.run_coroutine_threadsafe(_drain_tasks(), loop)
        pending.result(timeout=5)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=5)
        loop.close()
        self._loop = self._thread = None

    def __enter__(self) -> SmscFake:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def _drain_tasks() -> None:
    """Let the connection handlers finish before the loop stops (no 'task destroyed')."""
    current = asyncio.current_task()
    others = [t for t in asyncio.all_tasks() if t is not current]
    for task in others:
        task.cancel()
    await asyncio.gather(*others, return_exceptions=True)
