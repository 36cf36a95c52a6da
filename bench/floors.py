"""The floors of the hook rows: hooks that do a flow's work and nothing else, as cheaply as Python allows.

A flow's work is read off its warm auth object (:func:`work_of`), never written
down per vendor: the constant headers it sets on a request, those of them it
leaves alone when the caller set them, the URL prefixes its hot path accepts and
when its token is due. From that, :func:`pieces` builds the floor (the constant
headers alone), the floor plus each per-request check alone, and the checks
floor (every check, nothing else). Each hook is generated as straight-line code
with every name and value a closure cell, the cheapest loads Python has, so a
flow with any number of headers gets a floor as tight as a hand-written one. For
Rokt Partnerships, for instance, the checks floor's ``__call__`` is::

    if (r.url or "").startswith(prefixes) and monotonic() < refresh_at:
        headers = r.headers
        headers[name0] = value0
        try:
            headers[name1]
        except KeyError:
            headers[name1] = value1
    r.hooks["response"].append(response_hook)
    return r
"""

from __future__ import annotations

import time
from typing import Any, NamedTuple

import requests
from requests.auth import AuthBase

from requests_adtech_auth.core import TokenAuth

FLOOR = "floor"
CHECKS_FLOOR = "checks floor"
_HOST_CHECK = '(r.url or "").startswith(prefixes)'
_EXPIRY_CHECK = "monotonic() < refresh_at"
_RESPONSE_HOOK = 'r.hooks["response"].append(response_hook)'
#: What a caller's own value of a credential header looks like in :func:`work_of`'s probe.
_CALLERS_VALUE = "set-by-the-caller"


class FlowWork(NamedTuple):
    """What a flow's hook does on every request with a warm token."""

    headers: dict[str, str]  # the constant headers it sets
    kept: tuple[str, ...]  # those of them it leaves alone when the request has them already
    prefixes: tuple[str, ...]  # the URL prefixes its host check accepts
    refresh_at: float  # the time.monotonic() at which its token is due for renewal


def fresh(template: requests.PreparedRequest) -> requests.PreparedRequest:
    """A new prepared request like ``template``: its own headers and hooks, as requests makes each one."""
    r = requests.PreparedRequest()
    r.method, r.url, r.body = template.method, template.url, template.body
    r.headers = template.headers.copy()
    return r


def work_of(auth: TokenAuth, template: requests.PreparedRequest) -> FlowWork:
    """Read the work off ``auth`` (token warm): apply it to copies of ``template``, outside any timing."""
    applied = auth(fresh(template)).headers
    headers = {
        name: value if isinstance(value, str) else value.decode("latin-1")
        for name, value in applied.items()
        if template.headers.get(name) != value
    }
    if not headers:
        raise ValueError(f"{type(auth).__name__} set no header on {template.url}: not a URL it allows")
    preset = fresh(template)
    preset.headers.update(dict.fromkeys(headers, _CALLERS_VALUE))
    kept = tuple(name for name, value in auth(preset).headers.items() if value == _CALLERS_VALUE)
    status = auth.token_status
    if status is None:
        raise ValueError("warm the token before reading the work")
    # The first application put the template's origin among the allowed prefixes.
    prefixes = auth._boundary.prefixes
    return FlowWork(headers, kept, prefixes, time.monotonic() + status.renews_in)


def _response_hook(r: requests.Response, **kwargs: Any) -> requests.Response:
    return r


def _setting(headers: dict[str, str], kept: tuple[str, ...]) -> tuple[list[str], dict[str, object]]:
    """Lines that set ``headers`` (a ``kept`` one only when absent), and the cells they read."""
    cells: dict[str, object] = {}
    local = len(headers) > 1 or bool(kept)  # one attribute load, not one per header
    target = "headers" if local else "r.headers"
    lines = ["headers = r.headers"] if local else []
    for i, (name, value) in enumerate(headers.items()):
        cells[f"name{i}"], cells[f"value{i}"] = name, value
        if name in kept:
            # requests' headers have no membership test that does not raise and catch
            # a KeyError when the header is absent (the usual case).
            lines += ["try:", f"    {target}[name{i}]", "except KeyError:", f"    {target}[name{i}] = value{i}"]
        else:
            lines.append(f"{target}[name{i}] = value{i}")
    return lines, cells


def _when(condition: str, lines: list[str]) -> list[str]:
    return [f"if {condition}:", *("    " + line for line in lines)]


def _compiled(body: list[str], cells: dict[str, object]) -> AuthBase:
    """An ``AuthBase`` whose ``__call__`` runs ``body`` on ``r``, with ``cells`` as closure cells."""
    source = "\n".join(
        [
            f"def build({', '.join(cells)}):",
            "    class Hook(AuthBase):",
            "        def __call__(self, r):",
            *("            " + line for line in body),
            "            return r",
            "",
            "    return Hook()",
        ]
    )
    namespace: dict[str, Any] = {"AuthBase": AuthBase}
    exec(compile(source, "<bench floor>", "exec"), namespace)
    return namespace["build"](**cells)  # type: ignore[no-any-return]


def constant_headers(headers: dict[str, str]) -> AuthBase:
    """The floor: an ``AuthBase`` that sets exactly ``headers``, constant, and appends nothing."""
    return _compiled(*_setting(headers, ()))


def pieces(work: FlowWork) -> dict[str, AuthBase]:
    """The floor, the floor plus each check alone, and the checks floor: every check, nothing else."""
    plain, cells = _setting(work.headers, ())
    guarded, _ = _setting(work.headers, work.kept)
    cells.update(
        prefixes=work.prefixes, monotonic=time.monotonic, refresh_at=work.refresh_at, response_hook=_response_hook
    )
    found = {
        FLOOR: constant_headers(work.headers),
        "+ host check on the URL": _compiled(_when(_HOST_CHECK, plain), cells),
        "+ monotonic expiry check": _compiled(_when(_EXPIRY_CHECK, plain), cells),
        "+ response hook appended": _compiled([*plain, _RESPONSE_HOOK], cells),
    }
    if work.kept:
        found[f"+ caller's {', '.join(work.kept)} kept"] = _compiled(guarded, cells)
    found[CHECKS_FLOOR] = _compiled([*_when(f"{_HOST_CHECK} and {_EXPIRY_CHECK}", guarded), _RESPONSE_HOOK], cells)
    return found


def check(hook: AuthBase, template: requests.PreparedRequest, headers: dict[str, str]) -> None:
    """Fail unless ``hook`` sets ``headers`` on a copy of ``template``: a floor that skips the work means nothing."""
    sent = hook(fresh(template)).headers
    missing = [name for name, value in headers.items() if sent.get(name) != value]
    if missing:
        raise AssertionError(f"the hook does not set {missing}")
