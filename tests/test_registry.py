"""The vendor registry: names, registration, and flows from other installed packages (entry points)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from requests_adtech_auth import RoktAuth, registry
from requests_adtech_auth.registry import ApiCall, Vendor

from .doc_examples import EXAMPLES

ACME_MODULE = next(e.code for e in EXAMPLES if e.module == "acme_adtech.py")
ACME_TESTS = next(e.code for e in EXAMPLES if "class TestAcmeFlow(VendorContract)" in e.code)


def test_every_spelling_finds_its_flow() -> None:
    assert registry.find("dt") is registry.find("digital_turbine") is registry.find("digital-turbine")
    assert registry.find("rokt-event").auth.__name__ == "RoktEventAuth"
    assert "rokt_partnerships" in registry.names() and "rokt-partnerships" in registry.names()


@pytest.mark.parametrize("name", ["acme", "Rokt", "", None, ["rokt"]])
def test_an_unknown_name_is_refused_with_the_accepted_ones(name: object) -> None:
    with pytest.raises(ValueError, match="vendor must be one of algonomy, digital-turbine, digital_turbine, dt, rokt"):
        registry.find(name)


def test_a_taken_name_cannot_be_registered_by_another_flow() -> None:
    with pytest.raises(ValueError, match="'dt' is taken by DigitalTurbineAuth"):
        registry.register(Vendor("acme", RoktAuth, "Acme", aliases=("dt",)))
    with pytest.raises(ValueError, match="acme"):
        registry.find("acme")  # nothing of the refused description was kept


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ({"name": "Acme"}, "lower case"),
        ({"name": "acme_api"}, "lower case"),
        ({"aliases": ("a b",)}, "lower case"),
        ({"emulation": "acme.Emulation"}, "'module:Class'"),
        ({"demo_extra": "acme"}, "'module:function'"),
    ],
)
def test_a_malformed_description_is_refused(arguments: dict[str, object], problem: str) -> None:
    fields: dict[str, object] = {"name": "acme", "auth": RoktAuth, "title": "Acme", **arguments}
    with pytest.raises(ValueError, match=problem):
        Vendor(**fields)  # type: ignore[arg-type]


def test_calls_are_plain_data() -> None:
    call = ApiCall("POST", "/v1/events", {"events": []}, {"Rokt-Version": "2020-05-21"})
    assert (call.method, call.path, call.json, dict(call.headers)) == (
        "POST",
        "/v1/events",
        {"events": []},
        {"Rokt-Version": "2020-05-21"},
    )


# -- another package's flow, installed from a wheel ---------------------------------------


def _wheel(directory: Path, name: str, files: dict[str, str], entry_points: str) -> Path:
    """A minimal wheel of ``files`` declaring ``entry_points`` (what a build backend would write)."""
    dist_info = f"{name}-1.0.dist-info"
    files = {
        **files,
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n",
        f"{dist_info}/WHEEL": "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        f"{dist_info}/entry_points.txt": entry_points,
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(text.encode())}")
    record.append(f"{dist_info}/RECORD,,")
    wheel = directory / f"{name}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
        archive.writestr(f"{dist_info}/RECORD", "\n".join(record) + "\n")
    return wheel


def _install(tmp_path: Path, wheels: list[Path]) -> dict[str, str]:
    """Install ``wheels`` into a directory of their own; the environment that sees them beside this package."""
    site = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-index",
            "--target",
            str(site),
            *map(str, wheels),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "ADTECH_AUTH_"))}
    environ["PYTHONPATH"] = str(site)
    environ["HOME"] = str(tmp_path)
    return environ


@pytest.fixture(scope="module")
def acme_environ(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    tmp_path = tmp_path_factory.mktemp("acme")
    acme = _wheel(
        tmp_path,
        "acme_adtech",
        {"acme_adtech.py": ACME_MODULE},
        "[requests_adtech_auth.vendors]\nacme = acme_adtech:VENDOR\n",
    )
    broken = _wheel(
        tmp_path,
        "broken_adtech",
        {"broken_adtech.py": "raise ImportError('this plugin is broken')\n"},
        "[requests_adtech_auth.vendors]\nbroken = broken_adtech:VENDOR\n",
    )
    return _install(tmp_path, [acme, broken])


def _python(environ: dict[str, str], *arguments: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *arguments], env=environ, cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def test_an_installed_flow_gets_a_token_from_the_cli_against_the_sandbox(acme_environ: dict[str, str]) -> None:
    script = textwrap.dedent(
        """
        import json, os, subprocess, sys
        from requests_adtech_auth.sandbox import Sandbox

        with Sandbox() as box:
            environ = {**os.environ, **box.environ()}
            done = subprocess.run([sys.executable, "-m", "requests_adtech_auth", "token", "acme", "--no-cache"],
                                  env=environ, capture_output=True, text=True, timeout=60)
            print(json.dumps({"code": done.returncode, "token": done.stdout.strip(), "stderr": done.stderr,
                              "issued": box.count("acme", "token_issued"), "hosts": box.vendor_hosts["acme"],
                              "secrets": box.secrets()}))
        """
    )
    done = _python(acme_environ, "-c", script)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["code"] == 0, result["stderr"]
    assert result["issued"] == 1 and result["token"] in result["secrets"]
    assert result["hosts"] == ["api.acme.example"]
    assert "'broken'" in result["stderr"] and "was left out" in result["stderr"], "the broken plugin is named"


def test_an_installed_flow_is_listed_and_run_by_the_demo(acme_environ: dict[str, str]) -> None:
    listed = _python(acme_environ, "-m", "requests_adtech_auth", "token", "--help")
    assert "acme" in listed.stdout
    demo = _python(acme_environ, "-m", "requests_adtech_auth", "demo")
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "Acme Reports API (AcmeAuth)" in demo.stdout
    row = next(line for line in demo.stdout.splitlines() if line.split()[:4] == ["Acme", "Reports", "API", "2"])
    assert row.split()[-4:] == ["2", "3", "1", "ok"], row  # 2 token calls; the call, its refusal and replay


def test_an_installed_flow_passes_the_public_contract(acme_environ: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "test_acme.py").write_text(ACME_TESTS)
    done = _python(acme_environ, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_acme.py", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1].startswith("9 passed"), done.stdout
