"""The demo command a new user runs first."""

from __future__ import annotations

import subprocess
import sys


def test_demo_runs_every_flow_and_exits_0() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "requests_adtech_auth", "demo"], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    table = done.stdout.split("status\n", 1)[1]
    rows = [line.split() for line in table.splitlines()[1:] if line.strip()]
    assert len(rows) == 5
    for row in rows:
        assert row[-1] == "ok"
        token_calls, renewals = int(row[-4]), int(row[-2])
        # The first token and the one after the forced expiry; the Reporting API's
        # calls start on the token the Event API's calls fetched for the same credential.
        assert token_calls == (1 if row[:2] == ["Rokt", "Reporting"] else 2), row
        assert renewals == 1
    assert "no Authorization sent" in done.stdout
    assert done.stderr == ""


def test_no_command_prints_help_and_exits_2() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "requests_adtech_auth"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 2
    assert "demo" in done.stderr
