"""What every vendor emulation shares: routing, faults, counters, token checks."""

from __future__ import annotations

import secrets
import time
from typing import TYPE_CHECKING, Optional

from ._http import Call, Fault, Reply

if TYPE_CHECKING:
    from . import Sandbox


def random_credential(prefix: str = "", nbytes: int = 18) -> str:
    """A fresh random credential string (the sandbox never ships fixed secrets)."""
    return prefix + secrets.token_urlsafe(nbytes)


class Emulation:
    """One vendor inside the sandbox: a token endpoint and an API under ``/{prefix}``."""

    #: Counter and fault key (``Sandbox.count(name, ...)``).
    name = ""
    #: First path segment of the vendor's URLs in the sandbox.
    prefix = ""
    #: Paths (below the prefix) of the token endpoint(s).
    token_paths: tuple[str, ...] = ()
    #: Paths (below the prefix) of token update endpoints.
    update_paths: tuple[str, ...] = ()

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    @property
    def base_url(self) -> str:
        """The vendor's root in the sandbox."""
        return f"{self.sandbox.url}/{self.prefix}"

    @property
    def token_url(self) -> str:
        """The (first) token endpoint's URL."""
        return self.base_url + self.token_paths[0]

    @property
    def api_url(self) -> str:
        """The API's base URL (API paths as the vendor documents them go below it)."""
        return self.base_url

    def handle(self, call: Call, path: str) -> Reply | Fault:
        """Route one request to the token, update or API handler, faults first."""
        if path in self.token_paths:
            endpoint = "token"
        elif path in self.update_paths:
            endpoint = "update"
        else:
            endpoint = "api"
        self.sandbox.count_event(self.name, endpoint)
        if endpoint != "api" and self.sandbox.token_delay:
            time.sleep(self.sandbox.token_delay)
        fault = self.sandbox.take_fault(self.name, endpoint)
        if fault is not None:
            return fault
        if endpoint == "token":
            return self.token(call, path)
        if endpoint == "update":
            return self.update(call, path)
        # A path the vendor does not serve (a mistyped token URL too) is a 404 before
        # any credential check, as a real server's router answers it.
        reply = self.api(call, path) if self.serves(path) else self.not_found(call, path)
        if 400 <= reply.status < 500:
            self.sandbox.count_event(self.name, f"api_{reply.status}")
        elif 200 <= reply.status < 300:
            self.sandbox.count_event(self.name, "api_ok")
        return reply

    def token(self, call: Call, path: str) -> Reply:
        """Answer a token request."""
        raise NotImplementedError

    def update(self, call: Call, path: str) -> Reply:
        """Answer a token update request."""
        return Reply.json(404, {"error": "not_found"})

    def api(self, call: Call, path: str) -> Reply:
        """Answer an API request."""
        raise NotImplementedError

    def serves(self, path: str) -> bool:
        """Whether ``path`` is one of the API's paths (any other gets :meth:`not_found`)."""
        raise NotImplementedError

    def not_found(self, call: Call, path: str) -> Reply:
        """The vendor's 404 for a path it does not serve."""
        return Reply.json(404, {"error": "not_found", "message": f"no such endpoint {call.method} {path}"})

    def lifetime(self) -> float:
        """Seconds a new token lives."""
        return self.sandbox.lifetimes[self.name]

    def check_bearer(self, call: Call) -> tuple[Optional[str], Optional[Reply]]:
        """Validate ``Authorization: Bearer``: ``(client, None)`` or ``(None, 401 reply)``."""
        header = call.header("Authorization") or ""
        scheme, _, value = header.partition(" ")
        record, why = self.sandbox.check(self.name, value.strip() if scheme.lower() == "bearer" else None)
        if record is None:
            return None, self.unauthorized(why)
        return record.client, None

    def unauthorized(self, why: str) -> Reply:
        """The vendor's 401 for a missing, unknown or expired token."""
        if why == "stale":
            self.sandbox.count_event(self.name, "api_401_stale")
        return Reply.json(
            401,
            {"error": "Unauthorized", "message": f"access token {why}"},
            {"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )


def seconds_field(lifetime: float) -> float | int:
    """``expires_in`` as a server would send it: an integer where it is one."""
    return int(lifetime) if float(lifetime).is_integer() else lifetime
