"""pytest plugin (registered through the ``pytest11`` entry point): test code that calls these APIs.

The ``adtech_sandbox`` fixture starts a :class:`~requests_adtech_auth.sandbox.Sandbox`
for one test, routes requests, httpx and aiohttp calls to the vendors' real hosts to it, and sets the
environment variables every ``from_env()`` reads, so code under test runs
unchanged and without the network::

    def test_report(adtech_sandbox):
        auth = DigitalTurbineAuth.from_env()
        report = requests.post("https://reporting.digitalturbine.com/api/v1/report", json={}, auth=auth)
        assert report.ok
        assert adtech_sandbox.count("digital_turbine", "token") == 1
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .sandbox import Fault, Sandbox

__all__ = ["Fault", "adtech_sandbox"]


@pytest.fixture
def adtech_sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    """A running sandbox for one test: vendor hosts routed to it, ``from_env()`` variables set.

    Knobs and counters are the sandbox's own: ``lifetimes``, ``add_fault``,
    ``revoke_tokens``, ``rokt.stale_token_status`` (403 for a stale Rokt token, as
    Rokt's Reporting page allows), ``rokt.forbidden_paths``, ``count``,
    ``calls_to``; ready auth objects come from ``rokt_auth()``,
    ``digital_turbine_auth()`` and the like. Outside pytest,
    :meth:`Sandbox.intercept_vendor_hosts` does the routing.
    """
    with Sandbox() as box, box.intercept_vendor_hosts():
        # Inside the interception, so that the variables name the vendors' real hosts.
        for name, value in box.environ().items():
            monkeypatch.setenv(name, value)
        yield box
