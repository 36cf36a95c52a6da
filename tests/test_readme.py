"""README.rst: valid reStructuredText, and its Python examples run against the sandbox."""

from __future__ import annotations

import io
import re
import textwrap
from pathlib import Path

import docutils.core
import docutils.utils
import pytest

from requests_adtech_auth.sandbox import Sandbox

README = Path(__file__).resolve().parent.parent / "README.rst"


def python_blocks() -> list[str]:
    text = README.read_text()
    blocks = []
    for match in re.finditer(r"^\.\. code-block:: python\n\n((?:(?: {4}.*)?\n)+)", text, re.MULTILINE):
        blocks.append(textwrap.dedent(match.group(1)))
    return blocks


def test_readme_is_valid_restructuredtext() -> None:
    errors = io.StringIO()
    docutils.core.publish_doctree(
        README.read_text(),
        settings_overrides={"warning_stream": errors, "halt_level": docutils.utils.Reporter.WARNING_LEVEL},
    )
    assert errors.getvalue() == ""


def test_readme_names_the_two_commands() -> None:
    text = README.read_text()
    assert "python -m requests_adtech_auth demo" in text
    assert "python -m pytest" in text


@pytest.mark.parametrize("block", python_blocks(), ids=lambda b: b.splitlines()[-1][:40])
def test_readme_example_runs(
    block: str, adtech_sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # FileTokenCache() examples: not the real cache
    namespace: dict[str, object] = {"__name__": "readme_example"}
    exec(compile(block, "README.rst", "exec"), namespace)
    for name, value in namespace.items():
        if name.startswith("test_") and callable(value):
            value(adtech_sandbox)  # a test example: run it with the fixture it names
    api_calls = sum(
        adtech_sandbox.count(v, "api_ok") for v in ("rokt", "rokt_partnerships", "digital_turbine", "algonomy")
    )
    assert api_calls >= 1, "each example makes at least one successful API call"


def test_there_are_examples_for_every_vendor() -> None:
    joined = "\n".join(python_blocks())
    for name in ("RoktAuth", "RoktEventAuth", "RoktPartnershipsAuth", "DigitalTurbineAuth", "AlgonomyAuth"):
        assert name in joined


def test_ci_installs_the_way_the_readme_says() -> None:
    ci = (README.parent / ".ci" / "run").read_text()
    assert "pip install -e '.[test]' --config-settings editable_mode=compat" in README.read_text()
    assert "-e '.[test]' --config-settings editable_mode=compat" in ci


def test_mypy_sees_the_installed_package_from_outside_the_clone(tmp_path: Path) -> None:
    # The default editable install hides the package behind an import hook mypy cannot follow
    # ("Cannot find implementation or library stub"); the README's compat mode does not.
    import subprocess
    import sys

    probe = tmp_path / "probe.py"
    probe.write_text("from requests_adtech_auth import RoktAuth\nRoktAuth('id', 'secret')\n")
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(tmp_path / "cache"), str(probe)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_python_versions_are_declared() -> None:
    setup_cfg = (README.parent / "setup.cfg").read_text()
    for minor in range(9, 14):
        assert f"Programming Language :: Python :: 3.{minor}" in setup_cfg
