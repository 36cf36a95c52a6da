"""The command line, run as a subprocess against the sandbox."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
import requests

from requests_adtech_auth import AlgonomyAuth, TokenRequestError
from requests_adtech_auth.control_chars import escape_controls
from requests_adtech_auth.sandbox import Fault, Sandbox

from .control_text import CONTROL_CLASSES, raw_controls
from .helpers import error_answer, run_cli


@pytest.fixture(autouse=True)
def private_cache_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """`adtech-auth token` caches tokens in the user's cache directory: never the real one here."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.setenv("ADTECH_AUTH_CACHE_DIR", str(tmp_path_factory.mktemp("cache") / "requests-adtech-auth"))


def _child_env(env: dict[str, str] | None) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("ROKT_", "DT_", "ALGONOMY_"))}
    return {**base, **(env or {})}


def run(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """The CLI without this process's vendor variables, plus ``env``."""
    return run_cli(*args, env=_child_env(env), timeout=timeout)


def run_untranslated(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """As :func:`run`, with the output in UTF-8 as written: a CR stays a CR (text mode makes it a line break)."""
    done = subprocess.run(
        [sys.executable, "-m", "requests_adtech_auth", *args],
        # UTF-8 whatever the locale: a raw U+202E must not turn into an escape on the way out.
        env={**_child_env(env), "PYTHONIOENCODING": "utf-8"},
        capture_output=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    return subprocess.CompletedProcess(done.args, done.returncode, done.stdout.decode(), done.stderr.decode())


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
        sandbox.rokt.api_url + "/v1/query/accounts", headers={"Authorization": f"Bearer {token}"}, timeout=10
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
        assert requests.post(url, headers={**headers, "gcrId": "c1"}, timeout=10).ok


@pytest.mark.parametrize("name", ["digital_turbine", "rokt_partnerships", "rokt_event"])
def test_token_takes_the_sandboxs_spellings_too(name: str, sandbox: Sandbox) -> None:
    done = run("token", name, env=sandbox.environ())
    assert done.returncode == 0, done.stderr
    assert sandbox.count(name, "token_issued") == 1


def test_an_unknown_vendor_is_a_usage_error_listing_every_name() -> None:
    done = run("token", "digitalturbine")
    assert done.returncode == 2
    assert done.stdout == ""
    for name in ("digital-turbine", "digital_turbine", "dt", "rokt_partnerships", "algonomy"):
        assert repr(name) in done.stderr


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
    if command in ([], ["token"]):
        text = " ".join(done.stdout.split())
        assert "credentials refused" not in text, "1 is any refusal: credentials, resources or another setting"
        assert "130 interrupted" in text
        assert "141 standard output closed early" in text


def test_sandbox_command_serves_until_stopped() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ROKT_", "DT_", "ALGONOMY_"))}
    command = [sys.executable, "-m", "requests_adtech_auth", "sandbox"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) as process:
        try:
            assert process.stdout is not None
            first = process.stdout.readline()
            assert first.startswith("sandbox ready on http://127.0.0.1:")
            url = first.split()[3]
            exports = {}
            comments = []
            deadline = time.monotonic() + 30
            while len(exports) < 14 and time.monotonic() < deadline:
                line = process.stdout.readline()
                if line.startswith("export "):
                    name, value = line[len("export ") :].strip().split("=", 1)
                    exports[name] = value
                elif line.startswith("#"):
                    comments.append(line)
            done = run("token", "rokt", env=exports)
            assert done.returncode == 0, done.stderr
            # Each vendor's API base is printed, next to the real host it stands in for.
            info = requests.get(url + "/_sandbox/info", timeout=10).json()
            for vendor in ("rokt", "rokt_partnerships", "digital_turbine", "algonomy"):
                line = next(c for c in comments if c.split()[1:2] == [vendor])
                assert info[vendor]["api_url"] in line.split()
                assert all(f"https://{host}" in line for host in info[vendor]["real_hosts"])
            summary = next(c for c in comments if c.split()[1:2] == ["rokt"]).split()[2] + "/v1/query/accounts"
            token = done.stdout.strip()
            assert requests.get(summary, headers={"Authorization": f"Bearer {token}"}, timeout=10).ok
        finally:
            process.terminate()
            process.wait(20)
    assert process.returncode == 0


needs_pty = pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")


def on_terminal(
    argv: list[str],
    env: dict[str, str],
    answers: dict[bytes, bytes],
    *,
    stdout_to_pipe: bool = False,
    stdin_from_devnull: bool = False,
    timeout: float = 15,
) -> tuple[int, bytes, bytes]:
    """Run the CLI on a pseudo-terminal (its controlling terminal, stdin, stdout and stderr), as from a shell.

    ``answers`` maps a prompt to what is typed once it shows on the terminal;
    ``stdout_to_pipe`` captures stdout in a pipe as ``$(...)`` does. Returns the exit
    code (-9 if it had to be killed after ``timeout``), what the terminal showed and
    what the pipe got.
    """
    import pty
    import select

    base = {k: v for k, v in os.environ.items() if not k.startswith(("ROKT_", "DT_", "ALGONOMY_"))}
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # Python 3.12+: fork with threads
        pid, fd = pty.fork()  # the child gets the terminal as its controlling tty, as in a shell
    if pid == 0:  # pragma: no cover - the child
        # As an interactive shell starts a command: Ctrl-C interrupts it, even when this
        # test run was started in the background (which ignores SIGINT, and exec keeps that).
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        if stdout_to_pipe:
            os.dup2(write_end, 1)
        if stdin_from_devnull:
            os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        os.execve(sys.executable, [sys.executable, "-m", "requests_adtech_auth", *argv], {**base, **env})
    os.close(write_end)
    shown = b""
    pending = dict(answers)
    deadline = time.monotonic() + timeout
    interrupted_at: float | None = None
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.1)
            if interrupted_at is not None and time.monotonic() - interrupted_at > 1.0:
                # Python 3.11's readline loses a SIGINT that lands just before it starts
                # waiting for input (seen 1 run in 20 under load): press Ctrl-C again, as a person would.
                os.write(fd, b"\x03")
                interrupted_at = time.monotonic()
            if not ready:
                continue
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            shown += chunk
            for prompt in [p for p in pending if p in shown]:
                typed = pending.pop(prompt)
                os.write(fd, typed)
                if typed == b"\x03":
                    interrupted_at = time.monotonic()
        else:
            os.kill(pid, signal.SIGKILL)  # stuck (e.g. waiting for an answer to a prompt that never showed)
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(fd)
    with os.fdopen(read_end, "rb") as pipe:
        captured = pipe.read()
    return os.waitstatus_to_exitcode(status), shown, captured


@needs_pty
def test_missing_secret_is_prompted_for_when_interactive(sandbox: Sandbox) -> None:
    env = {k: v for k, v in sandbox.environ().items() if k.startswith("ROKT_") and k != "ROKT_APP_SECRET"}
    answer = {b"ROKT_APP_SECRET: ": sandbox.rokt.app_secret.encode() + b"\n"}
    code, shown, _ = on_terminal(["token", "rokt"], env, answer)
    assert code == 0, shown
    assert b"ROKT_APP_SECRET: " in shown
    assert sandbox.rokt.app_secret.encode() not in shown, "the secret is not echoed"
    assert sandbox.count("rokt", "token") == 1


@needs_pty
def test_prompt_goes_to_the_terminal_and_stdout_holds_only_the_token(sandbox: Sandbox) -> None:
    # curl -H "Authorization: Bearer $(adtech-auth token rokt)" ... with ROKT_APP_ID unset.
    env = {k: v for k, v in sandbox.environ().items() if k.startswith("ROKT_") and k != "ROKT_APP_ID"}
    answer = {b"ROKT_APP_ID: ": sandbox.rokt.app_id.encode() + b"\n"}
    code, shown, captured = on_terminal(["token", "rokt"], env, answer, stdout_to_pipe=True, timeout=20)
    assert b"ROKT_APP_ID: " in shown, f"no prompt on the terminal; stdout got {captured!r}"
    assert code == 0, shown
    token = captured.decode().strip()
    assert captured == token.encode() + b"\n", "stdout holds the token and nothing else"
    url = sandbox.rokt.api_url + "/v1/query/accounts"
    assert requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10).ok


@needs_pty
@pytest.mark.parametrize("missing", ["ROKT_APP_ID", "ROKT_APP_SECRET"])
def test_ctrl_c_at_a_prompt_exits_130_with_one_line(missing: str, sandbox: Sandbox) -> None:
    env = {k: v for k, v in sandbox.environ().items() if k.startswith("ROKT_") and k != missing}
    code, shown, captured = on_terminal(["token", "rokt"], env, {f"{missing}: ".encode(): b"\x03"}, stdout_to_pipe=True)
    text = shown.decode(errors="replace")
    assert code == 130, text
    assert "Traceback" not in text
    assert "KeyboardInterrupt" not in text
    assert text.count("adtech-auth: interrupted") == 1
    assert captured == b""
    assert sandbox.count("rokt", "token") == 0


@needs_pty
@pytest.mark.parametrize(
    ("missing", "prompt"),
    [(("ROKT_APP_ID", "ROKT_APP_SECRET"), "ROKT_APP_ID"), (("ROKT_APP_SECRET",), "ROKT_APP_SECRET")],
    ids=["first-prompt", "secret-prompt"],
)
def test_ctrl_d_at_a_prompt_ends_the_prompting_with_exit_3(
    missing: tuple[str, ...], prompt: str, sandbox: Sandbox
) -> None:
    env = {k: v for k, v in sandbox.environ().items() if k.startswith("ROKT_") and k not in missing}
    code, shown, captured = on_terminal(["token", "rokt"], env, {f"{prompt}: ".encode(): b"\x04"}, stdout_to_pipe=True)
    text = shown.decode(errors="replace")
    assert code == 3, text
    assert captured == b"", "nothing on stdout"
    assert "ROKT_APP_SECRET: " not in text.replace(f"{prompt}: ", "", 1), "no further prompt"
    assert "Traceback" not in text
    (line,) = [line for line in text.splitlines() if "adtech-auth" in line]
    assert line.strip() == f"adtech-auth: input ended at the prompt for {prompt}; nothing was fetched"
    assert sandbox.count("rokt", "token") == 0


@needs_pty
def test_without_a_terminal_on_stdin_a_missing_variable_is_an_error_not_a_prompt() -> None:
    # A terminal is still at hand (as for `adtech-auth token rokt < /dev/null` in a shell): no prompt on it.
    code, shown, captured = on_terminal(["token", "rokt"], {}, {}, stdout_to_pipe=True, stdin_from_devnull=True)
    assert code == 3, shown
    assert b"ROKT_APP_ID is not set" in shown
    assert b"ROKT_APP_ID: " not in shown
    assert captured == b""


def test_untrusted_certificate_exits_4_not_refused(tls_sandbox: Sandbox) -> None:
    done = run("token", "rokt", env=tls_sandbox.environ())
    assert done.returncode == 4, done.stderr
    assert "TLS verification" in done.stderr
    assert "REQUESTS_CA_BUNDLE" in done.stderr  # advice a shell user can follow
    assert "Traceback" not in done.stderr
    assert done.stdout == ""
    assert tls_sandbox.count("rokt", "token") == 0


@pytest.mark.parametrize("command", [["token", "rokt"], ["sandbox"]], ids=" ".join)
def test_closed_stdout_ends_quietly_with_141(command: list[str], sandbox: Sandbox) -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("ROKT_", "DT_", "ALGONOMY_"))}
    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody reads: the first write fails, as after `| head -c0`
    try:
        done = subprocess.run(
            [sys.executable, "-m", "requests_adtech_auth", *command],
            env={**base, **sandbox.environ()},
            stdin=subprocess.DEVNULL,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)
    assert done.stderr == ""
    assert done.returncode == 141


def test_unknown_algonomy_resource_exits_1_with_the_librarys_message(sandbox: Sandbox) -> None:
    env = {**sandbox.environ(), "ALGONOMY_RESOURCES": "basic,noSuchResource"}
    done = run("token", "algonomy", env=env)
    with pytest.raises(TokenRequestError) as caught:
        AlgonomyAuth.from_env(environ=env).get_token()
    assert done.returncode == 1, done.stderr
    assert done.stderr == f"adtech-auth: {caught.value}\n", "the library's message, nothing added"
    assert "unknown profile resources: noSuchResource" in done.stderr
    assert "tenant_hash" not in done.stderr, "a resource problem is not blamed on the tenant credentials"


# Every class of control character at once, in every field each vendor's error answer repeats.
_EVERY_CONTROL = "".join(CONTROL_CLASSES.values())


@pytest.mark.parametrize("verbose", [False, True], ids=["quiet", "verbose"])
@pytest.mark.parametrize("vendor", ["rokt", "rokt-partnerships", "dt", "algonomy"])
def test_control_characters_from_the_vendor_reach_stderr_escaped(vendor: str, verbose: bool, sandbox: Sandbox) -> None:
    name = sandbox.emulation(vendor).name
    answer = error_answer(name, _EVERY_CONTROL)
    sandbox.add_fault(name, "token", Fault.status(503, answer, {"Retry-After": "0"}), times=3)
    done = run_untranslated(*(["-v"] if verbose else []), "token", vendor, "--no-cache", env=sandbox.environ())
    assert done.returncode == 4, done.stderr
    assert done.stdout == ""
    lines = done.stderr.split("\n")
    assert lines[-1] == "" and all(raw_controls(line) == [] for line in lines), "a raw control reached the terminal"
    escaped = escape_controls(_EVERY_CONTROL)
    # The two retries' WARNING lines and the error line, and no line forged.
    assert done.stderr.count(f"(down{escaped}now") == 3
    assert done.stderr.count("forged") == 3 * sum(isinstance(v, str) and "forged" in v for v in answer.values())
    assert lines[-2].startswith("adtech-auth: ")
    if not verbose:
        assert len(lines) == 4


def test_a_hostile_content_type_reaches_stderr_escaped(sandbox: Sandbox) -> None:
    content_type = "text/html\x1b]0;owned\x07\x1b[2J\x00\x7f\x9b\x85"
    sandbox.add_fault("rokt", "token", Fault.raw(401, b"<html>go away</html>", content_type))
    done = run_untranslated("token", "rokt", "--no-cache", env=sandbox.environ())
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith("adtech-auth: Rokt token request failed: HTTP 401; check the app id")
    assert done.stderr.endswith(f" [{escape_controls(content_type)}: '<html>go away</html>']\n"), done.stderr
    assert raw_controls(done.stderr[:-1]) == []


# `python -c` with an import blocker first on the meta path: `import filelock` fails as
# on an install without the 'file' extra, while nothing is uninstalled.
_WITHOUT_FILELOCK = """\
import sys

class NoFilelock:
    def find_spec(self, name, path=None, target=None):
        if name == "filelock" or name.startswith("filelock."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NoFilelock())
from requests_adtech_auth.cli import main
raise SystemExit(main(sys.argv[1:]))
"""


def test_without_the_file_extra_each_call_says_there_is_no_cache(sandbox: Sandbox) -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("ROKT_", "DT_", "ALGONOMY_"))}

    def token(*options: str, blocked: bool = True) -> subprocess.CompletedProcess[str]:
        prefix = ["-c", _WITHOUT_FILELOCK] if blocked else ["-m", "requests_adtech_auth"]
        return subprocess.run(
            [sys.executable, *prefix, "token", "rokt", *options],
            env={**base, **sandbox.environ()},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    note = "adtech-auth: no token cache: install 'requests-adtech-auth[file]' to reuse tokens across calls"
    for _ in range(3):
        done = token()
        assert done.returncode == 0, done.stderr
        assert done.stderr.count("\n") == 1
        assert done.stderr.startswith(note)
    assert sandbox.count("rokt", "token") == 3
    done = token("--no-cache")
    assert (done.returncode, done.stderr) == (0, ""), "no cache was asked for: nothing to say"
    # With the extra, the same calls share one token and say nothing.
    sandbox.reset_counts()
    for _ in range(2):
        done = token(blocked=False)
        assert (done.returncode, done.stderr) == (0, "")
    assert sandbox.count("rokt", "token") == 1


def test_refresh_replaces_a_revoked_token_in_the_file_cache(sandbox: Sandbox) -> None:
    first = run("token", "rokt", env=sandbox.environ())
    assert first.returncode == 0, first.stderr
    sandbox.revoke_tokens("rokt")  # a key rotation: the cached token is dead
    assert run("token", "rokt", env=sandbox.environ()).stdout == first.stdout, "served from the file cache"
    refreshed = run("token", "rokt", "--refresh", env=sandbox.environ())
    assert refreshed.returncode == 0, refreshed.stderr
    assert refreshed.stdout != first.stdout
    again = run("token", "rokt", env=sandbox.environ())
    assert again.stdout == refreshed.stdout, "the new token replaced the dead one in the cache"
    assert sandbox.count("rokt", "token") == 2


def test_sandbox_port_out_of_range_is_a_usage_error() -> None:
    done = run("sandbox", "--port", "99999")
    assert done.returncode == 2
    assert "0 to 65535" in done.stderr and "Traceback" not in done.stderr


def test_sandbox_port_in_use_is_a_usage_error_naming_the_fix() -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        done = run("sandbox", "--port", str(taken.getsockname()[1]))
    assert done.returncode == 2, done.stderr
    assert "choose another --port" in done.stderr and "Traceback" not in done.stderr


def test_sandbox_help_names_the_file_mode() -> None:
    top = run("--help")
    assert top.returncode == 0
    assert "run FILE against it" in top.stdout
    sub = run("sandbox", "--help")
    assert sub.returncode == 0
    assert "[FILE]" in sub.stdout and "script" not in sub.stdout.split("\n", 1)[0]


def test_sandbox_script_threads_finish_before_the_routing_ends(tmp_path: Path) -> None:
    script = tmp_path / "late.py"
    script.write_text(
        "import threading, time, requests\n"
        "from requests_adtech_auth import RoktAuth\n"
        "auth = RoktAuth.from_env()\n"
        "def late():\n"
        "    time.sleep(0.5)\n"
        "    url = 'https://api.rokt.com/v1/query/accounts'\n"
        "    requests.get(url, auth=auth, timeout=10).raise_for_status()\n"
        "threading.Thread(target=late).start()\n"
    )
    done = run("sandbox", str(script))
    assert done.returncode == 0, done.stderr
    assert "rokt 1 token, 1 API (1 ok)" in done.stderr.splitlines()[-1], done.stderr


@needs_pty
def test_enter_alone_at_a_prompt_is_named_as_nothing_typed(sandbox: Sandbox) -> None:
    env = {k: v for k, v in sandbox.environ().items() if k.startswith("ROKT_") and k != "ROKT_APP_ID"}
    code, shown, captured = on_terminal(["token", "rokt"], env, {b"ROKT_APP_ID: ": b"\n"}, stdout_to_pipe=True)
    text = shown.decode(errors="replace")
    assert code == 3, text
    assert "nothing was typed at the prompt for ROKT_APP_ID; nothing was fetched" in text
    assert "is empty" not in text and captured == b""


def test_vendor_names_take_any_letter_case(sandbox: Sandbox) -> None:
    done = run("token", "ROKT", "--no-cache", env=sandbox.environ())
    assert done.returncode == 0, done.stderr
    assert sandbox.count("rokt", "token") == 1


def test_sandbox_file_runs_on_the_port_asked_for(tmp_path: Path) -> None:
    import socket

    with socket.socket() as probe:  # a port free a moment ago
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    script = tmp_path / "port.py"
    script.write_text("import os\nprint(os.environ['ROKT_TOKEN_URL'])\n")
    done = run("sandbox", "--port", str(port), str(script))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"http://127.0.0.1:{port}/"), done.stdout


def test_sandbox_file_that_is_a_directory_is_named_so(tmp_path: Path) -> None:
    done = run("sandbox", str(tmp_path))
    assert done.returncode == 2
    assert f"not a file: {tmp_path}" in done.stderr


def test_a_failing_sandbox_script_shows_its_own_traceback_first(tmp_path: Path) -> None:
    script = tmp_path / "fails.py"
    script.write_text("def main():\n    raise RuntimeError('boom')\n\nmain()\n")
    done = run("sandbox", str(script))
    assert done.returncode == 1
    frames = [line for line in done.stderr.splitlines() if line.strip().startswith("File ")]
    assert frames and str(script) in frames[0], done.stderr
    assert "runpy" not in done.stderr and "cli.py" not in done.stderr
    assert "RuntimeError: boom" in done.stderr
