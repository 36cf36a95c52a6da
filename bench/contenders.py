"""The contenders of the Rokt-flow measurements, each configured as its documentation says."""

from __future__ import annotations

import os

import requests

# Peers refuse plain-http token URLs unless told otherwise; the sandbox is loopback http.
os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"
os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"

import requests_auth
from authlib.integrations.requests_client import OAuth2Session as AuthlibSession
from floors import FLOOR, constant_headers
from oauthlib.oauth2 import BackendApplicationClient, TokenExpiredError
from remote_sandbox import RemoteSandbox
from requests_oauthlib import OAuth2Session

from requests_adtech_auth import RoktAuth
from requests_adtech_auth.options import DEFAULT_LEEWAY

US = "requests-adtech-auth"
PEERS = ["requests-auth", "authlib", "requests-oauthlib"]
CONTENDERS = [US, *PEERS]
COLUMNS = [FLOOR, *CONTENDERS]
MANUAL_FETCH = {"authlib", "requests-oauthlib"}
#: The registry's name of the flow the peers are configured for (general OAuth 2.0 clients run Rokt's only).
PEER_FLOW = "rokt"
#: The peers' documented defaults for renewing before expiry (requests-oauthlib has none).
PEER_LEEWAY = {"requests-auth": 30.0, "authlib": 60.0}


class Contender:
    """One library, configured for the Rokt flow: how to build it and use it.

    ``leeway_scale`` divides every contender's renew-before-expiry default (the
    scaled-clock lifetime rows); ``token_url`` lets a run start with no cached token.
    """

    def __init__(self, name: str, box: RemoteSandbox, token_url: str, leeway_scale: float = 1.0) -> None:
        self.name = name
        self.box = box
        self.token_url = token_url
        self.session: requests.Session
        if name == FLOOR:
            token = RoktAuth(box.app_id, box.app_secret, token_url=box.fresh_token_url()).get_token()
            self.session = requests.Session()
            self.session.auth = constant_headers({"Authorization": "Bearer " + token})
        elif name == US:
            self.session = requests.Session()
            self.session.auth = RoktAuth(
                box.app_id, box.app_secret, token_url=token_url, leeway=DEFAULT_LEEWAY / leeway_scale
            )
        elif name == "requests-auth":
            self.session = requests.Session()
            self.session.auth = requests_auth.OAuth2ClientCredentials(
                token_url, box.app_id, box.app_secret, early_expiry=PEER_LEEWAY[name] / leeway_scale
            )
        elif name == "authlib":
            self.session = AuthlibSession(
                box.app_id,
                box.app_secret,
                token_endpoint=token_url,
                grant_type="client_credentials",
                leeway=PEER_LEEWAY[name] / leeway_scale,
            )
        elif name == "requests-oauthlib":
            self.session = OAuth2Session(client=BackendApplicationClient(client_id=box.app_id))
        else:
            raise ValueError(name)

    def manual_fetch(self) -> None:
        """What a user of Authlib or requests-oauthlib must do before the first call."""
        if self.name == "authlib":
            self.session.fetch_token(self.token_url, grant_type="client_credentials")  # type: ignore[attr-defined]
        elif self.name == "requests-oauthlib":
            self.session.fetch_token(  # type: ignore[attr-defined]
                self.token_url, client_id=self.box.app_id, client_secret=self.box.app_secret
            )

    def get(self, url: str) -> requests.Response:
        """One API call, as a user of this library writes it."""
        if self.name == "requests-oauthlib":
            # requests-oauthlib cannot renew client-credentials tokens: users catch and refetch.
            try:
                return self.session.get(url, timeout=10)
            except TokenExpiredError:
                self.manual_fetch()
                return self.session.get(url, timeout=10)
        return self.session.get(url, timeout=10)
