"""What every vendor emulation shares: routing, faults, counters, token checks."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Optional, TypeVar

from ._http import Call, Fault, Reply

if TYPE_CHECKING:
    from . import Sandbox

_Auth = TypeVar("_Auth")


def random_credential(prefix: str = "", nbytes: int = 18) -> str:
    """A fresh random credential string (the sandbox never ships fixed secrets)."""
    return prefix + secrets.token_urlsafe(nbytes)


class Emulation:
    """One vendor inside the sandbox: a token endpoint and an API under ``/{prefix}``.

    A vendor's emulation names itself and its paths in class attributes, answers
    :meth:`token` and :meth:`api` (and :meth:`update` where the vendor has one),
    and says with :meth:`auth_arguments` how its auth class is built against it;
    the sandbox does the rest (routing, faults, counters, interception, the
    variables ``from_env()`` reads, the control paths). It is named by its
    :class:`~requests_adtech_auth.registry.Vendor` description.
    """

    #: Counter and fault key (``Sandbox.count(name, ...)``), and the sandbox's attribute (``sandbox.rokt``).
    name = ""
    #: First path segment of the vendor's URLs in the sandbox.
    prefix = ""
    #: Paths (below the prefix) of the token endpoint(s).
    token_paths: tuple[str, ...] = ()
    #: Paths (below the prefix) of token update endpoints.
    update_paths: tuple[str, ...] = ()
    #: The vendor's real hosts, which :meth:`Sandbox.intercept_vendor_hosts` routes here
    #: (``"*.example.com"``: every subdomain).
    real_hosts: tuple[str, ...] = ()
    #: The token lifetime the vendor documents, in seconds; None where the token
    #: request says how long (Algonomy's validity), so there is no lifetime knob.
    documented_lifetime: Optional[float] = 3600.0
    #: Where a token answer carries the token and its lifetime (None: it has none).
    token_field = "access_token"
    lifetime_field: Optional[str] = "expires_in"

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    # -- what the sandbox and the tools ask of every emulation ---------------------------

    def auth_arguments(self) -> dict[str, Any]:
        """The auth class's constructor arguments, by name, that point it at this emulation."""
        raise NotImplementedError

    def secrets(self) -> list[str]:
        """The credentials this emulation issued that must never leak."""
        raise NotImplementedError

    def info(self) -> dict[str, Any]:
        """URLs, real hosts and credentials, as ``GET /_sandbox/info`` shows them."""
        return {
            "token_url": self.token_url,
            "api_url": self.api_url,
            **self.auth_arguments(),
            "real_hosts": list(self.real_hosts),
        }

    def environ_values(self) -> dict[str, str]:
        """The auth arguments as environment variable values (lists comma-separated)."""
        return {
            name: ",".join(value) if isinstance(value, (list, tuple)) else str(value)
            for name, value in self.auth_arguments().items()
        }

    def auth(self, cls: Callable[..., _Auth], **options: Any) -> _Auth:
        """An object of auth class ``cls`` pointed at this emulation; ``options`` win over the defaults."""
        return cls(**{**self.auth_arguments(), **options})

    @staticmethod
    def presented_token(headers: Mapping[str, str]) -> Optional[str]:
        """The token an API call carried (``Authorization: Bearer`` here)."""
        scheme, _, value = (headers.get("Authorization") or "").partition(" ")
        return value.strip() if scheme.lower() == "bearer" else None

    def lifetime_options(self, lifetime: float) -> dict[str, Any]:
        """Make new tokens live ``lifetime`` seconds: the auth options that need (none here: a knob is set)."""
        self.sandbox.lifetimes[self.name] = lifetime
        return {}

    def settings(self) -> Optional[dict[str, Any]]:
        """The knobs ``POST /_sandbox/{name}`` sets, as JSON; None where there are none."""
        return None

    def configure(self, changes: Any) -> None:
        """Apply ``POST /_sandbox/{name}``'s JSON object (ValueError for what it cannot take)."""
        raise ValueError(f"the {self.name} emulation has no settings")

    def storage(self, call: Call) -> Optional[Reply]:
        """Answer a request to the storage host (a foreign host), or None where it is not this vendor's."""
        return None

    # -- serving -------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The vendor's root in the sandbox."""
        return f"{self.sandbox.url}/{self.prefix}"

    @property
    def token_url(self) -> str:
        """The (first) token endpoint's URL ("" for a vendor whose calls carry a key, not a token)."""
        return self.base_url + self.token_paths[0] if self.token_paths else ""

    def claims(self, path: str) -> bool:
        """Whether ``path`` (below the vendor's host) is one of this emulation's endpoints."""
        return path in self.token_paths or path in self.update_paths or self.serves(path)

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
        scheme, _, value = (call.header("Authorization") or "").partition(" ")
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
