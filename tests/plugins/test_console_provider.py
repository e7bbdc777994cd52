"""The console provider: an outbox file, the text in the log only in dev mode, its options."""

from __future__ import annotations

import json
import logging

import pytest

from idp.options import OptionsInvalid, validate_options
from idp.sms import ProviderContext
from idp_sms_providers.console import ConsoleOptions, ConsoleProvider
from tests.fakes.clock import FakeClock
from tests.fakes.fixtures import CODE, TEXT, message


def outbox_lines(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_each_send_appends_one_json_line(tmp_path):
    context = ProviderContext(instance_path=tmp_path, clock=FakeClock())
    provider = ConsoleProvider({"outbox": "sms-outbox.jsonl"}, context)
    first = provider.send(message())
    second = provider.send(message(recipient="+31687654321", text="Second"))
    lines = outbox_lines(tmp_path / "sms-outbox.jsonl")
    assert [line["id"] for line in lines] == [first.provider_message_id, second.provider_message_id]
    assert lines[0] == {
        "id": first.provider_message_id,
        "time": "2026-01-05T09:00:00+00:00",
        "to": "+31612345678",
        "from": "Poort",
        "purpose": "login",
        "reference": message().reference,
        "text": TEXT,
    }
    assert first.provider_message_id != second.provider_message_id
    assert (first.raw_code, first.segments) == ("written", 1)
    context.session.close()


def test_a_custom_outbox_name(tmp_path):
    context = ProviderContext(instance_path=tmp_path)
    ConsoleProvider({"outbox": "demo.jsonl"}, context).send(message())
    assert outbox_lines(tmp_path / "demo.jsonl")[0]["text"] == TEXT
    context.session.close()


@pytest.mark.parametrize("dev", [False, True])
def test_the_text_reaches_the_log_only_in_dev_mode(tmp_path, caplog, dev):
    caplog.set_level(logging.DEBUG)
    context = ProviderContext(instance_path=tmp_path, dev=dev)
    ConsoleProvider({}, context).send(message())
    assert (CODE in caplog.text) is dev
    if not dev:
        assert "+31*******78" in caplog.text  # the masked number, so the line is there
    context.session.close()


def test_options(options_box):
    assert validate_options(ConsoleOptions, {}, options_box) == {"outbox": "sms-outbox.jsonl"}
    for bad in ("../outside.jsonl", "sub/dir.jsonl", "x" * 101):
        with pytest.raises(OptionsInvalid) as info:
            validate_options(ConsoleOptions, {"outbox": bad}, options_box)
        assert "outbox" in info.value.errors
