"""The package as users install it: metadata, public names, the version, CI's install."""

from __future__ import annotations

import configparser
import subprocess
import sys
from pathlib import Path

import requests_adtech_auth
from requests_adtech_auth import TokenStatus, cli

ROOT = Path(__file__).resolve().parent.parent


def _setup_cfg() -> configparser.ConfigParser:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    return config


def test_python_versions_are_declared() -> None:
    classifiers = _setup_cfg()["metadata"]["classifiers"]
    for minor in range(9, 14):
        assert f"Programming Language :: Python :: 3.{minor}" in classifiers


def test_metadata_names_its_urls_and_author_and_no_license_classifier() -> None:
    metadata = _setup_cfg()["metadata"]
    urls = dict(line.split(" = ", 1) for line in metadata["project_urls"].strip().splitlines() if " = " in line)
    assert {k.strip() for k in urls} == {"Documentation", "Source", "Changelog", "Issues"}
    assert metadata["author"]
    assert metadata["license_expression"] == "MIT"
    # setuptools 77+ deprecates license classifiers beside an SPDX expression.
    assert "License ::" not in metadata["classifiers"]


def test_pyproject_holds_only_the_build_system() -> None:
    text = (ROOT / "pyproject.toml").read_text()
    tables = [line for line in text.splitlines() if line.startswith("[")]
    assert tables == ["[build-system]"]


def test_every_public_name_is_exported_and_documented() -> None:
    assert "TokenStatus" in requests_adtech_auth.__all__
    assert requests_adtech_auth.TokenStatus is TokenStatus
    for name in requests_adtech_auth.__all__:
        if name != "__version__":
            assert getattr(requests_adtech_auth, name).__doc__, name


def test_the_cli_tells_its_version() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "requests_adtech_auth", "--version"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0
    assert done.stdout.strip() == f"adtech-auth {requests_adtech_auth.__version__}"


def test_the_changelog_has_an_entry_for_this_version() -> None:
    text = (ROOT / "CHANGELOG.rst").read_text()
    assert "Unreleased\n----------" in text
    assert f"\n{requests_adtech_auth.__version__} - " in text


def test_ci_installs_the_way_the_readme_says() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert "pip install -e '.[test]' --config-settings editable_mode=strict" in (ROOT / "README.rst").read_text()
    assert "-e '.[test,docs]' --config-settings editable_mode=strict" in ci


def test_mypy_sees_the_installed_package_from_outside_the_clone(tmp_path: Path) -> None:
    # The default editable install hides the package behind an import hook mypy cannot follow
    # ("Cannot find implementation or library stub"); the strict mode the README gives does not.
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


def test_docs_url_is_the_documentation_url() -> None:
    urls = _setup_cfg()["metadata"]["project_urls"]
    assert f"Documentation = {cli.DOCS_URL.rsplit('en/latest/', 1)[0]}" in urls
