"""The sandbox's storage host (127.0.0.2) playing the foreign host, for the credential-boundary tests.

How to name it, Location headers aimed at it, and the check that it got nothing: shared by
the requests, httpx and aiohttp suites, which attack the boundary the same way.
"""

from __future__ import annotations

from requests_adtech_auth import TokenAuth
from requests_adtech_auth.sandbox import Sandbox

from .helpers import token_state_of


def storage_hostport(box: Sandbox) -> str:
    """The foreign host's ``host:port``, for a Location header or a URL."""
    return box.storage_url.split("://", 1)[1]


def secret_values(auth: TokenAuth, box: Sandbox) -> list[str]:
    """What must never leave for a foreign host: the sandbox's secrets and the token ``auth`` holds."""
    values = [s for s in box.secrets() if len(s) >= 4]
    cached = token_state_of(auth).token
    if cached is not None:
        values.append(cached.value)
    return values


def assert_storage_got_nothing(box: Sandbox, auth: TokenAuth) -> None:
    """No request to the foreign host carried one of ``auth``'s credential headers or a secret."""
    secrets = secret_values(auth, box)
    for call in box.calls_to("storage"):
        for name in auth.credential_headers:
            assert call.header(name) is None, f"{name} reached the foreign host"
        for name, value in call.headers.items():
            for secret in secrets:
                assert secret not in value, f"a secret reached the foreign host in {name}"


#: Location headers that try to take a request to the foreign host ({foreign}) while looking local.
HOSTILE_LOCATIONS = [
    "////{foreign}/landing",
    "https:////{foreign}/landing",
    "http:////{foreign}/landing",
    "///{foreign}/landing",
    "//{foreign}/landing",
    "http://{foreign}/landing",
    "http:\t//{foreign}/landing",
    "\t//{foreign}/landing",
    "http://127.0.0.1\\@{foreign}/landing",
]
