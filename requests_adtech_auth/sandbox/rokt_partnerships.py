"""Rokt Partnerships in the sandbox: credentials in the form body, ~300 s tokens, the parent header on writes."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any, Optional

from ._emulation import Emulation, random_credential, seconds_field
from ._http import Call, Reply

if TYPE_CHECKING:
    from . import Sandbox

_FORM = "application/x-www-form-urlencoded"
_PARTNERSHIPS_PATHS = frozenset({"/v1/accounts/register/partnership", "/v1/accounts"})


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
    real_hosts = ("auth.rokt.com", "accounts.rokt.com")
    documented_lifetime = 300.0

    def __init__(self, sandbox: Sandbox) -> None:
        super().__init__(sandbox)
        self.client_id = random_credential("rspub_sbx", 12)
        self.client_secret = random_credential("rsec_sbx", 24)
        self.parent_account_id = "sbx-parent-" + secrets.token_hex(4)

    def auth_arguments(self) -> dict[str, Any]:
        """``client_id``, ``client_secret``, ``parent_account_id`` and ``token_url``."""
        return {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "parent_account_id": self.parent_account_id,
            "token_url": self.token_url,
        }

    def secrets(self) -> list[str]:
        """The client secret."""
        return [self.client_secret]

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
