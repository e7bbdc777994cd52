"""The SMS text editor (issue 9): the live count and preview, the same without script, the
segment budget, and texts in any script.

tests/plugins/idp_sms/test_admin_pages.py covers editing, resetting and the budget setting;
this file covers the preview, what the page tells as the admin types, and that
static/sms-template.js counts exactly as idp/sms/encoding.py does.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from idp.admin.sms_templates import count_line
from idp.sms.encoding import GSM_BASIC, GSM_EXTENSION, segments
from idp.verification import messages
from tests.conftest import post_form
from tests.plugins.idp_sms.support import body, events

TEXTS = "/admin/sms-templates"
LOGIN_EN = f"{TEXTS}/login/en"
SCRIPT = Path(__file__).resolve().parents[2] / "static" / "sms-template.js"
LONG = "Your code is {code}. " + "This sentence makes the message longer. " * 7
RTL_EMOJI = "رمز {app} الخاص بك هو {code} 🔐 ينتهي خلال {minutes} دقائق. لا تشاركه مع أحد."


def send(client, template, action=None, path=LOGIN_EN):
    data = {"template": template}
    if action:
        data["action"] = action
    return post_form(client, path, data, page=path)


def preview_text(page: str) -> str:
    match = re.search(
        r'<pre class="card sms-preview" id="template-preview" dir="auto">(.*?)</pre>', page, re.S
    )
    assert match, "no preview"
    return html.unescape(match.group(1))


def count_text(page: str) -> str:
    match = re.search(
        r'<p id="template-count" class="sms-count[^"]*" aria-live="polite">(.*?)</p>', page, re.S
    )
    assert match, "no live count"
    return html.unescape(match.group(1))


# -- without script: the Preview button ----------------------------------------------------------


def test_the_preview_button_shows_the_message_and_saves_nothing(app, admin_client):
    response = send(admin_client, "Hi! {code} is your {app} code ({minutes} min).", "preview")

    assert response.status_code == 200
    page = body(response)
    text = "Hi! 123456 is your Poort code (5 min).\n\n@localhost #123456"
    assert preview_text(page) == text
    assert count_text(page) == f"1 segment · GSM-7 · {len(text)} characters"
    assert "Nothing is saved until you press Save." in page
    assert "Hi! {code} is your {app} code ({minutes} min).</textarea>" in page  # kept
    assert events(app, "sms_template.update") == []
    assert "edited" not in body(admin_client.get(TEXTS))


def test_the_preview_of_a_bad_text_says_why(app, admin_client):
    response = send(admin_client, "Your code is {otp}", "preview")

    assert response.status_code == 400
    page = body(response)
    assert "{otp} is not a placeholder" in page
    assert count_text(page) == "Correct the text to see how it is sent."
    assert events(app, "sms_template.update") == []


def test_the_preview_of_a_text_over_the_budget_warns(app, admin_client):
    response = send(admin_client, LONG, "preview")

    assert response.status_code == 200
    page = body(response)
    assert "Saving this text would be refused" in page
    line = count_text(page)
    assert line.startswith("3 segments · GSM-7 · ") and line.endswith(" · over the budget of 2")
    assert 'class="sms-count over-budget"' in page
    assert events(app, "sms_template.update") == []


def test_a_text_over_the_budget_is_refused_with_its_count(app, admin_client):
    response = send(admin_client, LONG, "save")

    assert response.status_code == 400
    page = body(response)
    assert "This text costs 3 segments (GSM-7) with the code and the @host line" in page
    assert "the budget is 2. Shorten it." in page
    assert count_text(page).startswith("3 segments · GSM-7 · ")
    assert 'aria-invalid="true"' in page
    assert events(app, "sms_template.update") == []


def test_a_right_to_left_text_with_emoji_within_the_budget_is_saved(app, admin_client):
    page = body(send(admin_client, RTL_EMOJI, "preview"))
    assert count_text(page).startswith("2 segments · UCS-2 · ")
    assert '<textarea id="template" name="template" rows="4" required dir="auto"' in page

    response = send(admin_client, RTL_EMOJI)

    assert response.status_code == 303
    [event] = events(app, "sms_template.update")
    assert event.after == {"text": RTL_EMOJI, "segments": 2}
    listing = body(admin_client.get(TEXTS))
    assert f'<pre dir="auto">{html.escape(RTL_EMOJI, quote=False)}</pre>' in listing
    assert ">UCS-2<" in listing
    edit = body(admin_client.get(LOGIN_EN))
    assert preview_text(edit).startswith("رمز Poort الخاص بك هو 123456 🔐")


def test_the_page_carries_what_the_script_needs(admin_client):
    page = body(admin_client.get(LOGIN_EN))

    assert '<script src="/static/sms-template.js" defer></script>' in page
    form = re.search(r"<form [^>]*data-sms-template[^>]*>", page, re.S)
    assert form
    data = dict(re.findall(r'data-([a-z-]+)="([^"]*)"', form.group()))
    assert data["code"] == "123456" and data["minutes"] == "5"
    assert data["app"] == "Poort" and data["host"] == "localhost" and data["budget"] == "2"
    assert data["segment-one"] == "1 segment" and data["segment-many"] == "{n} segments"
    assert data["character-many"] == "{n} characters"
    assert data["units-gsm"] == "GSM-7, {n} septets." and data["over"] == "over the budget of 2"
    assert '<span id="template-units">GSM-7, 77 septets.</span>' in page
    assert not re.search(r"\son[a-z]+=", page)  # no on* handlers: script-src 'self' only
    assert "style=" not in page


def test_the_editor_speaks_dutch(admin_client):
    post_form(admin_client, "/language", {"lang": "nl"}, page=LOGIN_EN)

    page = body(admin_client.get(f"{TEXTS}/login/nl"))

    assert "Inlogcode (Nederlands)" in page
    assert count_text(page).startswith("1 segment · GSM-7 · ")
    assert 'data-segment-many="{n} segmenten"' in page


# -- the script counts as the server does ---------------------------------------------------------

NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed")


def run_script(expression: str, payload: object) -> object:
    """Evaluate *expression* with ``m`` (the script's exports) and ``input`` under node."""
    assert NODE is not None
    program = (
        f"const m = require({json.dumps(str(SCRIPT))});"
        "const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
        f"process.stdout.write(JSON.stringify({expression}));"
    )
    done = subprocess.run(
        [NODE, "-e", program],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return json.loads(done.stdout)


def samples() -> list[str]:
    """Every GSM character alone, the characters around them, and the edges of each limit."""
    single = [chr(n) for n in range(0x0, 0x500)] + sorted(GSM_BASIC | GSM_EXTENSION)
    single += ["€", "😀", "🇳🇱", "\u200f", "ç", "`", "\t", "\ufeff", "𝄞"]
    edges = []
    for length in (0, 1, 70, 71, 134, 135, 152, 153, 154, 159, 160, 161, 306, 307, 459, 460):
        edges.append("a" * length)
        edges.append("é" * length)  # GSM-7
        edges.append("ç" * length)  # UCS-2
    # A two-septet character or a surrogate pair at a part's edge is never split.
    edges += ["a" * 152 + "€" + "a" * 10, "a" * 153 + "{" * 4, "€" * 80, "€" * 81]
    edges += ["a" * 66 + "😀" + "é" * 10, "😀" * 35, "😀" * 36, "ç" * 66 + "😀" * 3]
    edges += [RTL_EMOJI, LONG, "Je code: 123456 🔐\n\n@localhost #123456", "Line\r\nbreak\f"]
    return single + edges


@needs_node
def test_the_script_counts_segments_as_python_does():
    texts = samples()

    counted = run_script("input.map(m.segments)", texts)

    assert isinstance(counted, list) and len(counted) == len(texts)
    for text, js in zip(texts, counted, strict=True):
        python = segments(text)
        assert js == {"encoding": python.encoding, "units": python.units, "count": python.count}, (
            repr(text[:20]),
            len(text),
        )


@needs_node
def test_the_script_renders_and_words_the_count_as_the_server_does(app):
    templates = [
        "Hi! {code} is your {app} code ({minutes} min).",
        "  Code {code}\r\nBye {{friend}}  ",
        RTL_EMOJI,
        LONG,
        "€ {code} [{app}] ~{minutes}~",
    ]
    words = {
        "segmentOne": "1 segment",
        "segmentMany": "{n} segments",
        "characterOne": "1 character",
        "characterMany": "{n} characters",
        "over": "over the budget of 2",
    }
    with app.test_request_context("/", base_url="https://login.example.nl"):
        values = {"code": messages.sample_code(), "minutes": "5", "app": "Poort"}
        values["host"] = "login.example.nl"
        expected = []
        for raw in templates:
            text, info = messages.sample(messages.validate_template(raw))
            expected.append({"text": text, "line": count_line(text, info, 2)})

    rendered = run_script(
        "input.templates.map((t) => { const r = m.render(t, input.values);"
        " return {text: r.text, ok: r.ok, line: m.countLine(r.text, input.words, 2)}; })",
        {"templates": templates, "values": values, "words": words},
    )

    assert rendered == [{**e, "ok": True} for e in expected]


@needs_node
@pytest.mark.parametrize(
    "template",
    ["Your code", "Code {user} {code}", "Code {code", "Code } {code}", "Code {code:>8}", ""],
)
def test_the_script_flags_what_the_server_refuses(template):
    with pytest.raises(Exception):  # noqa: B017 - InvalidInput, with the reason
        messages.validate_template(template)

    result = run_script(
        "m.render(input, {code: '123456', minutes: '5', app: 'P', host: ''})", template
    )

    assert isinstance(result, dict) and result["ok"] is False
