"""The sandbox's control paths (``/_sandbox/...``): its knobs over HTTP, for a sandbox in another process.

``GET /_sandbox/info`` (URLs and demo credentials), ``GET /_sandbox/counts``,
``POST /_sandbox/reset``, ``POST /_sandbox/revoke`` (``?vendor=rokt`` for one
vendor), ``POST /_sandbox/lifetimes`` (JSON seconds per vendor), ``POST
/_sandbox/faults`` (queue a fault: JSON ``{"vendor": ..., "endpoint": ...,
"fault": {"kind": ...}, "times": n}``, see :meth:`Fault.from_dict`; ``GET``
lists pending ones), and ``/_sandbox/{name}`` for an emulation with settings of
its own (``POST /_sandbox/rokt`` with ``{"stale_token_status": 403}``).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, Callable

from ._http import Call, Fault, Reply

if TYPE_CHECKING:
    from . import Sandbox

__all__ = ["ENDPOINTS", "control"]

#: The endpoints faults can be queued for (see Sandbox.add_fault).
ENDPOINTS = ("token", "update", "api")


def control(box: Sandbox, call: Call, path: str) -> Reply:
    """Answer ``/_sandbox{path}``: ``GET`` reads, ``POST`` changes."""
    readers: dict[str, Callable[[], Any]] = {
        "/info": box.info,
        "/counts": lambda: _counts_by_vendor(box),
        "/faults": lambda: _pending_by_vendor(box),
    }
    writers: dict[str, Callable[[Call], Reply]] = {
        "/reset": lambda call: _reset(box),
        "/revoke": lambda call: _revoke(box, call),
        "/lifetimes": lambda call: _lifetimes(box, call),
        "/faults": lambda call: _add_fault(box, call),
    }
    # An emulation with settings of its own (Rokt's stale-token status) has a path of its name.
    for emulation in box.emulations():
        if emulation.settings() is not None:
            readers["/" + emulation.name] = emulation.settings
            writers["/" + emulation.name] = functools.partial(_configure, emulation)
    if path in readers and (call.method == "GET" or path not in writers):
        return Reply.json(200, readers[path]())
    if path not in writers:
        return Reply.json(404, {"error": f"no such control path {path}"})
    if call.method != "POST":
        return Reply.json(405, {"error": "use POST"})
    return writers[path](call)


def _json_body(call: Call) -> Any:
    try:
        return call.json()
    except ValueError:  # JSONDecodeError is one too
        raise ValueError("body must be JSON") from None


def _counts_by_vendor(box: Sandbox) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for (vendor, event), n in box.counts().items():
        counts.setdefault(vendor, {})[event] = n
    return counts


def _pending_by_vendor(box: Sandbox) -> dict[str, dict[str, int]]:
    pending: dict[str, dict[str, int]] = {}
    for (vendor, endpoint), n in box.pending().items():
        if n:
            pending.setdefault(vendor, {})[endpoint] = n
    return pending


def _reset(box: Sandbox) -> Reply:
    box.reset_counts()
    box.clear_faults()
    return Reply.json(200, {"ok": True})


def _revoke(box: Sandbox, call: Call) -> Reply:
    try:
        box.revoke_tokens(call.query.get("vendor"))
    except ValueError as exc:
        return Reply.json(400, {"error": str(exc)})
    return Reply.json(200, {"ok": True})


def _lifetimes(box: Sandbox, call: Call) -> Reply:
    try:
        changes = {str(k): float(v) for k, v in call.json().items()}
    except (ValueError, TypeError, AttributeError):
        return Reply.json(400, {"error": "body must be a JSON object of seconds per vendor"})
    try:
        box.set_lifetimes(changes)
    except ValueError as exc:
        return Reply.json(400, {"error": str(exc)})
    return Reply.json(200, box.lifetimes)


def _configure(emulation: Any, call: Call) -> Reply:
    try:
        emulation.configure(_json_body(call))
    except ValueError as exc:
        return Reply.json(400, {"error": str(exc)})
    return Reply.json(200, emulation.settings())


def _add_fault(box: Sandbox, call: Call) -> Reply:
    # The JSON twin of add_fault(vendor, endpoint, fault, times).
    try:
        spec = _json_body(call)
        if not isinstance(spec, dict):
            raise ValueError("body must be a JSON object with vendor, endpoint, fault and times")
        unknown = sorted(set(spec) - {"vendor", "endpoint", "fault", "times"})
        if unknown:
            raise ValueError(f"unknown field(s) {', '.join(map(repr, unknown))}")
        vendor, endpoint, times = box.emulation(spec.get("vendor")).name, spec.get("endpoint"), spec.get("times", 1)
        if endpoint not in ENDPOINTS:
            raise ValueError(f"endpoint must be one of {', '.join(ENDPOINTS)}")
        if isinstance(times, bool) or not isinstance(times, int) or not 1 <= times <= 10_000:
            raise ValueError("times must be a whole number from 1 to 10000")
        fault = Fault.from_dict(spec.get("fault"))
    except ValueError as exc:
        return Reply.json(400, {"error": str(exc)})
    box.add_fault(vendor, endpoint, fault, times)
    return Reply.json(200, {"ok": True, "pending": box.pending_faults(vendor, endpoint)})
