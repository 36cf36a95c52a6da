"""Rokt in the sandbox: the Event and Reporting APIs' token flow and API."""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import threading
import uuid
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from ._emulation import Emulation, random_credential, seconds_field
from ._http import Call, Reply

if TYPE_CHECKING:
    from . import Sandbox

_FORM = "application/x-www-form-urlencoded"
_SUMMARY = re.compile(r"/reporting/accounts/([^/]+)/summary")
#: What the account summary needs (docs.rokt.com, reporting/get-account-summary).
_SUMMARY_PARAMETERS = ("dateStart", "dateEnd", "currency", "timeZoneVariation")
#: What every event carries, and the API versions the Event API takes ("": the latest).
_EVENT_FIELDS = ("accountId", "clientEventId", "eventTime", "eventType")
_EVENT_VERSIONS = frozenset({"", "2020-05-21"})
_ROKT_PATHS = frozenset({"/v1/events", "/v1/query/accounts"})


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:  # a 4xx without a registered name
        return "Client Error"


def _oauth_error(status: int, error: str, description: str) -> Reply:
    return Reply.json(status, {"error": error, "error_description": description})


def _rokt_error(status: int, code: str, message: str) -> Reply:
    return Reply.json(status, {"code": code, "message": message})


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
    * ``record_refused_keys``: keep an event call's ``Idempotency-Key`` even when
      its token is refused, so the replay with a fresh token gets 409. Off by
      default: Rokt does not document what it does.

    The API validates as Rokt documents it: ``POST /v1/events`` needs
    ``Rokt-Version`` (``2020-05-21``, or empty for the latest), an
    ``Idempotency-Key`` UUID that was not used before (409 for a reused one) and
    1 to 100 events, each with ``accountId``, ``clientEventId``, ``eventTime`` and
    ``eventType``; the account summary needs ``dateStart``, ``dateEnd``,
    ``currency`` and ``timeZoneVariation``. Errors carry Rokt's ``code``
    (``RequestJsonUnmarshalError``, ``RequestValidationError``) and ``message``.

    Counters: ``api_403`` counts every 403, ``api_403_stale`` those for a stale token.
    """

    name = "rokt"
    prefix = "rokt"
    token_paths = ("/auth/oauth2/token",)
    real_hosts = ("api.rokt.com",)

    def __init__(self, sandbox: Sandbox) -> None:
        super().__init__(sandbox)
        self.app_id = random_credential("sbx", 15)
        self.app_secret = random_credential("", 30)
        self.token_field = "access_token"
        self.stale_token_status = 401
        self.forbidden_paths: set[str] = set()
        #: Record an event call's Idempotency-Key even when its token is refused, so
        #: that the replay with a fresh token gets 409 (Rokt does not say whether it does).
        self.record_refused_keys = False
        self._seen_keys: set[str] = set()
        self._keys_lock = threading.Lock()

    def auth_arguments(self) -> dict[str, Any]:
        """``app_id``, ``app_secret`` and ``token_url``."""
        return {"app_id": self.app_id, "app_secret": self.app_secret, "token_url": self.token_url}

    def secrets(self) -> list[str]:
        """The app secret."""
        return [self.app_secret]

    def settings(self) -> dict[str, Any]:
        """The knobs ``POST /_sandbox/rokt`` sets, as JSON."""
        return {
            "token_field": self.token_field,
            "stale_token_status": self.stale_token_status,
            "forbidden_paths": sorted(self.forbidden_paths),
            "record_refused_keys": self.record_refused_keys,
        }

    def configure(self, changes: Any) -> None:
        """Apply ``POST /_sandbox/rokt``'s JSON object (knobs it leaves out keep their value).

        Raises:
            ValueError: an unknown knob or a value it cannot take; nothing is changed then.
        """
        if not isinstance(changes, dict):
            raise ValueError("body must be a JSON object of Rokt sandbox settings")
        unknown = sorted(set(changes) - {"token_field", "stale_token_status", "forbidden_paths", "record_refused_keys"})
        if unknown:
            raise ValueError(f"unknown Rokt setting(s) {', '.join(map(repr, unknown))}")
        status = changes.get("stale_token_status", self.stale_token_status)
        if status not in (400, 401, 403) or isinstance(status, bool):
            raise ValueError("stale_token_status must be 401, 403 or 400 (what Rokt's pages name)")
        field_name = changes.get("token_field", self.token_field)
        if not isinstance(field_name, str) or not field_name:
            raise ValueError("token_field must be a non-empty string")
        paths = changes.get("forbidden_paths", sorted(self.forbidden_paths))
        if not isinstance(paths, list) or not all(isinstance(p, str) and p.startswith("/") for p in paths):
            raise ValueError("forbidden_paths must be a list of API paths starting with '/'")
        record = changes.get("record_refused_keys", self.record_refused_keys)
        if not isinstance(record, bool):
            raise ValueError("record_refused_keys must be true or false")
        self.stale_token_status, self.token_field, self.record_refused_keys = status, field_name, record
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
            if self.record_refused_keys and path == "/v1/events":
                self._seen_keys.add(call.header("Idempotency-Key") or "")
            return refused
        if path in self.forbidden_paths:
            return Reply.json(403, {"error": "Forbidden", "message": "your credentials have no access to this data"})
        match = _SUMMARY.fullmatch(path)
        if match and call.method == "GET":
            missing = [name for name in _SUMMARY_PARAMETERS if not call.query.get(name)]
            if missing:
                return _rokt_error(400, "RequestValidationError", f"missing query parameter(s): {', '.join(missing)}")
            return Reply.json(200, {"accountId": match.group(1), "impressions": 1200, "referrals": 37})
        if path == "/v1/events" and call.method == "POST":
            return self._events(call)
        if path == "/v1/query/accounts" and call.method == "GET":
            return Reply.json(200, {"accounts": [{"id": "123", "owner": client}]})
        return self.not_found(call, path)

    def _events(self, call: Call) -> Reply:
        # The Event API's checks in the order its errors page lists them: headers, body, events.
        version = call.header("Rokt-Version")
        if version is None or version not in _EVENT_VERSIONS:  # "" asks for the latest
            return _rokt_error(
                400, "RequestValidationError", "Rokt-Version must be 2020-05-21 (or empty for the latest)"
            )
        key = call.header("Idempotency-Key") or ""
        try:
            uuid.UUID(key)
        except ValueError:
            return _rokt_error(400, "RequestValidationError", "Idempotency-Key must be a UUID")
        try:
            document = call.json()
        except ValueError:
            return _rokt_error(400, "RequestJsonUnmarshalError", "the body is not JSON")
        events = document.get("events") if isinstance(document, dict) else None
        if not isinstance(events, list) or not 1 <= len(events) <= 100:
            return _rokt_error(400, "RequestValidationError", "events must be a list of 1 to 100 events")
        for index, event in enumerate(events):
            absent = [name for name in _EVENT_FIELDS if not isinstance(event, dict) or not event.get(name)]
            if absent:
                return _rokt_error(400, "RequestValidationError", f"events[{index}] lacks {', '.join(absent)}")
        with self._keys_lock:
            if key in self._seen_keys:
                return _rokt_error(409, "Conflict", "this Idempotency-Key was used before (keys are kept 3 hours)")
            self._seen_keys.add(key)
        return Reply.json(200, {"unprocessedRecords": []})

    def serves(self, path: str) -> bool:
        """The summary, events and accounts paths, and any path set as forbidden."""
        return bool(_SUMMARY.fullmatch(path)) or path in _ROKT_PATHS or path in self.forbidden_paths

    def not_found(self, call: Call, path: str) -> Reply:
        """404 with Rokt's ``message``."""
        return Reply.json(404, {"message": f"no such Rokt endpoint {call.method} {path}"})
