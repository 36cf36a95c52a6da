"""The demo command a new user runs first."""

from __future__ import annotations

from requests_adtech_auth import registry

from .helpers import run_cli


def test_demo_runs_every_flow_and_exits_0() -> None:
    done = run_cli("demo", timeout=120)
    assert done.returncode == 0, done.stderr
    table = done.stdout.split("status\n", 1)[1]
    rows = [line.split() for line in table.splitlines()[1:] if line.strip()]
    shown = [v for v in registry.vendors() if v.emulation and v.calls]  # RoktReportingAuth is RoktAuth renamed
    assert len(rows) == len(shown)
    rokt_rows = 0
    for row, vendor in zip(rows, shown):
        assert row[-1] == "ok", row
        token_calls, renewals = int(row[-4]), int(row[-2])
        emulation = vendor.emulation_class()
        assert emulation is not None
        if not emulation.token_paths:  # a key flow: nothing to fetch or renew
            assert (token_calls, renewals) == (0, 0), row
            continue
        # The first token and the one after the forced expiry; the second Rokt flow
        # starts on the token the first fetched for the same credential.
        if emulation.name == "rokt":
            rokt_rows += 1
            assert token_calls == (2 if rokt_rows == 1 else 1), row
        else:
            assert token_calls == 2, row
        assert renewals == 1
    assert rokt_rows == 2
    assert "no Authorization sent" in done.stdout
    assert done.stderr == ""


def test_no_command_prints_help_and_exits_2() -> None:
    done = run_cli()
    assert done.returncode == 2
    assert "demo" in done.stderr
