"""The demo: every flow end to end against the sandbox, through real ``requests`` sessions."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Callable, TextIO

import requests
from requests.auth import AuthBase

from .rokt import RoktEventAuth, RoktReportingAuth
from .sandbox import Sandbox

__all__ = ["FlowResult", "run_demo"]


@dataclass(frozen=True)
class FlowResult:
    """What one flow did in the demo."""

    vendor: str
    token_calls: int
    api_calls: int
    renewals: int
    ok: bool


#: API calls to make: (method, URL, keyword arguments for requests).
Plan = list[tuple[str, str, dict[str, object]]]


def _calls(session: requests.Session, plan: Plan, out: TextIO) -> bool:
    ok = True
    for method, url, kwargs in plan:
        response = session.request(method, url, timeout=10, **kwargs)  # type: ignore[arg-type]
        replayed = " (401 -> fresh token, replayed once)" if response.history else ""
        out.write(f"    {method:<5} {url.split('/', 4)[-1][:60]:<60} {response.status_code}{replayed}\n")
        ok = ok and response.ok
    return ok


def _run_flow(
    sandbox: Sandbox,
    out: TextIO,
    vendor: str,
    title: str,
    auth: AuthBase,
    plan: Plan,
    after_expiry: Plan,
    extra: Callable[[requests.Session], bool] = lambda session: True,
) -> FlowResult:
    """Run ``plan``, force an expiry (the sandbox revokes every token), run ``after_expiry``."""
    tokens_before, api_before = sandbox.count(vendor, "token"), sandbox.count(vendor, "api")
    with requests.Session() as session:
        session.auth = auth
        ok = _calls(session, plan, out)
        ok = extra(session) and ok
        out.write("    sandbox revokes every token (a forced expiry)\n")
        sandbox.revoke_tokens(vendor)
        tokens_at_expiry = sandbox.count(vendor, "token")
        ok = _calls(session, after_expiry, out) and ok
    tokens_after = sandbox.count(vendor, "token")
    return FlowResult(
        title,
        tokens_after - tokens_before,
        sandbox.count(vendor, "api") - api_before,
        tokens_after - tokens_at_expiry,
        ok,
    )


def _rokt_event(sandbox: Sandbox, out: TextIO) -> FlowResult:
    e = sandbox.rokt
    auth = RoktEventAuth(e.app_id, e.app_secret, token_url=e.token_url)
    events: Plan = [("POST", e.api_url + "/v1/events", {"json": {"events": [{"eventType": "conversion"}]}})]
    return _run_flow(sandbox, out, "rokt", "Rokt Event API", auth, events * 3, events)


def _rokt_reporting(sandbox: Sandbox, out: TextIO) -> FlowResult:
    e = sandbox.rokt
    auth = RoktReportingAuth(e.app_id, e.app_secret, token_url=e.token_url)
    out.write("    (one credential, one token: the Event API's token serves these calls)\n")
    plan: Plan = [
        ("GET", e.api_url + "/reporting/accounts/123/summary", {}),
        ("GET", e.api_url + "/v1/query/accounts", {}),
    ]
    return _run_flow(sandbox, out, "rokt", "Rokt Reporting API", auth, plan, plan[:1])


def _rokt_partnerships(sandbox: Sandbox, out: TextIO) -> FlowResult:
    api = sandbox.rokt_partnerships.api_url
    plan: Plan = [
        ("POST", api + "/v1/accounts/register/partnership", {"json": {"merchant": "demo-shop"}}),
        ("GET", api + "/v1/accounts", {}),
    ]
    auth = sandbox.rokt_partnerships_auth()
    return _run_flow(sandbox, out, "rokt_partnerships", "Rokt Partnerships API", auth, plan, plan[:1])


def _digital_turbine(sandbox: Sandbox, out: TextIO) -> FlowResult:
    report: Plan = [("POST", sandbox.digital_turbine.api_url + "/api/v1/report", {"json": {"metrics": ["installs"]}})]

    def download(session: requests.Session) -> bool:
        signed_url = session.post(report[0][1], json={}, timeout=10).json()["signed_url"]
        csv = session.get(signed_url, timeout=10)
        out.write(f"    GET   signed_url on {signed_url.split('/')[2]:<46} {csv.status_code} (no Authorization sent)\n")
        return csv.ok

    auth = sandbox.digital_turbine_auth()
    return _run_flow(sandbox, out, "digital_turbine", "Digital Turbine Reporting", auth, report, report, download)


def _algonomy(sandbox: Sandbox, out: TextIO) -> FlowResult:
    api = sandbox.algonomy.api_url + "/api/v1/profile/b2b/"
    auth = sandbox.algonomy_auth(["basic"])

    def widen(session: requests.Session) -> bool:
        auth.add_resources("segments")
        out.write("    add_resources('segments'): the live token was updated, not replaced\n")
        return _calls(session, [("POST", api + "segments", {"json": {"customerId": "c1"}})], out)

    plan: Plan = [("POST", api + "basic", {"json": {"customerId": "c1"}})]
    return _run_flow(sandbox, out, "algonomy", "Algonomy Real-time CDP", auth, plan, plan, widen)


FLOWS: list[Callable[[Sandbox, TextIO], FlowResult]] = [
    _rokt_event,
    _rokt_reporting,
    _rokt_partnerships,
    _digital_turbine,
    _algonomy,
]


def run_demo(out: TextIO = sys.stdout) -> int:
    """Run every flow against a fresh sandbox, print what happened; 0 if all went well."""
    results = []
    with Sandbox() as sandbox:
        out.write(f"sandbox listening on {sandbox.url} (and {sandbox.storage_url} as a foreign host)\n\n")
        for flow in FLOWS:
            out.write(f"{flow.__name__.strip('_').replace('_', ' ').title()}\n")
            results.append(flow(sandbox, out))
            out.write("\n")
    header = f"{'vendor':<26} {'token calls':>11} {'API calls':>9} {'renewals':>8}  status"
    out.write(header + "\n" + "-" * len(header) + "\n")
    for r in results:
        out.write(
            f"{r.vendor:<26} {r.token_calls:>11} {r.api_calls:>9} {r.renewals:>8}  {'ok' if r.ok else 'FAILED'}\n"
        )
    return 0 if all(r.ok for r in results) else 1
