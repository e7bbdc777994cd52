"""SMPP against the asyncio SMSC fake: bind, TON/NPI, encodings, long messages, statuses,
keep-alive, connection reuse, a dropped connection, delivery receipts."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from idp.sms import ProviderContext, SmsConfigurationError, SmsRecipientError, SmsTemporaryError
from idp.sms.pool import ConnectionPool
from idp.sms.reports import DeliveryReport
from idp_sms_providers import smpp as smpp_module
from idp_sms_providers.smpp import SmppProvider
from idp_sms_providers.smpp_messages import encode, parse_receipt, sender_address
from tests.fakes import smsc
from tests.fakes.fixtures import TEXT, message
from tests.fakes.smsc import SmscFake, decode_gsm


def options(fake: SmscFake, **overrides: Any) -> dict[str, Any]:
    return {
        "host": "127.0.0.1",
        "port": fake.port,
        "system_id": smsc.SYSTEM_ID,
        "password": smsc.PASSWORD,
        "system_type": "OTP",
        "timeout": 0.5,
        **overrides,
    }


def send(fake: SmscFake, msg=None, context: ProviderContext | None = None, **overrides: Any):
    return SmppProvider(options(fake, **overrides), context or ProviderContext()).send(
        msg or message()
    )


@pytest.fixture
def pool() -> Iterator[ConnectionPool]:
    pool = ConnectionPool(keeper_interval=0)  # no keeper thread unless a test wants one
    yield pool
    pool.close()


def wait_for(check, seconds: float = 3.0) -> bool:
    """Poll *check* until it holds (bounded; no timing is asserted)."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def reassemble(fake: SmscFake) -> str:
    parts = sorted(fake.submits, key=lambda s: s.udh[2] if s.udh else 0)
    payload = b"".join(p.payload for p in parts)
    if parts[0].data_coding == 8:
        return payload.decode("utf-16-be")
    return decode_gsm(payload)


# -- encoding ---------------------------------------------------------------------------------


def test_a_short_gsm_text_is_one_part_without_header():
    encoded = encode("Code 918273 {ok}")
    assert (encoded.data_coding, encoded.esm_class, len(encoded.parts)) == (0, 0, 1)
    assert encoded.parts[0].count(0x1B) == 2  # { and } are escape pairs


@pytest.mark.parametrize(
    ("text", "coding", "parts"),
    [
        ("a" * 160, 0, 1),
        ("a" * 161, 0, 2),
        ("€" * 80, 0, 1),  # 160 septets
        ("€" * 81, 0, 2),
        ("é" * 160, 0, 1),  # é is in the GSM alphabet
        ("ç" * 70, 8, 1),  # ç is not
        ("ç" * 71, 8, 2),
        ("😀" * 35, 8, 1),
        ("😀" * 36, 8, 2),
    ],
)
def test_segment_boundaries(text, coding, parts):
    encoded = encode(text)
    assert (encoded.data_coding, len(encoded.parts)) == (coding, parts)


def test_an_escape_pair_is_never_cut_between_parts():
    encoded = encode("a" * 152 + "€" + "b" * 10, reference=7)
    first, second = encoded.parts
    assert first[:6] == bytes([5, 0, 3, 7, 2, 1]) and second[:6] == bytes([5, 0, 3, 7, 2, 2])
    assert len(first) - 6 == 152 and not first.endswith(b"\x1b")
    assert second[6:8] == b"\x1b\x65"


def test_a_surrogate_pair_is_never_cut_between_parts():
    encoded = encode("ç" * 66 + "😀" + "x" * 5, reference=1)
    first, second = encoded.parts
    assert len(first) - 6 == 132  # 66 units: the emoji's two would make 68 > 67
    assert second[6:].decode("utf-16-be") == "😀xxxxx"


def test_more_than_255_parts_is_refused():
    with pytest.raises(ValueError):
        encode("a" * (153 * 255 + 1))


@pytest.mark.parametrize(
    ("sender", "expected"),
    [
        ("Poort", (5, 0, "Poort")),
        ("+31612345678", (1, 1, "31612345678")),
        ("31612345678", (1, 1, "31612345678")),
        ("3185", (3, 0, "3185")),
    ],
)
def test_sender_ton_npi(sender, expected):
    assert sender_address(sender) == expected


# -- against the SMSC -------------------------------------------------------------------------


def test_bind_and_submit_fields(smsc_fake):
    receipt = send(smsc_fake)
    bind = smsc_fake.binds[-1]
    assert (bind.command, bind.system_id, bind.password, bind.system_type) == (
        smsc.BIND_TRANSMITTER,
        smsc.SYSTEM_ID,
        smsc.PASSWORD,
        "OTP",
    )
    assert bind.interface_version == 0x34
    sent = smsc_fake.submits[-1]
    assert (sent.source_addr_ton, sent.source_addr_npi, sent.source_addr) == (5, 0, "Poort")
    assert (sent.dest_addr_ton, sent.dest_addr_npi, sent.destination_addr) == (1, 1, "31612345678")
    assert (sent.data_coding, sent.esm_class, sent.registered_delivery) == (0, 0, 1)
    assert sent.text() == TEXT
    assert receipt.provider_message_id == sent.message_id
    assert (receipt.raw_code, receipt.segments) == ("0x00", 1)
    assert smsc_fake.unbinds == 1  # without a pool: bind, submit, unbind


def test_a_numeric_sender(smsc_fake):
    send(smsc_fake, message(sender="+31201234567"))
    sent = smsc_fake.submits[-1]
    assert (sent.source_addr_ton, sent.source_addr_npi, sent.source_addr) == (1, 1, "31201234567")


@pytest.mark.parametrize(
    "text",
    [
        "a" * 152 + "€" * 5 + "{[]}" * 40,  # GSM with escape pairs around every boundary
        "Ваш код 918273. " * 12,  # UCS-2
        "ç" * 66 + "😀" * 40,  # surrogate pairs around the boundaries
    ],
)
def test_long_messages_arrive_whole(smsc_fake, text):
    receipt = send(smsc_fake, message(text=text))
    assert receipt.segments == len(smsc_fake.submits) > 1
    assert {s.udh[1] for s in smsc_fake.submits} == {len(smsc_fake.submits)}
    assert len({s.udh[0] for s in smsc_fake.submits}) == 1
    assert all(s.esm_class & 0x40 for s in smsc_fake.submits)
    assert smsc_fake.problems == []
    assert reassemble(smsc_fake) == text
    assert receipt.provider_message_id == smsc_fake.submits[0].message_id


@pytest.mark.parametrize(
    ("status", "error", "meaning"),
    [
        (0x58, SmsTemporaryError, "throttled"),
        (0x14, SmsTemporaryError, "message queue full"),
        (0x08, SmsTemporaryError, "system error"),
        (0x45, SmsTemporaryError, "submit failed"),
        (0x04, SmsTemporaryError, "wrong bind state"),
        (0x0B, SmsRecipientError, "invalid destination address"),
        (0x65, SmsRecipientError, "permanent application error"),
        (0x0A, SmsConfigurationError, "invalid source address"),
        (0x48, SmsConfigurationError, "invalid source TON"),
        (0x01, SmsConfigurationError, "message length invalid"),
        (0x0400, SmsTemporaryError, "unknown status"),
    ],
)
def test_submit_statuses(smsc_fake, status, error, meaning):
    smsc_fake.submit_statuses = [status]
    with pytest.raises(error) as caught:
        send(smsc_fake)
    assert (caught.value.raw_code, caught.value.raw_meaning) == (f"0x{status:02X}", meaning)


@pytest.mark.parametrize(
    ("scenario", "overrides", "raw_code", "meaning"),
    [
        ("bind:0D", {}, "0x0D", "bind failed"),
        ("success", {"password": "wrong"}, "0x0E", "invalid password"),
        ("success", {"system_id": "nobody"}, "0x0F", "invalid system id"),
        ("auth_failure", {}, "0x0E", "invalid password"),
    ],
)
def test_bind_failures_are_configuration_errors(smsc_fake, scenario, overrides, raw_code, meaning):
    smsc_fake.scenario = scenario
    with pytest.raises(SmsConfigurationError) as caught:
        send(smsc_fake, **overrides)
    assert (caught.value.raw_code, caught.value.raw_meaning) == (raw_code, meaning)
    assert smsc_fake.submits == []


def test_nobody_listening_is_temporary(smsc_fake):
    port = smsc_fake.port
    smsc_fake.stop()
    with pytest.raises(SmsTemporaryError) as caught:
        SmppProvider(
            {"host": "127.0.0.1", "port": port, "system_id": "x", "password": "y", "timeout": 0.5}
        ).send(message())
    assert caught.value.raw_meaning == "connection failed"


def test_a_missing_library_is_a_clear_configuration_error(smsc_fake, monkeypatch):
    monkeypatch.setattr(smpp_module, "smpplib", None)
    with pytest.raises(SmsConfigurationError, match=r"poort\[smpp\]"):
        send(smsc_fake)


# -- connections ------------------------------------------------------------------------------


def test_a_pool_reuses_one_bound_connection(smsc_fake, pool):
    context = ProviderContext(connections=pool)
    for _ in range(3):
        send(smsc_fake, context=context)
    assert (len(smsc_fake.binds), smsc_fake.connections, len(smsc_fake.submits)) == (1, 1, 3)
    pool.close()
    assert smsc_fake.unbinds == 1


def test_a_refusal_keeps_the_connection(smsc_fake, pool):
    context = ProviderContext(connections=pool)
    smsc_fake.submit_statuses = [0x58]
    with pytest.raises(SmsTemporaryError):
        send(smsc_fake, context=context)
    send(smsc_fake, context=context)
    assert len(smsc_fake.binds) == 1


@pytest.mark.parametrize("scenario", ["reset", "malformed", "slow"])
def test_a_failed_connection_gives_a_temporary_error_and_a_fresh_bind(smsc_fake, pool, scenario):
    context = ProviderContext(connections=pool)
    send(smsc_fake, context=context)
    smsc_fake.scenario = scenario
    with pytest.raises(SmsTemporaryError) as caught:
        send(smsc_fake, context=context)
    assert caught.value.__cause__ is not None
    assert pool.idle_count() == 0  # the broken connection was not kept
    smsc_fake.scenario = "success"
    assert send(smsc_fake, context=context).raw_code == "0x00"
    assert len(smsc_fake.binds) == 2


def test_an_smsc_restart_between_messages_is_survived(smsc_fake, pool):
    context = ProviderContext(connections=pool)
    send(smsc_fake, context=context)
    smsc_fake.drop_all()
    assert wait_for(lambda: smsc_fake.connections == 1 and not smsc_fake._open)
    assert send(smsc_fake, context=context).raw_code == "0x00"
    assert len(smsc_fake.binds) == 2


def test_the_keeper_sends_enquire_link_on_an_idle_connection(smsc_fake):
    pool = ConnectionPool(keeper_interval=0.02)
    try:
        context = ProviderContext(connections=pool)
        send(smsc_fake, context=context, keepalive=0.05)
        assert wait_for(lambda: smsc_fake.enquire_links >= 2)
        send(smsc_fake, context=context, keepalive=0.05)
        assert len(smsc_fake.binds) == 1
    finally:
        pool.close()


def test_a_long_idle_connection_proves_itself_before_use(smsc_fake, pool):
    context = ProviderContext(connections=pool)
    send(smsc_fake, context=context, keepalive=0.01)
    assert smsc_fake.enquire_links == 0
    time.sleep(0.02)  # idle past the (tiny) keep-alive interval
    send(smsc_fake, context=context, keepalive=0.01)
    assert smsc_fake.enquire_links == 1


def test_the_smscs_enquire_links_are_answered(pool):
    with SmscFake(enquire_every=0.02) as fake:
        pool.keeper_interval = 0.02
        context = ProviderContext(connections=pool)
        send(fake, context=context, keepalive=60)
        assert wait_for(lambda: fake.enquire_answers >= 2)
        send(fake, context=context, keepalive=60)
        assert len(fake.binds) == 1


# -- delivery receipts ------------------------------------------------------------------------


def test_receipts_on_a_transceiver_reach_the_sink(smsc_fake, pool):
    got: list[DeliveryReport] = []
    context = ProviderContext(connections=pool, report_sink=got.append)
    receipt = send(smsc_fake, context=context, bind_mode="transceiver")
    assert smsc_fake.binds[-1].command == smsc.BIND_TRANSCEIVER
    send(smsc_fake, context=context, bind_mode="transceiver")  # reads the first receipt
    assert got and got[0].provider_message_id == receipt.provider_message_id
    assert (got[0].outcome, got[0].raw_code) == ("delivered", "DELIVRD:000")
    smsc_fake.push_receipt("ABC123", "UNDELIV", "005")
    pool.keepalive()  # what the keeper thread does: read what the SMSC sent meanwhile
    assert got[-1].provider_message_id == "ABC123" and got[-1].outcome == "undelivered"
    assert wait_for(lambda: smsc_fake.receipt_answers >= 3)


def test_parse_receipt():
    class Pdu:
        esm_class = 0x04
        short_message = b"id:77 sub:001 dlvrd:000 submit date:2601051200 stat:EXPIRED err:001"
        receipted_message_id = None
        message_state = None

    report = parse_receipt(Pdu())
    assert report is not None
    assert (report.provider_message_id, report.outcome, report.reason) == (
        "77",
        "undelivered",
        "expired (err 001)",
    )
    Pdu.esm_class = 0  # a message from a handset, not a receipt
    assert parse_receipt(Pdu()) is None
    Pdu.esm_class, Pdu.short_message = 0x04, b"id:77 stat:ACCEPTD err:000"
    assert parse_receipt(Pdu()) is None
