"""Rokt's Event API v2 in the sandbox: a key pair in HTTP Basic on ``POST /v2/events``, no token endpoint."""

from __future__ import annotations

import base64
import binascii
import secrets
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ._emulation import Emulation, random_credential
from ._http import Call, Reply

if TYPE_CHECKING:
    from . import Sandbox


class RoktEventKeyEmulation(Emulation):
    """``POST /v2/events`` on ``api.rokt.com`` (beside the v1 emulation), with the key pair checked on every call.

    A wrong, missing or malformed key pair is a 401; a body that is not a JSON
    object with 1 to 100 events a 400. There is no token endpoint, so no token
    counter moves and no lifetime can be set.
    """

    name = "rokt_event_v2"
    prefix = "rokt-v2"
    real_hosts = ("api.rokt.com",)
    documented_lifetime = None

    def __init__(self, sandbox: Sandbox) -> None:
        super().__init__(sandbox)
        self.public_key = random_credential("rpub-sbx", 12)
        self.secret_key = random_credential("rsec-sbx", 24)

    def auth_arguments(self) -> dict[str, Any]:
        """``public_key``, ``secret_key``, and as ``hosts`` the sandbox's host beside Rokt's (no token URL names it)."""
        hosts = [urlsplit(self.sandbox.url).hostname, *self.real_hosts]
        return {"public_key": self.public_key, "secret_key": self.secret_key, "hosts": hosts}

    def secrets(self) -> list[str]:
        """The secret key, and the Basic credential made from the pair."""
        return [self.secret_key, base64.b64encode(f"{self.public_key}:{self.secret_key}".encode()).decode()]

    @staticmethod
    def presented_token(headers: Any) -> Any:
        """The Basic credential an API call carried."""
        scheme, _, value = (headers.get("Authorization") or "").partition(" ")
        return value.strip() if scheme.lower() == "basic" else None

    def token(self, call: Call, path: str) -> Reply:
        """There is no token endpoint."""
        return self.not_found(call, path)

    def serves(self, path: str) -> bool:
        """The events path."""
        return path == "/v2/events"

    def api(self, call: Call, path: str) -> Reply:
        """``POST /v2/events``."""
        if not self._key_pair_ok(call):
            return Reply.json(401, {"code": "Unauthorized", "message": "invalid or missing key pair"})
        if call.method != "POST":
            return self.not_found(call, path)
        try:
            events = call.json().get("events")
        except (ValueError, AttributeError):
            return Reply.json(400, {"code": "RequestJsonUnmarshalError", "message": "the body is not a JSON object"})
        if not isinstance(events, list) or not 1 <= len(events) <= 100:
            return Reply.json(400, {"code": "RequestValidationError", "message": "events must be a list of 1 to 100"})
        return Reply.json(200, {"unprocessedRecords": []})

    def not_found(self, call: Call, path: str) -> Reply:
        """404 with Rokt's ``message``."""
        return Reply.json(404, {"message": f"no such Rokt endpoint {call.method} {path}"})

    def _key_pair_ok(self, call: Call) -> bool:
        scheme, _, encoded = (call.header("Authorization") or "").partition(" ")
        try:
            public, _, secret = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return (
            scheme.lower() == "basic"
            and secrets.compare_digest(public, self.public_key)
            and secrets.compare_digest(secret, self.secret_key)
        )
