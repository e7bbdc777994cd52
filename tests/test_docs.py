"""The documentation keeps up with the code: settings, commands, plugins, and the README's
two commands at the top."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from idp.cli import idp_group, main
from idp.config import OPTIONS, load_settings, settings_reference

ISSUER = "https://login.example.org"
CHECKOUT = Path(__file__).resolve().parent.parent
README = CHECKOUT / "README.md"
DOCS = CHECKOUT / "docs"


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _commands(group: click.Group, prefix: str = "poort") -> Iterator[tuple[str, click.Command]]:
    for name, command in sorted(group.commands.items()):
        path = f"{prefix} {name}"
        yield path, command
        if isinstance(command, click.Group):
            yield from _commands(command, path)


def _built_in_plugins() -> list[tuple[str, str]]:
    project = tomllib.loads(_read(CHECKOUT / "pyproject.toml"))["project"]
    return [
        (group, plugin_id)
        for group, points in project.get("entry-points", {}).items()
        if group.startswith("idp.")
        for plugin_id in points
    ]


@pytest.mark.parametrize(("key", "env", "default", "meaning"), settings_reference())
def test_every_setting_is_documented(key: str, env: str, default: object, meaning: str) -> None:
    text = _read(DOCS / "configuration.md")

    assert f"`{key}`" in text
    assert f"`{env}`" in text


def test_the_example_config_names_every_setting_and_loads(tmp_path: Path) -> None:
    example = _read(CHECKOUT / "instance" / "poort.example.toml")
    for key in OPTIONS:
        assert re.search(rf"^#? ?{key} = ", example, re.MULTILINE), key
    (tmp_path / "poort.toml").write_text(example, encoding="utf-8")

    settings = load_settings(tmp_path, {"secret_key": "x" * 40}, environ={})

    assert (settings.site_name, settings.issuer) == ("Poort", ISSUER)


def test_the_toml_examples_in_the_docs_load(tmp_path: Path) -> None:
    blocks = re.findall(r"```toml\n(.*?)```", _read(DOCS / "configuration.md"), re.DOTALL)
    assert blocks
    for block in blocks:
        (tmp_path / "poort.toml").write_text(block, encoding="utf-8")
        load_settings(tmp_path, {"secret_key": "x" * 40, "issuer": ISSUER}, environ={})


@pytest.mark.parametrize(("path", "command"), list(_commands(main)), ids=lambda v: str(v))
def test_every_command_is_documented(path: str, command: click.Command) -> None:
    assert path in _read(DOCS / "cli.md")


@pytest.mark.parametrize(("path", "command"), list(_commands(idp_group)), ids=lambda v: str(v))
def test_every_option_of_poorts_own_commands_is_documented(
    path: str, command: click.Command
) -> None:
    text = _read(DOCS / "cli.md")
    for param in command.params:
        if isinstance(param, click.Option):
            assert any(f"`{flag}`" in text or f"{flag} " in text for flag in param.opts), (
                f"{path} {param.opts}"
            )


@pytest.mark.parametrize(("group", "plugin_id"), _built_in_plugins())
def test_every_built_in_plugin_is_documented(group: str, plugin_id: str) -> None:
    text = _read(README) + "".join(_read(p) for p in sorted(DOCS.glob("*.md")))

    assert f"`{plugin_id}`" in text, f"{group}: {plugin_id}"


def test_the_readme_starts_with_exactly_two_commands() -> None:
    """A title, one paragraph, then the command that starts a demo and the one that tests."""
    text = _read(README)
    top = text.split("\n## ", 1)[0]
    blocks = re.findall(r"```(?:sh)?\n(.*?)```", top, re.DOTALL)

    assert text.startswith("# Poort\n")
    assert len(blocks) == 2, blocks
    demo, tests = (block.strip() for block in blocks)
    assert "\n" not in demo and "\n" not in tests
    assert (
        "pip install -c constraints.txt -e ." in demo
        and "poort demo" in demo
        and demo.endswith("python -m examples.demo_app")
    )
    # both install the pinned versions, so an upstream release cannot break a fresh clone
    assert "pip install -c constraints.txt -e '.[test]'" in tests
    assert tests.endswith("python -m pytest")


def test_links_between_the_documents_resolve() -> None:
    for document in [README, *sorted(DOCS.glob("*.md")), CHECKOUT / "instance" / "README.md"]:
        for target in re.findall(r"\]\(([^)#:]+)\)", _read(document)):
            assert (document.parent / target).exists(), f"{document.name} links to {target}"
