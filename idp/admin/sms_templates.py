"""Message texts in the admin panel: each purpose in each language, with what it costs.

Each text is shown rendered as a real message would be (a code of the configured length,
the site name, the host of this panel for the origin-bound line) with its encoding and
segment count. A text whose rendered form costs more segments than the budget is refused.

The edit page counts as the admin types (``static/sms-template.js``, which mirrors
:func:`idp.sms.encoding.segments`); without script, its Preview button asks the server for
the same preview and count, and saves nothing.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext, lazy_gettext, ngettext
from flask_login import current_user
from werkzeug.wrappers import Response

from idp import site_settings, state
from idp.admin import bp
from idp.errors import InvalidInput, NotFound
from idp.extensions import db
from idp.security import audit
from idp.sms.encoding import Segments
from idp.verification import messages
from idp.verification.messages import LANGUAGES, PURPOSES

LANGUAGE_NAMES = {"en": lazy_gettext("English"), "nl": lazy_gettext("Dutch")}
PURPOSE_NAMES = {
    "login": lazy_gettext("Sign-in code"),
    "signup": lazy_gettext("Sign-up code"),
    "second_factor": lazy_gettext("Second-factor code"),
    "enrolment": lazy_gettext("Code to add a phone"),
    "phone_change": lazy_gettext("Code to confirm a new number"),
    "admin_test": lazy_gettext("Verifier test code (admins)"),
}
MAX_BUDGET = 10


def count_line(text: str, info: Segments, budget: int) -> str:
    """What the edit page says about a rendered message: "2 segments · GSM-7 · 148
    characters", and when it costs too much, that it is over the budget. The page's script
    writes the same line as the admin types."""
    parts = [
        ngettext("%(num)s segment", "%(num)s segments", info.count),
        info.encoding,
        ngettext("%(num)s character", "%(num)s characters", len(text)),
    ]
    if info.count > budget:
        parts.append(gettext("over the budget of %(budget)s", budget=budget))
    return " · ".join(parts)


def example_values() -> dict[str, str]:
    """What the placeholders are filled in with on the edit page, as :func:`messages.sample`
    fills them: for the page's script to render the preview the same way."""
    settings = state.current().settings
    return {
        "code": messages.sample_code(),
        "minutes": str(max(1, settings.code_ttl_seconds // 60)),
        "app": settings.site_name,
        "host": messages.site_host() or "",
    }


@dataclass(frozen=True)
class TextRow:
    purpose: str
    language: str
    template: str
    custom: bool
    sample: str
    segments: Segments

    @property
    def label(self) -> str:
        return gettext(
            "%(purpose)s (%(language)s)",
            purpose=PURPOSE_NAMES.get(self.purpose, self.purpose),
            language=LANGUAGE_NAMES[self.language],
        )


def _row(purpose: str, language: str) -> TextRow:
    custom = messages.custom_template(purpose, language)
    template = custom or messages.built_in_template(purpose, language)
    text, info = messages.sample(template)
    return TextRow(purpose, language, template, custom is not None, text, info)


def _check(purpose: str, language: str) -> None:
    if purpose not in PURPOSES or language not in LANGUAGES:
        raise NotFound(gettext("There is no such message text."))


def _target(purpose: str, language: str) -> str:
    return f"sms_template:{purpose}/{language}"


def _store(purpose: str, language: str, template: str | None) -> str | None:
    """Set (or with None, remove) one text; return the one it replaces. Caller audits, commits."""
    stored = copy.deepcopy(messages.stored_templates())
    before = (stored.get(purpose) or {}).get(language)
    texts = dict(stored.get(purpose) or {})
    if template is None:
        texts.pop(language, None)
    else:
        texts[language] = template
    if texts:
        stored[purpose] = texts
    else:
        stored.pop(purpose, None)
    site_settings.put("sms_templates", stored, actor_id=_actor_id())
    return before


def _actor_id() -> int | None:
    return current_user.id if current_user.is_authenticated else None


@bp.get("/sms-templates")
def sms_templates() -> str:
    rows = [_row(purpose, language) for purpose in PURPOSES for language in LANGUAGES]
    return render_template(
        "admin/sms_templates.html",
        rows=rows,
        budget=messages.segment_budget(),
        max_budget=MAX_BUDGET,
        host=messages.site_host(),
    )


@bp.route("/sms-templates/<purpose>/<language>", methods=["GET", "POST"])
def sms_template_edit(purpose: str, language: str) -> Response | tuple[str, int] | str:
    """GET: the form with the current text. POST: save the text, or with the Preview button
    (``action=preview``) only show what it would send and cost."""
    _check(purpose, language)
    current = _row(purpose, language)
    budget = messages.segment_budget()
    error = None
    value = current.template
    preview: tuple[str, Segments] | None = (current.sample, current.segments)
    previewing = False
    if request.method == "POST":
        value = request.form.get("template", "")[: messages.MAX_TEMPLATE_LENGTH * 2]
        previewing = request.form.get("action") == "preview"
        preview = None
        try:
            template = messages.validate_template(value)
            preview = messages.sample(template)
            if preview[1].count > budget and not previewing:
                raise InvalidInput(
                    gettext(
                        "This text costs %(count)s segments (%(encoding)s) with the code and "
                        "the @host line; the budget is %(budget)s. Shorten it.",
                        count=preview[1].count,
                        encoding=preview[1].encoding,
                        budget=budget,
                    ),
                    field="template",
                )
        except InvalidInput as exc:
            error = exc.message
        else:
            if not previewing:
                before = _store(purpose, language, template)
                audit.record(
                    "sms_template.update",
                    _target(purpose, language),
                    before={"text": before} if before else {"text": None, "built_in": True},
                    after={"text": template, "segments": preview[1].count},
                )
                db.session.commit()
                flash(
                    ngettext(
                        "%(label)s: saved (%(num)s segment).",
                        "%(label)s: saved (%(num)s segments).",
                        preview[1].count,
                        label=current.label,
                    ),
                    "success",
                )
                return redirect(url_for("admin.sms_templates"), code=303)
    page = render_template(
        "admin/sms_template_form.html",
        row=current,
        value=value,
        error=error,
        preview=preview,
        previewing=previewing,
        count=count_line(preview[0], preview[1], budget) if preview else None,
        over=bool(preview and preview[1].count > budget),
        budget=budget,
        built_in=messages.built_in_template(purpose, language),
        host=messages.site_host(),
        example=example_values(),
    )
    return (page, 400) if error else page


@bp.post("/sms-templates/<purpose>/<language>/reset")
def sms_template_reset(purpose: str, language: str) -> Response:
    _check(purpose, language)
    label = _row(purpose, language).label
    before = _store(purpose, language, None)
    if before is not None:
        audit.record(
            "sms_template.reset",
            _target(purpose, language),
            before={"text": before},
            after={"text": None, "built_in": True},
        )
        db.session.commit()
        flash(gettext("%(label)s: back to the built-in text.", label=label), "success")
    return redirect(url_for("admin.sms_templates"), code=303)


@bp.post("/sms-templates/budget")
def sms_template_budget() -> Response:
    raw = request.form.get("budget", "").strip()
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_BUDGET:
        flash(
            gettext(
                "The budget is a whole number of segments from 1 to %(most)s.", most=MAX_BUDGET
            ),
            "error",
        )
        return redirect(url_for("admin.sms_templates"), code=303)
    budget = int(raw)
    before = site_settings.put("sms_segment_budget", budget, actor_id=_actor_id())
    if before != budget:
        audit.record(
            "sms_template.budget",
            "sms_templates",
            before={"segments": before},
            after={"segments": budget},
        )
        db.session.commit()
        flash(
            ngettext(
                "Message texts may now cost at most %(num)s segment.",
                "Message texts may now cost at most %(num)s segments.",
                budget,
            ),
            "success",
        )
    return redirect(url_for("admin.sms_templates"), code=303)
