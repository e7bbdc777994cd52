"""Settings: defaults, then ``instance/poort.toml``, then ``IDP_*`` variables, then test config.

Everything is validated once, at start-up, into a frozen :class:`Settings`; code reads that
object (``idp.state.settings()``) and never looks keys up in ``app.config`` by hand. A value
that does not fit stops the start with a :class:`~idp.errors.ConfigError` naming where it came
from: the file, line and key, or the environment variable.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from idp import setting_checks as checks
from idp.errors import ConfigError

CONFIG_FILE = "poort.toml"
#: Tables of poort.toml that a subsystem reads and validates itself.
TABLES = {"sms": "the SMS provider used when no verifier is set up (file style)"}
SECRET_KEY_FILE = "secret_key"  # noqa: S105 - a file name, not a secret

# Short names for the option table below; the checks live in idp.setting_checks.
_region = checks.region
_password_profile = checks.password_profile
_code_length = checks.code_length
_code_ttl = checks.code_ttl
_signing_alg = checks.signing_alg
_issuer = checks.issuer
_positive = checks.positive
_not_negative = checks.not_negative
_metrics_token = checks.metrics_token
_networks = checks.networks
_sms_queue = checks.sms_queue
_in_flight = checks.in_flight
_redis_url = checks.redis_url


@dataclass(frozen=True)
class Option:
    """One setting: its type, default and meaning (the meaning goes into the docs)."""

    type: type
    default: Any
    doc: str
    check: Callable[[Any], Any] | None = None


#: Every setting Poort reads. Keys are the names in poort.toml; the environment uses IDP_<KEY>.
OPTIONS: dict[str, Option] = {
    "dev": Option(bool, False, "Development and demo mode: http on 127.0.0.1, ephemeral keys."),
    "secret_key": Option(
        str, None, "Signs CSRF tokens. Read from instance/secret_key when unset (`poort init`)."
    ),
    "database_url": Option(
        str, None, "SQLAlchemy URL; also read from DATABASE_URL. Default: instance SQLite file."
    ),
    "site_name": Option(str, "Poort", "Name shown in page titles and the header."),
    "default_region": Option(
        str, "NL", "Region for phone numbers typed without a country code.", _region
    ),
    "session_idle_minutes": Option(int, 60, "A session unused this long is ended.", _positive),
    "session_absolute_hours": Option(
        int, 24, "A session this old is ended, however active.", _positive
    ),
    "plugins_blocked": Option(list, [], 'Plugin ids that are never loaded, e.g. ["totp"].'),
    "password_hash_profile": Option(
        str, "default", "argon2id parameters: default (RFC 9106 low-memory).", _password_profile
    ),
    "secret_keys": Option(
        list, [], "Fernet keys for secrets at rest, newest first; default instance/secret.keys."
    ),
    "trusted_proxies": Option(int, 0, "Reverse proxies in front of Poort (X-Forwarded-For hops)."),
    "issuer": Option(
        str, None, "The OpenID Connect issuer URL, exactly as relying apps expect it.", _issuer
    ),
    "signing_alg": Option(str, "RS256", "Token signing algorithm: RS256 or ES256.", _signing_alg),
    "code_length": Option(int, 6, "Digits in a one-time code (6 to 10).", _code_length),
    "code_ttl_seconds": Option(
        int, 300, "How long a one-time code is valid (at most 600 s).", _code_ttl
    ),
    "code_max_attempts": Option(int, 5, "Guesses allowed per code before it is void.", _positive),
    "code_resend_seconds": Option(
        int, 60, "Wait before another code may be sent for the same purpose.", _positive
    ),
    "redis_url": Option(
        str,
        None,
        "Redis for the counters of send limits and failed sign-ins, shared by all workers; "
        "also read from REDIS_URL. Default: those counters live in the database.",
        _redis_url,
    ),
    "redis_prefix": Option(
        str, "poort:", "Prefix of every Redis key Poort writes, for a Redis shared with others."
    ),
    "sms_queue": Option(
        str,
        "inline",
        'How codes are texted: "inline" (in the request) or "redis" (queued; `poort worker` '
        "sends them); also read from SMS_QUEUE. redis needs redis_url.",
        _sms_queue,
    ),
    "max_in_flight": Option(
        int,
        0,
        "Requests a worker serves at once before it sheds more with 503 and Retry-After "
        "(logins in progress and probes are never shed). 0: derived from the threads under "
        "`poort serve` (threads - threads // 4), off elsewhere; -1: never shed.",
        _in_flight,
    ),
    "hsts_seconds": Option(
        int,
        31536000,
        "max-age of the Strict-Transport-Security header on https responses; 0 sends none.",
        _not_negative,
    ),
    "audit_retention_days": Option(
        int, 400, "Audit events older than this many days are deleted by `poort prune`.", _positive
    ),
    "prefix_lift_grace_hours": Option(
        int,
        24,
        "After an admin lifts a prefix block, only codes sent after the lift can block the "
        "prefix again, for this many hours.",
        _positive,
    ),
    "human_check": Option(
        str,
        "pow",
        "The check a browser passes before a code is sent once its address has asked for "
        'several: an entry point in the idp.human_checks group, or "off".',
    ),
    "metrics_token": Option(
        str, None, "When set, GET /metrics needs Authorization: Bearer <token>.", _metrics_token
    ),
    "metrics_networks": Option(
        list,
        ["127.0.0.1/32", "::1/128"],
        "Networks (CIDR) whose clients may read GET /metrics; [] switches it off.",
        _networks,
    ),
}


@dataclass(frozen=True)
class Settings:
    """The validated configuration of one app."""

    instance_path: Path
    dev: bool
    secret_key: str
    database_url: str
    site_name: str
    default_region: str
    session_idle_minutes: int
    session_absolute_hours: int
    plugins_blocked: tuple[str, ...]
    password_hash_profile: str
    secret_keys: tuple[str, ...]
    trusted_proxies: int
    issuer: str
    signing_alg: str
    code_length: int
    code_ttl_seconds: int
    code_max_attempts: int
    code_resend_seconds: int
    redis_url: str | None
    redis_prefix: str
    sms_queue: str
    max_in_flight: int
    hsts_seconds: int
    audit_retention_days: int
    prefix_lift_grace_hours: int
    human_check: str
    metrics_token: str | None
    metrics_networks: tuple[str, ...]
    #: Tables of poort.toml that belong to a subsystem (for example ``[sms]``), unvalidated here.
    tables: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def session_cookie_name(self) -> str:
        # The __Host- prefix needs Secure; browsers refuse it over plain http in dev mode.
        return "poort_session" if self.dev else "__Host-poort_session"


def instance_path_default() -> Path:
    """``IDP_INSTANCE_PATH``, else ``instance/`` of the checkout (or of the working directory)."""
    env = os.environ.get("IDP_INSTANCE_PATH")
    if env:
        return Path(env).resolve()
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "pyproject.toml").is_file():
        return checkout / "instance"
    return Path.cwd() / "instance"


def _line_of(text: str, key: str, table: str | None) -> int | None:
    """Line number of ``key = ...`` in the TOML text (inside ``[table]`` when given)."""
    current: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        header = re.fullmatch(r"\[\s*([^\]]+?)\s*\]", stripped)
        if header:
            current = header.group(1)
            continue
        if current == table and re.match(rf"{re.escape(key)}\s*=", stripped):
            return number
    return None


def read_config_file(path: Path) -> tuple[dict[str, Any], str]:
    """Parse poort.toml; a syntax error names the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
        return tomllib.loads(text), text
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason})", setting=str(path)) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}", setting=str(path)) from exc


def _coerce_env(name: str, option: Option, raw: str) -> Any:
    if option.type is bool:
        lowered = raw.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off", ""):
            return False
        raise ConfigError(f"{name}={raw!r}: expected true or false", setting=name)
    if option.type is int:
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"{name}={raw!r}: expected a whole number", setting=name) from None
    if option.type is list:
        return [item.strip() for item in raw.split(",") if item.strip()]
    return raw


def _check(key: str, value: Any, where: str) -> Any:
    option = OPTIONS[key]
    if value is None and option.default is None:
        return None
    expected = option.type
    if expected is int and isinstance(value, bool) or not isinstance(value, expected):
        raise ConfigError(
            f"{where}: {key} must be {expected.__name__}, not {type(value).__name__}", setting=key
        )
    if isinstance(value, list) and not all(isinstance(item, str) for item in value):
        raise ConfigError(f"{where}: {key} must be a list of strings", setting=key)
    if option.check is not None:
        try:
            value = option.check(value)
        except ValueError as exc:
            raise ConfigError(f"{where}: {key} {exc}", setting=key) from None
    return value


def load_settings(
    instance_path: Path,
    test_config: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Merge the four sources in order and validate the result."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {key: option.default for key, option in OPTIONS.items()}
    tables: dict[str, Mapping[str, Any]] = {}

    path = instance_path / CONFIG_FILE
    if path.is_file():
        data, text = read_config_file(path)
        for key, value in data.items():
            if isinstance(value, dict) and key not in OPTIONS:
                if key not in TABLES:
                    known = ", ".join(f"[{name}]" for name in sorted(TABLES))
                    raise ConfigError(
                        f"{path}: unknown table [{key}]; Poort reads {known}", setting=key
                    )
                tables[key] = value
                continue
            line = _line_of(text, key, None)
            where = f"{path}, line {line}" if line else str(path)
            if key not in OPTIONS:
                raise ConfigError(f"{where}: unknown setting {key!r}", setting=key)
            values[key] = _check(key, value, where)

    if "DATABASE_URL" in environ:
        values["database_url"] = environ["DATABASE_URL"]
    if environ.get("REDIS_URL"):
        values["redis_url"] = _check("redis_url", environ["REDIS_URL"], "REDIS_URL")
    if environ.get("SMS_QUEUE"):
        values["sms_queue"] = _check("sms_queue", environ["SMS_QUEUE"], "SMS_QUEUE")
    for key, option in OPTIONS.items():
        name = f"IDP_{key.upper()}"
        if name in environ:
            values[key] = _check(key, _coerce_env(name, option, environ[name]), name)

    for key, value in (test_config or {}).items():
        if key in OPTIONS:
            values[key] = _check(key, value, "test config")
        elif isinstance(value, Mapping):
            tables[key] = value
        else:
            raise ConfigError(f"test config: unknown setting {key!r}", setting=key)

    if values["sms_queue"] == "redis" and not values["redis_url"]:
        raise ConfigError(
            'sms_queue = "redis" (or SMS_QUEUE=redis) needs redis_url (or REDIS_URL): '
            "the queue of texts lives in Redis",
            setting="sms_queue",
        )
    values["secret_key"] = _secret_key(values, instance_path)
    values["database_url"] = _database_url(values["database_url"], instance_path)
    values["issuer"] = _issuer_setting(values["issuer"], values["dev"])
    values["plugins_blocked"] = tuple(values["plugins_blocked"])
    values["secret_keys"] = tuple(values["secret_keys"])
    values["metrics_networks"] = tuple(values["metrics_networks"])
    return Settings(instance_path=instance_path, tables=tables, **values)


def _secret_key(values: Mapping[str, Any], instance_path: Path) -> str:
    key, source = values["secret_key"], "secret_key"
    key_file = instance_path / SECRET_KEY_FILE
    if not key and key_file.is_file():
        key, source = key_file.read_text(encoding="utf-8").strip(), str(key_file)
    if key:
        if len(key) < 32:
            raise ConfigError(
                f"{source} is too short: use at least 32 random characters "
                "(python -c 'import secrets; print(secrets.token_urlsafe(48))')",
                setting="secret_key",
            )
        return key
    if values["dev"]:
        # Dev mode only: a per-process key; sessions and CSRF tokens die with the process.
        import secrets

        return secrets.token_urlsafe(48)
    raise ConfigError(
        "No secret key: set IDP_SECRET_KEY (or secret_key in poort.toml), or run `poort init` "
        f"to create {key_file}. Only dev mode (IDP_DEV=1) may start without one.",
        setting="secret_key",
    )


def _issuer_setting(issuer: str | None, dev: bool) -> str:
    if issuer is None:
        if dev:
            return "http://127.0.0.1:5000"
        raise ConfigError(
            "No issuer: set IDP_ISSUER (or issuer in poort.toml) to the https URL relying apps "
            "use for Poort, e.g. https://login.example.org.",
            setting="issuer",
        )
    if not dev and not issuer.startswith("https://"):
        raise ConfigError(f"issuer {issuer!r} must use https outside dev mode", setting="issuer")
    # Relying apps compare the issuer string exactly; one form, without a trailing slash.
    return issuer.rstrip("/")


def _database_url(url: str | None, instance_path: Path) -> str:
    if not url:
        return f"sqlite:///{instance_path / 'poort.sqlite3'}"
    # psycopg 3 is the driver we ship; plain postgresql:// would ask SQLAlchemy for psycopg2.
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def settings_reference() -> list[tuple[str, str, Any, str]]:
    """(key, environment variable, default, meaning) for every setting, for docs and tests."""
    return [
        (key, f"IDP_{key.upper()}", option.default, option.doc) for key, option in OPTIONS.items()
    ]


__all__ = ["OPTIONS", "Settings", "load_settings", "settings_reference", "instance_path_default"]
