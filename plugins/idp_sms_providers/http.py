"""The generic HTTP provider, as privacyIDEA defines it, for gateways without their own plugin.

The admin describes the request: URL, GET or POST (form or JSON body), basic auth, extra
headers, fixed parameters whose values may hold the tags ``{phone}``, ``{otp}`` and
``{message}``, and how to recognise success: HTTP 200, 201 or 202, and then, when set, the
answer contains RETURN_SUCCESS and does not contain RETURN_FAIL. Substring matching cannot
tell a wrong password from a full account, so such a refusal is logged as temporary with the
reason "answer did not contain RETURN_SUCCESS"; the HTTP status decides the rest.

The answer is read to judge it and then dropped: gateways echo the text (and so the code).
"""

from __future__ import annotations

import json
import re
from typing import Any

from flask_babel import gettext, lazy_gettext
from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from idp.options import OptionsForm, SecretField
from idp.sms import HttpSmsProvider, SmsMessage, SmsReceipt, SmsTemporaryError
from idp.sms.errors import SmsConfigurationError
from idp_sms_providers.common import (
    HeaderLines,
    HttpUrl,
    PairLines,
    SecretLinesField,
    parse_headers,
    parse_pairs,
    plain_text,
    timeout_field,
)

SUCCESS_STATUSES = (200, 201, 202)
#: How {phone} is written: +31612345678, 31612345678 or 0031612345678.
PHONE_FORMATS = ["e164", "digits", "00"]
_TAG = re.compile(r"\{(phone|otp|message)\}")
_MESSAGE_ID = re.compile(r"^\s*ID:\s*([A-Za-z0-9-]{1,64})")


class HttpOptions(OptionsForm):
    url = StringField("URL", validators=[InputRequired(), HttpUrl(), Length(max=500)])
    method = SelectField("HTTP method", choices=["GET", "POST"], default="GET")
    body = SelectField(
        lazy_gettext("POST body"),
        choices=["form", "json"],
        default="form",
        description=lazy_gettext("form: application/x-www-form-urlencoded; json: a JSON object."),
    )
    username = StringField(
        lazy_gettext("User name (basic auth)"), validators=[Optional(), Length(max=200)]
    )
    password = SecretField(
        lazy_gettext("Password (basic auth)"), validators=[Optional(), Length(max=500)]
    )
    headers = TextAreaField(
        lazy_gettext("Extra headers"),
        validators=[Optional(), HeaderLines()],
        description=lazy_gettext("Name: value per line."),
    )
    secret_header_name = StringField(
        lazy_gettext("Secret header name"),
        validators=[Optional(), Length(max=100)],
        description=lazy_gettext(
            "For example Authorization or X-API-Key; its value is kept encrypted."
        ),
    )
    secret_header_value = SecretField(lazy_gettext("Secret header value"), validators=[Optional()])
    parameters = TextAreaField(
        lazy_gettext("Parameters"),
        validators=[Optional(), PairLines()],
        description=lazy_gettext(
            "key=value per line; values may contain {phone}, {otp} and {message}."
        ),
    )
    secret_parameters = SecretLinesField(
        lazy_gettext("Secret parameters"),
        validators=[Optional(), PairLines()],
        description=lazy_gettext("key=value per line, for passwords and API keys; kept encrypted."),
    )
    return_success = StringField(lazy_gettext("RETURN_SUCCESS (text the answer must contain)"))
    return_fail = StringField(lazy_gettext("RETURN_FAIL (text the answer must not contain)"))
    proxy = StringField("Proxy", validators=[Optional(), HttpUrl()])
    check_ssl = BooleanField(lazy_gettext("Check the TLS certificate"), default=True)
    timeout = timeout_field(3.0)
    phone_format = SelectField(
        lazy_gettext("Phone number format"),
        choices=PHONE_FORMATS,
        default="e164",
        description=lazy_gettext("e164: +31612345678; digits: 31612345678; 00: 0031612345678."),
    )

    def validate(self, extra_validators: Any = None) -> bool:
        ok = super().validate(extra_validators)
        if self.secret_header_value.data and not (self.secret_header_name.data or "").strip():
            self.secret_header_name.errors = [
                *self.secret_header_name.errors,
                gettext("Name the header that carries the secret value."),
            ]
            ok = False
        return ok


def format_phone(e164: str, style: str) -> str:
    digits = e164.lstrip("+")
    return {"digits": digits, "00": f"00{digits}"}.get(style, f"+{digits}")


def fill(template: str, values: dict[str, str]) -> str:
    """Replace the tags in one pass, so a tag inside a substituted value stays as it is."""
    return _TAG.sub(lambda m: values[m.group(1)], template)


def fill_json(template: str, values: dict[str, str]) -> Any:
    """A JSON body value: a template that is itself JSON keeps its type, tags filled inside."""
    try:
        parsed = json.loads(template)
    except ValueError:
        return fill(template, values)

    def walk(node: Any) -> Any:
        if isinstance(node, str):
            return fill(node, values)
        if isinstance(node, list):
            return [walk(item) for item in node]
        if isinstance(node, dict):
            return {key: walk(item) for key, item in node.items()}
        return node

    return walk(parsed)


def message_id(text: str) -> str | None:
    """The gateway's id for the message, when the answer shows one the usual way."""
    match = _MESSAGE_ID.match(text)
    if match:
        return match.group(1)
    try:
        answer = json.loads(text)
    except ValueError:
        return None
    if isinstance(answer, dict):
        for key in ("sid", "id", "messageId", "message_id"):
            if isinstance(answer.get(key), str | int):
                return str(answer[key])[:64]
    return None


class HttpProvider(HttpSmsProvider):
    name = "http"
    #: Kept as written (a new verifier's default title); pages show it translated.
    title = "Generic HTTP gateway"
    _title_text = lazy_gettext("Generic HTTP gateway")  # for the catalogues
    options_form = HttpOptions
    docs_url = "https://privacyidea.readthedocs.io/en/latest/configuration/sms_gateway_config.html"

    def _request_kwargs(self, message: SmsMessage) -> dict[str, Any]:
        o = self.options
        values = {
            "phone": format_phone(message.recipient, o.get("phone_format") or "e164"),
            "otp": message.code if message.code is not None else message.text,
            "message": message.text,
        }
        pairs = parse_pairs(o.get("parameters")) + parse_pairs(o.get("secret_parameters"))
        headers = dict(parse_headers(o.get("headers")))
        if o.get("secret_header_name") and o.get("secret_header_value"):
            headers[o["secret_header_name"].strip()] = o["secret_header_value"]
        kwargs: dict[str, Any] = {
            "headers": headers,
            "verify": bool(o.get("check_ssl", True)),
            "allow_redirects": False,
        }
        if o.get("username"):
            kwargs["auth"] = (o["username"], o.get("password") or "")
        if o.get("proxy"):
            kwargs["proxies"] = {"http": o["proxy"], "https": o["proxy"]}
        method = (o.get("method") or "GET").upper()
        if method == "GET":
            kwargs["params"] = [(key, fill(value, values)) for key, value in pairs]
        elif o.get("body") == "json":
            kwargs["json"] = {key: fill_json(value, values) for key, value in pairs}
        else:
            kwargs["data"] = [(key, fill(value, values)) for key, value in pairs]
        return kwargs

    def send(self, message: SmsMessage) -> SmsReceipt:
        method = (self.options.get("method") or "GET").upper()
        response = self.request(method, self.options["url"], **self._request_kwargs(message))
        with response:
            self.raise_for_transport_status(response)
            status = response.status_code
            raw = f"HTTP {status}"
            if 300 <= status < 400:
                raise SmsConfigurationError(
                    f"The gateway redirected us ({raw}); enter the address it redirects to.",
                    provider=self.name,
                    raw_code=raw,
                    raw_meaning="redirected",
                )
            if 400 <= status < 500:
                raise SmsConfigurationError(
                    f"The gateway refused the request ({raw}); check the URL and parameters.",
                    provider=self.name,
                    raw_code=raw,
                    raw_meaning="request refused",
                )
            if status not in SUCCESS_STATUSES:
                raise SmsTemporaryError(
                    f"The gateway answered {raw}, which is not 200, 201 or 202.",
                    provider=self.name,
                    raw_code=raw,
                    raw_meaning="unexpected HTTP status",
                )
            text = plain_text(response)
        success = self.options.get("return_success") or ""
        fail = self.options.get("return_fail") or ""
        if success and success not in text:
            meaning = "answer did not contain RETURN_SUCCESS"
        elif fail and fail in text:
            meaning = "answer contained RETURN_FAIL"
        else:
            return SmsReceipt(
                provider_message_id=message_id(text), raw_code=raw, raw_meaning="accepted"
            )
        raise SmsTemporaryError(
            f"The gateway did not confirm the message ({meaning}).",
            provider=self.name,
            raw_code=raw,
            raw_meaning=meaning,
        )
