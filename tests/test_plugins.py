"""Plugin discovery: entry points in, checked classes or clear failures out; Poort never crashes."""

from __future__ import annotations

import logging
import tomllib
from importlib.metadata import EntryPoint, PathDistribution, version
from pathlib import Path

import pytest

from idp import create_app
from idp.abuse.human_check import GROUP as HUMAN_CHECKS
from idp.auth import AuthMethod
from idp.plugins import (
    AUTH_METHODS,
    GROUPS,
    SMS_PROVIDERS,
    Registry,
    contract_problem,
    discover,
    from_classes,
)
from idp.sms.provider import SmsProvider
from tests.plugin_samples import (
    FromTheFuture,
    GoodMethod,
    GoodProvider,
    HalfDone,
    NotAPlugin,
)

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
BROKEN_REASON = "the vendor SDK is not installed"


def entry(name: str, target: str, group: str = AUTH_METHODS, dist=None) -> EntryPoint:
    """An entry point as an installed distribution would declare it."""
    value = target if ":" in target else f"tests.plugin_samples:{target}"
    ep = EntryPoint(name, value, group)
    return ep._for(dist) if dist is not None else ep


@pytest.fixture
def make_dist(tmp_path):
    """An installed distribution (a dist-info folder) with the given name and version."""

    def make(name: str, dist_version: str = "1.0") -> PathDistribution:
        path = tmp_path / f"{name.replace('-', '_')}-{dist_version}.dist-info"
        path.mkdir()
        (path / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {dist_version}\n", encoding="utf-8"
        )
        return PathDistribution(path)

    return make


@pytest.fixture
def broken_module(tmp_path, monkeypatch) -> str:
    """A module that raises when imported, as a plugin with a missing dependency would."""
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / "acme_broken.py").write_text(
        f"raise RuntimeError({BROKEN_REASON!r})\n", encoding="utf-8"
    )
    monkeypatch.syspath_prepend(str(folder))
    return "acme_broken:BrokenMethod"


def reasons(registry: Registry) -> dict[str, str]:
    return {failure.id: failure.reason for failure in registry.failures}


# -- loading ------------------------------------------------------------------------------


def test_good_plugins_load_with_their_distribution(make_dist):
    dist = make_dist("acme-poort-plugins", "1.2.3")
    registry = discover(
        found=[
            entry("good", "GoodMethod", dist=dist),
            entry("good_sms", "GoodProvider", SMS_PROVIDERS, dist=dist),
        ]
    )
    assert registry.failures == []
    plugin = registry.auth_methods["good"]
    assert plugin.cls is GoodMethod
    assert (plugin.distribution, plugin.version) == ("acme-poort-plugins", "1.2.3")
    assert plugin.title == "A good method"
    assert registry.auth_method("good") is GoodMethod
    assert registry.sms_provider("good_sms") is GoodProvider
    # Each group is its own namespace.
    assert registry.auth_method("good_sms") is None
    assert registry.sms_provider("good") is None


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("broken", f"import failed: RuntimeError: {BROKEN_REASON}"),
        ("acme_not_installed:Method", "import failed: ModuleNotFoundError"),
        ("tests.plugin_samples:NoSuchClass", "import failed: AttributeError"),
    ],
)
def test_import_failure_is_reported_and_skipped(broken_module, caplog, target, expected):
    target = broken_module if target == "broken" else target
    with caplog.at_level(logging.ERROR, logger="idp.plugins"):
        registry = discover(found=[entry("acme", target), entry("good", "GoodMethod")])
    assert expected in reasons(registry)["acme"]
    assert "acme" not in registry.auth_methods
    assert "good" in registry.auth_methods  # the others still load
    logged = [r.getMessage() for r in caplog.records if "acme" in r.getMessage()]
    assert len(logged) == 1 and expected in logged[0]


@pytest.mark.parametrize(
    ("name", "target", "group", "expected"),
    [
        ("plain", "NotAPlugin", AUTH_METHODS, "not a subclass of idp.auth.method.AuthMethod"),
        ("fn", "not_a_class", AUTH_METHODS, "not a subclass of idp.auth.method.AuthMethod"),
        ("good_sms", "GoodProvider", AUTH_METHODS, "not a subclass of idp.auth.method.AuthMethod"),
        ("good", "GoodMethod", SMS_PROVIDERS, "not a subclass of idp.sms.provider.SmsProvider"),
        ("half_done", "HalfDone", AUTH_METHODS, "abstract methods unimplemented: render_login"),
        (
            "misnamed",
            "Misnamed",
            AUTH_METHODS,
            "name is 'something_else', but the entry point is named 'misnamed'",
        ),
        ("future", "FromTheFuture", AUTH_METHODS, "API version 99; Poort supports 1"),
    ],
)
def test_contract_violations_name_the_problem(name, target, group, expected):
    registry = discover(found=[entry(name, target, group)])
    assert registry.plugins[group] == {}
    assert [(f.id, f.group) for f in registry.failures] == [(name, group)]
    assert expected in registry.failures[0].reason


def test_same_id_from_two_distributions_is_refused_naming_both(make_dist):
    registry = discover(
        found=[
            entry("good", "GoodMethod", dist=make_dist("acme-one")),
            entry("good", "GoodMethod", dist=make_dist("acme-two")),
        ]
    )
    assert "good" not in registry.auth_methods
    (failure,) = registry.failures
    assert failure.id == "good"
    assert "acme-one" in failure.reason and "acme-two" in failure.reason


def test_blocked_plugin_is_refused():
    registry = discover(blocked=["good"], found=[entry("good", "GoodMethod")])
    assert "good" not in registry.auth_methods
    assert reasons(registry) == {"good": "blocked by IDP_PLUGINS_BLOCKED"}


def test_blocked_plugin_is_not_even_imported(broken_module):
    registry = discover(blocked=["acme"], found=[entry("acme", broken_module)])
    assert reasons(registry) == {"acme": "blocked by IDP_PLUGINS_BLOCKED"}


def test_the_blocked_setting_reaches_discovery(app_config):
    app = create_app({**app_config, "plugins_blocked": ["password"]})
    registry = app.extensions["idp"].registry
    assert "password" not in registry.auth_methods
    assert reasons(registry)["password"] == "blocked by IDP_PLUGINS_BLOCKED"


# -- what is really installed ---------------------------------------------------------------


def test_discover_finds_the_installed_password_plugin():
    registry = discover()
    plugin = registry.auth_methods["password"]
    assert plugin.distribution == "poort"
    assert plugin.version == version("poort")
    assert issubclass(plugin.cls, AuthMethod)
    assert "password" not in reasons(registry)


def _declared_entry_points() -> list[tuple[str, str, str]]:
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    return [
        (group, name, value)
        for group, table in project.get("entry-points", {}).items()
        for name, value in table.items()
    ]


def _plugin_entry_points() -> list[tuple[str, str, str]]:
    """The entry points of the plugin registry's groups (human checks load on their own)."""
    return [point for point in _declared_entry_points() if point[0] in GROUPS]


def test_pyproject_declares_only_known_groups():
    declared = {group for group, _, _ in _declared_entry_points()}
    assert "idp.auth_methods" in declared
    assert declared <= set(GROUPS) | {HUMAN_CHECKS}


@pytest.mark.parametrize(
    ("group", "name", "value"),
    _plugin_entry_points(),
    ids=[f"{group}:{name}" for group, name, _ in _plugin_entry_points()],
)
def test_every_declared_entry_point_loads_and_keeps_the_contract(group, name, value):
    cls = EntryPoint(name, value, group).load()
    assert contract_problem(cls, group, name) is None


# -- from_classes -------------------------------------------------------------------------


def test_from_classes_behaves_like_discover():
    classes = [GoodMethod, GoodProvider, HalfDone, FromTheFuture]
    by_classes = from_classes(*classes)
    by_entry_points = discover(
        found=[
            entry(
                cls.name,
                cls.__name__,
                SMS_PROVIDERS if issubclass(cls, SmsProvider) else AUTH_METHODS,
            )
            for cls in classes
        ]
    )
    for registry in (by_classes, by_entry_points):
        assert set(registry.auth_methods) == {"good"}
        assert set(registry.sms_providers) == {"good_sms"}
    assert sorted((f.id, f.group, f.reason) for f in by_classes.failures) == sorted(
        (f.id, f.group, f.reason) for f in by_entry_points.failures
    )


def test_from_classes_blocks_like_discover():
    registry = from_classes(GoodMethod, GoodProvider, blocked=["good_sms"])
    assert set(registry.auth_methods) == {"good"}
    assert registry.sms_providers == {}
    assert reasons(registry) == {"good_sms": "blocked by IDP_PLUGINS_BLOCKED"}


def test_from_classes_refuses_what_is_no_plugin_at_all():
    with pytest.raises(TypeError, match="neither an AuthMethod, an SmsProvider nor a human check"):
        from_classes(NotAPlugin)


# -- the app with a broken plugin ---------------------------------------------------------


@pytest.fixture
def registry(broken_module) -> Registry:
    """The password plugin (for the admin to sign in) beside one that fails to import."""
    return discover(
        found=[
            entry("password", "idp_password:PasswordMethod"),
            entry("acme", broken_module),
        ]
    )


def test_app_with_a_failed_plugin_starts_and_shows_it_to_admins(admin_client):
    assert admin_client.get("/login").status_code == 200
    page = admin_client.get("/admin/plugins")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<code>acme</code>" in html
    assert f"import failed: RuntimeError: {BROKEN_REASON}" in html
    assert "<code>password</code>" in html
