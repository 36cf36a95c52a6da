"""README.rst and the docs: valid markup, and every Python example run as a user runs it.

Each ``.. code-block:: python`` is written to a file of its own in an empty
directory outside the clone and run in a fresh interpreter against the installed
package: a block that defines ``test_*`` functions with ``python -m pytest`` (the
installed plugin gives it ``adtech_sandbox``), any other as ``adtech-auth sandbox
FILE``, the way the docs tell a user to try an example offline.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import docutils.core
import docutils.utils
import pytest

from .doc_examples import DOCS, EXAMPLES, README, SOURCES, Example
from .redis_server import RedisServer

# A literal block (`::`) or a code-block of another language.
_OTHER_BLOCK = re.compile(r"(?:::|^ *\.\. code-block:: (?!python)\S+)\n(?: +:.*\n)*\n((?:(?: +.*)?\n)+)", re.MULTILINE)
_PYTHON_LINE = re.compile(r"^\s*(?:import \w|from [\w.]+ import |def \w+\(|async def |await )", re.MULTILINE)

RUNNABLE = [e for e in EXAMPLES if e.module is None]


def modules_before(example: Example) -> list[Example]:
    """The module examples of ``example``'s page that stand above it (its imports)."""
    return [e for e in EXAMPLES if e.module and e.source == example.source and e.line < example.line]


def _user_environment(tmp_path: Path) -> dict[str, str]:
    # A user's shell: none of this suite's settings, and a home whose cache nothing may touch.
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHON", "ADTECH_AUTH_"))}
    environ["HOME"] = str(tmp_path / "home")
    environ.pop("XDG_CACHE_HOME", None)
    return environ


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = RedisServer(tmp_path_factory.mktemp("redis-docs"))
    yield f"redis://127.0.0.1:{server.port}/0"
    server.stop()


@pytest.mark.parametrize("example", RUNNABLE, ids=[e.id for e in RUNNABLE])
def test_example_runs_as_a_file_of_its_own(example: Example, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (tmp_path / "home").mkdir()
    script = work / "example.py"
    script.write_text(example.code)
    for module in modules_before(example):
        (work / str(module.module)).write_text(module.code)
    environ = _user_environment(tmp_path)
    if "REDIS_URL" in example.code:
        environ["REDIS_URL"] = request.getfixturevalue("redis_url")
    if example.is_test_file:
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error", "example.py"]
    else:
        command = [sys.executable, "-m", "requests_adtech_auth", "sandbox", "example.py"]
    done = subprocess.run(command, cwd=work, env=environ, capture_output=True, text=True, timeout=120, check=False)
    shown = f"{example.id} ({' '.join(command[1:])}):\n{done.stdout}\n{done.stderr}"
    assert done.returncode == 0, shown
    if example.is_test_file:
        assert re.search(r"^\d+ passed", done.stdout.splitlines()[-1]), shown
    else:
        summary = done.stderr.strip().splitlines()[-1]
        assert re.search(r"\(([1-9]\d*) ok\)", summary), "the example makes at least one successful API call\n" + shown
    assert not (tmp_path / "home" / ".cache").exists(), "a sandbox run wrote into the user's real cache"


def test_every_module_example_is_imported_by_an_example_that_runs() -> None:
    for module in (e for e in EXAMPLES if e.module):
        name = str(module.module).removesuffix(".py")
        assert any(module in modules_before(e) and name in e.code for e in RUNNABLE), module.id


def test_every_python_example_is_a_code_block_the_tests_run() -> None:
    # Python in a bare literal block, or under another language, would never be run.
    for source in SOURCES:
        for match in _OTHER_BLOCK.finditer(source.read_text()):
            assert not _PYTHON_LINE.search(match.group(1)), f"{source.name}: Python outside a python code-block"


def test_there_are_examples_for_every_vendor_in_the_readme() -> None:
    joined = "\n".join(e.code for e in EXAMPLES if e.source == README)
    for name in ("RoktAuth", "RoktPartnershipsAuth", "DigitalTurbineAuth", "AlgonomyAuth"):
        assert name in joined


def test_readme_is_valid_restructuredtext() -> None:
    errors = io.StringIO()
    docutils.core.publish_doctree(
        README.read_text(),
        settings_overrides={"warning_stream": errors, "halt_level": docutils.utils.Reporter.WARNING_LEVEL},
    )
    assert errors.getvalue() == ""


def test_readme_stands_alone_as_the_pypi_page() -> None:
    # PyPI shows the README without the repository: it may not send readers to files
    # that neither the sdist nor the wheel ships.
    text = README.read_text()
    for absent in ("bench/", ".ci/", "from a clone"):
        assert absent not in text.lower(), absent
    assert "https://requests-adtech-auth.readthedocs.io/" in text


def test_readme_names_the_install_and_test_commands() -> None:
    text = README.read_text()
    assert "pip install -e '.[test]' --config-settings editable_mode=strict" in text
    assert "python -m pytest" in text


def test_the_cli_points_to_docs_pages_that_exist() -> None:
    from requests_adtech_auth import cli

    help_text = cli._parser().format_help() + "\n".join(
        cli._parser()._subparsers._group_actions[0].choices[name].format_help()  # type: ignore[union-attr]
        for name in ("token", "sandbox")
    )
    pages = re.findall(re.escape(cli.DOCS_URL) + r"([\w-]+)\.html", help_text + Path(cli.__file__).read_text())
    assert pages, "the CLI's help names the docs"
    for page in pages:
        assert (DOCS / f"{page}.rst").is_file(), page
    assert "README" not in help_text
