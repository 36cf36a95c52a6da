"""Rokt in the sandbox: the Event/Reporting token flow and the Partnerships API."""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Optional

from ._emulation import Emulation, random_credential, seconds_field
from ._http import Call, Reply

if TYPE_CHECKING:
    from . import Sandbox

_FORM = "application/x-www-form-urlencoded"
_SUMMARY = re.compile(r"/reporting/accounts/([^/]+)/summary")
_ROKT_PATHS = frozenset({"/v1/events", "/v1/query/accounts"})
_PARTNERSHIPS_PATHS = frozenset({"/v1/accounts/register/partnership", "/v1/accounts"})


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:  # a 4xx without a registered name
        return "Client Error"


def _oauth_error(status: int, error: str, description: str) -> Reply:
    return Reply.json(status, {"error": error, "error_description": description})


class RoktEmulation(Emulation):
    """Rokt Event API and Reporting API: Basic client credentials, Bearer calls.

    Knobs (also over HTTP: ``POST /_sandbox/rokt`` with a JSON object of them):

    * ``token_field``: the answer's key for the token: ``"access_token"`` as on the
      Reporting page; set ``"Access_token"`` for the Event page's spelling.
    * ``stale_token_status``: the API's status for an expired or revoked token,
      401 by default. The Reporting page says a bad token gets "either a 400 or
      403": set 403 (or 400) for that. Missing and never-issued tokens stay 401.
    * ``forbidden_paths``: API paths (as documented, e.g.
      ``"/reporting/accounts/999/summary"``) that a valid token gets 403 for: an
      account the caller may not read.

    Counters: ``api_403`` counts every 403, ``api_403_stale`` those for a stale token.
    """

    name = "rokt"
    prefix = "rokt"
    token_paths = ("/auth/oauth2/token",)

    def __init__(self, sandbox: Sandbox) -> None:
        super().__init__(sandbox)
        self.app_id = random_credential("sbx", 15)
        self.app_secret = random_credential("", 30)
        self.token_field = "access_token"
        self.stale_token_status = 401
        self.forbidden_paths: set[str] = set()

    def settings(self) -> dict[str, Any]:
        """The knobs ``POST /_sandbox/rokt`` sets, as JSON."""
        return {
            "token_field": self.token_field,
            "stale_token_status": self.stale_token_status,
            "forbidden_paths": sorted(self.forbidden_paths),
        }

    def configure(self, changes: Any) -> None:
        """Apply ``POST /_sandbox/rokt``'s JSON object (knobs it leaves out keep their value).

        Raises:
            ValueError: an unknown knob or a value it cannot take; nothing is changed then.
        """
        if not isinstance(changes, dict):
            raise ValueError("body must be a JSON object of Rokt sandbox settings")
        unknown = sorted(set(changes) - {"token_field", "stale_token_status", "forbidden_paths"})
        if unknown:
            raise ValueError(f"unknown Rokt setting(s) {', '.join(map(repr, unknown))}")
        status = changes.get("stale_token_status", self.stale_token_status)
        if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 499:
            raise ValueError("stale_token_status must be a 4xx status, e.g. 401 or 403")
        field_name = changes.get("token_field", self.token_field)
        if not isinstance(field_name, str) or not field_name:
            raise ValueError("token_field must be a non-empty string")
        paths = changes.get("forbidden_paths", sorted(self.forbidden_paths))
        if not isinstance(paths, list) or not all(isinstance(p, str) and p.startswith("/") for p in paths):
            raise ValueError("forbidden_paths must be a list of API paths starting with '/'")
        self.stale_token_status, self.token_field = status, field_name
        # In place, and never emptied in between: a request meanwhile sees the old or the new set.
        self.forbidden_paths.intersection_update(paths)
        self.forbidden_paths.update(paths)

    def unauthorized(self, why: str) -> Reply:
        """401 as the base class, or ``stale_token_status`` for an expired or revoked token."""
        status = self.stale_token_status if why == "stale" else 401
        if status == 401:
            return super().unauthorized(why)
        self.sandbox.count_event(self.name, f"api_{status}_stale")
        return Reply.json(status, {"error": _phrase(status), "message": f"access token {why}"})

    def token(self, call: Call, path: str) -> Reply:
        """``POST /auth/oauth2/token`` with Basic app credentials and a form body."""
        if call.method != "POST":
            return _oauth_error(405, "invalid_request", "use POST")
        scheme, _, encoded = (call.header("Authorization") or "").partition(" ")
        try:
            app_id, _, app_secret = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            app_id = app_secret = ""
        if scheme.lower() != "basic" or not (
            secrets.compare_digest(app_id, self.app_id) and secrets.compare_digest(app_secret, self.app_secret)
        ):
            return _oauth_error(400, "invalid_client", "Client authentication failed")
        if call.content_type() != _FORM:
            return _oauth_error(400, "invalid_request", "Content-Type must be application/x-www-form-urlencoded")
        if call.form().get("grant_type") != "client_credentials":
            return _oauth_error(400, "unsupported_grant_type", "grant_type must be client_credentials")
        lifetime = self.lifetime()
        value = self.sandbox.issue(self.name, app_id, lifetime)
        return Reply.json(200, {self.token_field: value, "expires_in": seconds_field(lifetime), "token_type": "Bearer"})

    def api(self, call: Call, path: str) -> Reply:
        """``GET /reporting/accounts/{id}/summary``, ``POST /v1/events``, ``GET /v1/query/accounts``."""
        client, refused = self.check_bearer(call)
        if refused is not None:
            return refused
        if path in self.forbidden_paths:
            return Reply.json(403, {"error": "Forbidden", "message": "your credentials have no access to this data"})
        match = _SUMMARY.fullmatch(path)
        if match and call.method == "GET":
            return Reply.json(200, {"accountId": match.group(1), "impressions": 1200, "referrals": 37})
        if path == "/v1/events" and call.method == "POST":
            try:
                events = call.json().get("events", [])
            except (ValueError, AttributeError):
                return Reply.json(400, {"message": "body must be a JSON object with events"})
            return Reply.json(200, {"accepted": len(events)})
        if path == "/v1/query/accounts" and call.method == "GET":
            return Reply.json(200, {"accounts": [{"id": "123", "owner": client}]})
        return self.not_found(call, path)

    def serves(self, path: str) -> bool:
        """The summary, events and accounts paths, and any path set as forbidden."""
        return bool(_SUMMARY.fullmatch(path)) or path in _ROKT_PATHS or path in self.forbidden_paths

    def not_found(self, call: Call, path: str) -> Reply:
        """404 with Rokt's ``message``."""
        return Reply.json(404, {"message": f"no such Rokt endpoint {call.method} {path}"})


def _envelope(status: int, error: str, message: str, request_id: str) -> Reply:
    return Reply.json(
        status,
        {"status": status, "error": error, "message": message, "request_id": request_id, "data": None},
        {"X-Request-Id": request_id},
    )


class RoktPartnershipsEmulation(Emulation):
    """Rokt Partnerships API: credentials in the form body, ~300 s tokens, parent header on writes."""

    name = "rokt_partnerships"
    prefix = "rokt-partnerships"
    token_paths = ("/api/v1/oauth/token",)

    def __init__(self, sandbox: Sandbox) -> None:
        super().__init__(sandbox)
        self.client_id = random_credential("rspub_sbx", 12)
        self.client_secret = random_credential("rsec_sbx", 24)
        self.parent_account_id = "sbx-parent-" + secrets.token_hex(4)

    def token(self, call: Call, path: str) -> Reply:
        """``POST /api/v1/oauth/token`` with ``client_id`` and ``client_secret`` in the form."""
        request_id = secrets.token_hex(8)
        if call.method != "POST":
            return _envelope(405, "BadRequest", "use POST", request_id)
        if call.content_type() != _FORM:
            return _envelope(400, "BadRequest", "content-type must be application/x-www-form-urlencoded", request_id)
        form = call.form()
        if form.get("grant_type") != "client_credentials":
            return _envelope(400, "BadRequest", "grant_type must be client_credentials", request_id)
        if not (
            secrets.compare_digest(form.get("client_id", ""), self.client_id)
            and secrets.compare_digest(form.get("client_secret", ""), self.client_secret)
        ):
            return _envelope(401, "Unauthorized", "invalid client credentials", request_id)
        lifetime = self.lifetime()
        value = self.sandbox.issue(self.name, self.client_id, lifetime)
        return Reply.json(200, {"access_token": value, "token_type": "Bearer", "expires_in": seconds_field(lifetime)})

    def api(self, call: Call, path: str) -> Reply:
        """``POST /v1/accounts/register/partnership`` and ``GET /v1/accounts``."""
        request_id = secrets.token_hex(8)
        _, refused = self.check_bearer(call)
        if refused is not None:
            return refused
        parent = call.header("X-Platform-Parent-Account-Id")
        if call.method in ("POST", "PUT", "PATCH"):
            problem = self._parent_problem(parent)
            if problem:
                return _envelope(422, "ValidationFailed", problem, request_id)
            if path == "/v1/accounts/register/partnership":
                return Reply.json(
                    201,
                    {
                        "status": 201,
                        "request_id": request_id,
                        "data": {"partnership_id": "p-" + secrets.token_hex(4), "parent_account_id": parent},
                    },
                )
        elif call.method == "GET" and path == "/v1/accounts":
            return Reply.json(200, {"status": 200, "request_id": request_id, "data": [], "parent": parent})
        return _envelope(404, "NotFound", f"no such endpoint {call.method} {path}", request_id)

    def serves(self, path: str) -> bool:
        """The partnership registration and accounts paths."""
        return path in _PARTNERSHIPS_PATHS

    def not_found(self, call: Call, path: str) -> Reply:
        """404 in the Partnerships envelope."""
        return _envelope(404, "NotFound", f"no such endpoint {call.method} {path}", secrets.token_hex(8))

    def _parent_problem(self, parent: Optional[str]) -> str:
        # Any non-empty value passes: a caller may act for another account it
        # manages, and the answer echoes the value so tests can see which was sent.
        return "" if parent else "X-Platform-Parent-Account-Id header is required on writes"
