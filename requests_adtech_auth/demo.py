"""The demo: every flow end to end against the sandbox, through real ``requests`` sessions."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Callable, TextIO

import requests

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


def _calls(session: requests.Session, plan: list[tuple[str, str, dict[str, object]]], out: TextIO) -> bool:
    ok = True
    for method, url, kwargs in plan:
        response = session.request(method, url, timeout=10, **kwargs)  # type: ignore[arg-type]
        replayed = " (401 -> fresh token, replayed once)" if response.history else ""
        out.write(f"    {method:<5} {url.split('/', 4)[-1][:60]:<60} {response.status_code}{replayed}\n")
        ok = ok and response.ok
    return ok


def _rokt(sandbox: Sandbox, out: TextIO) -> FlowResult:
    api = sandbox.rokt.api_url
    plan: list[tuple[str, str, dict[str, object]]] = [
        ("GET", api + "/reporting/accounts/123/summary", {}),
        ("POST", api + "/v1/events", {"json": {"events": [{"eventType": "conversion"}]}}),
        ("GET", api + "/v1/query/accounts", {}),
    ]
    with requests.Session() as session:
        session.auth = sandbox.rokt_auth()
        ok = _calls(session, plan, out)
        out.write("    sandbox revokes every Rokt token (a forced expiry)\n")
        sandbox.revoke_tokens("rokt")
        ok = _calls(session, plan[:1], out) and ok
    return FlowResult("Rokt Event/Reporting", sandbox.count("rokt", "token"), sandbox.count("rokt", "api"), 1, ok)


FLOWS: list[tuple[str, Callable[[Sandbox, TextIO], FlowResult]]] = [
    ("Rokt Event/Reporting API", _rokt),
]


def run_demo(out: TextIO = sys.stdout) -> int:
    """Run every flow against a fresh sandbox, print what happened; 0 if all went well."""
    results = []
    with Sandbox() as sandbox:
        out.write(f"sandbox listening on {sandbox.url} (and {sandbox.storage_url} as a foreign host)\n\n")
        for title, flow in FLOWS:
            out.write(f"{title}\n")
            results.append(flow(sandbox, out))
            out.write("\n")
    header = f"{'vendor':<26} {'token calls':>11} {'API calls':>9} {'renewals':>8}  status"
    out.write(header + "\n" + "-" * len(header) + "\n")
    for r in results:
        out.write(
            f"{r.vendor:<26} {r.token_calls:>11} {r.api_calls:>9} {r.renewals:>8}  {'ok' if r.ok else 'FAILED'}\n"
        )
    return 0 if all(r.ok for r in results) else 1
