"""The wheel holds everything Poort needs, and an installed Poort behaves like a checkout.

The wheel is built from a copy of the working tree (so concurrent runs never share a build/
folder) with the setuptools and wheel of the test environment: no download, no isolation.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import venv
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

CHECKOUT = Path(__file__).resolve().parent.parent
#: Folders beside idp/ that a wheel carries as data files under <prefix>/share/poort/.
DATA_DIRS = ("templates", "static", "migrations")
LEFT_OUT = shutil.ignore_patterns(
    ".git", ".venv", ".ci-venv", "build", "dist", "*.egg-info", "__pycache__", "*.pyc",
    "instance", ".pytest_cache", ".ruff_cache", "test-artifacts",
)  # fmt: skip


def _files_under(root: Path) -> set[str]:
    return {
        path.relative_to(root).as_posix()
        for path in root.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    shutil.copytree(CHECKOUT, source, ignore=LEFT_OUT)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--no-index", "-w", str(work / "dist"), str(source)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    [built] = (work / "dist").glob("poort-*.whl")
    return built


@pytest.fixture(scope="module")
def names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def _data_prefix(names: set[str]) -> str:
    [dist_info] = {n.split("/")[0] for n in names if n.split("/")[0].endswith(".dist-info")}
    return dist_info.removesuffix(".dist-info") + ".data/data/share/poort/"


def test_wheel_holds_the_core_package(names: set[str]) -> None:
    expected = {f"idp/{path}" for path in _files_under(CHECKOUT / "idp") if path.endswith(".py")}
    assert expected, "no idp/ sources found"
    assert expected - names == set()


def test_wheel_holds_the_password_plugin_with_its_templates(names: set[str]) -> None:
    assert "idp_password/__init__.py" in names
    assert "idp_password/templates/idp_password/login.html" in names


def test_wheel_holds_every_built_in_plugin_package(names: set[str]) -> None:
    for package in sorted((CHECKOUT / "plugins").glob("idp_*/__init__.py")):
        root = package.parent
        for path in _files_under(root):
            assert f"{root.name}/{path}" in names, f"{root.name}/{path} is not in the wheel"


@pytest.mark.parametrize("folder", DATA_DIRS)
def test_wheel_holds_every_data_file(names: set[str], folder: str) -> None:
    """A new template folder needs its line under [tool.setuptools.data-files]."""
    prefix = _data_prefix(names)
    wanted = {f"{prefix}{folder}/{path}" for path in _files_under(CHECKOUT / folder)}
    assert wanted, f"{folder}/ is empty"
    missing = sorted(wanted - names)
    assert missing == [], f"missing from the wheel (see pyproject.toml data-files): {missing}"


def test_wheel_leaves_out_tests_and_never_ships_a_plugins_package(names: set[str]) -> None:
    tops = {name.split("/")[0] for name in names}
    assert "tests" not in tops
    assert "plugins" not in tops  # a generic name another distribution could clash with
    assert "examples" not in tops


def test_wheel_registers_the_console_script_and_built_in_entry_points(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        [entry_points] = [
            n for n in archive.namelist() if n.endswith(".dist-info/entry_points.txt")
        ]
        text = archive.read(entry_points).decode()
    assert "poort = idp.cli:main" in text
    assert "[idp.auth_methods]" in text
    assert "password = idp_password:PasswordMethod" in text


INSPECT_INSTALLED = """
import json, sys
from importlib.metadata import distribution
from idp import create_app
app = create_app()
client = app.test_client()
print(json.dumps({
    "prefix": sys.prefix,
    "idp": __import__("idp").__file__,
    "poort": str(distribution("poort").locate_file("")),
    "templates": app.template_folder,
    "static": app.static_folder,
    "login": client.get("/login").status_code,
    "css": client.get("/static/poort.css").status_code,
    "methods": sorted(app.extensions["idp"].registry.auth_methods),
}))
"""


def test_installed_wheel_runs_like_a_checkout(wheel: Path, tmp_path: Path) -> None:
    """Install the wheel into a new environment; `poort init` migrates and the pages render."""
    env_dir = tmp_path / "env"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
         "--no-index", "--quiet", str(wheel)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    # Borrow the test environment's dependencies; a .pth line adds its site-packages after the
    # new environment's own, and leaves out its editable-install hook, so `idp` is the wheel's.
    [site_packages] = (env_dir / "lib").glob("python3*/site-packages")
    (site_packages / "borrowed-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {
        **os.environ,
        "IDP_INSTANCE_PATH": str(tmp_path / "instance"),
        "IDP_PASSWORD_HASH_PROFILE": "cheapest",
        "IDP_ISSUER": "https://login.example.org",
    }

    def run(*args: str) -> str:
        done = subprocess.run(
            list(args), env=env, cwd=tmp_path, stdin=subprocess.DEVNULL,
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    out = run(str(env_dir / "bin" / "poort"), "init", "--admin-username", "root",
              "--admin-password", "correct horse battery staple")  # fmt: skip
    assert "Created admin root." in out
    facts = json.loads(run(str(python), "-c", INSPECT_INSTALLED).strip().splitlines()[-1])

    share = Path(facts["prefix"]) / "share" / "poort"
    assert Path(facts["idp"]).is_relative_to(site_packages), facts
    assert Path(facts["poort"]).is_relative_to(site_packages), facts
    assert Path(facts["templates"]) == share / "templates"
    assert Path(facts["static"]) == share / "static"
    assert (facts["login"], facts["css"]) == (200, 200)
    assert "password" in facts["methods"]


def _requirement_names(requirements: list[str]) -> set[str]:
    return {_normal(re.split(r"[\s\[<>=!~;(]", req, maxsplit=1)[0]) for req in requirements}


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _closure(names: set[str]) -> set[str]:
    """The distributions *names* need, as installed here (extras and markers left out)."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        todo.extend(_requirement_names([r for r in requires if "extra ==" not in r]))
    return seen


def test_every_third_party_import_is_a_declared_dependency() -> None:
    """A fresh `pip install .` must bring everything idp/ and the built-in plugins import."""
    project = tomllib.loads((CHECKOUT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = _requirement_names(project["dependencies"])
    extras = {
        extra: _requirement_names(reqs) for extra, reqs in project["optional-dependencies"].items()
    }
    allowed = _closure(declared | set().union(*(v for k, v in extras.items() if k != "test")))
    # idp.testing is a kit for plugin authors' own test suites, so it may use the test extra.
    for_tests = allowed | _closure(extras.get("test", set()))
    owners = metadata.packages_distributions()
    first_party = {"idp"} | {p.name for p in (CHECKOUT / "plugins").glob("idp_*")}

    missing: dict[str, str] = {}
    for source in [*(CHECKOUT / "idp").rglob("*.py"), *(CHECKOUT / "plugins").rglob("*.py")]:
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top in sys.stdlib_module_names or top in first_party or top == "__future__":
                    continue
                dists = {_normal(d) for d in owners.get(top, [top])}
                kit = source.is_relative_to(CHECKOUT / "idp" / "testing")
                if not dists & (for_tests if kit else allowed):
                    missing[top] = str(source.relative_to(CHECKOUT))

    assert missing == {}, f"imported but not declared in pyproject.toml: {missing}"
