"""The one exception tree of Poort.

Every fault Poort raises on purpose is an :class:`IdpError`. Each class carries a stable
``code`` (snake_case, safe to show and to match on in JSON clients) and the HTTP ``status``
a request that ends in it answers with. Expected outcomes, such as a wrong password or a
wrong code, are *returned* as results, not raised. OAuth and OpenID Connect protocol errors
stay Authlib's, because Authlib knows their wire format.

::

    IdpError                    500 error
    ├── ConfigError             500 config_error         settings or files wrong; refuse to start
    │   └── PluginError         500 plugin_error         a plugin will not import or validate
    ├── InvalidInput            400 invalid_input        a form or parameter is malformed
    ├── NotFound                404 not_found            unknown or disabled object
    ├── Forbidden               403 forbidden            signed in, but not allowed
    ├── Unauthenticated         401 login_required       sign in first
    ├── ServiceUnavailable      503 service_unavailable  a dependency is down; carries retry_after
    │   └── DatabaseUnavailable 503 database_unavailable the database does not answer
    └── AuthFlowError           400 auth_flow_error      the login cannot continue
        ├── FlowExpired         400 flow_expired         the login took too long; start again
        ├── MethodUnavailable   400 method_unavailable   method disabled or not set up
        └── RateLimited         429 rate_limited         too many attempts; carries retry_after

Later subsystems add their branches (``idp.sms.errors`` hangs ``SmsError`` here) rather than
inventing their own roots.
"""

from __future__ import annotations

from flask_babel import gettext, lazy_gettext
from flask_babel.speaklater import LazyString


class IdpError(Exception):
    """Base of every error Poort raises on purpose."""

    code: str = "error"
    status: int = 500
    #: Shown to the user instead of the exception text when the text is for admins only.
    public_message: str | None = None
    #: The message when the raiser gives none, in the person's language (made when the error
    #: is raised; English outside a request). Only a class's own counts: a subclass without
    #: one says its docstring (English, for admins and logs), as every class does by default.
    default_message: LazyString | None = None
    #: Whether each 5xx of this kind is logged; False for outages logged once per change.
    log_each: bool = True

    def __init__(self, message: str = "", **context: object) -> None:
        own_default = vars(type(self)).get("default_message")
        if not message and own_default is not None:
            message = str(own_default)
        super().__init__(message or self.__class__.__doc__ or self.code)
        self.message = message or (self.__class__.__doc__ or self.code).strip()
        self.context = context

    def user_message(self) -> str:
        """What a person may read: the public message when one is set, else the message."""
        return self.public_message or self.message


class ConfigError(IdpError):
    """Settings or instance files are wrong; Poort refuses to start until they are fixed."""

    code = "config_error"

    def __init__(self, message: str, *, setting: str | None = None) -> None:
        super().__init__(message, setting=setting)
        self.setting = setting


class PluginError(ConfigError):
    """A plugin could not be imported, failed its checks, or clashes with another."""

    code = "plugin_error"

    def __init__(self, message: str, *, plugin: str, distribution: str | None = None) -> None:
        super().__init__(message, setting=None)
        self.plugin = plugin
        self.distribution = distribution


class InvalidInput(IdpError):
    """The request carried a malformed form field or parameter."""

    code = "invalid_input"
    status = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.field = field


class NotFound(IdpError):
    """The page or object does not exist, or is switched off."""

    code = "not_found"
    status = 404
    default_message = lazy_gettext("The page or object does not exist, or is switched off.")


class Forbidden(IdpError):
    """You are signed in, but this is not yours to see or change."""

    code = "forbidden"
    status = 403
    default_message = lazy_gettext("You are signed in, but this is not yours to see or change.")


class Unauthenticated(IdpError):
    """Sign in to continue."""

    code = "login_required"
    status = 401
    default_message = lazy_gettext("Sign in to continue.")


class ServiceUnavailable(IdpError):
    """Something Poort needs does not answer right now; try again in a moment."""

    code = "service_unavailable"
    status = 503
    default_message = lazy_gettext("This service is briefly unavailable. Try again in a moment.")
    #: Logged once per outage (where it is seen), not once per request.
    log_each = False

    def __init__(self, message: str = "", *, retry_after: int = 5) -> None:
        super().__init__(message)
        self.public_message = self.message  # written for the person, in their language
        self.retry_after = retry_after


class DatabaseUnavailable(ServiceUnavailable):
    """The database does not answer; the request changed nothing. Try again shortly."""

    code = "database_unavailable"
    default_message = lazy_gettext(
        "This service is unavailable for a moment. Nothing was changed. "
        "Please try again in a few seconds."
    )


class AuthFlowError(IdpError):
    """The login cannot continue."""

    code = "auth_flow_error"
    status = 400
    default_message = lazy_gettext("The login cannot continue.")


class FlowExpired(AuthFlowError):
    """The login took too long or was already finished; please start again."""

    code = "flow_expired"
    default_message = lazy_gettext(
        "The login took too long or was already finished; please start again."
    )


class MethodUnavailable(AuthFlowError):
    """This way of signing in is not available."""

    code = "method_unavailable"
    default_message = lazy_gettext("This way of signing in is not available.")


class RateLimited(AuthFlowError):
    """Too many attempts; wait before trying again."""

    code = "rate_limited"
    status = 429

    def __init__(self, message: str = "", *, retry_after: int) -> None:
        super().__init__(
            message or gettext("Too many attempts. Try again in %(wait)s s.", wait=retry_after)
        )
        self.retry_after = retry_after


__all__ = [
    "AuthFlowError",
    "ConfigError",
    "DatabaseUnavailable",
    "FlowExpired",
    "Forbidden",
    "IdpError",
    "InvalidInput",
    "MethodUnavailable",
    "NotFound",
    "PluginError",
    "RateLimited",
    "ServiceUnavailable",
    "Unauthenticated",
]
