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
