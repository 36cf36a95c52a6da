"""The demo: every registered flow end to end against the sandbox, through real ``requests`` sessions."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TextIO

import requests

from . import registry
from .sandbox import Sandbox

__all__ = ["FlowResult", "run_demo", "show_call"]


@dataclass(frozen=True)
class FlowResult:
    """What one flow did in the demo."""

    vendor: str
    token_calls: int
    api_calls: int
    renewals: int
    ok: bool


def show_call(out: TextIO, method: str, what: str, response: requests.Response, note: str = "") -> None:
    """One line of the demo's log: method, path (or host), status, and what happened."""
    replayed = " (401 -> fresh token, replayed once)" if response.history else ""
    out.write(f"    {method:<5} {what[:60]:<60} {response.status_code}{replayed}{note}\n")


def _calls(session: requests.Session, base_url: str, calls: tuple[registry.ApiCall, ...], out: TextIO) -> bool:
    ok = True
    for call in calls:
        response = call.send(session, base_url)
        show_call(out, call.method, call.path.lstrip("/"), response)
        ok = ok and response.ok
    return ok


def _run_flow(sandbox: Sandbox, out: TextIO, vendor: registry.Vendor) -> FlowResult:
    """Run the flow's calls (and its extra steps), force an expiry (revoke every token), run the first again."""
    emulation = sandbox.emulation(vendor.name)
    tokens_before, api_before = sandbox.count(emulation.name, "token"), sandbox.count(emulation.name, "api")
    auth = sandbox.auth(vendor.name)
    with requests.Session() as session:
        session.auth = auth
        ok = _calls(session, emulation.api_url, vendor.calls, out)
        if vendor.demo_extra is not None:
            ok = registry.load(vendor.demo_extra)(session, sandbox, auth, out) and ok
        if emulation.token_paths and sandbox.count(emulation.name, "token") == tokens_before:
            out.write("    (one credential, one token: an earlier flow's token served these calls)\n")
        if emulation.token_paths:  # a key flow has no token to expire
            out.write("    sandbox revokes every token (a forced expiry)\n")
            sandbox.revoke_tokens(emulation.name)
        tokens_at_expiry = sandbox.count(emulation.name, "token")
        ok = _calls(session, emulation.api_url, vendor.calls[:1], out) and ok
    tokens_after = sandbox.count(emulation.name, "token")
    return FlowResult(
        vendor.title,
        tokens_after - tokens_before,
        sandbox.count(emulation.name, "api") - api_before,
        tokens_after - tokens_at_expiry,
        ok,
    )


def run_demo(out: TextIO = sys.stdout) -> int:
    """Run every flow with an emulation and calls against a fresh sandbox, print what happened; 0 if all went well."""
    results = []
    with Sandbox() as sandbox:
        out.write(f"sandbox listening on {sandbox.url} (and {sandbox.storage_url} as a foreign host)\n\n")
        for vendor in registry.vendors():
            if vendor.emulation is None or not vendor.calls:
                continue
            out.write(f"{vendor.title} ({vendor.auth.__name__})\n")
            results.append(_run_flow(sandbox, out, vendor))
            out.write("\n")
    width = max([26, *(len(r.vendor) for r in results)])
    header = f"{'vendor':<{width}} {'token calls':>11} {'API calls':>9} {'renewals':>8}  status"
    out.write(header + "\n" + "-" * len(header) + "\n")
    for r in results:
        out.write(
            f"{r.vendor:<{width}} {r.token_calls:>11} {r.api_calls:>9} {r.renewals:>8}  {'ok' if r.ok else 'FAILED'}\n"
        )
    return 0 if all(r.ok for r in results) else 1
