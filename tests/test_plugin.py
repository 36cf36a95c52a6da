"""The pytest plugin, used directly and as a downstream project would."""

from __future__ import annotations

import requests

from requests_adtech_auth import DigitalTurbineAuth, RoktAuth
from requests_adtech_auth.sandbox import Fault, Sandbox

from .helpers import DT_REPORT


def test_fixture_routes_real_vendor_urls_to_the_sandbox(adtech_sandbox: Sandbox) -> None:
    # Code under test, unchanged: real URLs, credentials from the environment.
    auth = RoktAuth.from_env()
    response = requests.get("https://api.rokt.com/v1/query/accounts", auth=auth, timeout=10)
    assert response.json()["accounts"][0]["id"] == "123"
    assert response.url == "https://api.rokt.com/v1/query/accounts"
    assert adtech_sandbox.count("rokt", "token") == 1


def test_fixture_faults_and_401_replay_through_real_urls(adtech_sandbox: Sandbox) -> None:
    session = requests.Session()
    session.auth = DigitalTurbineAuth.from_env()
    adtech_sandbox.add_fault("digital_turbine", "token", Fault.status(503))
    first = session.post("https://reporting.digitalturbine.com/api/v1/report", json=DT_REPORT, timeout=10)
    assert first.ok
    adtech_sandbox.revoke_tokens()
    second = session.post("https://reporting.digitalturbine.com/api/v1/report", json=DT_REPORT, timeout=10)
    assert second.ok
    assert [r.status_code for r in second.history] == [401]
    assert adtech_sandbox.count("digital_turbine", "token") == 3


def test_downstream_project_uses_the_plugin(pytester) -> None:  # type: ignore[no-untyped-def]
    pytester.makepyfile(
        test_downstream="""
        import requests
        from requests_adtech_auth import AlgonomyAuth

        def fetch_segments(customer):
            auth = AlgonomyAuth(
                "https://b2b.acme.algonomy.com/secureApi/token/profile/create",
                __import__("os").environ["ALGONOMY_TENANT_HASH"],
                ["segments"],
                oauth_key_secret=__import__("os").environ["ALGONOMY_OAUTH_KEY_SECRET"],
            )
            url = "https://b2b.acme.algonomy.com/api/v1/profile/b2b/segments"
            return requests.post(url, headers={"gcrId": customer}, auth=auth, timeout=10)

        def test_fetch_segments(adtech_sandbox):
            assert fetch_segments("c1").status_code == 200
            assert adtech_sandbox.count("algonomy", "token") == 1

        def test_vendor_outage(adtech_sandbox):
            from requests_adtech_auth.sandbox import Fault
            adtech_sandbox.add_fault("algonomy", "token", Fault.status(503), times=10)
            try:
                fetch_segments("c1")
            except Exception as exc:
                assert exc.status_code == 503
            else:
                raise AssertionError("expected a TokenRequestError")
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
