"""Verifiers in the admin panel: create and edit them, prove them with a test code, enable
them, pick the default, delete them.

A verifier can be enabled only after a test code it delivered came back (see
``idp.verification.confirmation``); changing its provider options or sender takes that proof
away again. Every change is audited with ``public_view`` (no secrets).
"""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response

from idp import state
from idp.admin import bp
from idp.errors import InvalidInput, RateLimited
from idp.extensions import db
from idp.models import Authenticator, Challenge, SmsLogEntry, User, Verifier
from idp.options import OptionsInvalid, bind_form, secret_names
from idp.security import audit
from idp.security.derived_keys import phone_hash
from idp.sms.errors import SmsError
from idp.sms.phone import mask, normalise
from idp.sms.provider import SmsProvider
from idp.verification import confirmation, delivery_reports, message_log
from idp.verification import verifiers as store
from idp.verification.challenges import Purpose
from idp.verification.resolution import resolve

#: The provider that delivers nothing; the panel warns when it is used outside dev mode.
CONSOLE = "console"
FIELDS = ("name", "title", "sender", "price_per_segment", "currency", "fallback")


def _target(row: Verifier) -> str:
    return f"verifier:{row.name}"


def _admin() -> User:
    user: User = current_user._get_current_object()  # noqa: SLF001 - the row, not the proxy
    return user


def _console_warnings(rows: list[Verifier]) -> list[str]:
    """Names of what sends through the console provider while not in dev mode."""
    s = state.current()
    if s.settings.dev:
        return []
    names = [row.name for row in rows if row.provider == CONSOLE]
    if s.file_sms is not None and s.file_sms.provider == CONSOLE:
        names.append("poort.toml [sms]")
    return names


def _authenticators_naming(name: str) -> list[str]:
    rows = db.session.scalars(select(Authenticator).order_by(Authenticator.position))
    return [row.name for row in rows if (row.options or {}).get("verifier") == name]


@bp.get("/verifiers")
def verifiers() -> str:
    s = state.current()
    rows = store.all_verifiers()
    registry = s.registry
    return render_template(
        "admin/verifiers.html",
        rows=rows,
        resolution=resolve(None),
        health=message_log.health(s.clock()),
        delivery=message_log.delivery_rates(s.clock()),
        providers=sorted(registry.sms_providers.values(), key=lambda p: p.id),
        loaded=set(registry.sms_providers),
        console=_console_warnings(rows),
    )


def _form_page(
    *,
    row: Verifier | None,
    provider: str,
    errors: dict[str, list[str]],
    values: Any,
    status: int = 200,
) -> tuple[str, int]:
    s = state.current()
    cls = s.registry.sms_provider(provider)
    assert cls is not None
    posted = request.method == "POST"
    form = bind_form(
        cls.options_form, row.options if row else None, request.form if posted else None
    )
    others = [v.name for v in store.all_verifiers() if row is None or v.id != row.id]
    page = render_template(
        "admin/verifier_form.html",
        row=row,
        provider=s.registry.sms_providers[provider],
        options=form,
        errors=errors,
        values=values,
        others=others,
        secrets=secret_names(cls.options_form),
        stored=row.options if row else {},
        console=provider == CONSOLE and not s.settings.dev,
        reports=_reports(row, cls),
    )
    return page, (400 if errors else status)


def _reports(row: Verifier | None, cls: type[SmsProvider]) -> dict[str, str | None] | None:
    """The delivery-report address to paste into the provider's dashboard, and where."""
    if row is None or not cls.reports_delivery():
        return None
    if not row.report_token:  # a verifier from before report addresses existed
        delivery_reports.ensure_token(row)
        db.session.commit()
    return {
        "url": delivery_reports.report_url(row.report_token),
        "help": cls.delivery_report_help,
    }


def _errors_of(exc: InvalidInput | OptionsInvalid) -> dict[str, list[str]]:
    db.session.rollback()
    if isinstance(exc, OptionsInvalid):
        return {f"options-{key}": messages for key, messages in exc.errors.items()}
    return {exc.field or "form": [exc.message]}


@bp.route("/verifiers/new", methods=["GET", "POST"])
def verifier_new() -> Response | tuple[str, int]:
    provider = request.values.get("provider", "")
    if state.current().registry.sms_provider(provider) is None:
        abort(404)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        fields = {key: request.form.get(key, "") for key in FIELDS}
        try:
            row, _needs_test = store.save(None, {**fields, "provider": provider}, request.form)
            audit.record("verifier.create", _target(row), after=store.public_view(row))
            db.session.commit()
        except (InvalidInput, OptionsInvalid) as exc:
            errors = _errors_of(exc)
        else:
            flash(
                _(
                    "Verifier %(name)s created. Send a test code through it and type it back; "
                    "only then can it be enabled.",
                    name=row.name,
                ),
                "success",
            )
            return redirect(url_for("admin.verifier_test", name=row.name), code=303)
    values = request.form if request.method == "POST" else {"currency": "EUR"}
    return _form_page(row=None, provider=provider, errors=errors, values=values)


@bp.route("/verifiers/<name>", methods=["GET", "POST"])
def verifier_edit(name: str) -> Response | tuple[str, int]:
    row = store.get(name)
    if state.current().registry.sms_provider(row.provider) is None:
        flash(
            _(
                "The provider %(provider)s is not loaded; %(name)s cannot be edited.",
                provider=repr(row.provider),
                name=row.name,
            ),
            "error",
        )
        return redirect(url_for("admin.verifiers"), code=303)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        before = store.public_view(row)
        fields = {key: request.form.get(key, "") for key in FIELDS}
        try:
            row, needs_test = store.save(row, fields, request.form)
            audit.record(
                "verifier.update", _target(row), before=before, after=store.public_view(row)
            )
            db.session.commit()
        except (InvalidInput, OptionsInvalid) as exc:
            errors = _errors_of(exc)
            row = store.get(name)
        else:
            if needs_test:
                message = _(
                    "Verifier %(name)s saved. Its provider settings or sender changed, so it "
                    "needs a new test code before it can be enabled.",
                    name=row.name,
                )
                if before["enabled"]:
                    message += " " + _("It has been disabled until then.")
                flash(message, "warning")
                return redirect(url_for("admin.verifier_test", name=row.name), code=303)
            flash(_("Verifier %(name)s saved.", name=row.name), "success")
            return redirect(url_for("admin.verifiers"), code=303)
    values = (
        request.form
        if request.method == "POST"
        else {
            "name": row.name,
            "title": row.title,
            "sender": row.sender,
            "price_per_segment": f"{row.price_per_segment}",
            "currency": row.currency,
            "fallback": row.fallback.name if row.fallback else "",
        }
    )
    return _form_page(row=row, provider=row.provider, errors=errors, values=values)


@bp.post("/verifiers/<name>/enabled")
def verifier_set_enabled(name: str) -> Response:
    row = store.get(name)
    enable = request.form.get("enabled") == "1"
    if row.enabled != enable:
        before = store.public_view(row)
        try:
            store.set_enabled(row, enable)
        except InvalidInput as exc:
            db.session.rollback()
            flash(
                _("%(name)s was not enabled: %(reason)s", name=row.name, reason=exc.message),
                "error",
            )
            return redirect(url_for("admin.verifiers"), code=303)
        audit.record(
            "verifier.enable" if enable else "verifier.disable",
            _target(row),
            before=before,
            after=store.public_view(row),
        )
        db.session.commit()
    if enable:
        message = _("%(name)s is now enabled.", name=row.name)
    else:
        message = _("%(name)s is now disabled.", name=row.name)
        if row.is_default:
            message += " " + _(
                "It is still marked default, but SMS authenticators skip it while it is disabled."
            )
    flash(message, "success")
    return redirect(url_for("admin.verifiers"), code=303)


@bp.post("/verifiers/<name>/default")
def verifier_set_default(name: str) -> Response:
    row = store.get(name)
    make = request.form.get("default") == "1"
    if make and not row.is_default:
        previous = db.session.scalar(select(Verifier).where(Verifier.is_default.is_(True)))
        before_previous = store.public_view(previous) if previous is not None else None
        before = store.public_view(row)
        store.set_default(row)
        if previous is not None and before_previous is not None:
            db.session.refresh(previous)
            audit.record(
                "verifier.default",
                _target(previous),
                before=before_previous,
                after=store.public_view(previous),
            )
        audit.record("verifier.default", _target(row), before=before, after=store.public_view(row))
        db.session.commit()
        if row.enabled:
            flash(_("%(name)s is now the default verifier.", name=row.name), "success")
        else:
            flash(
                _(
                    "%(name)s is now the default verifier, but it is not enabled: SMS "
                    "authenticators skip it until it is.",
                    name=row.name,
                ),
                "warning",
            )
    elif not make and row.is_default:
        before = store.public_view(row)
        store.set_default(None)
        db.session.refresh(row)
        audit.record("verifier.default", _target(row), before=before, after=store.public_view(row))
        db.session.commit()
        flash(_("%(name)s is no longer the default verifier.", name=row.name), "success")
    return redirect(url_for("admin.verifiers"), code=303)


@bp.post("/verifiers/<name>/delete")
def verifier_delete(name: str) -> Response:
    row = store.get(name)
    dependents = [v for v in store.all_verifiers() if v.fallback_id == row.id]
    dependents_before = {v.name: store.public_view(v) for v in dependents}
    audit.record("verifier.delete", _target(row), before=store.public_view(row))
    store.delete(row)
    for dependent in dependents:
        db.session.expire(dependent)
        audit.record(
            "verifier.update",
            _target(dependent),
            before=dependents_before[dependent.name],
            after=store.public_view(dependent),
        )
    db.session.commit()
    message = _("Verifier %(name)s deleted.", name=name)
    if dependents:
        message += " " + ngettext(
            "%(names)s no longer falls back to it.",
            "%(names)s no longer fall back to it.",
            len(dependents),
            names=", ".join(sorted(dependents_before)),
        )
    naming = _authenticators_naming(name)
    if naming:
        message += " " + ngettext(
            "The authenticator %(names)s still names it and cannot send codes until you pick "
            "another verifier for it.",
            "The authenticators %(names)s still name it and cannot send codes until you pick "
            "another verifier for them.",
            len(naming),
            names=", ".join(naming),
        )
    flash(message, "warning" if naming else "success")
    return redirect(url_for("admin.verifiers"), code=303)


# -- proving a verifier works: a test code to the admin's phone, typed back ---------------------


def _last_attempt(row: Verifier, recipient: str) -> SmsLogEntry | None:
    """The log row of the test send that just failed (every attempt is logged)."""
    return db.session.scalar(
        select(SmsLogEntry)
        .where(
            SmsLogEntry.verifier_id == row.id,
            SmsLogEntry.purpose == Purpose.ADMIN_TEST,
            SmsLogEntry.recipient_hash == phone_hash(recipient),
        )
        .order_by(SmsLogEntry.id.desc())
        .limit(1)
    )


@bp.route("/verifiers/<name>/test", methods=["GET", "POST"])
def verifier_test(name: str) -> Response | tuple[str, int]:
    row = store.get(name)
    admin = _admin()
    errors: dict[str, list[str]] = {}
    failure: dict[str, Any] | None = None
    status = 200
    phone_value = request.form.get("phone", "") if request.method == "POST" else admin.phone or ""
    if request.method == "POST":
        try:
            phone = normalise(phone_value, state.current().settings.default_region)
            challenge = confirmation.send_test_code(row, phone, admin)
        except RateLimited as exc:
            db.session.rollback()
            errors["form"] = [exc.message]
            status = 429
        except SmsError as exc:
            db.session.rollback()
            cause = exc.__cause__ if isinstance(exc.__cause__, SmsError) else exc
            entry = _last_attempt(row, phone)
            failure = {
                "error_class": entry.error_class if entry else cause.code,
                "raw_code": entry.raw_code if entry else cause.raw_code,
                "raw_meaning": entry.raw_meaning if entry else cause.raw_meaning,
                "recipient": mask(phone),
            }
            audit.record(
                "verifier.test_code",
                _target(row),
                after={
                    "recipient": mask(phone),
                    "outcome": "failed",
                    "error_class": failure["error_class"],
                },
            )
            db.session.commit()
            status = cause.status
        except InvalidInput as exc:
            db.session.rollback()
            errors[exc.field or "phone"] = [exc.message]
        else:
            audit.record(
                "verifier.test_code",
                _target(row),
                after={"recipient": mask(phone), "outcome": "sent"},
            )
            db.session.commit()
            flash(
                _(
                    "A test code was sent to %(phone)s through %(name)s.",
                    phone=mask(phone),
                    name=row.name,
                ),
                "success",
            )
            return redirect(
                url_for("admin.verifier_confirm", name=row.name, challenge=challenge.public_id),
                code=303,
            )
    page = render_template(
        "admin/verifier_test.html",
        row=row,
        errors=errors,
        failure=failure,
        phone=phone_value,
        console=row.provider == CONSOLE and not state.current().settings.dev,
    )
    return page, (400 if errors and status == 200 else status)


@bp.route("/verifiers/<name>/confirm", methods=["GET", "POST"])
def verifier_confirm(name: str) -> Response | tuple[str, int]:
    row = store.get(name)
    admin = _admin()
    public_id = request.values.get("challenge", "").strip()[:64]
    challenge = (
        db.session.scalar(
            select(Challenge).where(
                Challenge.public_id == public_id,
                Challenge.purpose == Purpose.ADMIN_TEST,
                Challenge.user_id == admin.id,
            )
        )
        if public_id
        else None
    )
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        if challenge is None:
            errors["form"] = [_("Send a test code first, then type it in here.")]
        else:
            before = store.public_view(row)
            try:
                result = confirmation.confirm(row, public_id, request.form.get("code", ""), admin)
            except InvalidInput as exc:
                db.session.rollback()
                errors["code"] = [exc.message]
            else:
                if result.ok:
                    audit.record(
                        "verifier.confirm",
                        _target(row),
                        before=before,
                        after=store.public_view(row),
                    )
                    db.session.commit()
                    flash(
                        _(
                            "%(name)s delivered the test code: it is confirmed and can be enabled.",
                            name=row.name,
                        ),
                        "success",
                    )
                    return redirect(url_for("admin.verifiers"), code=303)
                errors["code"] = [result.message]
    sent_to = mask((challenge.context or {}).get("phone")) if challenge is not None else None
    page = render_template(
        "admin/verifier_confirm.html",
        row=row,
        errors=errors,
        challenge=challenge,
        sent_to=sent_to,
    )
    return page, (400 if errors else 200)
