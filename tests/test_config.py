"""Settings: where each value comes from, and how a wrong one stops the start."""

from __future__ import annotations

from pathlib import Path

import pytest

from idp import create_app
from idp.config import load_settings
from idp.errors import ConfigError
from tests.conftest import SECRET_KEY

OTHER_KEY = "another-secret-key-that-is-also-long-enough-0123456789"
#: Required outside dev mode; every test that is not about it passes this one.
REQUIRED = {"issuer": "https://login.example.org"}


@pytest.fixture
def instance(tmp_path: Path) -> Path:
    path = tmp_path / "instance"
    path.mkdir()
    return path


def write_toml(instance: Path, text: str) -> Path:
    path = instance / "poort.toml"
    path.write_text(text, encoding="utf-8")
    return path


def load(instance: Path, test_config: dict | None = None, **environ: str):
    """Settings with a secret key unless the test says otherwise; environ is exactly *environ*."""
    return load_settings(
        instance, {**REQUIRED, "secret_key": SECRET_KEY, **(test_config or {})}, environ
    )


# -- load order ---------------------------------------------------------------------------


def test_defaults_apply_when_nothing_is_set(instance):
    settings = load(instance)
    assert settings.site_name == "Poort"
    assert settings.default_region == "NL"
    assert settings.session_idle_minutes == 60
    assert settings.dev is False
    assert settings.database_url == f"sqlite:///{instance / 'poort.sqlite3'}"


def test_each_source_overrides_the_one_before(instance):
    write_toml(
        instance,
        'site_name = "From file"\ndefault_region = "BE"\nsession_idle_minutes = 10\n',
    )
    settings = load(
        instance,
        {"site_name": "From test"},
        IDP_SITE_NAME="From env",
        IDP_SESSION_IDLE_MINUTES="20",
    )
    assert settings.site_name == "From test"  # test config beats environment
    assert settings.session_idle_minutes == 20  # environment beats file
    assert settings.default_region == "BE"  # file beats default
    assert settings.session_absolute_hours == 24  # untouched default


def test_environment_overrides_file(instance):
    write_toml(instance, 'site_name = "From file"\n')
    assert load(instance, IDP_SITE_NAME="From env").site_name == "From env"
    assert load(instance).site_name == "From file"


def test_tables_of_the_file_are_kept_for_their_subsystem(instance):
    write_toml(instance, '[sms]\nprovider = "spryng"\nsender = "Poort"\n')
    assert load(instance).tables["sms"] == {"provider": "spryng", "sender": "Poort"}


# -- the file -----------------------------------------------------------------------------


def test_toml_syntax_error_names_file_and_line(instance):
    path = write_toml(instance, 'site_name = "ok"\ndev = \n')
    with pytest.raises(ConfigError) as info:
        load(instance)
    assert str(path) in str(info.value)
    assert "line 2" in str(info.value)


def test_file_that_is_not_utf8_names_the_file(instance):
    path = instance / "poort.toml"
    path.write_bytes('site_name = "Caf\u00e9"\n'.encode("latin-1"))
    with pytest.raises(ConfigError) as info:
        load(instance)
    assert str(path) in str(info.value)
    assert "UTF-8" in str(info.value)


def test_wrongly_typed_value_names_file_line_and_key(instance):
    path = write_toml(instance, '# Poort\nsite_name = "ok"\nsession_idle_minutes = "ten"\n')
    with pytest.raises(ConfigError) as info:
        load(instance)
    message = str(info.value)
    assert str(path) in message
    assert "line 3" in message
    assert "session_idle_minutes" in message
    assert info.value.setting == "session_idle_minutes"


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ("dev = 1", "dev"),  # an int is not a bool
        ("session_idle_minutes = true", "session_idle_minutes"),  # a bool is not an int
        ("session_idle_minutes = 1.5", "session_idle_minutes"),
        ('plugins_blocked = "totp"', "plugins_blocked"),  # a list is wanted
        ("plugins_blocked = [1, 2]", "plugins_blocked"),
        ('default_region = "Netherlands"', "default_region"),
        ("session_absolute_hours = 0", "session_absolute_hours"),
        ('password_hash_profile = "fast"', "password_hash_profile"),
    ],
)
def test_values_that_do_not_fit_are_refused(instance, line, key):
    write_toml(instance, line + "\n")
    with pytest.raises(ConfigError) as info:
        load(instance)
    assert key in str(info.value)
    assert "line 1" in str(info.value)


def test_unknown_key_in_file_is_refused(instance):
    write_toml(instance, 'site_name = "ok"\nsite_nmae = "typo"\n')
    with pytest.raises(ConfigError) as info:
        load(instance)
    assert "unknown setting 'site_nmae'" in str(info.value)
    assert "line 2" in str(info.value)


def test_unknown_key_in_test_config_is_refused(instance):
    with pytest.raises(ConfigError, match="unknown setting 'colour'"):
        load(instance, {"colour": "blue"})


# -- the secret key -----------------------------------------------------------------------


def test_no_secret_key_outside_dev_mode_refuses_to_start(instance):
    with pytest.raises(ConfigError) as info:
        load_settings(instance, REQUIRED, {})
    assert "IDP_SECRET_KEY" in str(info.value)
    assert info.value.setting == "secret_key"


def test_dev_mode_starts_without_a_secret_key(instance):
    settings = load_settings(instance, {}, {"IDP_DEV": "1"})
    assert settings.dev is True
    assert len(settings.secret_key) >= 32
    assert settings.session_cookie_name == "poort_session"


@pytest.mark.parametrize(
    ("test_config", "environ"),
    [
        ({"secret_key": "short"}, {}),
        ({}, {"IDP_SECRET_KEY": "x" * 31}),
    ],
)
def test_too_short_secret_key_is_refused(instance, test_config, environ):
    with pytest.raises(ConfigError, match="too short"):
        load_settings(instance, {**REQUIRED, **test_config}, environ)


def test_secret_key_is_read_from_the_instance_file(instance):
    (instance / "secret_key").write_text(OTHER_KEY + "\n", encoding="utf-8")
    settings = load_settings(instance, REQUIRED, {})
    assert settings.secret_key == OTHER_KEY
    assert settings.session_cookie_name == "__Host-poort_session"


def test_a_set_secret_key_wins_over_the_instance_file(instance):
    (instance / "secret_key").write_text(OTHER_KEY, encoding="utf-8")
    assert (
        load_settings(instance, REQUIRED, {"IDP_SECRET_KEY": SECRET_KEY}).secret_key == SECRET_KEY
    )


@pytest.mark.parametrize(
    ("content", "problem"),
    [("", "No secret key"), ("\n", "No secret key"), ("short\n", "is too short")],
)
def test_empty_or_short_secret_key_file_is_refused(instance, content, problem):
    path = instance / "secret_key"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(instance, REQUIRED, {})
    assert problem in str(info.value)
    assert str(path) in str(info.value)


# -- the environment ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://poort@db.internal/poort", "postgresql+psycopg://poort@db.internal/poort"),
        ("postgres://poort@db.internal/poort", "postgresql+psycopg://poort@db.internal/poort"),
        ("postgresql+psycopg://poort@db/poort", "postgresql+psycopg://poort@db/poort"),
        ("sqlite:////var/lib/poort/poort.sqlite3", "sqlite:////var/lib/poort/poort.sqlite3"),
    ],
)
def test_database_url_from_environment(instance, given, expected):
    assert load(instance, DATABASE_URL=given).database_url == expected


def test_plugins_blocked_is_a_comma_list(instance):
    settings = load(instance, IDP_PLUGINS_BLOCKED="totp, sms,,  console ")
    assert settings.plugins_blocked == ("totp", "sms", "console")


def test_secret_keys_from_environment_keep_their_order(instance):
    settings = load(instance, IDP_SECRET_KEYS="newest,older")
    assert settings.secret_keys == ("newest", "older")


@pytest.mark.parametrize("raw", ["1", "true", "Yes", "ON"])
def test_true_values_of_a_bool_variable(instance, raw):
    assert load(instance, IDP_DEV=raw).dev is True


@pytest.mark.parametrize("raw", ["0", "false", "No", "off", ""])
def test_false_values_of_a_bool_variable(instance, raw):
    assert load(instance, IDP_DEV=raw).dev is False


@pytest.mark.parametrize(
    ("name", "raw", "problem"),
    [
        ("IDP_DEV", "maybe", "expected true or false"),
        ("IDP_SESSION_IDLE_MINUTES", "ten", "expected a whole number"),
        ("IDP_SESSION_IDLE_MINUTES", "1.5", "expected a whole number"),
        ("IDP_SESSION_IDLE_MINUTES", "-5", "positive"),
        ("IDP_TRUSTED_PROXIES", "one", "expected a whole number"),
        ("IDP_DEFAULT_REGION", "nl", "two-letter"),
    ],
)
def test_bad_environment_values_name_the_variable(instance, name, raw, problem):
    with pytest.raises(ConfigError) as info:
        load(instance, **{name: raw})
    assert name in str(info.value)
    assert problem in str(info.value)


# -- create_app ---------------------------------------------------------------------------


def test_create_app_refuses_without_secret_key(instance):
    with pytest.raises(ConfigError, match="IDP_SECRET_KEY"):
        create_app({**REQUIRED, "instance_path": str(instance)})


def test_create_app_refuses_a_broken_config_file(instance):
    path = write_toml(instance, "site_name = \n")
    with pytest.raises(ConfigError, match=str(path)):
        create_app({**REQUIRED, "instance_path": str(instance), "secret_key": SECRET_KEY})


def test_create_app_refuses_without_encryption_keys_outside_dev_mode(instance):
    with pytest.raises(ConfigError) as info:
        create_app({**REQUIRED, "instance_path": str(instance), "secret_key": SECRET_KEY})
    assert "secret.keys" in str(info.value)
    assert info.value.setting == "secret_keys"


def test_create_app_reads_encryption_keys_from_the_instance(instance, fernet_key):
    (instance / "secret.keys").write_text(fernet_key + "\n", encoding="utf-8")
    app = create_app({**REQUIRED, "instance_path": str(instance), "secret_key": SECRET_KEY})
    box = app.extensions["idp"].secret_box
    assert box.key_count == 1
    assert box.open(box.seal("x")) == "x"


def test_create_app_in_dev_mode_needs_no_keys(instance):
    app = create_app({"instance_path": str(instance), "dev": True})
    settings = app.extensions["idp"].settings
    assert settings.dev is True
    assert app.config["SECRET_KEY"] == settings.secret_key
    box = app.extensions["idp"].secret_box
    assert box.open(box.seal("x")) == "x"


def test_create_app_uses_environment_settings(instance, monkeypatch):
    monkeypatch.setenv("IDP_SITE_NAME", "Acme Login")
    monkeypatch.setenv("IDP_DEV", "true")
    app = create_app({"instance_path": str(instance)})
    assert app.extensions["idp"].settings.site_name == "Acme Login"
