"""The example plugin in examples/hello_plugin installs, loads and works like a third party's.

It is pip-installed into a folder of its own and found through its entry point, exactly as an
installed distribution would be; then an admin-made authenticator puts it on the login page.
The README and docs show its code; the last tests keep them from drifting apart.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import EntryPoint, distributions
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from idp.auth.authenticators import create_authenticator
from idp.extensions import db
from idp.models import Authenticator
from idp.options import OptionsInvalid
from idp.plugins import AUTH_METHODS, Registry, discover
from tests.conftest import post_form

CHECKOUT = Path(__file__).resolve().parent.parent
EXAMPLE = CHECKOUT / "examples" / "hello_plugin"
MODULE = EXAMPLE / "poort_hello" / "__init__.py"
TEMPLATE = EXAMPLE / "poort_hello" / "templates" / "poort_hello" / "login.html"
WORD = "abracadabra"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """examples/hello_plugin pip-installed into a folder of its own (a copy is built)."""
    work = tmp_path_factory.mktemp("hello")
    source = work / "source"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    target = work / "site"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation",
         "--no-index", "--quiet", "--target", str(target), str(source)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return target


@pytest.fixture
def entry_points(installed: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[EntryPoint]]:
    monkeypatch.syspath_prepend(str(installed))
    found = [ep for dist in distributions(path=[str(installed)]) for ep in dist.entry_points]
    yield found
    for name in [m for m in sys.modules if m == "poort_hello" or m.startswith("poort_hello.")]:
        del sys.modules[name]


@pytest.fixture
def registry(entry_points: list[EntryPoint]) -> Registry:
    """Overrides conftest's registry: only what the example distribution brings."""
    return discover(found=entry_points)


@pytest.fixture
def magic(app: Flask) -> Authenticator:
    """An enabled authenticator of the example method, made as the admin panel would."""
    with app.app_context():
        row = create_authenticator(
            name="magic", method="hello", title="Say the word", options={"word": WORD}, enabled=True
        )
        db.session.commit()
        db.session.refresh(row)
        db.session.expunge(row)
        return row


def test_the_example_installs_with_its_entry_point(entry_points: list[EntryPoint]) -> None:
    assert [(ep.group, ep.name, ep.value) for ep in entry_points] == [
        (AUTH_METHODS, "hello", "poort_hello:HelloMethod")
    ]


def test_the_registry_loads_it_from_the_installed_distribution(registry: Registry) -> None:
    assert registry.failures == []
    plugin = registry.auth_methods["hello"]
    assert (plugin.distribution, plugin.version, plugin.title) == (
        "poort-hello",
        "0.1.0",
        "Magic word",
    )
    assert plugin.cls.__module__ == "poort_hello"


def test_installed_is_not_enabled(client: FlaskClient) -> None:
    page = client.get("/login").get_data(as_text=True)

    assert "Magic word" not in page
    assert "No way to sign in is switched on yet." in page


def test_an_authenticator_puts_it_on_the_login_page(
    client: FlaskClient, magic: Authenticator
) -> None:
    page = client.get("/login").get_data(as_text=True)

    assert "Say the word" in page  # the authenticator's title
    assert 'action="/login/magic"' in page
    assert 'name="word"' in page  # from the plugin's own template
    assert WORD not in page


def test_its_secret_option_is_sealed_at_rest(app: Flask, magic: Authenticator) -> None:
    with app.app_context():
        stored = db.session.scalar(
            select(Authenticator.options).where(Authenticator.name == "magic")
        )

    assert WORD not in str(stored)
    assert set(stored["word"]) == {"$sealed"}


def test_its_options_form_validates(app: Flask) -> None:
    with app.app_context(), pytest.raises(OptionsInvalid) as caught:
        create_authenticator(name="x", method="hello", title="", options={"word": "abc"})

    assert "word" in caught.value.errors


@pytest.mark.parametrize(
    ("said", "answer"),
    [("hocus pocus", "That is not the magic word."), (WORD, "Hello! That is the word")],
)
def test_it_judges_the_answer(
    client: FlaskClient, magic: Authenticator, said: str, answer: str
) -> None:
    response = post_form(client, "/login/magic", {"word": said})

    assert response.status_code == 200
    assert answer in response.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302  # nobody signed in


# -- the docs show this very code -------------------------------------------------------------


def test_the_example_uses_only_the_public_api() -> None:
    tree = ast.parse(MODULE.read_text(encoding="utf-8"))
    imported = {
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "idp"
    }
    imported |= {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
        if alias.name.split(".")[0] == "idp"
    }
    assert imported <= {"idp.auth", "idp.options"}


def test_the_readme_shows_the_example_module_verbatim() -> None:
    readme = (CHECKOUT / "README.md").read_text(encoding="utf-8")

    assert MODULE.read_text(encoding="utf-8").strip() in readme


def test_the_plugin_docs_show_the_example_verbatim() -> None:
    docs = (CHECKOUT / "docs" / "plugins.md").read_text(encoding="utf-8")

    assert MODULE.read_text(encoding="utf-8").strip() in docs
    assert TEMPLATE.read_text(encoding="utf-8").strip() in docs
    entry_point = '[project.entry-points."idp.auth_methods"]\nhello = "poort_hello:HelloMethod"'
    assert entry_point in (EXAMPLE / "pyproject.toml").read_text(encoding="utf-8")
    assert entry_point in docs
