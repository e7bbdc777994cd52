"""Form fields follow the web's conventions, checked in the templates themselves (issue 9).

Every field someone fills in has a label: a ``<label for=...>`` naming its id, a ``<label>``
around it, or ``aria-label`` / ``aria-labelledby``. And browsers, password managers and phone
keyboards get the hints they understand:

- phone numbers: ``type=tel``, and ``autocomplete=tel`` where it is the person's own number;
- codes by SMS or from an app: ``inputmode=numeric autocomplete=one-time-code``; recovery
  codes are letters and digits, and are never filled in from a text message;
- user names: ``autocomplete=username``; passwords: ``current-password`` to sign in or
  confirm, ``new-password`` to set or change one;
- text fields in the admin panel say ``autocomplete``, so a browser does not fill the admin's
  own name into an application's or a verifier's.

Fields made by WTForms (the options of plugins) come from Python, not from these templates; their
labels are WTForms' own ``<label for>``. And a table's scrolling box takes the keyboard focus.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

CHECKOUT = Path(__file__).resolve().parent.parent
TEMPLATE_DIRS = [CHECKOUT / "templates", *sorted((CHECKOUT / "plugins").glob("*/templates"))]

#: Inputs nobody types into.
NOT_FILLED_IN = {"hidden", "submit", "button", "reset", "image"}
#: Input types that take free text (a missing type is text).
TEXT_LIKE = {"text", "search", "url", "email", "tel", None}

_TAG = re.compile(r"<(/?)(input|select|textarea|label)\b((?:[^>\"']|\"[^\"]*\"|'[^']*')*)>", re.I)
_ATTRIBUTE = re.compile(r"([^\s=/>\"']+)(?:\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s\"'>]+))?")
_STATEMENT = re.compile(r"\{%.*?%\}", re.S)
_EXPRESSION = re.compile(r"\{\{.*?\}\}", re.S)
_COMMENT = re.compile(r"\{#.*?#\}", re.S)


@dataclass
class Field:
    where: str
    tag: str
    attrs: dict[str, str | None]
    in_label: bool

    def get(self, name: str) -> str | None:
        return self.attrs.get(name)

    @property
    def type(self) -> str | None:
        value = self.attrs.get("type")
        if self.tag != "input":
            return self.tag
        if value is None or "{{" in value:
            return None  # a macro's type parameter: treat it as text
        return value.lower()


def _attributes(body: str) -> dict[str, str | None]:
    """The attributes of a tag; ``{% if %}`` around an attribute counts as present, and a
    ``{{ macro() }}`` that prints attributes is skipped."""
    body = _STATEMENT.sub(" ", body)
    body = _EXPRESSION.sub(lambda m: m.group() if '"' not in m.group() else " ", body)
    attrs: dict[str, str | None] = {}
    for match in _ATTRIBUTE.finditer(body):
        name, value = match.group(1).lower(), match.group(2)
        if value is not None and value[:1] in "\"'":
            value = value[1:-1]
        attrs.setdefault(name, value)
    return attrs


def parse(text: str, where: str = "markup") -> tuple[list[Field], set[str]]:
    """The fields of *text* and the ids its ``<label for>`` elements name."""
    text = _COMMENT.sub("", text)
    fields: list[Field] = []
    label_for: set[str] = set()
    open_labels = 0
    for match in _TAG.finditer(text):
        closing, tag, body = match.group(1), match.group(2).lower(), match.group(3)
        line = text.count("\n", 0, match.start()) + 1
        if tag == "label":
            if closing:
                open_labels = max(0, open_labels - 1)
                continue
            attrs = _attributes(body)
            if attrs.get("for"):
                label_for.add(str(attrs["for"]))
            open_labels += 1
            continue
        if closing:
            continue
        fields.append(Field(f"{where}:{line}", tag, _attributes(body), open_labels > 0))
    return fields, label_for


def problems(text: str, where: str = "markup", *, admin: bool = False) -> list[str]:
    found: list[str] = []
    fields, label_for = parse(text, where)
    for field in fields:
        kind = field.type
        name = (field.get("name") or "").lower()
        autocomplete = (field.get("autocomplete") or "").lower()

        def bad(message: str, field: Field = field) -> None:
            found.append(f"{field.where}: <{field.tag} name={field.get('name')!r}> {message}")

        if kind in NOT_FILLED_IN:
            continue
        # Labels. An input with the hidden attribute (the user name a password manager saves
        # beside a password) is never shown.
        labelled = (
            field.in_label
            or (field.get("id") is not None and field.get("id") in label_for)
            or field.get("aria-label")
            or field.get("aria-labelledby")
        )
        if not labelled and "hidden" not in field.attrs:
            bad("has no label: add <label for=id>, or aria-label")
        # Phone numbers.
        if name in ("phone", "recipient", "tel") or kind == "tel":
            if kind != "tel":
                bad('is a phone number: use type="tel"')
            if name == "phone" and autocomplete != "tel":
                bad('is the person\'s phone number: use autocomplete="tel"')
            if not autocomplete:
                bad("is a phone number: say autocomplete (tel, or off for someone else's)")
        # Codes.
        if name == "code":
            numeric = field.get("inputmode") == "numeric"
            recovery = (field.get("autocapitalize") or "") == "characters"
            if numeric and autocomplete != "one-time-code":
                bad('is a code: use autocomplete="one-time-code"')
            if not numeric and not recovery:
                bad('is a code: use inputmode="numeric" (or autocapitalize for a recovery code)')
            if recovery and autocomplete != "off":
                bad('is a recovery code: use autocomplete="off", never one-time-code')
        if autocomplete == "one-time-code" and field.get("inputmode") != "numeric":
            bad('takes a one-time code: use inputmode="numeric"')
        # User names and passwords.
        if name in ("login", "username") and autocomplete != "username":
            bad('is a user name: use autocomplete="username"')
        if kind == "password":
            wanted = "new-password" if "new" in name else "current-password"
            if autocomplete != wanted:
                bad(f'is a password: use autocomplete="{wanted}"')
        if name == "email" and (kind != "email" or autocomplete != "email"):
            bad('is an e-mail address: use type="email" autocomplete="email"')
        # Admin text fields never take the admin's own details.
        if admin and kind in TEXT_LIKE and not autocomplete:
            bad('is an admin text field: say autocomplete (usually "off")')
    return found


def _templates() -> list[Path]:
    files = sorted(path for d in TEMPLATE_DIRS for path in d.rglob("*.html"))
    assert len(files) > 20, TEMPLATE_DIRS  # the scan must not pass by finding nothing
    return files


def test_every_field_in_every_template_follows_the_conventions():
    found = []
    fields = 0
    for path in _templates():
        relative = path.relative_to(CHECKOUT)
        text = path.read_text(encoding="utf-8")
        fields += len(parse(text)[0])
        found += problems(text, str(relative), admin="admin" in relative.parts)

    assert fields > 40  # the parser found the fields
    assert not found, "\n".join(found)


def test_the_conventions_hold_where_they_matter_most():
    """The fields people sign in with, found by the parser as they are."""
    by_name: dict[str, list[Field]] = {}
    for path in _templates():
        for field in parse(path.read_text(encoding="utf-8"), path.name)[0]:
            by_name.setdefault(str(field.get("name")), []).append(field)

    phones = [f for f in by_name["phone"] if f.type == "tel"]
    assert len(phones) >= 3 and all(f.get("autocomplete") == "tel" for f in phones)
    codes = [f for f in by_name["code"] if f.get("autocomplete") == "one-time-code"]
    assert len(codes) >= 4 and all(f.get("inputmode") == "numeric" for f in codes)
    assert [f.get("autocomplete") for f in by_name["login"]] == ["username"]
    passwords = [f for f in by_name["password"] if f.type == "password"]
    assert len(passwords) >= 2
    assert {f.get("autocomplete") for f in passwords} == {"current-password"}


# -- the checker itself -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("markup", "says"),
    [
        ('<input id="x" name="nickname" type="text">', "no label"),
        ('<label for="y">Y</label><input id="x" name="nickname">', "no label"),
        (
            '<label for="p">Phone</label>'
            '<input id="p" name="phone" type="text" autocomplete="tel">',
            'type="tel"',
        ),
        ('<label for="p">Phone</label><input id="p" name="phone" type="tel">', "autocomplete"),
        (
            '<label for="c">Code</label><input id="c" name="code" inputmode="numeric">',
            "one-time-code",
        ),
        ('<label for="c">Code</label><input id="c" name="code" type="text">', "inputmode"),
        (
            '<label for="c">C</label><input id="c" name="c" autocomplete="one-time-code">',
            "inputmode",
        ),
        ('<label for="l">User</label><input id="l" name="login" type="text">', "username"),
        (
            '<label for="p">Password</label><input id="p" name="password" type="password">',
            "current-password",
        ),
        (
            '<label for="n">New</label><input id="n" name="new_password" type="password" '
            'autocomplete="current-password">',
            "new-password",
        ),
        (
            '<label for="r">Code</label><input id="r" name="code" autocapitalize="characters" '
            'autocomplete="one-time-code">',
            "recovery code",
        ),
        ('<select name="x"></select>', "no label"),
        ('<textarea name="x"></textarea>', "no label"),
    ],
)
def test_the_checker_catches(markup, says):
    found = problems(markup)
    assert found and says in "\n".join(found), found


def test_the_checker_knows_admin_text_fields():
    markup = '<label for="n">Name</label><input id="n" name="name" type="text">'
    assert not problems(markup)
    assert "admin text field" in "\n".join(problems(markup, admin=True))


@pytest.mark.parametrize(
    "markup",
    [
        '<input type="hidden" name="csrf_token" value="{{ csrf_token() }}">',
        '<label><input type="checkbox" name="x"> X</label>',
        '<label for="{{ id }}">P</label>\n<input id="{{ id }}" name="phone" type="tel"\n'
        '  autocomplete="tel" {% if errors %}aria-invalid="true"{% endif %}>',
        '<input name="q" type="search" aria-label="Search">',
        '<input type="text" name="username" autocomplete="username" hidden>',
        '{# <input name="x"> #}',
        '<label for="c">Code</label><input id="c" name="code" type="text" inputmode="numeric" '
        'autocomplete="one-time-code" {% if errors.get("code") %}aria-invalid="true"{% endif %}>',
    ],
)
def test_the_checker_lets_pass(markup):
    assert not problems(markup)


def test_every_table_box_that_may_scroll_takes_the_keyboard_focus():
    """On a phone a wide table scrolls sideways inside ``.table-wrap``; keyboard users can
    only scroll it when the box takes the focus (axe-core: scrollable-region-focusable)."""
    boxes = [
        f"{path.relative_to(CHECKOUT)}:{text.count(chr(10), 0, match.start()) + 1}"
        for path in _templates()
        for text in [path.read_text(encoding="utf-8")]
        for match in re.finditer(r"<div\b[^>]*\bclass=\"[^\"]*\btable-wrap\b[^>]*>", text)
        if 'tabindex="0"' not in match.group()
    ]

    assert not boxes, 'add tabindex="0" to:\n' + "\n".join(boxes)
