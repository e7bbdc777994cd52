"""Which verifier delivers the codes of an SMS authenticator, in one function.

1. new style: the verifier the authenticator names;
2. old style: none named, so the verifier marked default;
3. file style: none marked default, so the ``[sms]`` table of poort.toml;
4. none of these: unavailable, with the reason admins see.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from flask import has_request_context
from sqlalchemy import select

from idp import state
from idp.auth.pending import requesting_client_id
from idp.errors import ConfigError
from idp.extensions import db
from idp.models import OAuthClient, Verifier
from idp.options import OptionsInvalid, open_options, validate_options
from idp.security.secret_box import SecretBox
from idp.sms.sender import sender_problem
from idp.verification.verifiers import CURRENCY, MAX_PRICE

if TYPE_CHECKING:
    from idp.plugins import Registry

CLIENT_STYLE = "client"
NEW_STYLE = "authenticator"
OLD_STYLE = "default"
FILE_STYLE = "file"


@dataclass(frozen=True)
class Channel:
    """One place a message can be sent: a verifier, or the provider of the [sms] table."""

    name: str
    title: str
    provider: str
    options: Mapping[str, Any]  # secrets in clear: never log or render
    sender: str
    price_per_segment: Decimal
    currency: str
    verifier_id: int | None = None
    #: The token of the verifier's delivery-report address (None: the [sms] table).
    report_token: str | None = None

    def __repr__(self) -> str:  # keep secrets out of tracebacks and logs
        return f"<Channel {self.name} ({self.provider})>"


@dataclass(frozen=True)
class Resolution:
    """The channels to try in order (first, then its fallbacks), or why there are none."""

    channels: tuple[Channel, ...] = ()
    source: str | None = None
    reason: str | None = None

    @property
    def available(self) -> bool:
        return bool(self.channels)


def channel_for(row: Verifier) -> Channel:
    box = state.current().secret_box
    return Channel(
        name=row.name,
        title=row.title,
        provider=row.provider,
        options=open_options(row.options or {}, box),
        sender=row.sender,
        price_per_segment=Decimal(row.price_per_segment or 0),
        currency=row.currency,
        verifier_id=row.id,
        report_token=row.report_token,
    )


def chain(first: Verifier) -> tuple[Channel, ...]:
    """*first* and its enabled fallbacks, in order, each at most once.

    A disabled fallback, or one whose provider is not loaded, is skipped and the chain goes
    on to its own fallback: switching one verifier off must not cut off the ones behind it.
    """
    channels: list[Channel] = []
    seen: set[int] = set()
    row: Verifier | None = first
    while row is not None and row.id not in seen:
        seen.add(row.id)
        if row.enabled and state.current().registry.sms_provider(row.provider) is not None:
            channels.append(channel_for(row))
        row = row.fallback
    return tuple(channels)


def client_verifier() -> Verifier | None:
    """The enabled verifier bound to the relying application this login is for, if any.

    An application can have its own sender (its name on people's phones): while its
    authorization request waits for the login, its verifier delivers the codes.
    """
    if not has_request_context():
        return None
    client_id = requesting_client_id()
    if client_id is None:
        return None
    client = db.session.scalar(select(OAuthClient).where(OAuthClient.client_id == client_id))
    if client is None or not client.verifier:
        return None
    row = db.session.scalar(select(Verifier).where(Verifier.name == client.verifier))
    return row if row is not None and row.enabled else None


def resolve(verifier_name: str | None = None) -> Resolution:
    """The channels an SMS authenticator naming *verifier_name* (or none) sends through.

    A verifier bound to the requesting application comes first; when it is missing or
    disabled the usual rules apply, so a broken binding never stops a login.
    """
    bound = client_verifier()
    if bound is not None and (channels := chain(bound)):
        return Resolution(channels, CLIENT_STYLE)
    if verifier_name:
        row = db.session.scalar(select(Verifier).where(Verifier.name == verifier_name))
        if row is None:
            return Resolution(reason=f"The verifier {verifier_name!r} does not exist.")
        if not row.enabled:
            return Resolution(reason=f"The verifier {verifier_name!r} is not enabled.")
        channels = chain(row)
        if not channels:
            return Resolution(
                reason=f"The provider {row.provider!r} of {row.name!r} is not loaded."
            )
        return Resolution(channels, NEW_STYLE)
    default = db.session.scalar(
        select(Verifier).where(Verifier.is_default.is_(True), Verifier.enabled.is_(True))
    )
    if default is not None and (channels := chain(default)):
        return Resolution(channels, OLD_STYLE)
    file_channel = state.current().file_sms
    if file_channel is not None:
        return Resolution((file_channel,), FILE_STYLE)
    return Resolution(
        reason="No verifier is named, no enabled verifier is marked default, "
        "and poort.toml has no [sms] table."
    )


def load_file_channel(
    table: Mapping[str, Any] | None, registry: Registry, box: SecretBox, where: str
) -> Channel | None:
    """Validate the ``[sms]`` table at start-up, through the provider's own options form.

    :raises ConfigError: naming the file and the key that is wrong.
    """
    if not table:
        return None
    values = dict(table)
    provider = values.pop("provider", None)
    if not provider:
        raise ConfigError(f"{where} [sms]: the key 'provider' is required", setting="sms.provider")
    cls = registry.sms_provider(str(provider))
    if cls is None:
        raise ConfigError(
            f"{where} [sms]: provider {provider!r} is not installed or not loaded",
            setting="sms.provider",
        )
    sender = str(values.pop("sender", ""))
    problem = sender_problem(sender)
    if problem:
        raise ConfigError(f"{where} [sms] sender: {problem}", setting="sms.sender")
    try:
        price = Decimal(str(values.pop("price_per_segment", "0")))
    except InvalidOperation:
        raise ConfigError(
            f"{where} [sms] price_per_segment: not a number", setting="sms.price"
        ) from None
    if not price.is_finite() or not 0 <= price <= MAX_PRICE:
        raise ConfigError(
            f"{where} [sms] price_per_segment: cannot be negative or above {MAX_PRICE}",
            setting="sms.price",
        )
    currency = str(values.pop("currency", "EUR"))
    if not CURRENCY.fullmatch(currency):
        raise ConfigError(
            f"{where} [sms] currency: use a three-letter code in capitals such as EUR",
            setting="sms.currency",
        )
    try:
        stored = validate_options(cls.options_form, values, box)
    except OptionsInvalid as exc:
        key, messages = next(iter(exc.errors.items()))
        raise ConfigError(
            f"{where} [sms] {key}: {' '.join(messages)}", setting=f"sms.{key}"
        ) from None
    return Channel(
        name="poort.toml",
        title=f"{cls.title} (poort.toml)",
        provider=cls.name,
        options=open_options(stored, box),
        sender=sender,
        price_per_segment=price,
        currency=currency,
    )
