"""What every token flow does beyond the public contract (test_contract.py): retries, odd answers, pickling, repr."""

from __future__ import annotations

import pickle
import time

import pytest
import requests

from requests_adtech_auth import RoktAuth, TokenRequestError
from requests_adtech_auth.sandbox import Fault, Sandbox

from .helpers import Flow

CREDENTIAL_HEADERS = ("Authorization", "X-Platform-Parent-Account-Id", "access_token", "tenant_hash")


def session_for(flow: Flow, box: Sandbox, **options: object) -> requests.Session:
    session = requests.Session()
    session.auth = flow.auth(box, **options)
    return session


def test_transient_token_failure_then_success(flow: Flow, sandbox: Sandbox) -> None:
    sandbox.add_fault(flow.vendor, "token", Fault.status(503))
    sandbox.add_fault(flow.vendor, "token", Fault.reset())
    assert flow.call(session_for(flow, sandbox), sandbox).ok
    assert sandbox.count(flow.vendor, "token") == 3


def test_malformed_token_answer_is_a_library_error(flow: Flow, sandbox: Sandbox) -> None:
    sandbox.add_fault(flow.vendor, "token", Fault.raw(200, b"<html>maintenance</html>", "text/html"))
    auth = flow.auth(sandbox)
    with pytest.raises(TokenRequestError) as caught:
        auth.get_token()
    assert caught.value.status_code == 200
    assert auth.get_token()


def test_token_with_header_injection_is_refused(flow: Flow, sandbox: Sandbox) -> None:
    sandbox.add_fault(flow.vendor, "token", Fault.status(200, {flow.token_field: "abc\r\nSet-Cookie: x=1"}))
    with pytest.raises(TokenRequestError, match="header"):
        flow.auth(sandbox).get_token()


def test_pickled_auth_works_and_leaves_the_token_behind(flow: Flow, sandbox: Sandbox) -> None:
    auth = flow.auth(sandbox, share_token=False)  # as the copy in another process would be
    token = auth.get_token()
    twin = pickle.loads(pickle.dumps(auth))
    session = requests.Session()
    session.auth = twin
    assert flow.call(session, sandbox).ok
    assert twin.get_token() != token
    assert token not in pickle.dumps(auth).decode("latin-1")


def test_repr_shows_state_never_secrets(flow: Flow, sandbox: Sandbox) -> None:
    auth = flow.auth(sandbox)
    assert "token=none yet" in repr(auth)
    token = auth.get_token()
    text = repr(auth)
    assert "token=valid for" in text
    for secret in sandbox.secrets():
        assert secret not in text
    assert token not in text


def test_repr_states_and_html(flow: Flow, sandbox: Sandbox) -> None:
    auth = flow.auth(sandbox, lifetime=1.0)
    assert "token=none yet" in repr(auth)
    token = auth.get_token()
    assert "token=valid for" in repr(auth)
    html = auth._repr_html_()
    assert auth.vendor.split()[0] in html
    assert "valid for" in html
    time.sleep(1.05)
    assert "token=expired" in repr(auth)
    for text in (repr(auth), html):
        assert token not in text
        for secret in sandbox.secrets():
            assert secret not in text


def test_every_auth_class_runs_a_per_request_hook_with_code_of_its_own() -> None:
    # CPython specializes a code object for the classes it meets: a hook shared by two classes
    # used in turn runs unspecialized after each switch (bench/README.md).
    from requests_adtech_auth import registry
    from requests_adtech_auth.oauth2 import OAuth2ClientCredentialsAuth

    classes = {vendor.auth for vendor in registry.vendors()} | {OAuth2ClientCredentialsAuth}
    codes = {id(cls.__call__.__code__) for cls in classes}  # copies of one code object compare equal
    assert len(codes) == len(classes)


class _TokenSchemeAuth(RoktAuth):
    authorization_scheme = "Token"


def test_a_flows_authorization_scheme_goes_before_its_token(sandbox: Sandbox) -> None:
    auth = _TokenSchemeAuth(sandbox.rokt.app_id, sandbox.rokt.app_secret, token_url=sandbox.rokt.token_url)
    url = sandbox.rokt.api_url + "/v1/query/accounts"
    first = auth(requests.Request("GET", url).prepare())  # renews on the request's path
    token = auth.get_token()
    assert first.headers["Authorization"] == "Token " + token
    assert auth(requests.Request("GET", url).prepare()).headers["Authorization"] == "Token " + token  # served
    assert auth.get_headers() == {"Authorization": "Token " + token}


class _OwnHookAuth(RoktAuth):
    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["X-Own-Hook"] = "1"
        return super().__call__(request)


class _OwnHookChild(_OwnHookAuth):
    pass


def test_a_hook_a_subclass_writes_is_kept_by_its_own_subclasses(sandbox: Sandbox) -> None:
    auth = _OwnHookChild(sandbox.rokt.app_id, sandbox.rokt.app_secret, token_url=sandbox.rokt.token_url)
    prepared = auth(requests.Request("GET", sandbox.rokt.api_url + "/v1/query/accounts").prepare())
    assert prepared.headers["X-Own-Hook"] == "1"
    assert prepared.headers["Authorization"] == "Bearer " + auth.get_token()


def test_a_subclass_changing_the_declared_headers_has_them_taken_off_other_origins() -> None:
    from requests_adtech_auth import AlgonomyAuth, RoktPartnershipsAuth

    class OtherTokenHeader(AlgonomyAuth):
        token_header = "X-Algo-Token"

    class OtherAccount(RoktPartnershipsAuth):
        account_header = "X-Other-Account"

    class Listed(RoktAuth):
        credential_headers = ("Authorization", "X-Listed")

    class ListedThenDeclared(Listed):
        token_header = "X-Token"

    assert set(OtherTokenHeader._origin_bound_headers()) >= {"X-Algo-Token", "tenant_hash"}
    assert set(OtherAccount._origin_bound_headers()) >= {"Authorization", "X-Other-Account"}
    assert set(ListedThenDeclared.credential_headers) == {"X-Token", "X-Listed", "Authorization"}


def test_a_class_writing_its_own_hook_may_not_change_what_the_inherited_hook_attaches() -> None:
    # Its super().__call__ would attach the parent's headers: refused when the class is defined.
    with pytest.raises(TypeError, match="writes __call__ and changes how the token is attached"):

        class Changed(RoktAuth):
            token_header = "X-Rokt-Token"

            def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
                return super().__call__(request)
