"""The texts that carry codes, per purpose and per language.

Admins may replace the built-in texts in the panel (site setting ``sms_templates``:
``{purpose: {language: template}}``). A template may use ``{code}`` (required), ``{minutes}``
(how long the code lives) and ``{app}`` (the site name), nothing else. Every text ends in the
origin-bound line ``@host #code``, added here and never typed by admins, so browsers offer the
code only on our own site (WebOTP, Safari autofill).
"""

from __future__ import annotations

import re
import string
from urllib.parse import urlsplit

from flask import has_request_context, request

from idp import site_settings, state
from idp.errors import InvalidInput
from idp.sms.encoding import Segments, segments

#: The languages texts exist in; the first is the fallback.
LANGUAGES = ("en", "nl")
#: The only placeholders a template may use.
PLACEHOLDERS = frozenset({"code", "minutes", "app"})
#: Longest template an admin may store (before the placeholders are filled in).
MAX_TEMPLATE_LENGTH = 480
#: Segments a rendered code text may cost unless the admin sets another budget.
DEFAULT_SEGMENT_BUDGET = 2

BUILT_IN: dict[str, dict[str, str]] = {
    "en": {
        "login": "Your {app} login code is {code}. It expires in {minutes} minutes.",
        "signup": "Your {app} sign-up code is {code}. It expires in {minutes} minutes.",
        "second_factor": "Your {app} verification code is {code}. It expires in {minutes} minutes.",
        "enrolment": "Your {app} code to add this phone is {code}. "
        "It expires in {minutes} minutes.",
        "phone_change": "Your {app} code to confirm this new number is {code}. "
        "It expires in {minutes} minutes.",
        "admin_test": "Your {app} test code is {code}. Type it in the admin panel to confirm "
        "this verifier.",
    },
    "nl": {
        "login": "Je {app}-inlogcode is {code}. Deze verloopt over {minutes} minuten.",
        "signup": "Je {app}-aanmeldcode is {code}. Deze verloopt over {minutes} minuten.",
        "second_factor": "Je {app}-verificatiecode is {code}. "
        "Deze verloopt over {minutes} minuten.",
        "enrolment": "Je {app}-code om deze telefoon toe te voegen is {code}. "
        "Deze verloopt over {minutes} minuten.",
        "phone_change": "Je {app}-code om dit nieuwe nummer te bevestigen is {code}. "
        "Deze verloopt over {minutes} minuten.",
        "admin_test": "Je {app}-testcode is {code}. Typ deze in het beheerpaneel om deze "
        "verifier te bevestigen.",
    },
}
#: The English texts (kept under their old name).
DEFAULT_TEMPLATES = BUILT_IN["en"]
#: Every purpose a code text exists for, in the order the panel lists them.
PURPOSES = tuple(DEFAULT_TEMPLATES)

# A line an admin typed that looks like the origin-bound line ("@host #123456").
_ORIGIN_LINE = re.compile(r"^\s*@\S+\s+#", re.MULTILINE)


def site_host() -> str | None:
    """The host people see in the address bar, for the origin-bound line."""
    if has_request_context():
        return urlsplit(request.host_url).hostname
    # Outside a request (the CLI, a queue worker): the issuer's host is where people sign in.
    return urlsplit(state.current().settings.issuer).hostname


def request_language() -> str:
    """The best of :data:`LANGUAGES` for the browser of this request (English outside one)."""
    if has_request_context():
        from idp.i18n import current_language  # the pages' language: the person's choice

        language = current_language()
        return language if language in LANGUAGES else LANGUAGES[0]
    return LANGUAGES[0]


def validate_template(raw: str) -> str:
    """Check an admin's template and return it tidied (line ends, outer whitespace).

    :raises InvalidInput: naming what is wrong, on field ``template``.
    """
    text = (raw or "").replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        raise InvalidInput("Type the text, or reset it to the built-in one.", field="template")
    if len(text) > MAX_TEMPLATE_LENGTH:
        raise InvalidInput(
            f"Use at most {MAX_TEMPLATE_LENGTH} characters ({len(text)} now).", field="template"
        )
    try:
        parts = list(string.Formatter().parse(text))
    except ValueError:
        raise InvalidInput(
            "A brace is not closed. Write placeholders as {code}, {minutes} or {app}; "
            "write a literal brace twice: {{ or }}.",
            field="template",
        ) from None
    names = set()
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if name not in PLACEHOLDERS or spec or conversion:
            shown = name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
            raise InvalidInput(
                f"{{{shown}}} is not a placeholder. Use only {{code}}, {{minutes}} and {{app}}.",
                field="template",
            )
        names.add(name)
    if "code" not in names:
        raise InvalidInput("The text must contain {code}.", field="template")
    if _ORIGIN_LINE.search(text):
        raise InvalidInput(
            "Leave out the line that starts with @: Poort always adds it (@host #code).",
            field="template",
        )
    return text


def stored_templates() -> dict[str, dict[str, str]]:
    value = site_settings.get("sms_templates")
    return value if isinstance(value, dict) else {}


def custom_template(purpose: str, language: str) -> str | None:
    """The admin's template for *purpose* in *language*, or None when the built-in applies."""
    by_language = stored_templates().get(str(purpose))
    if not isinstance(by_language, dict):
        return None
    text = by_language.get(language)
    return text if isinstance(text, str) and text else None


def built_in_template(purpose: str, language: str) -> str:
    texts = BUILT_IN.get(language, DEFAULT_TEMPLATES)
    return texts.get(str(purpose)) or DEFAULT_TEMPLATES.get(str(purpose)) or texts["login"]


def template_for(purpose: str, language: str = "en") -> str:
    """The template in use: the admin's when stored, else the built-in one."""
    language = language if language in LANGUAGES else LANGUAGES[0]
    return custom_template(purpose, language) or built_in_template(purpose, language)


def _fill(template: str, code: str) -> str:
    settings = state.current().settings
    return template.format(
        app=settings.site_name, code=code, minutes=max(1, settings.code_ttl_seconds // 60)
    )


def render(template: str, code: str, host: str | None) -> str:
    """*template* with its placeholders filled in and the origin-bound line appended."""
    text = _fill(template, code)
    return f"{text}\n\n@{host} #{code}" if host else text


def code_text(purpose: str, code: str, host: str | None = None, language: str = "en") -> str:
    """The message for *purpose* with *code* filled in, in *language* when a text exists."""
    language = language if language in LANGUAGES else LANGUAGES[0]
    template = template_for(purpose, language)
    host = host or site_host()
    try:
        return render(template, code, host)
    except (KeyError, IndexError, ValueError, AttributeError):
        # A stored text that no longer validates (edited outside the panel): never lose a code.
        return render(built_in_template(purpose, language), code, host)


def sample_code() -> str:
    """A code of the configured length, for counting segments ("123456")."""
    length = state.current().settings.code_length
    return "".join(str((i + 1) % 10) for i in range(length))


def sample(template: str, host: str | None = None) -> tuple[str, Segments]:
    """*template* rendered as a real message would be, with its encoding and segment count."""
    text = render(template, sample_code(), host or site_host())
    return text, segments(text)


def segment_budget() -> int:
    value = site_settings.get("sms_segment_budget")
    return value if isinstance(value, int) and value > 0 else DEFAULT_SEGMENT_BUDGET
