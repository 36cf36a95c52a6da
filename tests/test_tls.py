"""HTTPS: certificate verification is on for token requests, and a custom CA works through session=."""

from __future__ import annotations

import ssl

import pytest
import requests
import trustme

from requests_adtech_auth import TokenRequestError
from requests_adtech_auth.sandbox import Sandbox

from .helpers import FLOWS, Flow


@pytest.mark.parametrize("flow", FLOWS, ids=[f.name for f in FLOWS])
def test_untrusted_certificate_is_a_clear_error(flow: Flow, tls_sandbox: Sandbox) -> None:
    auth = flow.auth(tls_sandbox)
    assert auth.token_url.startswith("https://")
    with pytest.raises(TokenRequestError) as caught:
        auth.get_token()
    assert "TLS verification" in str(caught.value)
    assert "session.verify" in str(caught.value)
    assert not caught.value.transient
    assert isinstance(caught.value.__cause__, requests.exceptions.SSLError)
    assert tls_sandbox.count(flow.vendor, "token") == 0, "nothing may reach an unverified server"


@pytest.mark.parametrize("flow", FLOWS, ids=[f.name for f in FLOWS])
def test_custom_ca_bundle_through_session(
    flow: Flow, tls_sandbox: Sandbox, ca: trustme.CA, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A system bundle in the environment (as on many machines) must not override session.verify.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", ssl.get_default_verify_paths().openssl_cafile)
    with ca.cert_pem.tempfile() as bundle:
        token_session = requests.Session()
        token_session.verify = bundle
        api_session = requests.Session()
        api_session.verify = bundle
        api_session.trust_env = False  # requests lets REQUESTS_CA_BUNDLE override verify; the token session must not
        api_session.auth = flow.auth(tls_sandbox, session=token_session)
        assert flow.call(api_session, tls_sandbox).ok
    assert tls_sandbox.count(flow.vendor, "token") == 1
