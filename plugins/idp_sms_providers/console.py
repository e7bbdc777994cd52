"""The console provider: for demos and development. Nothing leaves the machine.

Every message is appended, as one JSON line, to ``sms-outbox.jsonl`` in the instance folder.
In dev mode the text is also printed to the log so the person trying Poort sees the code in
the terminal; outside dev mode it is not (codes never go to production logs), and the admin
panel warns that this provider delivers nothing.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading

from flask_babel import lazy_gettext
from wtforms import StringField
from wtforms.validators import Length, Optional, Regexp

from idp.options import OptionsForm
from idp.sms import SmsMessage, SmsProvider, SmsReceipt, segments
from idp.sms.phone import mask

log = logging.getLogger(__name__)
_write_lock = threading.Lock()


class ConsoleOptions(OptionsForm):
    outbox = StringField(
        lazy_gettext("Outbox file in the instance folder"),
        default="sms-outbox.jsonl",
        validators=[
            Optional(),
            Length(max=100),
            Regexp(r"^[\w.-]+$", message=lazy_gettext("A file name only.")),
        ],
    )


class ConsoleProvider(SmsProvider):
    name = "console"
    #: Kept as written (a new verifier's default title); pages show it translated.
    title = "Console (demo, delivers nothing)"
    _title_text = lazy_gettext("Console (demo, delivers nothing)")  # for the catalogues
    options_form = ConsoleOptions
    delivers_nothing = True

    def send(self, message: SmsMessage) -> SmsReceipt:
        message_id = secrets.token_hex(8)
        outbox = self.context.instance_path / (self.options.get("outbox") or "sms-outbox.jsonl")
        record = {
            "id": message_id,
            "time": self.context.clock().isoformat(),
            "to": message.recipient,
            "from": message.sender,
            "purpose": message.purpose,
            "reference": message.reference,
            "text": message.text,
        }
        with _write_lock, outbox.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        if self.context.dev:
            log.warning("[console SMS to %s]\n%s", message.recipient, message.text)
        else:
            log.info("console SMS to %s written to %s", mask(message.recipient), outbox.name)
        return SmsReceipt(
            provider_message_id=message_id,
            raw_code="written",
            raw_meaning=f"written to {outbox.name}",
            segments=segments(message.text).count,
        )
