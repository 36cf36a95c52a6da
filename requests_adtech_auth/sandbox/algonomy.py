"""Algonomy Real-time CDP in the sandbox: tenant headers, resource-scoped tokens, create and update."""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Optional, TextIO, Union
from urllib.parse import urlsplit

from ._emulation import Emulation
from ._http import Call, Fault, Reply

if TYPE_CHECKING:
    import requests

    from ..algonomy import AlgonomyAuth
    from . import Sandbox

RESOURCES = {
    "profile": frozenset(
        {"basic", "segments", "searchSegments", "isCustomerInSegment", "campaigns", "userActivity", "userAttributes"}
    ),
    "gdpr": frozenset({"registerGdprRequest", "revokeGdprActions", "gdprRequestStatus"}),
}


#: A path prefix the RCDP reference's example host has (``https://api-dev.algonomy.com/rcdpapi/...``).
API_PREFIX = "/rcdpapi"
#: The request headers the profile APIs take a customer's identifier in.
IDENTIFIER_HEADERS = ("gcrId", "mobile_number", "email_address", "customer_code_external")


def _profile_problem(call: Call, resource: str) -> str:
    """What a profile API call lacks: an identifier header; the Basic API also takes no body."""
    if not any(call.header(name) for name in IDENTIFIER_HEADERS):
        return f"a customer identifier header is required: one of {', '.join(IDENTIFIER_HEADERS)}"
    if resource == "basic" and call.body.strip():
        return "the Basic API takes no request body: the identifiers go in headers"
    return ""


def _message(status: int, message: str) -> Reply:
    return Reply.json(status, {"status": status, "message": message})


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _strict_json(call: Call) -> Any:
    """The body as JSON, refusing ``NaN`` and ``Infinity`` as a standard JSON parser does (raises ValueError)."""
    return json.loads(call.body, parse_constant=_no_constant)


class AlgonomyEmulation(Emulation):
    """Algonomy's create/update token endpoints (profile and GDPR) and the APIs behind them.

    Tokens live ``validity`` minutes; any positive number is accepted, as the
    page says "number" (the library sends whole minutes). ``oauth_enabled`` makes
    ``oauth_key_secret`` required, as for an OAuth tenant. ``unknown_token_status``
    is how ``/update`` answers a token it does not know (expired, revoked): 401 by
    default; the page does not say, so tests also try 400 and 403.
    """

    name = "algonomy"
    prefix = "algonomy"
    token_paths = ("/secureApi/token/profile/create", "/secureApi/token/gdpr/create")
    update_paths = ("/secureApi/token/profile/update", "/secureApi/token/gdpr/update")
    real_hosts = ("*.algonomy.com",)
    documented_lifetime = None  # the token request's validity says
    token_field = "token"
    lifetime_field = None
    #: The tenant host the documentation's examples use (routed by ``intercept_vendor_hosts``).
    EXAMPLE_URL = "https://b2b.example.algonomy.com"

    def __init__(self, sandbox: Sandbox) -> None:
        super().__init__(sandbox)
        self.tenant_hash = secrets.token_hex(16)
        self.oauth_key_secret = secrets.token_hex(8)
        self.oauth_enabled = True
        self.unknown_token_status = 401

    @property
    def gdpr_token_url(self) -> str:
        """The GDPR API's token endpoint."""
        return self.base_url + self.token_paths[1]

    def auth_arguments(self) -> dict[str, Any]:
        """``token_url``, ``tenant_hash``, ``resources`` (``basic``) and ``oauth_key_secret``."""
        return {
            "token_url": self.token_url,
            "tenant_hash": self.tenant_hash,
            "resources": ["basic"],
            "oauth_key_secret": self.oauth_key_secret,
        }

    def info(self) -> dict[str, Any]:
        """As every emulation's, with the GDPR API's token URL."""
        return {**super().info(), "gdpr_token_url": self.gdpr_token_url}

    def environ_values(self) -> dict[str, str]:
        """As every emulation's; the examples' tenant host joins ``hosts`` and ``segments`` the resources."""
        example_host = urlsplit(self.EXAMPLE_URL).hostname
        return {
            **super().environ_values(),
            "hosts": f"{urlsplit(self.sandbox.url).hostname},{example_host}",
            "resources": "basic,segments",
        }

    def secrets(self) -> list[str]:
        """The tenant hash and the OAuth key secret."""
        return [self.tenant_hash, self.oauth_key_secret]

    @staticmethod
    def presented_token(headers: Mapping[str, str]) -> Optional[str]:
        """The ``access_token`` header."""
        return headers.get("access_token")

    def lifetime_options(self, lifetime: float) -> dict[str, Any]:
        """Algonomy tokens live the validity asked for: ``validity`` in minutes."""
        return {"validity": lifetime / 60.0}

    def _tenant_problem(self, call: Call) -> Optional[Reply]:
        if call.method != "POST":
            return _message(405, "use POST")
        if not secrets.compare_digest(call.header("tenant_hash") or "", self.tenant_hash):
            return _message(401, "invalid tenant_hash")
        if self.oauth_enabled and not secrets.compare_digest(
            call.header("oauth_key_secret") or "", self.oauth_key_secret
        ):
            return _message(401, "invalid or missing oauth_key_secret")
        return None

    def _resource_request(self, call: Call, path: str) -> Union[Reply, tuple[dict[str, Any], str, list[str]]]:
        """A create or update call's JSON document, token kind and resources; or the error reply."""
        problem = self._tenant_problem(call)
        if problem is not None:
            return problem
        try:
            document = _strict_json(call)
        except ValueError:
            return _message(400, "body must be JSON")
        resources = document.get("resource") if isinstance(document, dict) else None
        if not isinstance(resources, list) or not resources or not all(isinstance(r, str) for r in resources):
            return _message(400, "resource must be a non-empty array of resource names")
        kind = "gdpr" if "/gdpr/" in path else "profile"
        unknown = sorted(set(resources) - RESOURCES[kind])
        if unknown:
            return _message(400, f"unknown {kind} resources: {', '.join(unknown)}")
        return document, kind, resources

    def token(self, call: Call, path: str) -> Reply:
        """``POST .../create`` with ``{"resource": [...], "validity": minutes}``."""
        request = self._resource_request(call, path)
        if isinstance(request, Reply):
            return request
        document, kind, resources = request
        validity = document.get("validity", 15)
        if isinstance(validity, bool) or not isinstance(validity, (int, float)) or not validity > 0:
            return _message(400, "validity must be a positive number of minutes")
        value = self.sandbox.issue(self.name, f"{self.tenant_hash}:{kind}", validity * 60.0, resources)
        return Reply.json(200, {"token": value})

    def update(self, call: Call, path: str) -> Reply:
        """``POST .../update`` with ``{"resource": [...], "token": current}``: same token, new resources."""
        request = self._resource_request(call, path)
        if isinstance(request, Reply):
            return request
        document, kind, resources = request
        record, why = self.sandbox.check(self.name, document.get("token"))
        if record is None or record.client != f"{self.tenant_hash}:{kind}":
            return _message(self.unknown_token_status, f"token {why or 'belongs to another tenant'}")
        record.resources = set(resources)
        return Reply.json(200, {"message": "Token updated successfully", "token": document["token"]})

    def api(self, call: Call, path: str) -> Reply:
        """``POST /api/v1/profile/b2b/{resource}`` and ``/api/v1/gdpr/b2b/{resource}``."""
        if not secrets.compare_digest(call.header("tenant_hash") or "", self.tenant_hash):
            return _message(401, "invalid tenant_hash")
        record, why = self.sandbox.check(self.name, call.header("access_token"))
        if record is None:
            if why == "stale":
                self.sandbox.count_event(self.name, "api_401_stale")
            return _message(401, f"access_token {why}")
        for kind in ("profile", "gdpr"):
            base = f"/api/v1/{kind}/b2b/"
            if path.startswith(base):
                resource = path[len(base) :]
                if record.client != f"{self.tenant_hash}:{kind}" or resource not in record.resources:
                    return _message(403, f"token does not grant resource {resource}")
                problem = _profile_problem(call, resource) if kind == "profile" else ""
                if problem:
                    return _message(400, problem)
                return Reply.json(200, {"resource": resource, "data": {"customers": []}})
        return self.not_found(call, path)

    def handle(self, call: Call, path: str) -> Reply | Fault:
        """As every emulation, below an optional ``/rcdpapi`` prefix (a base URL Algonomy hands out has one)."""
        if path.startswith(API_PREFIX + "/"):
            path = path[len(API_PREFIX) :]
        return super().handle(call, path)

    def serves(self, path: str) -> bool:
        """The profile and GDPR resource paths."""
        return any(path.startswith(f"/api/v1/{kind}/b2b/") for kind in RESOURCES)

    def not_found(self, call: Call, path: str) -> Reply:
        """404 with Algonomy's ``status`` and ``message``."""
        return _message(404, f"no such endpoint {path}")


def demo_add_resources(session: requests.Session, sandbox: Sandbox, auth: AlgonomyAuth, out: TextIO) -> bool:
    """The demo's extra step: widen the live token to ``segments`` and use it."""
    from ..demo import show_call

    auth.add_resources("segments")
    out.write("    add_resources('segments'): the live token was updated, not replaced\n")
    url = sandbox.algonomy.api_url + "/rcdpapi/api/v1/profile/b2b/segments"
    response = session.post(url, headers={"gcrId": "gcr-1001"}, timeout=10)
    show_call(out, "POST", "rcdpapi/api/v1/profile/b2b/segments", response)
    return response.ok
