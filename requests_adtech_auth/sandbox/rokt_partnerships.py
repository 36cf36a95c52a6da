"""Rokt Partnerships in the sandbox: credentials in the form body, ~300 s tokens, the parent header on writes."""

from __future__ import annotations

import secrets
import threading
from typing import TYPE_CHECKING, Any, Optional
from urllib.parse import urlsplit

from ._emulation import Emulation, random_credential, seconds_field
from ._http import Call, Reply

if TYPE_CHECKING:
    from . import Sandbox

_FORM = "application/x-www-form-urlencoded"
_PARTNERSHIPS_PATHS = frozenset({"/v1/accounts/register/partnership", "/v1/accounts"})
_OPERATIONS = "/v1/partnership/operations/"


def _envelope(status: int, error: str, message: str, request_id: str) -> Reply:
    return Reply.json(
        status,
        {"status": status, "error": error, "message": message, "request_id": request_id, "data": None},
        {"X-Request-Id": request_id},
    )


class RoktPartnershipsEmulation(Emulation):
    """Rokt Partnerships API: credentials in the form body, ~300 s tokens, parent header on writes.

    Writes (POST, PUT, PATCH) validate as the Partnerships pages describe them: an
    ``Idempotency-Key`` (400 without; the same key again gets the first answer),
    ``X-Platform-Parent-Account-Id`` (422 without), and ``X-Operation-Id`` on every
    answer, which ``GET /v1/partnership/operations/{id}`` reports on. Registration
    needs ``external_account_id``, ``store_url`` with its scheme and
    ``vertical_ids`` (422 ``ValidationFailed`` naming what is missing; the field
    names are this sandbox's reading of the pages). :meth:`refuse_key` makes a key
    answer 409.
    """

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
        self._lock = threading.Lock()
        self._answers: dict[tuple[str, str], Reply] = {}
        self._operations: dict[str, dict[str, str]] = {}
        self._refused_keys: set[str] = set()
        #: Record a write's Idempotency-Key even when its token is refused, so that the
        #: replay with a fresh token gets 409 (the pages do not say whether Rokt does).
        self.record_refused_keys = False

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
        """Registration, the accounts list and operation status; every write answers ``X-Operation-Id``."""
        request_id = secrets.token_hex(8)
        _, refused = self.check_bearer(call)
        if refused is not None:
            if self.record_refused_keys and call.header("Idempotency-Key"):
                self.refuse_key(call.header("Idempotency-Key") or "")
            return refused
        parent = call.header("X-Platform-Parent-Account-Id")
        if call.method not in ("POST", "PUT", "PATCH"):
            if path == "/v1/accounts":
                return Reply.json(200, {"status": 200, "request_id": request_id, "data": [], "parent": parent})
            operation = self._operations.get(path.rpartition("/")[2])
            if path.startswith(_OPERATIONS) and operation is not None:
                return Reply.json(200, {"status": 200, "request_id": request_id, "data": operation})
            return self.not_found(call, path)
        # A write: an operation id on every answer, errors included (the operation-polling page).
        operation_id = "op-" + secrets.token_hex(6)
        reply = self._write(call, path, parent, request_id, operation_id)
        return Reply(reply.status, reply.body, {**reply.headers, "X-Operation-Id": operation_id})

    def _write(self, call: Call, path: str, parent: Optional[str], request_id: str, operation_id: str) -> Reply:
        key = call.header("Idempotency-Key") or ""
        if not key:
            return _envelope(400, "BadRequest", "Idempotency-Key header is required on writes", request_id)
        if not parent:
            return _envelope(422, "ValidationFailed", "X-Platform-Parent-Account-Id header is required", request_id)
        with self._lock:
            if key in self._refused_keys:
                return _envelope(409, "Conflict", "this Idempotency-Key was used for another request", request_id)
            earlier = self._answers.get((parent, key))
        if earlier is not None:  # the same write again: its first answer (keys are kept ~24 h)
            return earlier
        if path != "/v1/accounts/register/partnership":
            return self.not_found(call, path)
        problem = _registration_problem(call)
        if problem:
            return _envelope(422, "ValidationFailed", problem, request_id)
        data = {
            "partnership_id": "p-" + secrets.token_hex(4),
            "parent_account_id": parent,
            "operation_id": operation_id,
        }
        reply = Reply.json(201, {"status": 201, "request_id": request_id, "data": data})
        with self._lock:
            self._answers[(parent, key)] = reply
            self._operations[operation_id] = {"id": operation_id, "status": "completed"}
        return reply

    def serves(self, path: str) -> bool:
        """The partnership registration, accounts and operation paths."""
        return path in _PARTNERSHIPS_PATHS or path.startswith(_OPERATIONS)

    def not_found(self, call: Call, path: str) -> Reply:
        """404 in the Partnerships envelope."""
        return _envelope(404, "NotFound", f"no such endpoint {call.method} {path}", secrets.token_hex(8))

    def refuse_key(self, key: str) -> None:
        """Answer a write that carries ``key`` with 409 (a key Rokt recorded for another request)."""
        with self._lock:
            self._refused_keys.add(key)


def _registration_problem(call: Call) -> str:
    """What a registration body lacks: ``external_account_id``, a store URL with its scheme, vertical ids."""
    try:
        document = call.json()
    except ValueError:
        return "the body is not JSON"
    if not isinstance(document, dict):
        return "the body must be a JSON object"
    problems = []
    if not isinstance(document.get("external_account_id"), str) or not document["external_account_id"]:
        problems.append("external_account_id is required")
    store_url = document.get("store_url")
    if not isinstance(store_url, str) or urlsplit(store_url).scheme not in ("http", "https") or "." not in store_url:
        problems.append("store_url must be a URL with its scheme (https://...)")
    verticals = document.get("vertical_ids")
    if not isinstance(verticals, list) or not verticals or not all(isinstance(v, (int, str)) for v in verticals):
        problems.append("vertical_ids must be a non-empty list of vertical ids")
    return "; ".join(problems)
