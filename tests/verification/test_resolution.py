"""Which channels deliver an authenticator's codes: named verifier, default, poort.toml, none."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import update

from idp import create_app
from idp.errors import ConfigError
from idp.extensions import db
from idp.models import Verifier
from idp.verification import verifiers
from idp.verification.resolution import FILE_STYLE, NEW_STYLE, OLD_STYLE, resolve


@pytest.fixture
def ctx(app: Flask) -> Iterator[None]:
    with app.app_context():
        yield


def names(resolution: Any) -> list[str]:
    return [channel.name for channel in resolution.channels]


def write_toml(app_config: dict[str, Any], text: str) -> Path:
    instance = Path(app_config["instance_path"])
    instance.mkdir(parents=True, exist_ok=True)
    path = instance / "poort.toml"
    path.write_text(text, encoding="utf-8")
    return path


# -- 1. new style: the verifier the authenticator names -------------------------------------


def test_a_named_enabled_verifier_is_used(ctx, make_verifier):
    make_verifier("spryng-nl", default=True)
    make_verifier("named")

    resolution = resolve("named")

    assert resolution.available
    assert resolution.source == NEW_STYLE
    assert names(resolution) == ["named"]
    [channel] = resolution.channels
    assert (channel.provider, channel.sender, str(channel.price_per_segment)) == (
        "fake",
        "Poort",
        "0.0560",
    )


def test_a_named_disabled_verifier_is_unavailable_even_when_a_default_exists(ctx, make_verifier):
    make_verifier("fallback-default", default=True)
    make_verifier("off", enabled=False)

    resolution = resolve("off")

    assert not resolution.available
    assert resolution.reason == "The verifier 'off' is not enabled."


def test_an_unknown_named_verifier_is_unavailable(ctx, make_verifier):
    make_verifier("other", default=True)

    resolution = resolve("gone")

    assert not resolution.available
    assert resolution.reason == "The verifier 'gone' does not exist."


def test_a_named_verifier_whose_provider_is_not_loaded(ctx, make_verifier):
    row = make_verifier("orphan")
    db.session.execute(update(Verifier).where(Verifier.id == row.id).values(provider="uninstalled"))
    db.session.commit()

    resolution = resolve("orphan")

    assert not resolution.available
    assert "'uninstalled'" in resolution.reason
    assert "not loaded" in resolution.reason


# -- 2. old style: the default verifier -------------------------------------------------------


def test_none_named_uses_the_default_verifier(ctx, make_verifier):
    make_verifier("first")
    make_verifier("the-default", default=True)

    resolution = resolve(None)

    assert resolution.source == OLD_STYLE
    assert names(resolution) == ["the-default"]
    assert resolve("").source == OLD_STYLE


def test_a_disabled_default_is_passed_over(ctx, make_verifier):
    row = make_verifier("the-default", default=True)
    verifiers.set_enabled(row, False)
    db.session.commit()

    resolution = resolve(None)

    assert not resolution.available
    assert "no enabled verifier is marked default" in resolution.reason


# -- 3. file style: the [sms] table of poort.toml --------------------------------------------


@pytest.fixture
def toml_app(app_config: dict[str, Any], request: pytest.FixtureRequest) -> Flask:
    write_toml(
        app_config,
        '[sms]\nprovider = "console"\nsender = "OpenWave"\nprice_per_segment = "0.07"\n',
    )
    return request.getfixturevalue("app")


def test_none_default_uses_the_sms_table_of_poort_toml(toml_app, make_verifier):
    with toml_app.app_context():
        make_verifier("not-default")

        resolution = resolve(None)

        assert resolution.source == FILE_STYLE
        [channel] = resolution.channels
        assert (channel.name, channel.provider, channel.sender) == (
            "poort.toml",
            "console",
            "OpenWave",
        )
        assert str(channel.price_per_segment) == "0.07"
        assert channel.verifier_id is None
        assert channel.options == {"outbox": "sms-outbox.jsonl"}


def test_a_default_verifier_beats_the_file(toml_app, make_verifier):
    with toml_app.app_context():
        make_verifier("the-default", default=True)

        assert resolve(None).source == OLD_STYLE


def test_the_sms_table_may_come_from_test_config(app_config, request):
    app_config["sms"] = {"provider": "fake", "sender": "3197010000", "api_key": "k-123"}
    app = request.getfixturevalue("app")

    with app.app_context():
        resolution = resolve(None)

    [channel] = resolution.channels
    assert (channel.provider, channel.sender) == ("fake", "3197010000")
    assert channel.options["api_key"] == "k-123"  # sealed at start-up, opened for sending


# -- 4. none of these -------------------------------------------------------------------------


def test_nothing_configured_is_unavailable_with_the_reason(ctx):
    resolution = resolve(None)

    assert not resolution.available
    assert resolution.channels == ()
    assert resolution.reason == (
        "No verifier is named, no enabled verifier is marked default, "
        "and poort.toml has no [sms] table."
    )


# -- fallback chains ------------------------------------------------------------------------


def test_fallbacks_are_followed_in_order(ctx, make_verifier):
    make_verifier("third", provider="fake-two")
    make_verifier("second", fallback="third")
    make_verifier("first", fallback="second")

    assert names(resolve("first")) == ["first", "second", "third"]
    assert names(resolve("second")) == ["second", "third"]


def test_a_disabled_fallback_is_skipped_and_the_chain_goes_on(ctx, make_verifier):
    make_verifier("third")
    make_verifier("second", fallback="third", enabled=False)
    make_verifier("first", fallback="second")

    assert names(resolve("first")) == ["first", "third"]


def test_a_fallback_whose_provider_is_not_loaded_is_skipped(ctx, make_verifier):
    make_verifier("third")
    second = make_verifier("second", fallback="third")
    make_verifier("first", fallback="second")
    db.session.execute(
        update(Verifier).where(Verifier.id == second.id).values(provider="uninstalled")
    )
    db.session.commit()
    db.session.expire_all()

    assert names(resolve("first")) == ["first", "third"]


def test_a_cycle_written_behind_our_back_does_not_loop(ctx, make_verifier):
    b = make_verifier("b")
    a = make_verifier("a", fallback="b")
    db.session.execute(update(Verifier).where(Verifier.id == b.id).values(fallback_id=a.id))
    db.session.commit()
    db.session.expire_all()

    assert names(resolve("a")) == ["a", "b"]
    assert names(resolve("b")) == ["b", "a"]


def test_a_self_reference_does_not_loop(ctx, make_verifier):
    a = make_verifier("a")
    db.session.execute(update(Verifier).where(Verifier.id == a.id).values(fallback_id=a.id))
    db.session.commit()
    db.session.expire_all()

    assert names(resolve("a")) == ["a"]


def test_the_default_brings_its_fallbacks(ctx, make_verifier):
    make_verifier("backup", provider="fake-two")
    make_verifier("main", fallback="backup", default=True)

    assert names(resolve(None)) == ["main", "backup"]


def test_channels_keep_secrets_out_of_their_repr(ctx, make_verifier):
    make_verifier("secretive", options={"api_key": "sk_live_SENTINEL"})

    [channel] = resolve("secretive").channels

    assert channel.options["api_key"] == "sk_live_SENTINEL"
    assert "SENTINEL" not in repr(channel)
    assert "SENTINEL" not in repr(resolve("secretive"))


# -- the [sms] table is validated at start-up ------------------------------------------------


@pytest.mark.parametrize(
    ("table", "key", "words"),
    [
        ('sender = "Poort"\n', "provider", "required"),
        ('provider = "nexmo-classic"\nsender = "Poort"\n', "provider", "not installed"),
        ('provider = "console"\nsender = "Poort Identity Provider"\n', "sender", "11"),
        ('provider = "console"\nsender = "Poort!"\n', "sender", "A-Z"),
        ('provider = "console"\n', "sender", "Enter a sender"),
        ('provider = "console"\nsender = "Poort"\noutbox = "../escape"\n', "outbox", "file name"),
        ('provider = "console"\nsender = "Poort"\nendpoint = "https://x"\n', "endpoint", "Unknown"),
        (
            'provider = "console"\nsender = "Poort"\nprice_per_segment = "cheap"\n',
            "price",
            "number",
        ),
        ('provider = "console"\nsender = "Poort"\nprice_per_segment = "-1"\n', "price", "negative"),
        ('provider = "console"\nsender = "Poort"\ncurrency = "euro"\n', "currency", "three"),
    ],
)
def test_a_bad_sms_table_stops_the_start_naming_file_and_key(
    app_config, registry, table, key, words
):
    path = write_toml(app_config, "[sms]\n" + table)

    with pytest.raises(ConfigError) as caught:
        create_app(app_config, registry=registry)

    message = str(caught.value)
    assert str(path) in message
    assert (
        f"[sms] {key}" in message
        or f"[sms]: the key '{key}'" in message
        or (f"[sms]: {key}" in message)
    )
    assert words in message
    assert caught.value.setting == f"sms.{key}"


def test_an_option_outside_its_choices_is_refused(app_config, registry):
    write_toml(app_config, '[sms]\nprovider = "fake"\nsender = "Poort"\noutcome = "sometimes"\n')

    with pytest.raises(ConfigError) as caught:
        create_app(app_config, registry=registry)

    assert "[sms] outcome" in str(caught.value)
