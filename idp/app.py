"""The app factory. Importing Poort does nothing; create_app() does all the wiring."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from idp import branding, error_pages, i18n
from idp.abuse.db_store import DatabaseStore
from idp.abuse.failover_store import FailoverStore
from idp.abuse.human_check import load_check
from idp.abuse.redis_outage import STATE_FILE, RedisOutage
from idp.abuse.redis_store import RedisStore
from idp.abuse.sending import human_check_fields
from idp.abuse.store import CounterStore
from idp.clock import Clock, system_clock
from idp.config import CONFIG_FILE, Settings, instance_path_default, load_settings
from idp.errors import ConfigError
from idp.extensions import csrf, db, login_manager, migrate
from idp.plugins import Registry, discover
from idp.resources import resource_dir
from idp.security import headers, nul_guard, origin
from idp.security.passwords import Passwords
from idp.security.secret_box import SecretBox, new_key, read_keys
from idp.state import IdpState
from idp.verification.after_answer import AfterAnswer
from idp.verification.resolution import load_file_channel

log = logging.getLogger("idp")


def create_app(
    test_config: Mapping[str, Any] | None = None,
    *,
    registry: Registry | None = None,
    clock: Clock | None = None,
) -> Flask:
    """Build a Poort app.

    :param test_config: settings applied last, over file and environment.
    :param registry: the plugins to use; by default every installed entry point.
    :param clock: the time source; tests pass a clock they can move.
    :raises ConfigError: when a setting is missing or invalid.
    """
    instance_path = Path(
        (test_config or {}).get("instance_path") or instance_path_default()
    ).resolve()
    config = {k: v for k, v in (test_config or {}).items() if k != "instance_path"}
    settings = load_settings(instance_path, config)

    app = Flask(
        "idp",
        instance_path=str(instance_path),
        template_folder=str(resource_dir("templates")),
        static_folder=str(resource_dir("static")),
    )
    _configure_flask(app, settings)

    registry = registry if registry is not None else discover(settings.plugins_blocked)
    box = SecretBox(_secret_keys(settings))
    app.extensions["idp"] = IdpState(
        settings=settings,
        registry=registry,
        secret_box=box,
        passwords=Passwords(settings.password_hash_profile),
        clock=clock or system_clock,
        counters=_counter_store(settings),
        file_sms=load_file_channel(
            settings.tables.get("sms"), registry, box, str(instance_path / CONFIG_FILE)
        ),
    )

    with app.app_context():
        load_check()  # a misspelt human_check setting stops the start, not the first login

    db.init_app(app)
    from idp import database_outage

    database_outage.install(app)  # one log line per outage change; recovery from new connections
    nul_guard.init_app(app)  # NUL in a request: 400; in a statement parameter: U+FFFD
    migrate.init_app(
        app, db, directory=str(resource_dir("migrations")), render_as_batch=True, compare_type=True
    )
    csrf.init_app(app)
    i18n.init_app(app)
    origin.init_app(app)
    headers.init_app(app)
    branding.init_app(app)  # brand and site_name in templates; /brand.css
    _init_login(app)
    error_pages.register(app)
    _register_blueprints(app, registry)

    from idp.cli import register_cli

    register_cli(app)
    from idp import shedding

    # Outside the other middleware, so every copy of the environ shares its list of work.
    app.wsgi_app = AfterAnswer(app.wsgi_app)  # type: ignore[method-assign]
    shedding.install(app, settings.max_in_flight)  # last, so it wraps everything else
    if settings.dev:
        log.warning("Poort runs in dev mode: insecure cookies allowed, keys may be ephemeral.")
    return app


def _configure_flask(app: Flask, settings: Settings) -> None:
    settings.instance_path.mkdir(parents=True, exist_ok=True)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SQLALCHEMY_DATABASE_URI=settings.database_url,
        SQLALCHEMY_ENGINE_OPTIONS={
            "pool_pre_ping": True,
            # SQLite has one writer: wait for it (up to 30 s) rather than answer "locked".
            **(
                {"connect_args": {"timeout": 30}}
                if settings.database_url.startswith("sqlite")
                else {}
            ),
        },
        PREFERRED_URL_SCHEME="http" if settings.dev else "https",
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the server-side session
        MAX_CONTENT_LENGTH=1024 * 1024,
        TEMPLATES_AUTO_RELOAD=settings.dev,
    )
    from idp.auth.sessions import ServerSessionInterface

    app.session_interface = ServerSessionInterface()
    if settings.trusted_proxies:
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]

    # Forms that ask for a code call this; it renders nothing until an address needs it.
    app.jinja_env.globals["human_check_fields"] = human_check_fields


def _counter_store(settings: Settings) -> CounterStore:
    if settings.redis_url:
        # Redis while it answers; sign-in guards in the database (and texts refused) when not.
        outage = RedisOutage(settings.instance_path / STATE_FILE)
        redis = RedisStore(settings.redis_url, settings.redis_prefix)
        return FailoverStore(redis, DatabaseStore(), outage)
    return DatabaseStore()


def _secret_keys(settings: Settings) -> list[str]:
    keys = list(settings.secret_keys) or read_keys(settings.instance_path)
    if keys:
        return keys
    if settings.dev:
        log.warning(
            "No secret.keys in %s: secrets at rest use a key that dies with the process.",
            settings.instance_path,
        )
        return [new_key()]
    raise ConfigError(
        f"No encryption key for secrets at rest: run `poort init` to create "
        f"{settings.instance_path / 'secret.keys'}, or set IDP_SECRET_KEYS.",
        setting="secret_keys",
    )


def _init_login(app: Flask) -> None:
    from idp.models import User

    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.session_protection = None  # the server-side session row is the protection

    @login_manager.user_loader
    def load_user(user_id: str) -> User | None:
        from idp import database_outage

        if database_outage.seen():
            return None  # the page of an outage shows nobody signed in
        user = db.session.get(User, int(user_id))
        return user if user is not None and user.active else None


def _register_blueprints(app: Flask, registry: Registry) -> None:
    from idp.account import bp as account_bp
    from idp.admin import bp as admin_bp
    from idp.auth.views import bp as auth_bp

    app.register_blueprint(auth_bp)
    from idp.oidc.server import create_server
    from idp.oidc.views import bp as oidc_bp

    create_server(app)
    app.register_blueprint(oidc_bp)
    app.register_blueprint(account_bp, url_prefix="/account")
    app.register_blueprint(admin_bp, url_prefix="/admin")
    from idp.verification.delivery_reports import bp as sms_reports_bp

    app.register_blueprint(sms_reports_bp)
    from idp.health import bp as health_bp

    app.register_blueprint(health_bp)  # /healthz and /readyz for load balancers and probes
    from idp.metrics import bp as metrics_bp

    app.register_blueprint(metrics_bp)  # /metrics for Prometheus (admin networks, token)
    for plugin in registry.auth_methods.values():
        blueprint = getattr(plugin.cls, "blueprint", None)
        if blueprint is not None:
            app.register_blueprint(blueprint, url_prefix=f"/m/{plugin.id}")
