"""Message texts in the admin panel: each purpose in each language, with what it costs.

Each text is shown rendered as a real message would be (a code of the configured length,
the site name, the host of this panel for the origin-bound line) with its encoding and
segment count. A text whose rendered form costs more segments than the budget is refused.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from idp import site_settings
from idp.admin import bp
from idp.errors import InvalidInput, NotFound
from idp.extensions import db
from idp.security import audit
from idp.sms.encoding import Segments
from idp.verification import messages
from idp.verification.messages import LANGUAGES, PURPOSES

LANGUAGE_NAMES = {"en": "English", "nl": "Dutch"}
PURPOSE_NAMES = {
    "login": "Sign-in code",
    "signup": "Sign-up code",
    "second_factor": "Second-factor code",
    "enrolment": "Code to add a phone",
    "phone_change": "Code to confirm a new number",
    "admin_test": "Verifier test code (admins)",
}
MAX_BUDGET = 10


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
        return f"{PURPOSE_NAMES.get(self.purpose, self.purpose)} ({LANGUAGE_NAMES[self.language]})"


def _row(purpose: str, language: str) -> TextRow:
    custom = messages.custom_template(purpose, language)
    template = custom or messages.built_in_template(purpose, language)
    text, info = messages.sample(template)
    return TextRow(purpose, language, template, custom is not None, text, info)


def _check(purpose: str, language: str) -> None:
    if purpose not in PURPOSES or language not in LANGUAGES:
        raise NotFound("There is no such message text.")


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
    _check(purpose, language)
    current = _row(purpose, language)
    budget = messages.segment_budget()
    error = None
    value = current.template
    preview: tuple[str, Segments] | None = (current.sample, current.segments)
    if request.method == "POST":
        value = request.form.get("template", "")[: messages.MAX_TEMPLATE_LENGTH * 2]
        preview = None
        try:
            template = messages.validate_template(value)
            preview = messages.sample(template)
            if preview[1].count > budget:
                raise InvalidInput(
                    f"This text costs {preview[1].count} segments ({preview[1].encoding}) with "
                    f"the code and the @host line; the budget is {budget}. Shorten it.",
                    field="template",
                )
        except InvalidInput as exc:
            error = exc.message
        else:
            before = _store(purpose, language, template)
            audit.record(
                "sms_template.update",
                _target(purpose, language),
                before={"text": before} if before else {"text": None, "built_in": True},
                after={"text": template, "segments": preview[1].count},
            )
            db.session.commit()
            flash(f"{current.label}: saved ({preview[1].count} segment(s)).", "success")
            return redirect(url_for("admin.sms_templates"), code=303)
    page = render_template(
        "admin/sms_template_form.html",
        row=current,
        value=value,
        error=error,
        preview=preview,
        budget=budget,
        built_in=messages.built_in_template(purpose, language),
        host=messages.site_host(),
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
        flash(f"{label}: back to the built-in text.", "success")
    return redirect(url_for("admin.sms_templates"), code=303)


@bp.post("/sms-templates/budget")
def sms_template_budget() -> Response:
    raw = request.form.get("budget", "").strip()
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_BUDGET:
        flash(f"The budget is a whole number of segments from 1 to {MAX_BUDGET}.", "error")
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
        flash(f"Message texts may now cost at most {budget} segment(s).", "success")
    return redirect(url_for("admin.sms_templates"), code=303)
