"""The command line, run as a subprocess against the sandbox."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import warnings

import pytest
import requests

from requests_adtech_auth.sandbox import Sandbox


@pytest.fixture(autouse=True)
def private_cache_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """`adtech-auth token` caches tokens in the user's cache directory: never the real one here."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))


def run(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("ROKT_", "DT_", "ALGONOMY_"))}
    return subprocess.run(
        [sys.executable, "-m", "requests_adtech_auth", *args],
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def secrets_absent(box: Sandbox, *texts: str, allow: tuple[str, ...] = ()) -> None:
    for secret in box.secrets():
        if secret in allow:
            continue
        for text in texts:
            assert secret not in text


def test_token_prints_a_usable_token(sandbox: Sandbox) -> None:
    done = run("token", "rokt", env=sandbox.environ())
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    response = requests.get(
        sandbox.rokt.api_url + "/reporting/accounts/9/summary", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert response.status_code == 200
    assert done.stderr == ""
    secrets_absent(sandbox, done.stdout, done.stderr, allow=(token,))


@pytest.mark.parametrize(
    ("vendor", "names"),
    [
        ("rokt", ["Authorization"]),
        ("rokt-partnerships", ["Authorization", "X-Platform-Parent-Account-Id"]),
        ("dt", ["Authorization"]),
        ("algonomy", ["access_token", "tenant_hash"]),
    ],
)
def test_header_form_prints_every_header(vendor: str, names: list[str], sandbox: Sandbox) -> None:
    done = run("token", vendor, "--header", env=sandbox.environ())
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split(":", 1)[0] for line in lines] == names
    headers = dict(line.split(": ", 1) for line in lines)
    if vendor == "algonomy":
        url = sandbox.algonomy.api_url + "/api/v1/profile/b2b/basic"
        assert requests.post(url, json={}, headers=headers, timeout=10).ok


def test_prefix(sandbox: Sandbox) -> None:
    done = run("token", "dt", "--prefix", "ACME_", env=sandbox.environ("ACME_"))
    assert done.returncode == 0, done.stderr


def test_missing_variables_exit_3_and_name_them() -> None:
    done = run("token", "rokt-partnerships")
    assert done.returncode == 3
    assert "ROKT_PARTNERSHIPS_CLIENT_SECRET is not set" in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


def test_refused_credentials_exit_1_without_the_secret(sandbox: Sandbox) -> None:
    env = {**sandbox.environ(), "ROKT_APP_SECRET": "wrong-secret-value-123"}
    done = run("token", "rokt", env=env)
    assert done.returncode == 1
    assert "invalid_client" in done.stderr
    assert "wrong-secret-value-123" not in done.stderr + done.stdout
    assert "Traceback" not in done.stderr


def test_unreachable_endpoint_exits_4() -> None:
    env = {"DT_CLIENT_ID": "id", "DT_CLIENT_SECRET": "secret-value-xyz", "DT_TOKEN_URL": "http://127.0.0.1:9/token"}
    done = run("token", "dt", env=env)
    assert done.returncode == 4
    assert "could not reach" in done.stderr
    assert "secret-value-xyz" not in done.stderr


def test_verbose_logs_go_to_stderr_redacted(sandbox: Sandbox) -> None:
    done = run("-v", "token", "algonomy", env=sandbox.environ())
    assert done.returncode == 0, done.stderr
    assert "fetched a token" in done.stderr
    token = done.stdout.strip()
    secrets_absent(sandbox, done.stderr)
    assert token not in done.stderr


def test_secrets_are_not_accepted_as_arguments() -> None:
    done = run("token", "rokt", "--app-secret", "x")
    assert done.returncode == 2
    assert "unrecognized arguments" in done.stderr


@pytest.mark.parametrize("command", [[], ["token"], ["demo"], ["sandbox"]])
def test_help(command: list[str]) -> None:
    done = run(*command, "--help")
    assert done.returncode == 0
    assert "usage: adtech-auth" in done.stdout


def test_sandbox_command_serves_until_stopped() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ROKT_", "DT_", "ALGONOMY_"))}
    command = [sys.executable, "-m", "requests_adtech_auth", "sandbox"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) as process:
        try:
            assert process.stdout is not None
            assert process.stdout.readline().startswith("sandbox ready on http://127.0.0.1:")
            exports = {}
            deadline = time.monotonic() + 30
            while len(exports) < 14 and time.monotonic() < deadline:
                line = process.stdout.readline()
                if line.startswith("export "):
                    name, value = line[len("export ") :].strip().split("=", 1)
                    exports[name] = value
            done = run("token", "rokt", env=exports)
            assert done.returncode == 0, done.stderr
        finally:
            process.terminate()
            process.wait(20)
    assert process.returncode == 0


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_missing_secret_is_prompted_for_when_interactive(sandbox: Sandbox) -> None:
    import pty
    import select

    env = {k: v for k, v in sandbox.environ().items() if k.startswith("ROKT_") and k != "ROKT_APP_SECRET"}
    base = {k: v for k, v in os.environ.items() if not k.startswith(("ROKT_", "DT_", "ALGONOMY_"))}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # Python 3.12+: fork with threads
        pid, fd = pty.fork()  # the child gets the terminal as its controlling tty, as in a shell
    if pid == 0:  # pragma: no cover - the child
        os.execve(sys.executable, [sys.executable, "-m", "requests_adtech_auth", "token", "rokt"], {**base, **env})
    output = b""
    deadline = time.monotonic() + 30
    answered = False
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        output += chunk
        if not answered and b"ROKT_APP_SECRET: " in output:
            os.write(fd, sandbox.rokt.app_secret.encode() + b"\n")
            answered = True
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0, output
    assert answered
    assert sandbox.rokt.app_secret.encode() not in output, "the secret is not echoed"
    assert sandbox.count("rokt", "token") == 1
