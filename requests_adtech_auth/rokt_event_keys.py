"""Rokt Event API v2: the account's key pair on every call, no token.

Wire format (docs.rokt.com/developers/api-reference/event-api/, marked public
beta on one crawl): ``POST https://api.rokt.com/v2/events`` with ``Authorization:
Basic base64(public_key:secret_key)``, a key pair (``rpub-...``, ``rsec-...``)
that the account manager issues. There is no token call and nothing to renew; the
class keeps everything else an auth class guarantees: the credential only to
``api.rokt.com`` (and hosts you name), never across a redirect to another origin,
never in a log, ``repr``, message or traceback's locals.
"""

from __future__ import annotations

import base64
import math
from typing import TYPE_CHECKING, Any

from .core import EnvVar, TokenAuth, require_text
from .credential import shortened
from .exceptions import ConfigurationError
from .registry import ApiCall, Vendor, register
from .token_state import CachedToken

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from .options import CommonOptions

__all__ = ["ROKT_EVENTS_V2_URL", "RoktEventKeyAuth"]

#: The endpoint the key pair is for.
ROKT_EVENTS_V2_URL = "https://api.rokt.com/v2/events"


class RoktEventKeyAuth(TokenAuth):
    """Auth for Rokt's Event API v2 (``POST /v2/events``): the key pair in HTTP Basic; no token.

    For the Event API v1 (``POST /v1/events``, a token from the app id and secret)
    use :class:`RoktEventAuth`.

    Args:
        public_key: the public key (``rpub-...``).
        secret_key: the secret key (``rsec-...``).
        **common: the options every auth class takes that apply to a key
            (``hosts``); ``cache`` is refused: a key pair is never written to a
            shared cache.
    """

    vendor = "Rokt Event API v2"
    authorization_scheme = "Basic"
    default_api_hosts = ("api.rokt.com",)
    # A refused key stays refused: nothing to renew, so no replay.
    refused_token_statuses = frozenset()
    token_cache_applies = False
    credentials_hint = "check the public and secret key your Rokt account manager issued"
    env_variables = (
        EnvVar("public_key", "ROKT_PUBLIC_KEY"),
        EnvVar("secret_key", "ROKT_SECRET_KEY"),
        # No token URL to point elsewhere: a test server's host is named instead.
        EnvVar("hosts", "ROKT_EVENT_HOSTS", required=False, kind="list"),
    )

    def __init__(self, public_key: str, secret_key: str, **common: Unpack[CommonOptions]) -> None:
        self.public_key = require_text("public_key", public_key)
        self._secret_key = require_text("secret_key", secret_key)
        if ":" in public_key:
            # RFC 7617: the Basic user-id ends at the first colon, so Rokt would read another key.
            raise ConfigurationError("public_key must not contain ':' (it goes in an HTTP Basic header)")
        if common.get("cache") is not None:
            raise ConfigurationError("cache: a key pair is sent as it is, there is no token to share")
        super().__init__(ROKT_EVENTS_V2_URL, **common)
        self._basic = base64.b64encode(f"{public_key}:{secret_key}".encode()).decode("ascii")

    def _fetch_with_retries(self) -> CachedToken:
        # The "token" is the Basic credential itself, made here rather than fetched; it never expires.
        return CachedToken.of(self._basic, math.inf, math.inf)

    def _secrets(self) -> tuple[str, ...]:
        return (self._secret_key, self._basic)

    def _public_id(self) -> str:
        return self.public_key

    def _token_summary(self) -> str:
        return "a key pair (no token)"

    def __repr__(self) -> str:
        # No token URL to show: the key goes with every call.
        try:
            hosts = sorted(self.hosts)
        except AttributeError:  # half built: a constructor raised, and a traceback shows its locals
            return f"<{type(self).__name__} (not fully built)>"
        return f"<{type(self).__name__} id={shortened(self.public_key)!r} hosts={hosts!r} key pair>"


def _event_body() -> dict[str, Any]:
    event = {
        "accountId": "123",
        "clientEventId": "demo-1",
        "eventTime": "2026-11-01T12:00:00Z",
        "eventType": "conversion",
    }
    return {"events": [event]}


register(
    Vendor(
        "rokt-event-v2",
        RoktEventKeyAuth,
        "Rokt Event API v2 (key pair)",
        emulation="requests_adtech_auth.sandbox.rokt_event_keys:RoktEventKeyEmulation",
        calls=(ApiCall("POST", "/v2/events", _event_body(), idempotency_key=True),),
    )
)
