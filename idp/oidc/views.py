"""The OpenID Connect endpoints: discovery, JWKS, authorize, token, userinfo, revoke,
introspect and RP-initiated logout."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc6749.errors import (
    AccessDeniedError,
    OAuth2Error,
)
from authlib.oidc.core.errors import (
    ConsentRequiredError,
    InteractionRequiredError,
    LoginRequiredError,
)
from flask import (
    Blueprint,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext
from flask_login import current_user
from sqlalchemy import select
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from idp import metrics, state
from idp.auth import flow
from idp.extensions import csrf, db
from idp.models import Consent, OAuthClient, User
from idp.oidc import keys
from idp.oidc.claims import ACR_MULTI, ACR_VALUES, CLAIMS, SCOPES, acr_for, user_claims
from idp.oidc.requests import (
    check_echoed,
    check_request,
    consented,
    forget,
    oauth_request,
    recall,
    remember,
    session_auth,
)
from idp.oidc.server import Grantee, issuer, now, revoke_code_tokens, revoke_family
from idp.oidc.tokens import access_token_row
from idp.security import audit
from idp.security.origin import allow_cross_site

bp = Blueprint("oidc", __name__)

#: Set when an authorization request sends the user to log in; a login clears the session.
LOGIN_ASKED = "oidc_login_asked"


def _server() -> Any:
    return current_app.extensions["idp.oidc"]


def _cors(response: Response) -> Response:
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


# -- discovery and keys ----------------------------------------------------------------------


@bp.get("/.well-known/openid-configuration")
def discovery() -> Response:
    base = issuer()
    return _cors(
        jsonify(
            issuer=base,
            authorization_endpoint=f"{base}/oauth/authorize",
            token_endpoint=f"{base}/oauth/token",
            userinfo_endpoint=f"{base}/oauth/userinfo",
            jwks_uri=f"{base}/oauth/jwks",
            revocation_endpoint=f"{base}/oauth/revoke",
            introspection_endpoint=f"{base}/oauth/introspect",
            end_session_endpoint=f"{base}/oauth/logout",
            response_types_supported=["code"],
            response_modes_supported=["query"],
            grant_types_supported=["authorization_code", "refresh_token"],
            subject_types_supported=["public"],
            id_token_signing_alg_values_supported=[state.current().settings.signing_alg],
            token_endpoint_auth_methods_supported=[
                "client_secret_basic",
                "client_secret_post",
                "none",
            ],
            revocation_endpoint_auth_methods_supported=[
                "client_secret_basic",
                "client_secret_post",
                "none",
            ],
            introspection_endpoint_auth_methods_supported=[
                "client_secret_basic",
                "client_secret_post",
            ],
            code_challenge_methods_supported=["S256"],
            scopes_supported=list(SCOPES),
            claims_supported=list(CLAIMS),
            acr_values_supported=list(ACR_VALUES),
            prompt_values_supported=["none", "login", "consent"],
            claims_parameter_supported=False,
            request_parameter_supported=False,
            request_uri_parameter_supported=False,
            authorization_response_iss_parameter_supported=True,
            userinfo_signing_alg_values_supported=[],
        )
    )


@bp.get("/oauth/jwks")
def jwks() -> Response:
    keys.active_key()  # a fresh install publishes its first key before signing anything
    return _cors(jsonify(keys.jwks()))


# -- the authorization endpoint ----------------------------------------------------------


def _error_redirect(error: OAuth2Error, params: MultiDict[str, str]) -> Response:
    query = [("error", error.error)]
    if error.description:
        # One line, no control characters (strict clients refuse them).
        query.append(("error_description", " ".join(str(error.description).split())))
    state_ = params.get("state")
    if state_:
        query.append(("state", state_))
    query.append(("iss", issuer()))
    return redirect(add_params_to_uri(error.redirect_uri, query), code=302)


def _error(error: OAuth2Error, params: MultiDict[str, str]) -> Response | tuple[str, int]:
    """Redirect back when the redirect URI is known to be the client's; else a page, never a
    redirect (an unknown client or URI must not turn Poort into an open redirector)."""
    forget()
    if getattr(error, "redirect_uri", None):
        return _error_redirect(error, params)
    message = str(error.description or error.error)
    page = render_template("oidc/error.html", error=error.error, message=message)
    return page, 400


def process(params: MultiDict[str, str], *, login_after: str | None = None) -> Any:
    """Run one authorization request: validate, sign in or step up, ask consent, issue a code."""
    server = _server()
    user: User | None = current_user if current_user.is_authenticated else None
    try:
        check_echoed(params)
        grant = server.get_consent_grant(request=oauth_request(params), end_user=user)
        max_age = check_request(params, grant)
    except OAuth2Error as error:
        return _error(error, params)

    client: OAuthClient = grant.client
    prompts = set((params.get("prompt") or "").split())
    auth_time, amr = session_auth()
    current = now()
    # A login since the request was kept: the marker set below is wiped by every login
    # (complete_login clears the session); times alone cannot tell with equal or skewed clocks.
    fresh = bool(
        login_after
        and auth_time
        and auth_time >= datetime.fromisoformat(login_after)
        and LOGIN_ASKED not in session
    )
    needs_login = (
        user is None
        or auth_time is None
        or ("login" in prompts and not fresh)
        or (max_age is not None and current - auth_time > timedelta(seconds=max_age))
    )
    wants_mfa = ACR_MULTI in (params.get("acr_values") or "").split()
    needs_step_up = not needs_login and wants_mfa and "mfa" not in amr

    if "none" in prompts and needs_login:
        return _error(LoginRequiredError(redirect_uri=grant.redirect_uri), params)
    if needs_login:
        remember(params, login_after=current.isoformat(), client=client.name)
        session[LOGIN_ASKED] = True
        hint = params.get("login_hint")
        if hint and len(hint) <= 64:
            session["login_hint"] = hint
        session["next"] = url_for("oidc.resume")
        return redirect(url_for("auth.login"))
    assert user is not None and auth_time is not None
    if needs_step_up:
        if "none" in prompts:
            return _error(InteractionRequiredError(redirect_uri=grant.redirect_uri), params)
        remember(params, login_after=login_after, client=client.name)
        session["next"] = url_for("oidc.resume")
        url = flow.start_step_up(user, amr)
        if url is not None:
            return redirect(url)
        # No second factor to offer: continue at the level reached (acr says which).

    scope = grant.request.payload.scope or ""
    if "consent" in prompts or not consented(user, client, scope):
        if "none" in prompts:
            return _error(ConsentRequiredError(redirect_uri=grant.redirect_uri), params)
        rid = remember(params, login_after=login_after, client=client.name)
        return render_template("oidc/consent.html", client=client, scopes=scope.split(), rid=rid)

    forget()
    grantee = Grantee(user, auth_time, amr, acr_for(amr))
    response = server.create_authorization_response(
        request=grant.request, grant_user=grantee, grant=grant
    )
    audit.record("oidc.authorize", f"client:{client.client_id}", after={"scope": scope})
    db.session.commit()
    return response


@bp.route("/oauth/authorize", methods=["GET", "POST"])
@csrf.exempt
@allow_cross_site
def authorize() -> Any:
    # A new request from the application replaces one left unfinished.
    forget()
    return process(request.values.copy())  # a mutable MultiDict of every value, args then form


@bp.get("/oauth/authorize/resume")
def resume() -> Any:
    kept = recall()
    if kept is None:
        return render_template(
            "oidc/error.html",
            error="expired",
            message=gettext(
                "This sign-in request has expired. Go back to the application and try again."
            ),
        ), 400
    params, data = kept
    return process(params, login_after=data.get("login_after"))


@bp.post("/oauth/authorize/consent")
def consent() -> Any:
    kept = recall()
    if kept is None or request.form.get("rid") != kept[1].get("id"):
        return render_template(
            "oidc/error.html",
            error="expired",
            message=gettext(
                "This sign-in request has expired. Go back to the application and try again."
            ),
        ), 400
    params, data = kept
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    grant = _server().get_consent_grant(request=oauth_request(params), end_user=current_user)
    client: OAuthClient = grant.client
    if request.form.get("decision") != "allow":
        return _error(AccessDeniedError(redirect_uri=grant.redirect_uri), params)
    scopes = " ".join(sorted(set((grant.request.payload.scope or "").split())))
    row = db.session.scalar(
        select(Consent).where(Consent.user_id == current_user.id, Consent.client_id == client.id)
    )
    if row is None:
        row = Consent(user_id=current_user.id, client_id=client.id, scopes=scopes)
        db.session.add(row)
    else:
        row.scopes = " ".join(sorted(set(row.scopes.split()) | set(scopes.split())))
    row.granted_at = now()
    audit.record("oidc.consent", f"client:{client.client_id}", after={"scopes": scopes})
    db.session.commit()
    # The consent was given; a prompt=consent in the kept request must not ask again.
    params.setlist("prompt", [p for p in (params.get("prompt") or "").split() if p != "consent"])
    return process(params, login_after=data.get("login_after"))


# -- back-channel endpoints --------------------------------------------------------------


@bp.post("/oauth/token")
@csrf.exempt
@allow_cross_site
def token() -> Response:
    response = _server().create_token_response()
    if response.status_code == 200:
        db.session.commit()
        metrics.token_issued(request.form.get("grant_type", ""))  # only grants that worked
    else:
        db.session.rollback()
    reused_code = g.pop("oauth_code_reused", None)
    reused_family = g.pop("oauth_family_reused", None)
    if reused_code is not None:
        revoke_code_tokens(reused_code)
        audit.record("oidc.code_reuse", f"code:{reused_code}")
        db.session.commit()
    if reused_family is not None:
        revoke_family(reused_family)
        audit.record("oidc.refresh_reuse", f"family:{reused_family}")
        db.session.commit()
    return _cors(response)


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    if request.method == "POST":
        return request.form.get("access_token")
    return None


def _invalid_token(description: str) -> Response:
    response = jsonify(error="invalid_token", error_description=description)
    response.status_code = 401
    response.headers["WWW-Authenticate"] = (
        f'Bearer error="invalid_token", error_description="{description}"'
    )
    return _cors(response)


@bp.route("/oauth/userinfo", methods=["GET", "POST"])
@csrf.exempt
@allow_cross_site
def userinfo() -> Response:
    token_string = _bearer()
    if not token_string:
        response = jsonify(error="invalid_request", error_description="No access token.")
        response.status_code = 401
        response.headers["WWW-Authenticate"] = "Bearer"
        return _cors(response)
    row = access_token_row(token_string)
    if row is None:
        return _invalid_token("The access token is invalid, expired or revoked.")
    if "openid" not in row.scope.split():
        response = jsonify(error="insufficient_scope", error_description="openid scope needed.")
        response.status_code = 403
        return _cors(response)
    response = jsonify(user_claims(row.user, row.scope))
    response.headers["Cache-Control"] = "no-store"
    return _cors(response)


@bp.post("/oauth/revoke")
@csrf.exempt
@allow_cross_site
def revoke() -> Response:
    response = _server().create_endpoint_response("revocation")
    db.session.commit() if response.status_code == 200 else db.session.rollback()
    return _cors(response)


@bp.post("/oauth/introspect")
@csrf.exempt
@allow_cross_site
def introspect() -> Response:
    response = _server().create_endpoint_response("introspection")
    response.headers["Cache-Control"] = "no-store"
    return response


# -- RP-initiated logout ------------------------------------------------------------------


@bp.route("/oauth/logout", methods=["GET", "POST"])
@csrf.exempt
@allow_cross_site
def end_session() -> Any:
    server = _server()
    try:
        end_request = server.validate_endpoint_request("end_session")
    except OAuth2Error as error:
        return render_template(
            "oidc/logout.html", invalid=True, message=str(error.description or error.error)
        ), 400
    if end_request.needs_confirmation:
        # No valid id_token_hint: a third party could be logging people out; ask first.
        return render_template("oidc/logout.html", confirm=True, client=end_request.client)
    response = server.create_endpoint_response("end_session", end_request)
    db.session.commit()
    return response or render_template("oidc/logout.html", done=True)


@bp.post("/oauth/logout/confirm")
def end_session_confirm() -> Any:
    from flask_login import logout_user

    logout_user()
    session.end()  # type: ignore[attr-defined]
    return render_template("oidc/logout.html", done=True)


# Connected applications on the account page add their routes to bp.
from idp.oidc import account  # noqa: E402, F401
