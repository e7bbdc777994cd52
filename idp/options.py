"""Plugin options: declared once as a WTForms form, validated the same way everywhere.

The admin panel, the CLI and the tables of poort.toml all pass their input through
:func:`validate_options`, so a value that the panel would refuse is refused at start-up too.
Fields of type :class:`SecretField` are sealed in the secret box before they are stored,
are never rendered back, and keep their stored value when submitted empty.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from flask_babel import get_locale
from flask_babel import gettext as _
from markupsafe import Markup
from werkzeug.datastructures import MultiDict
from wtforms import Form, PasswordField
from wtforms.fields import BooleanField
from wtforms.meta import DefaultMeta

if TYPE_CHECKING:
    from idp.security.secret_box import SecretBox

#: How a stored secret is told apart from a plain string in the options JSON.
SEALED = "$sealed"


class _Meta(DefaultMeta):
    """WTForms' own messages ("This field is required.") in the language of the page; English
    outside a request (the command line, poort.toml)."""

    def get_translations(self, form: Any) -> Any:
        locale = get_locale()
        language = locale.language if locale is not None else "en"
        self.locales = False if language == "en" else [language]
        try:
            return super().get_translations(form)
        except OSError:  # WTForms has no catalogue for this language: its English
            return None


class OptionsForm(Form):
    """Base class of a plugin's options form. Subclass it and add fields.

    Labels, descriptions and messages given at import time are ``lazy_gettext`` texts, so the
    admin panel shows them in the admin's language.
    """

    Meta = _Meta


class SecretField(PasswordField):
    """A password, API key or token: encrypted at rest, never shown again, blank keeps it."""

    def __call__(self, **kwargs: Any) -> Markup:
        kwargs.setdefault("autocomplete", "off")
        return super().__call__(**kwargs)


class OptionsInvalid(ValueError):
    """The options did not validate; ``errors`` maps field name to its messages."""

    def __init__(self, errors: Mapping[str, list[str]]) -> None:
        self.errors = dict(errors)
        summary = "; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in self.errors.items())
        super().__init__(summary)


def secret_names(form_cls: type[OptionsForm]) -> set[str]:
    return {field.name for field in form_cls() if isinstance(field, SecretField)}


def is_sealed(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {SEALED}


def to_formdata(values: Mapping[str, Any]) -> MultiDict[str, str]:
    """Typed values (from TOML, JSON or the CLI) as the strings a browser would send."""
    data: MultiDict[str, str] = MultiDict()
    for key, value in values.items():
        if value is None or value is False:
            continue
        if value is True:
            data.add(key, "y")
        elif isinstance(value, list | tuple):
            for item in value:
                data.add(key, str(item))
        else:
            data.add(key, str(value))
    return data


def bind_form(
    form_cls: type[OptionsForm], stored: Mapping[str, Any] | None = None, formdata: Any = None
) -> OptionsForm:
    """A form for display or validation; stored secrets are never put into it."""
    secrets_ = secret_names(form_cls)
    shown = {k: v for k, v in (stored or {}).items() if k not in secrets_}
    return form_cls(formdata=formdata, data=shown, prefix="options-")


def validate_options(
    form_cls: type[OptionsForm],
    formdata: Any,
    box: SecretBox,
    stored: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Validate submitted options and return what to store (secrets sealed).

    *formdata* is a request's form (fields prefixed ``options-``) or a plain mapping of
    typed values (no prefix), as the CLI and poort.toml give them.

    :raises OptionsInvalid: naming each field that is wrong.
    """
    errors: dict[str, list[str]] = {}
    if not hasattr(formdata, "getlist"):
        # Typed input names its keys itself, so a misspelt key is an error, not silently dropped.
        blank = bind_form(form_cls, stored)
        known = {field.short_name for field in blank}
        for key in sorted(set(formdata) - known):
            expected = ", ".join(sorted(known)) or "none"
            errors[key] = [
                _("Unknown option (this method takes: %(expected)s).", expected=expected)
            ]
        # A key left out keeps its stored value or the field's default (a browser sends them all).
        typed = {f.short_name: f.data for f in blank if not isinstance(f, SecretField)}
        typed.update(formdata)
        formdata = MultiDict([(f"options-{k}", v) for k, v in to_formdata(typed).items(multi=True)])
    form = bind_form(form_cls, stored, formdata)
    stored = stored or {}
    if not form.validate():
        # str(): a message given at import time is a lazy text; callers join them.
        errors.update(
            {name.removeprefix("options-"): [str(m) for m in e] for name, e in form.errors.items()}
        )
    result: dict[str, Any] = {}
    for field in form:
        key = field.short_name
        if isinstance(field, SecretField):
            if field.data:
                result[key] = {SEALED: box.seal(field.data)}
            elif is_sealed(stored.get(key)):
                result[key] = stored[key]
                errors.pop(key, None)  # left blank on purpose: the stored secret stays
            elif field.flags.required:
                errors[key] = [_("This secret is required.")]
        elif isinstance(field, BooleanField):
            result[key] = bool(field.data)
        else:
            result[key] = field.data
    if errors:
        raise OptionsInvalid(errors)
    return result


def open_options(stored: Mapping[str, Any], box: SecretBox) -> dict[str, Any]:
    """The options as the plugin needs them at run time: secrets decrypted."""
    return {k: box.open(v[SEALED]) if is_sealed(v) else v for k, v in stored.items()}


def public_options(stored: Mapping[str, Any] | None) -> dict[str, Any]:
    """The options with every secret replaced by "set", for pages, audit entries and exports."""
    return {k: "set" if is_sealed(v) else v for k, v in (stored or {}).items()}
