"""One-time-code challenges: random codes stored as an HMAC, bound, expiring, single use, capped.

The two race tests fire concurrent submissions at real PostgreSQL (the Ory Kratos regression
pattern: 16 submissions of the same correct code, exactly one succeeds).
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

import idp.app
from idp import create_app
from idp.errors import ConfigError, InvalidInput, RateLimited
from idp.extensions import db
from idp.models import Challenge
from idp.verification import challenges
from idp.verification.challenges import Outcome, Purpose, check, issue, new_code, normalise_code
from tests.fakes.clock import FakeClock

PHONE = "+31612345678"
OTHER_PHONE = "+31687654321"


@pytest.fixture
def ctx(app: Flask) -> Iterator[None]:
    with app.app_context():
        yield


def fresh(public_id: str) -> Challenge:
    """The challenge row as the database has it now, not as this session remembers it."""
    db.session.expire_all()
    row = db.session.scalar(select(Challenge).where(Challenge.public_id == public_id))
    assert row is not None
    return row


def issued(purpose: Purpose = Purpose.LOGIN, phone: str = PHONE) -> challenges.IssuedCode:
    code = issue(purpose, phone=phone)
    db.session.commit()
    return code


def wrong_code(code: str) -> str:
    return f"{(int(code) + 1) % 10 ** len(code):0{len(code)}d}"


# -- the code -------------------------------------------------------------------------------


def test_codes_are_six_digits_by_default(ctx):
    code = issued().code

    assert re.fullmatch(r"\d{6}", code)
    assert all(re.fullmatch(r"\d{6}", new_code(6)) for _ in range(2000))


def test_codes_are_zero_padded_and_come_from_secrets(ctx, monkeypatch):
    calls: list[int] = []

    def randbelow(n: int) -> int:
        calls.append(n)
        return 42

    monkeypatch.setattr(secrets, "randbelow", randbelow)

    code = issued()

    assert code.code == "000042"
    assert calls == [10**6]
    assert check(code.challenge.public_id, "000042", Purpose.LOGIN, phone=PHONE).ok


@pytest.mark.parametrize("length", [6, 8, 10])
def test_code_length_is_configurable_from_6_to_10(app_config, request, length):
    app_config["code_length"] = length
    app = request.getfixturevalue("app")
    with app.app_context():
        code = issued()

    assert re.fullmatch(rf"\d{{{length}}}", code.code)


@pytest.mark.parametrize(
    ("setting", "value"),
    [("code_length", 5), ("code_length", 11), ("code_ttl_seconds", 601), ("code_ttl_seconds", 0)],
)
def test_config_refuses_codes_too_short_too_long_or_living_too_long(
    app_config, registry, setting, value
):
    with pytest.raises(ConfigError) as caught:
        create_app({**app_config, setting: value}, registry=registry)

    assert caught.value.setting == setting
    assert setting in str(caught.value)


def test_a_ttl_of_ten_minutes_is_the_ceiling(app_config, registry):
    app = create_app({**app_config, "code_ttl_seconds": 600}, registry=registry)
    assert app.extensions["idp"].settings.code_ttl_seconds == 600


def test_only_the_hmac_of_the_code_is_stored(ctx, monkeypatch):
    monkeypatch.setattr(secrets, "randbelow", lambda n: 739164)
    code = issued()
    check(code.challenge.public_id, wrong_code(code.code), Purpose.LOGIN, phone=PHONE)

    row = db.session.execute(
        select(Challenge.__table__).where(Challenge.public_id == code.challenge.public_id)
    ).one()

    assert code.code == "739164"
    for column, value in row._mapping.items():
        assert "739164" not in str(value), f"the code is readable in challenges.{column}"
    assert re.fullmatch(r"[0-9a-f]{64}", row.code_hmac)


def test_the_hmac_covers_the_purpose(ctx):
    """A row moved to another purpose (by a bug or by hand) no longer accepts its code."""
    code = issued(Purpose.PHONE_CHANGE)
    row = fresh(code.challenge.public_id)
    row.purpose = str(Purpose.LOGIN)
    db.session.commit()

    result = check(code.challenge.public_id, code.code, Purpose.LOGIN, phone=PHONE)

    assert result.outcome is Outcome.WRONG


# -- validity -------------------------------------------------------------------------------


def test_a_code_is_valid_until_it_expires(ctx, clock: FakeClock):
    first = issued()
    clock.advance(seconds=299)
    assert check(first.challenge.public_id, first.code, Purpose.LOGIN, phone=PHONE).ok

    second = issued()
    clock.advance(seconds=301)
    result = check(second.challenge.public_id, second.code, Purpose.LOGIN, phone=PHONE)

    assert result.outcome is Outcome.EXPIRED
    assert result.message == "This code has expired. Ask for a new one."
    assert fresh(second.challenge.public_id).attempts == 0  # an expired code counts nothing


def test_at_exactly_the_expiry_time_the_code_is_void(ctx, clock: FakeClock):
    code = issued()
    clock.advance(seconds=300)

    result = check(code.challenge.public_id, code.code, Purpose.LOGIN, phone=PHONE)

    assert result.outcome is Outcome.EXPIRED


def test_a_code_succeeds_once(ctx):
    code = issued()

    first = check(code.challenge.public_id, code.code, Purpose.LOGIN, phone=PHONE)
    db.session.commit()
    second = check(code.challenge.public_id, code.code, Purpose.LOGIN, phone=PHONE)

    assert first.ok
    assert second.outcome is Outcome.USED
    row = fresh(code.challenge.public_id)
    assert row.consumed_at is not None
    assert row.attempts == 1  # the second submission was not even counted


# -- binding --------------------------------------------------------------------------------


def test_a_code_is_bound_to_its_purpose(ctx, monkeypatch):
    monkeypatch.setattr(secrets, "randbelow", lambda n: 123456)  # both codes are 123456
    login = issued(Purpose.LOGIN)
    change = issued(Purpose.PHONE_CHANGE)

    crossed = check(login.challenge.public_id, "123456", Purpose.PHONE_CHANGE, phone=PHONE)

    assert crossed.outcome is Outcome.UNKNOWN
    assert crossed.message.startswith("This code request is unknown")
    assert check(change.challenge.public_id, "123456", Purpose.PHONE_CHANGE, phone=PHONE).ok


def test_a_code_is_bound_to_its_number(ctx, monkeypatch):
    monkeypatch.setattr(secrets, "randbelow", lambda n: 123456)
    mine = issued(phone=PHONE)

    crossed = check(mine.challenge.public_id, "123456", Purpose.LOGIN, phone=OTHER_PHONE)

    assert crossed.outcome is Outcome.UNKNOWN
    assert fresh(mine.challenge.public_id).attempts == 0
    assert check(mine.challenge.public_id, "123456", Purpose.LOGIN, phone=PHONE).ok


def test_a_code_is_bound_to_its_user(ctx, make_user):
    alice, bob = make_user(), make_user()
    code = issue(Purpose.SECOND_FACTOR, user_id=alice.id)
    db.session.commit()

    assert check(
        code.challenge.public_id, code.code, Purpose.SECOND_FACTOR, user_id=bob.id
    ).outcome is (Outcome.UNKNOWN)
    assert check(
        code.challenge.public_id, code.code, Purpose.SECOND_FACTOR, phone=PHONE
    ).outcome is (Outcome.UNKNOWN)
    assert check(code.challenge.public_id, code.code, Purpose.SECOND_FACTOR, user_id=alice.id).ok


def test_the_code_of_one_challenge_is_useless_in_another(ctx, monkeypatch):
    values = iter([111111, 222222])
    monkeypatch.setattr(secrets, "randbelow", lambda n: next(values))
    mine = issued(phone=PHONE)
    theirs = issued(phone=OTHER_PHONE)

    result = check(mine.challenge.public_id, theirs.code, Purpose.LOGIN, phone=PHONE)

    assert result.outcome is Outcome.WRONG


def test_a_challenge_needs_a_phone_or_a_user(ctx):
    with pytest.raises(ValueError, match="phone number or a user"):
        issue(Purpose.LOGIN)


# -- guessing -------------------------------------------------------------------------------


def test_attempts_left_count_down(ctx):
    code = issued()
    public_id = code.challenge.public_id

    results = [
        check(public_id, wrong_code(code.code), Purpose.LOGIN, phone=PHONE) for _ in range(4)
    ]

    assert [r.outcome for r in results] == [Outcome.WRONG] * 4
    assert [r.attempts_left for r in results] == [4, 3, 2, 1]
    assert results[0].message.endswith("4 attempts left.")
    assert fresh(public_id).attempts == 4


def test_five_wrong_guesses_burn_the_code(ctx):
    code = issued()
    public_id = code.challenge.public_id
    for _ in range(4):
        check(public_id, wrong_code(code.code), Purpose.LOGIN, phone=PHONE)

    fifth = check(public_id, wrong_code(code.code), Purpose.LOGIN, phone=PHONE)
    right = check(public_id, code.code, Purpose.LOGIN, phone=PHONE)

    assert (fifth.outcome, fifth.attempts_left) == (Outcome.TOO_MANY, 0)
    assert right.outcome is Outcome.TOO_MANY
    assert right.message == "Too many wrong codes. Ask for a new one."
    row = fresh(public_id)
    assert (row.attempts, row.consumed_at) == (5, None)


def test_the_right_code_on_the_last_attempt_still_works(ctx):
    code = issued()
    for _ in range(4):
        check(code.challenge.public_id, wrong_code(code.code), Purpose.LOGIN, phone=PHONE)

    assert check(code.challenge.public_id, code.code, Purpose.LOGIN, phone=PHONE).ok


def test_the_attempt_counter_survives_a_rollback_of_the_callers_transaction(ctx):
    code = issued()
    public_id = code.challenge.public_id

    check(public_id, wrong_code(code.code), Purpose.LOGIN, phone=PHONE)
    db.session.rollback()
    right = check(public_id, code.code, Purpose.LOGIN, phone=PHONE)
    db.session.rollback()  # what the code unlocked failed: the consumption goes with it ...

    assert right.ok
    row = fresh(public_id)
    assert (row.attempts, row.consumed_at) == (2, None)  # ... but every guess stays counted
    assert check(public_id, code.code, Purpose.LOGIN, phone=PHONE).ok


@pytest.mark.parametrize("typed", ["123 456", "123-456", " 123456\n", "1 2 3 4 5 6"])
def test_spaces_and_hyphens_in_a_typed_code_are_ignored(ctx, monkeypatch, typed):
    monkeypatch.setattr(secrets, "randbelow", lambda n: 123456)
    code = issued()

    assert normalise_code(typed) == "123456"
    assert check(code.challenge.public_id, typed, Purpose.LOGIN, phone=PHONE).ok


@pytest.mark.parametrize("typed", ["12345a", "abcdef", "", "12.3456", "12345678901"])
def test_letters_or_junk_in_a_code_are_invalid_input(ctx, typed):
    code = issued()

    with pytest.raises(InvalidInput) as caught:
        check(code.challenge.public_id, typed, Purpose.LOGIN, phone=PHONE)

    assert caught.value.field == "code"
    assert "digits" in caught.value.message
    assert fresh(code.challenge.public_id).attempts == 0


def test_an_unknown_challenge_id(ctx):
    result = check("no-such-challenge", "123456", Purpose.LOGIN, phone=PHONE)

    assert result.outcome is Outcome.UNKNOWN
    assert not result.ok


# -- resending ------------------------------------------------------------------------------


def test_a_resend_within_the_cooldown_is_rate_limited(ctx, clock: FakeClock):
    issued()

    with pytest.raises(RateLimited) as now:
        issue(Purpose.LOGIN, phone=PHONE)
    clock.advance(seconds=59)
    with pytest.raises(RateLimited) as later:
        issue(Purpose.LOGIN, phone=PHONE)

    assert now.value.retry_after == 60
    assert later.value.retry_after == 1
    assert "1 s" in later.value.message


def test_the_cooldown_is_per_purpose_and_number(ctx):
    issued(Purpose.LOGIN, PHONE)

    issued(Purpose.LOGIN, OTHER_PHONE)
    issued(Purpose.PHONE_CHANGE, PHONE)


def test_after_the_cooldown_only_the_newest_code_works(ctx, clock: FakeClock, monkeypatch):
    values = iter([111111, 222222])
    monkeypatch.setattr(secrets, "randbelow", lambda n: next(values))
    old = issued()
    clock.advance(seconds=60)
    new = issued()

    stale = check(old.challenge.public_id, old.code, Purpose.LOGIN, phone=PHONE)

    assert stale.outcome is Outcome.SUPERSEDED
    assert stale.message.startswith("A newer code was sent")
    assert fresh(old.challenge.public_id).superseded_at == clock()
    assert check(new.challenge.public_id, new.code, Purpose.LOGIN, phone=PHONE).ok


def test_a_resend_does_not_reopen_a_burnt_code(ctx, clock: FakeClock):
    old = issued()
    for _ in range(5):
        check(old.challenge.public_id, wrong_code(old.code), Purpose.LOGIN, phone=PHONE)
    clock.advance(seconds=60)
    new = issued()

    assert check(old.challenge.public_id, old.code, Purpose.LOGIN, phone=PHONE).outcome is (
        Outcome.SUPERSEDED
    )
    assert fresh(old.challenge.public_id).attempts == 5
    assert check(new.challenge.public_id, new.code, Purpose.LOGIN, phone=PHONE).ok


# -- races (PostgreSQL) ---------------------------------------------------------------------


@pytest.fixture
def wide_pool(postgres_url: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    """One pooled connection per racing thread; requested before ``app`` so it applies to it."""
    if postgres_url is None:
        pytest.skip(
            "race tests need PostgreSQL (row locks under READ COMMITTED, truly concurrent "
            "connections); SQLite serialises every writer. Run with DATABASE_URL=postgresql://..."
        )
    configure = idp.app._configure_flask

    def with_wide_pool(app: Flask, settings: Any) -> None:
        configure(app, settings)
        options = dict(app.config["SQLALCHEMY_ENGINE_OPTIONS"])
        options.update(pool_size=60, max_overflow=0, pool_timeout=30)
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options

    monkeypatch.setattr(idp.app, "_configure_flask", with_wide_pool)


def race(app: Flask, threads: int, submit: Callable[[], Outcome]) -> list[Outcome]:
    """Run *submit* in *threads* threads at once, each with its own app context and connection."""
    barrier = threading.Barrier(threads, timeout=60)
    outcomes: list[Outcome] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker() -> None:
        try:
            with app.app_context():
                try:
                    db.session.execute(select(1))  # hold a connection before the start
                    db.session.commit()
                    barrier.wait()
                    outcome = submit()
                    db.session.commit()
                finally:
                    db.session.remove()
            with lock:
                outcomes.append(outcome)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread below
            with lock:
                errors.append(exc)

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(timeout=120)
    assert not errors, errors
    assert len(outcomes) == threads
    return outcomes


def test_race_16_submissions_of_the_right_code_succeed_exactly_once(wide_pool, app):
    with app.app_context():
        code = issued()
        public_id = code.challenge.public_id

    def submit() -> Outcome:
        return check(public_id, code.code, Purpose.LOGIN, phone=PHONE).outcome

    outcomes = race(app, 16, submit)

    assert outcomes.count(Outcome.OK) == 1, outcomes
    assert set(outcomes) <= {Outcome.OK, Outcome.USED, Outcome.TOO_MANY}
    with app.app_context():
        row = fresh(public_id)
        assert row.consumed_at is not None
        assert row.attempts <= row.max_attempts
        consumed = db.session.scalars(
            select(Challenge).where(Challenge.consumed_at.is_not(None))
        ).all()
        assert len(consumed) == 1


def test_race_50_wrong_guesses_never_exceed_the_cap(wide_pool, app):
    with app.app_context():
        code = issued()
        public_id = code.challenge.public_id
    wrong = wrong_code(code.code)

    def submit() -> Outcome:
        return check(public_id, wrong, Purpose.LOGIN, phone=PHONE).outcome

    outcomes = race(app, 50, submit)

    assert outcomes.count(Outcome.WRONG) == 4, outcomes  # attempts 1-4; the 5th says TOO_MANY
    assert outcomes.count(Outcome.TOO_MANY) == 46
    with app.app_context():
        row = fresh(public_id)
        assert row.attempts == row.max_attempts == 5
        right = check(public_id, code.code, Purpose.LOGIN, phone=PHONE)
        assert right.outcome is Outcome.TOO_MANY
        assert fresh(public_id).consumed_at is None
