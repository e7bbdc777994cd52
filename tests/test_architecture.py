"""The shape docs/architecture.md promises: importing a light module builds no app."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import idp

PROBE = """
import json, sys
import idp.clock
print(json.dumps(sorted(name for name in sys.modules if name == "idp" or name.startswith("idp."))))
print(json.dumps(sorted(name for name in sys.modules if name.split(".")[0] in ("flask_sqlalchemy",
    "flask_login", "flask_wtf", "authlib"))))
"""


def test_importing_idp_clock_loads_no_app_module() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=True
    )
    idp_modules, app_libraries = (json.loads(line) for line in done.stdout.splitlines())
    assert idp_modules == ["idp", "idp.clock"]
    assert app_libraries == []


def test_create_app_is_still_importable_from_idp() -> None:
    from idp import create_app
    from idp.app import create_app as real

    assert create_app is real
    assert "create_app" in idp.__all__


def test_an_unknown_name_of_idp_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        idp.nothing_here  # noqa: B018
