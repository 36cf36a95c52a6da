"""Digital Turbine Growth Reporting in the sandbox: JSON token request, camelCase answer, signed URLs."""

from __future__ import annotations

import datetime
import secrets
import threading
import time
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
        #: Signature -> [report id, polls left before the file is there].
        self._reports: dict[str, list[Any]] = {}
        self._lock = threading.Lock()
        #: How many polls of a report's URL find it not ready yet (it is produced asynchronously).
        self.polls_until_ready = 2
        #: What a poll gets before the file is there: 200 with an empty body, or 404.
        self.pending_status = 200
        #: The answer's key for the report URL: ``signed_url`` (one public client) or ``url`` (DT's sibling API).
        self.url_field = "signed_url"

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
        """``POST /api/v1/report``: validates the query, answers a pre-signed URL on the storage host."""
        _, refused = self.check_bearer(call)
        if refused is not None:
            return refused
        if path != "/api/v1/report" or call.method != "POST":
            return self.not_found(call, path)
        problem = _report_problem(call)
        if problem:
            return Reply.json(400, {"error": "Bad_Request", "error_description": problem})
        report_id, signature = secrets.token_hex(6), secrets.token_hex(16)
        with self._lock:
            self._reports[signature] = [report_id, self.polls_until_ready]
        url = f"{self.sandbox.storage_url}/reports/{report_id}.csv?X-Signature={signature}&X-Expires=3600"
        return Reply.json(200, {"status": "SUBMITTED", "report_id": report_id, self.url_field: url})

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
            with self._lock:
                report = self._reports.get(call.query.get("X-Signature", ""))
                if report is None or call.path != f"/reports/{report[0]}.csv":
                    return Reply(
                        403, b"<Error><Code>SignatureDoesNotMatch</Code></Error>", {"Content-Type": "application/xml"}
                    )
                report[1] -= 1
                pending = report[1] >= 0
            if pending:  # produced asynchronously: not there yet
                return (
                    Reply(404, b"<Error><Code>NoSuchKey</Code></Error>", {"Content-Type": "application/xml"})
                    if (self.pending_status == 404)
                    else Reply(200, b"", {"Content-Type": "text/csv"})
                )
            return Reply(200, b"Date,Country,Installs\n2026-11-01,US,42\n", {"Content-Type": "text/csv"})
        return Reply.json(200, {"ok": True})


def demo_download(session: requests.Session, sandbox: Sandbox, auth: AuthBase, out: TextIO) -> bool:
    """The demo's extra step: poll a report's pre-signed URL, which gets no credential, until the file is there."""
    from ..demo import show_call
    from ..digital_turbine import REPORT_EXAMPLE

    report = session.post(sandbox.digital_turbine.api_url + "/api/v1/report", json=REPORT_EXAMPLE, timeout=10)
    answer = report.json()
    url = answer.get("signed_url") or answer.get("url")
    for _ in range(10):  # the sandbox makes the file after a few polls; DT's within an hour
        csv = session.get(url, timeout=10)
        ready = csv.ok and bool(csv.content)
        show_call(
            out,
            "GET",
            f"report URL on {url.split('/')[2]}",
            csv,
            " (no Authorization sent)" + ("" if ready else ", not ready"),
        )
        if ready:
            return True
        time.sleep(0.05)
    return False


#: The longest period one report may cover (DT's report endpoint page).
MAX_REPORT_DAYS = 90


def _report_problem(call: Call) -> str:
    """What is wrong with a report request's body, as DT's report endpoint page describes it ("" if nothing)."""
    try:
        document = call.json()
    except ValueError:
        return "the body is not JSON"
    if not isinstance(document, dict) or document.get("product") != "dtgrowth":
        return 'product must be "dtgrowth"'
    query = document.get("query")
    if not isinstance(query, dict):
        return "query must be an object"
    dates = query.get("dateRange")
    try:
        assert isinstance(dates, dict)
        start = datetime.date.fromisoformat(dates["start"])
        end = datetime.date.fromisoformat(dates["end"])
    except (AssertionError, TypeError, KeyError, ValueError):
        return "query.dateRange must be {start, end} as YYYY-MM-DD dates"
    if not 0 <= (end - start).days < MAX_REPORT_DAYS:
        return f"query.dateRange must run forward and cover at most {MAX_REPORT_DAYS} days"
    metrics = query.get("metrics")
    if not isinstance(metrics, list) or not metrics or not all(isinstance(m, str) for m in metrics):
        return "query.metrics must be a non-empty list of metric names"
    for name in ("splits", "filters"):
        if not isinstance(query.get(name, []), list):
            return f"query.{name} must be a list"
    if query.get("reportFormat") != "csv":
        return 'query.reportFormat must be "csv"'
    return ""
