"""Digital Turbine Growth Reporting in the sandbox: JSON token request, camelCase answer, signed URLs."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any, TextIO

from ._emulation import Emulation, random_credential, seconds_field
from ._http import Call, Reply

if TYPE_CHECKING:
    import requests
    from requests.auth import AuthBase

    from . import Sandbox


class DigitalTurbineEmulation(Emulation):
    """The DT token endpoint with the page's error table, and reports on a storage host.

    Each row of the table is answered by the request that causes it: 405 for a
    method other than POST; ``{"error": "400 (Bad_Request)"}`` for an empty body or
    another Content-Type; ``invalid_request`` for unparsable JSON, no
    ``grant_type`` or a missing client_id or client_secret;
    ``unsupported_grant_type``; ``invalid_client`` for unknown credentials. The
    page's ``internal_server_error`` comes only from a queued fault.
    """

    name = "digital_turbine"
    prefix = "dt"
    token_paths = ("/auth/v1/token",)
    real_hosts = ("reporting.digitalturbine.com",)
    token_field = "accessToken"
    lifetime_field = "expiresIn"

    def __init__(self, sandbox: Sandbox) -> None:
        super().__init__(sandbox)
        self.client_id = random_credential("sbx", 16)
        self.client_secret = random_credential("", 48)
        self._reports: dict[str, str] = {}

    def auth_arguments(self) -> dict[str, Any]:
        """``client_id``, ``client_secret`` and ``token_url``."""
        return {"client_id": self.client_id, "client_secret": self.client_secret, "token_url": self.token_url}

    def secrets(self) -> list[str]:
        """The client secret."""
        return [self.client_secret]

    def token(self, call: Call, path: str) -> Reply:
        """``POST /auth/v1/token`` with a JSON body; errors as the DT page tabulates them."""
        # The table's rows, in its order. 405's error is "N/A": no body.
        if call.method != "POST":
            return Reply(405, b"", {"Allow": "POST"})
        if not call.body or call.content_type() != "application/json":
            return Reply.json(400, {"error": "400 (Bad_Request)"})  # the table's error column, verbatim
        try:
            document: Any = call.json()
        except ValueError:
            return Reply.json(400, {"error": "invalid_request"})
        if not isinstance(document, dict) or "grant_type" not in document:
            return Reply.json(400, {"error": "invalid_request"})
        if document["grant_type"] != "client_credentials":
            return Reply.json(400, {"error": "unsupported_grant_type"})
        client_id, client_secret = document.get("client_id"), document.get("client_secret")
        if not isinstance(client_id, str) or not isinstance(client_secret, str) or not client_id or not client_secret:
            return Reply.json(400, {"error": "invalid_request"})
        if not (
            secrets.compare_digest(client_id, self.client_id)
            and secrets.compare_digest(client_secret, self.client_secret)
        ):
            return Reply.json(400, {"error": "invalid_client"})
        lifetime = self.lifetime()
        value = self.sandbox.issue(self.name, client_id, lifetime)
        return Reply.json(200, {"accessToken": value, "tokenType": "bearer", "expiresIn": seconds_field(lifetime)})

    def api(self, call: Call, path: str) -> Reply:
        """``POST /api/v1/report``: answers a ``signed_url`` on the storage host."""
        _, refused = self.check_bearer(call)
        if refused is not None:
            return refused
        if path == "/api/v1/report" and call.method == "POST":
            report_id = secrets.token_hex(6)
            signature = secrets.token_hex(16)
            self._reports[signature] = report_id
            url = f"{self.sandbox.storage_url}/reports/{report_id}.csv?X-Signature={signature}&X-Expires=300"
            return Reply.json(200, {"status": "COMPLETED", "report_id": report_id, "signed_url": url})
        return self.not_found(call, path)

    def serves(self, path: str) -> bool:
        """The report path."""
        return path == "/api/v1/report"

    def not_found(self, call: Call, path: str) -> Reply:
        """404 as DT's gateway answers it."""
        return Reply.json(404, {"error": "not_found"})

    def storage(self, call: Call) -> Reply:
        """The storage host: a pre-signed URL refuses any request carrying a second credential."""
        if call.header("Authorization") is not None:
            return Reply(
                400,
                b"<Error><Code>InvalidArgument</Code><Message>Only one auth mechanism allowed</Message></Error>",
                {"Content-Type": "application/xml"},
            )
        if call.path.startswith("/reports/"):
            report_id = self._reports.get(call.query.get("X-Signature", ""))
            if report_id is None or call.path != f"/reports/{report_id}.csv":
                return Reply(
                    403, b"<Error><Code>SignatureDoesNotMatch</Code></Error>", {"Content-Type": "application/xml"}
                )
            return Reply(200, b"date,app,installs\n2026-11-01,sbx,42\n", {"Content-Type": "text/csv"})
        return Reply.json(200, {"ok": True})


def demo_download(session: requests.Session, sandbox: Sandbox, auth: AuthBase, out: TextIO) -> bool:
    """The demo's extra step: fetch a report's pre-signed URL, which gets no credential."""
    from ..demo import show_call

    report = session.post(sandbox.digital_turbine.api_url + "/api/v1/report", json={}, timeout=10)
    signed_url = report.json()["signed_url"]
    csv = session.get(signed_url, timeout=10)
    show_call(out, "GET", f"signed_url on {signed_url.split('/')[2]}", csv, " (no Authorization sent)")
    return csv.ok
