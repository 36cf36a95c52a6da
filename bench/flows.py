"""The flows the hook and import rows measure, read from the vendor registry.

Every registered flow with a sandbox emulation gets a row, so a flow another
package registers shows up without editing bench/. Flows that only rename
another (the same token flow on the same emulation, as RoktEventAuth renames
RoktAuth) share its row.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import requests
from contenders import PEER_FLOW
from remote_sandbox import RemoteSandbox

from requests_adtech_auth import registry
from requests_adtech_auth.core import TokenAuth
from requests_adtech_auth.registry import Vendor


class Flow(NamedTuple):
    label: str  # the auth class's vendor, and the classes that only rename it
    vendor: Vendor  # the first registered of the flows in the row
    arguments: dict[str, Any]  # the constructor arguments that point it at the sandbox
    url: str  # a URL the auth object allows (prepared, never sent)

    def build(self) -> TokenAuth:
        return self.vendor.auth(**self.arguments)

    def prepared(self) -> requests.PreparedRequest:
        """A GET of ``url`` as a Session prepares it (its default headers), with no auth and no .netrc.

        A GET for every flow, whatever its documented calls send: a body adds
        headers, and the size of the header dict moves what setting one costs.
        """
        session = requests.Session()
        session.trust_env = False
        return session.prepare_request(requests.Request("GET", self.url))


def flows(box: RemoteSandbox) -> list[Flow]:
    """One flow per row: the peers' flow first, then the others in the registry's order."""
    rows: dict[tuple[str, str], list[Vendor]] = {}
    for vendor in registry.vendors():
        if vendor.emulation is not None:
            rows.setdefault((vendor.emulation, vendor.auth._token_flow), []).append(vendor)
    found = [_flow(box, row) for row in rows.values()]
    return sorted(found, key=lambda flow: flow.vendor.name != PEER_FLOW)


def _flow(box: RemoteSandbox, row: list[Vendor]) -> Flow:
    first, *renames = row
    label = first.auth.vendor
    if renames:
        label += f" (= {', '.join(v.auth.__name__ for v in renames)})"
    path = next((call.path for v in row for call in v.calls), "/")  # its first documented call's
    info = box.emulation_info(first)
    arguments = box.auth_arguments(first)
    hosts = first.auth(**arguments).hosts
    # The vendor's own host where the object allows it, as users call it; else the sandbox's.
    bases = [f"https://{host}" for host in info["real_hosts"] if host in hosts] + [info["api_url"]]
    return Flow(label, first, arguments, bases[0] + path)
