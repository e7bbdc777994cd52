"""EXPLAIN (ANALYZE, BUFFERS) of Poort's hot queries on PostgreSQL, at realistic volumes.

    python -m bench.explain                      # 100k users, 200k codes, 500k log rows, ...
    python -m bench.explain --scale 0.1          # a tenth of that, for a quick look
    python -m bench.explain --out docs/explain.md

It creates a throwaway database on the server (``--server``, default the local test
server), migrates it with Poort's own migrations, fills it with ``INSERT ... SELECT
generate_series`` (users, sessions, challenges, message-log rows, limit events, codes,
tokens, audit events), runs ANALYZE, and then calls Poort's own functions (the session
lookup, the code check, the cooldown, the prefix judge, the limit store, the message-log
filters, the token lookups, ``poort prune``) with the statements they send captured. Each
captured statement is explained with its real parameters, DML inside a transaction that is
rolled back, and the result is printed as Markdown: a summary table (which index serves
which query) and every plan. The database is dropped at the end (``--keep`` keeps it).

Nothing here is part of Poort; docs/SCALING.md shows its output.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import platform
import re
import secrets
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, func, or_, select, text
from sqlalchemy.engine import make_url

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/test"

#: Rows per table at --scale 1.
VOLUMES = {
    "users": 100_000,
    "sessions": 200_000,
    "challenges": 200_000,
    "sms_log": 500_000,
    "limit_events": 300_000,
    "oauth_codes": 100_000,
    "oauth_tokens": 200_000,
    "audit_events": 300_000,
    "blocked_prefixes": 200,
}


def _driver_url(url: str) -> str:
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


@contextlib.contextmanager
def throwaway_database(server: str, keep: bool) -> Iterator[str]:
    admin = make_url(_driver_url(server))
    name = f"poort_explain_{secrets.token_hex(4)}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))  # a name we made: letters, digits, _
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        if keep:
            print(f"kept database {name}", file=sys.stderr)
        else:
            with engine.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


# -- seeding --------------------------------------------------------------------------------

#: Realistic shapes: Dutch mobile numbers, codes spread over the 7 days `poort prune` keeps,
#: a message log of 90 days, sessions of the last day, limit events of the last day.
SEED = [
    (
        "users",
        """
        INSERT INTO users (subject, nickname, username, email, phone, phone_verified_at,
                           password_hash, is_admin, active, created_at, updated_at,
                           last_login_at)
        SELECT md5('subject' || i), 'User ' || i, 'user' || i, 'user' || i || '@example.org',
               '+316' || lpad(((i::bigint * 104729) % 100000000)::text, 8, '0'),
               :now - interval '30 days', NULL, false,
               i % 500 <> 0, :now - (i % 365) * interval '1 day', :now,
               :now - (i % 30) * interval '1 hour'
        FROM generate_series(1, :n) AS i
        """,
    ),
    (
        "sessions",
        """
        INSERT INTO sessions (token_hash, user_id, data, created_at, last_seen_at, auth_time,
                              amr, ip, user_agent, revoked_at)
        SELECT encode(sha256(('token-' || i)::bytea), 'hex'),
               CASE WHEN i % 3 = 0 THEN NULL ELSE 1 + (i * 7919) % :users END,
               '{}'::json, :now - (i % 1440) * interval '1 minute',
               :now - (i % 60) * interval '1 minute', NULL, 'sms', '192.0.2.' || (i % 250),
               'Mozilla/5.0', CASE WHEN i % 10 = 0 THEN :now - interval '2 hours' END
        FROM generate_series(1, :n) AS i
        """,
    ),
    (
        "challenges",
        """
        INSERT INTO challenges (public_id, purpose, target, phone, prefix, region, user_id,
                                code_hmac, created_at, expires_at, attempts, max_attempts,
                                consumed_at, superseded_at, delivery, context)
        SELECT 'pub-' || i,
               (ARRAY['login', 'login', 'login', 'signup', 'second_factor'])[1 + i % 5],
               'phone:' || p.phone, p.phone, left(p.phone, 8), 'NL', NULL,
               md5('code' || i) || md5('hmac' || i),
               :now - (i % 10080) * interval '1 minute',
               :now - (i % 10080) * interval '1 minute' + interval '5 minutes',
               i % 3, 5,
               CASE WHEN i % 5 <> 0 THEN :now - (i % 10080) * interval '1 minute' END,
               NULL,
               (ARRAY['sent', 'sent', 'sent', 'sent', 'sent', 'sent', 'sent', 'sent',
                      'withheld', 'failed'])[1 + i % 10],
               '{}'::json
        FROM generate_series(1, :n) AS i,
             LATERAL (SELECT '+316' || lpad((((1 + (i * 31) % :users)::bigint * 104729) % 100000000)
                                            ::text, 8, '0') AS phone) p
        """,
    ),
    (
        "blocked_prefixes",
        """
        INSERT INTO blocked_prefixes (prefix, region, blocked_at, until, sent, verified,
                                      lifted_at, lifted_by)
        SELECT '+3197' || lpad(i::text, 3, '0'), 'NL', :now - (i % 72) * interval '1 hour',
               :now - (i % 72) * interval '1 hour' + interval '24 hours', 40, 1,
               CASE WHEN i % 7 = 0 THEN :now END, NULL
        FROM generate_series(1, :n) AS i
        """,
    ),
    (
        "verifiers",
        """
        INSERT INTO verifiers (name, title, provider, options, sender, price_per_segment,
                               currency, is_default, enabled, created_at, report_token,
                               updated_at)
        SELECT v, initcap(v), v, '{}'::json, 'Poort', 0.056, 'EUR', v = 'spryng', true,
               :now, md5(v), :now
        FROM unnest(ARRAY['spryng', 'messagebird', 'twilio']) AS v
        """,
    ),
    (
        "sms_log",
        """
        INSERT INTO sms_log (created_at, reference, verifier_id, verifier_name, provider,
                             recipient_masked, recipient_hash, purpose, status, raw_code,
                             raw_meaning, provider_message_id, segments, encoding, cost,
                             currency, latency_ms, error_class, error_message, delivered_at,
                             challenge_id)
        SELECT :now - (i % 129600) * interval '1 minute', md5('ref' || i),
               1 + (i % 20 = 0)::int + (i % 100 = 0)::int,
               (ARRAY['spryng', 'messagebird', 'twilio'])
                   [1 + (i % 20 = 0)::int + (i % 100 = 0)::int],
               'spryng', '+31*******' || lpad((i % 100)::text, 2, '0'),
               encode(sha256(('recipient-' || (i % 80000))::bytea), 'hex'),
               (ARRAY['login', 'login', 'signup', 'second_factor'])[1 + i % 4],
               (ARRAY['accepted', 'delivered', 'delivered', 'delivered', 'failed'])[1 + i % 5],
               '1', 'received', md5('msg' || i), 1, 'gsm7', 0.056, 'EUR', 80 + i % 400,
               NULL, NULL, NULL, NULL
        FROM generate_series(1, :n) AS i
        """,
    ),
    (
        "limit_events",
        """
        INSERT INTO limit_events (key, at)
        SELECT (ARRAY['num-h:', 'num-d:', 'ip-h:', 'net-h:', 'budget-h:', 'budget-d:'])
                   [1 + i % 6]
               || CASE WHEN i % 6 < 2 THEN '+316' || lpad((i % 50000)::text, 8, '0')
                       WHEN i % 6 < 4 THEN '198.51.100.' || (i % 250)
                       ELSE 'all' END,
               :now - (i % 86400) * interval '1 second'
        FROM generate_series(1, :n) AS i
        """,
    ),
    (
        "oauth_clients",
        """
        INSERT INTO oauth_clients (client_id, name, secret_hash, public, redirect_uris,
                                   post_logout_redirect_uris, scopes, first_party,
                                   require_pkce, enabled, created_at, updated_at)
        SELECT 'app-' || i, 'App ' || i, md5('secret' || i) || md5('s' || i), false,
               '["https://rp.example/cb"]'::json, '[]'::json, 'openid profile phone', true,
               false, true, :now, :now
        FROM generate_series(1, 20) AS i
        """,
    ),
    (
        "oauth_codes",
        """
        INSERT INTO oauth_codes (code_hash, client_id, user_id, redirect_uri, scope,
                                 auth_time, amr, created_at, expires_at, used_at)
        SELECT encode(sha256(('code-' || i)::bytea), 'hex'), 1 + i % 20, 1 + i % :users,
               'https://rp.example/cb', 'openid', :now - (i % 10080) * interval '1 minute',
               '["sms"]'::json, :now - (i % 10080) * interval '1 minute',
               :now - (i % 10080) * interval '1 minute' + interval '1 minute',
               CASE WHEN i % 10 <> 0 THEN :now - (i % 10080) * interval '1 minute' END
        FROM generate_series(1, :n) AS i
        """,
    ),
    (
        "oauth_tokens",
        """
        INSERT INTO oauth_tokens (client_id, user_id, scope, access_jti, access_expires_at,
                                  refresh_hash, refresh_expires_at, family, code_id,
                                  auth_time, amr, created_at, rotated_at, revoked_at)
        SELECT 1 + i % 20, 1 + i % :users, 'openid offline_access', md5('jti' || i),
               :now - (i % 20160) * interval '1 minute' + interval '10 minutes',
               encode(sha256(('refresh-' || i)::bytea), 'hex'),
               :now - (i % 20160) * interval '1 minute' + interval '30 days',
               md5('family' || (i / 4)), NULL, :now - (i % 20160) * interval '1 minute',
               '["sms"]'::json, :now - (i % 20160) * interval '1 minute',
               CASE WHEN i % 4 <> 3 THEN :now END, NULL
        FROM generate_series(1, :n) AS i
        """,
    ),
    (
        "audit_events",
        """
        INSERT INTO audit_events (created_at, actor_id, actor, action, target, before, after,
                                  ip)
        SELECT :now - (i % 576000) * interval '1 minute', NULL, 'user:' || (1 + i % :users),
               (ARRAY['login.success', 'code.sent', 'code.verified', 'login.failure'])
                   [1 + i % 4],
               'user:' || (1 + i % :users), NULL, '{"method": "sms"}'::json,
               '192.0.2.' || (i % 250)
        FROM generate_series(1, :n) AS i
        """,
    ),
]


def seed(url: str, now: datetime, scale: float) -> dict[str, int]:
    engine = create_engine(_driver_url(url))
    counts = {}
    users = max(100, int(VOLUMES["users"] * scale))
    naive_now = now.astimezone(UTC).replace(tzinfo=None)
    with engine.begin() as conn:
        for table, sql in SEED:
            n = max(100, int(VOLUMES.get(table, 0) * scale))
            started = time.monotonic()
            conn.execute(text(sql), {"n": n, "users": users, "now": naive_now})
            took = time.monotonic() - started
            print(f"seeded {table} in {took:.1f} s", file=sys.stderr)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
        for table, _ in SEED:
            # The table names are our own constants above, never input.
            count = text(f"SELECT count(*) FROM {table}")  # noqa: S608
            counts[table] = int(conn.execute(count).scalar_one())
            heap, indexes = conn.execute(
                text("SELECT pg_table_size(:t), pg_indexes_size(:t)"), {"t": table}
            ).one()
            SIZES[table] = (int(heap), int(indexes))
        counts["database_mb"] = int(
            conn.execute(text("SELECT pg_database_size(current_database()) / 1048576")).scalar_one()
        )
    engine.dispose()
    return counts


#: Bytes of each seeded table: (table with TOAST, its indexes), filled in by seed().
SIZES: dict[str, tuple[int, int]] = {}


def sizes_table(counts: dict[str, int]) -> list[str]:
    lines = [
        "| Table | Rows | Table | Indexes | Bytes per row (with indexes) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for table, (heap, indexes) in SIZES.items():
        rows = max(1, counts[table])
        lines.append(
            f"| `{table}` | {counts[table]:,} | {heap / 1048576:.1f} MB | "
            f"{indexes / 1048576:.1f} MB | {(heap + indexes) / rows:,.0f} |"
        )
    return lines


# -- capturing and explaining ------------------------------------------------------------------


@dataclass
class Plan:
    title: str
    where: str
    statement: str
    parameters: Any
    plan: str = ""
    used: list[str] = field(default_factory=list)
    milliseconds: float | None = None


@contextlib.contextmanager
def captured(engine: Any) -> Iterator[list[tuple[str, Any]]]:
    seen: list[tuple[str, Any]] = []

    def before(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)


def dry_run(call: Callable[[], Any]) -> list[tuple[str, Any]]:
    """The statements *call* sends, with its commits turned into flushes and rolled back."""
    from idp.extensions import db

    session = db.session()
    real_commit = session.commit
    session.commit = session.flush  # type: ignore[method-assign]
    try:
        with captured(db.engine) as seen:
            call()
    finally:
        session.commit = real_commit  # type: ignore[method-assign]
        session.rollback()
    return seen


_SCAN = re.compile(
    r"(Index Only Scan(?: Backward)? using \S+|Index Scan(?: Backward)? using \S+|"
    r"Bitmap Index Scan on \S+|Seq Scan on \S+)"
)


def explain(conn: Any, item: Plan) -> None:
    sql = "EXPLAIN (ANALYZE, BUFFERS) " + item.statement
    try:
        rows = conn.exec_driver_sql(sql, item.parameters or {}).all()
    finally:
        conn.rollback()  # EXPLAIN ANALYZE runs DML for real: undo it
    item.plan = "\n".join(row[0] for row in rows)
    item.used = list(dict.fromkeys(_SCAN.findall(item.plan)))
    timing = re.search(r"Execution Time: ([\d.]+) ms", item.plan)
    item.milliseconds = float(timing.group(1)) if timing else None


def readable(statement: str, parameters: Any) -> str:
    """The statement with its parameters written in, for reading only."""
    text_ = re.sub(r"\s+", " ", statement).strip()
    if not isinstance(parameters, dict):
        return text_

    def value(match: re.Match[str]) -> str:
        raw = parameters.get(match.group(1))
        if raw is None:
            return "NULL"
        if isinstance(raw, (int, float)):
            return str(raw)
        return "'" + str(raw).replace("'", "''") + "'"

    return re.sub(r"%\((\w+)\)s", value, text_)


# -- the hot queries ----------------------------------------------------------------------------


def plans(app: Any, now: datetime) -> list[Plan]:
    from idp.abuse import prefixes, sending
    from idp.abuse.db_store import DatabaseStore
    from idp.abuse.store import Window
    from idp.auth.sessions import live_session
    from idp.extensions import db
    from idp.maintenance import prune
    from idp.models import AuthorizationCode, OAuthToken, SmsLogEntry, User
    from idp.verification import challenges, message_log
    from idp.verification.challenges import Purpose
    from idp.verification.message_log import LogFilter

    phone = db.session.scalar(select(User.phone).where(User.id == 42))  # has codes this week
    recipient = db.session.scalar(select(SmsLogEntry.recipient_hash).limit(1))
    found: list[Plan] = []

    def add(
        titles: str | list[str],
        where: str,
        call: Callable[[], Any],
        pick: Callable[[str], bool] = lambda sql: True,
    ) -> None:
        """Explain what *call* sends (bar locks and inserts); a list of titles names the
        statements in order, a title with {table} names each after its table."""
        picked = []
        for statement, parameters in dry_run(call):
            lowered = statement.lstrip().lower()
            if "pg_advisory" in lowered or lowered.startswith(("insert", "savepoint", "release")):
                continue
            if pick(lowered):
                picked.append((statement, parameters))
        for number, (statement, parameters) in enumerate(picked):
            title = titles[min(number, len(titles) - 1)] if isinstance(titles, list) else titles
            table = re.search(r"(?:from|update)\s+(\w+)", statement, re.IGNORECASE)
            title = title.replace("{table}", table.group(1) if table else "?")
            found.append(Plan(title, where, statement, parameters))

    def sha(value: str) -> str:
        return hashlib.sha256(value.encode()).hexdigest()

    add(
        "Session by cookie (every request with a cookie)",
        "idp/auth/sessions.py live_session",
        lambda: live_session("token-1234", now),
    )
    add(
        "User by phone number (sending and checking a code)",
        "plugins/idp_sms/login_views.py login_start",
        lambda: db.session.scalar(select(User).where(User.phone == phone)),
    )
    add(
        [
            "Latest code per number and purpose: the cooldown (sending a code)",
            "Superseding the open codes of the number (sending a code)",
        ],
        "idp/verification/challenges.py issue",
        lambda: challenges.issue(Purpose.LOGIN, phone=phone),
        lambda sql: sql.startswith(("select", "update")),
    )
    # A code really sent a moment ago, to check.
    public_id = challenges.issue(Purpose.LOGIN, phone=phone).challenge.public_id
    db.session.commit()
    add(
        [
            "Challenge by public id (checking a code)",
            "Attempt counter, one conditional UPDATE (checking a code)",
        ],
        "idp/verification/challenges.py check",
        lambda: challenges.check(public_id, "000000", Purpose.LOGIN, phone=phone),
        lambda sql: "challenges" in sql,
    )
    add(
        "Prefix block and verify rate of the last hour (sending a code)",
        "idp/abuse/prefixes.py judge",
        lambda: prefixes.judge(phone, "NL"),
        lambda sql: "blocked_prefixes" in sql,
    )
    add(
        [
            "Limit events by key: expired ones out (sending a code, database store: no Redis)",
            "Limit events by key: the window (sending a code, database store: no Redis)",
        ],
        "idp/abuse/db_store.py DatabaseStore.take",
        lambda: DatabaseStore().take([Window(f"num-h:{phone}", 1000, 3600)], now),
    )
    add(
        "Admin user search (a copy of the statement in idp/admin/users.py)",
        "idp/admin/users.py users",
        lambda: db.session.scalars(
            select(User)
            .where(
                or_(
                    func.lower(User.nickname).contains("jansen", autoescape=True),
                    User.username.contains("jansen", autoescape=True),
                    User.email.contains("jansen", autoescape=True),
                    User.phone.contains("jansen", autoescape=True),
                )
            )
            .order_by(User.id)
            .limit(50)
        ).all(),
    )
    add(
        "Cost spent in the last hour (cost budgets, when set)",
        "idp/abuse/sending.py spent_since",
        lambda: sending.spent_since(now - timedelta(hours=1)),
    )
    add(
        "Authorization code by code (token endpoint)",
        "idp/oidc/server.py query_authorization_code",
        lambda: db.session.scalar(
            select(AuthorizationCode).where(
                AuthorizationCode.code_hash == sha("code-4242"), AuthorizationCode.client_id == 3
            )
        ),
    )
    add(
        "Refresh token by hash (token endpoint, refresh grant)",
        "idp/oidc/server.py authenticate_refresh_token",
        lambda: db.session.scalar(
            select(OAuthToken).where(OAuthToken.refresh_hash == sha("refresh-4242"))
        ),
    )
    add(
        "Access token by jti (userinfo, introspection)",
        "idp/oidc/tokens.py access_token_row",
        lambda: db.session.scalar(
            select(OAuthToken).where(
                OAuthToken.access_jti == hashlib.md5(b"jti4242").hexdigest()  # noqa: S324
            )
        ),
    )

    def log_page(log_filter: LogFilter) -> Callable[[], Any]:
        def run() -> None:
            stmt = message_log.entries(log_filter)
            db.session.scalars(stmt.limit(50)).all()

        return run

    add(
        "Message log, newest page, no filter (admin)",
        "idp/verification/message_log.py entries",
        log_page(LogFilter()),
    )
    add(
        "Message log, one recipient (admin)",
        "idp/verification/message_log.py entries",
        log_page(LogFilter(recipient_hash=recipient)),
    )
    add(
        "Message log, one rarely used verifier (admin)",
        "idp/verification/message_log.py entries",
        log_page(LogFilter(verifier="twilio")),
    )
    add(
        "Message log, failed attempts of the last 7 days (admin)",
        "idp/verification/message_log.py entries",
        log_page(LogFilter(since=(now - timedelta(days=7)).date(), status="failed")),
    )
    add(
        "Message log totals per verifier, last 30 days (admin)",
        "idp/verification/message_log.py totals",
        lambda: message_log.totals(LogFilter(since=(now - timedelta(days=30)).date()), "verifier"),
    )
    add(
        "Message log health of the last hour (admin dashboard, verifiers page)",
        "idp/verification/message_log.py health",
        lambda: message_log.health(now),
    )
    add(
        "poort prune (daily): {table}",
        "idp/maintenance.py prune",
        lambda: prune(now),
        lambda sql: sql.startswith("delete"),
    )
    return found


# -- the report ---------------------------------------------------------------------------------


def report(counts: dict[str, int], found: list[Plan], command: str) -> str:
    import sqlalchemy

    lines = [
        f"Produced by `{command}` on {datetime.now(UTC):%Y-%m-%d}, PostgreSQL "
        f"{counts.get('server_version', '?')}, SQLAlchemy {sqlalchemy.__version__}, "
        f"Python {platform.python_version()}.",
        "",
        "Rows: "
        + ", ".join(f"{name} {counts[name]:,}" for name, _ in SEED)
        + f"; database {counts['database_mb']} MB.",
        "",
        *sizes_table(counts),
        "",
        "| # | Query | Code | Scans (index or table) | Time |",
        "| --- | --- | --- | --- | --- |",
    ]
    for number, item in enumerate(found, start=1):
        scans = "<br>".join(f"`{scan}`" for scan in item.used) or "(none)"
        took = f"{item.milliseconds:.2f} ms" if item.milliseconds is not None else "?"
        lines.append(f"| {number} | {item.title} | `{item.where}` | {scans} | {took} |")
    lines.append("")
    for number, item in enumerate(found, start=1):
        lines += [
            f"### {number}. {item.title}",
            "",
            f"`{item.where}`",
            "",
            "```sql",
            readable(item.statement, item.parameters),
            "```",
            "",
            "```text",
            item.plan,
            "```",
            "",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.explain", description=__doc__)
    parser.add_argument("--server", default=DEFAULT_SERVER, help="PostgreSQL server URL")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every volume")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--out", type=Path, help="write the Markdown here (default: stdout)")
    args = parser.parse_args(argv)

    from cryptography.fernet import Fernet

    from idp import create_app
    from idp.extensions import db
    from idp.plugins import from_classes

    now = datetime.now(UTC).replace(microsecond=0)
    with throwaway_database(args.server, args.keep) as url:
        import tempfile

        with tempfile.TemporaryDirectory() as folder:
            app = create_app(
                {
                    "instance_path": folder,
                    "database_url": url,
                    "secret_key": secrets.token_urlsafe(48),
                    "secret_keys": [Fernet.generate_key().decode()],
                    "issuer": "https://login.example.org",
                },
                registry=from_classes(),
            )
            with app.app_context():
                from flask_migrate import upgrade

                upgrade()
                db.session.remove()
            counts = seed(url, now, args.scale)
            with app.test_request_context("/"), app.app_context():
                found = plans(app, now)
                with db.engine.connect() as conn:
                    counts["server_version"] = conn.execute(text("SHOW server_version")).scalar()
                    for item in found:
                        explain(conn, item)
                db.session.remove()
                db.engine.dispose()
    command = "python -m bench.explain" + (f" --scale {args.scale:g}" if args.scale != 1 else "")
    markdown = report(counts, found, command)
    if args.out:
        args.out.write_text(markdown + "\n", encoding="utf-8")
    else:
        print(markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
