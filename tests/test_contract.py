"""The package's own flows keep the public contract (requests_adtech_auth.testing) that other packages' flows run."""

from __future__ import annotations

import pytest

from requests_adtech_auth import registry
from requests_adtech_auth.testing import VendorContract

# One test class per registered flow that the sandbox serves with calls, as a
# third party writes one for its own flow.
for _vendor in registry.vendors():
    if _vendor.emulation is not None and _vendor.calls:
        _name = "TestContract_" + _vendor.name.replace("-", "_")
        globals()[_name] = type(_name, (VendorContract,), {"vendor": _vendor, "__module__": __name__})


def test_the_contract_fails_a_flow_that_breaks_it(pytester: pytest.Pytester) -> None:
    # A flow that fetches its token while being built and logs its secret: the
    # kit must say so, or it proves nothing for the flows that pass it.
    pytester.makepyfile(
        test_leaky="""
        import logging

        from requests_adtech_auth import RoktAuth
        from requests_adtech_auth.registry import ApiCall, Vendor
        from requests_adtech_auth.testing import VendorContract


        class LeakyAuth(RoktAuth):
            def __init__(self, app_id, app_secret, **options):
                super().__init__(app_id, app_secret, **options)
                logging.getLogger("leaky").debug("built with %s", app_secret)
                self.get_token()


        class TestLeaky(VendorContract):
            vendor = Vendor(
                "leaky", LeakyAuth, "Leaky", emulation="requests_adtech_auth.sandbox.rokt:RoktEmulation",
                calls=(ApiCall("GET", "/v1/query/accounts"),),
            )
        """
    )
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=6, failed=3)
    result.stdout.fnmatch_lines(
        [
            "FAILED *test_no_token_call_before_the_first_request*",
            "FAILED *test_no_credential_to_a_host_outside_hosts*",  # it fetched one all the same
            "FAILED *test_secrets_stay_out_of_logs_reprs_messages_and_locals*",
        ]
    )


def test_the_contract_names_a_header_the_flow_attaches_but_does_not_list(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_unlisted="""
        from requests_adtech_auth import RoktAuth
        from requests_adtech_auth.registry import ApiCall, Vendor
        from requests_adtech_auth.testing import VendorContract


        class SeatAuth(RoktAuth):
            def _apply_token(self, request, token):
                request.headers["Authorization"] = "Bearer " + token
                request.headers["X-Seat"] = "seat-1"


        class TestSeat(VendorContract):
            vendor = Vendor(
                "seat", SeatAuth, "Seat", emulation="requests_adtech_auth.sandbox.rokt:RoktEmulation",
                calls=(ApiCall("GET", "/v1/query/accounts"),),
            )
        """
    )
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=8, failed=1)
    result.stdout.fnmatch_lines(["*attaches *X-Seat*, which credential_headers does not list*"])


def test_a_flow_declaring_its_headers_has_them_listed_as_credential_headers() -> None:
    from requests_adtech_auth import AlgonomyAuth, RoktPartnershipsAuth, TokenAuth

    class SeatAuth(TokenAuth):
        token_header, authorization_scheme, account_header = "X-Token", "", "X-Seat"

    assert SeatAuth.credential_headers == ("X-Token", "X-Seat")
    assert AlgonomyAuth.credential_headers == ("access_token", "tenant_hash")
    assert RoktPartnershipsAuth.credential_headers == ("Authorization", "X-Platform-Parent-Account-Id")


def test_a_flow_that_builds_token_requests_must_name_its_secrets() -> None:
    # Its secrets key the shared token: without them two credentials would share one.
    from requests_adtech_auth import TokenAuth
    from requests_adtech_auth.token_answers import TokenRequest

    with pytest.raises(TypeError, match="define _secrets"):

        class Forgetful(TokenAuth):
            def _token_request(self) -> TokenRequest:
                return TokenRequest(self.token_url, json={"secret": "s"})
