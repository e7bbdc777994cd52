"""An example Poort auth method: say the magic word.

It shows the whole AuthMethod contract in one file: a stable ``name``, an options form with a
secret field, the method's own template, and the two hooks the login page calls. It is a toy
and signs nobody in: a real first factor would find the account and return
``AuthResult.success(user, self.amr)``.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from flask import Blueprint
from markupsafe import Markup
from wtforms.validators import InputRequired, Length

from idp.auth import AuthMethod, AuthResult, LoginContext, Role, render_part
from idp.options import OptionsForm, SecretField


class HelloOptions(OptionsForm):
    # A SecretField is encrypted at rest and never shown again; left blank, it keeps its value.
    word = SecretField("Magic word", validators=[InputRequired(), Length(min=4, max=64)])


class HelloMethod(AuthMethod):
    name = "hello"  # equals the entry-point name in pyproject.toml
    title = "Magic word"
    api_version = 1
    roles = frozenset({Role.FIRST_FACTOR})
    amr = ("kba",)  # RFC 8176: knowledge-based authentication
    options_form = HelloOptions
    # Mounted at /m/hello; its templates live in poort_hello/templates/poort_hello/.
    blueprint = Blueprint("poort_hello", __name__, template_folder="templates")

    def render_login(self, ctx: LoginContext) -> Markup:
        error = ctx.errors.get("word") or ctx.errors.get("form")
        return render_part("poort_hello/login.html", authenticator=self.authenticator, error=error)

    def authenticate(self, ctx: LoginContext, form: Mapping[str, str]) -> AuthResult:
        said = (form.get("word") or "").encode()
        # self.options holds the secret decrypted; compare in constant time.
        if not hmac.compare_digest(said, self.options["word"].encode()):
            return AuthResult.failure("That is not the magic word.", field="word")
        return AuthResult.failure("Hello! That is the word, but this example signs nobody in.")
