"""One token per credential in a process, however many auth objects; token connections that do not pile up."""

from __future__ import annotations

import gc
import os
import sys
import threading
import time

import pytest
import requests

from requests_adtech_auth import (
    AlgonomyAuth,
    DigitalTurbineAuth,
    RoktAuth,
    RoktEventAuth,
    RoktReportingAuth,
)
from requests_adtech_auth.sandbox import Sandbox

from .helpers import (
    DT_REPORT,
    FLOWS,
    Flow,
    age_shared_token,
    in_threads,
    session_with,
    token_state_of,
)


def _open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts descriptors through /proc")


@pytest.mark.parametrize("flow", FLOWS, ids=[f.name for f in FLOWS])
def test_auth_objects_of_one_credential_share_one_token(sandbox: Sandbox, flow: Flow) -> None:
    session = requests.Session()
    for _ in range(50):  # a new object per request, as in a loop or a request handler
        session.auth = flow.auth(sandbox)
        assert flow.call(session, sandbox).ok
    assert sandbox.count(flow.vendor, "token") == 1


def test_1000_objects_one_credential_one_token_call(sandbox: Sandbox) -> None:
    tokens = {
        RoktAuth(sandbox.rokt.app_id, sandbox.rokt.app_secret, token_url=sandbox.rokt.token_url).get_token()
        for _ in range(1000)
    }
    assert len(tokens) == 1
    assert sandbox.count("rokt", "token") == 1


def test_16_threads_of_new_objects_one_token_call(sandbox: Sandbox) -> None:
    url = sandbox.digital_turbine.api_url + "/api/v1/report"
    failures: list[int] = []

    def work() -> None:
        with requests.Session() as session:
            for _ in range(10):
                auth = sandbox.digital_turbine_auth()
                status = session.post(url, json=DT_REPORT, auth=auth, timeout=10).status_code
                if status != 200:
                    failures.append(status)

    threads = [threading.Thread(target=work) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not failures
    assert sandbox.count("digital_turbine", "token") == 1


def test_rokt_event_and_reporting_classes_share_rokt_auth_token(sandbox: Sandbox) -> None:
    box = sandbox.rokt
    tokens = {
        cls(box.app_id, box.app_secret, token_url=box.token_url).get_token()
        for cls in (RoktAuth, RoktEventAuth, RoktReportingAuth)
    }
    assert len(tokens) == 1
    assert sandbox.count("rokt", "token") == 1


def test_a_subclass_that_changes_the_flow_keeps_its_own_token(sandbox: Sandbox) -> None:
    class Custom(RoktAuth):
        pass

    box = sandbox.rokt
    assert Custom(box.app_id, box.app_secret, token_url=box.token_url).get_token() != sandbox.rokt_auth().get_token()
    assert sandbox.count("rokt", "token") == 2


def test_share_token_false_keeps_a_token_to_itself(sandbox: Sandbox) -> None:
    shared = sandbox.rokt_auth()
    loner = sandbox.rokt_auth(share_token=False)
    assert shared.get_token() != loner.get_token()
    assert sandbox.rokt_auth().get_token() == shared.get_token()
    assert sandbox.count("rokt", "token") == 2


def test_different_credentials_never_share(sandbox: Sandbox) -> None:
    a = sandbox.rokt_auth()
    b = RoktAuth(sandbox.rokt.app_id, sandbox.rokt.app_secret, token_url=sandbox.rokt.token_url, leeway=5)
    c = RoktAuth(sandbox.rokt.app_id, sandbox.rokt.app_secret + "x", token_url=sandbox.rokt.token_url)
    assert a.get_token() == b.get_token()  # options other than the credential do not matter
    with pytest.raises(requests.RequestException):
        c.get_token()  # a wrong secret: the sandbox refuses it, and it never sees a's token


def test_invalidate_forgets_the_credential_token_for_every_object(sandbox: Sandbox) -> None:
    a, b = sandbox.rokt_auth(), sandbox.rokt_auth()
    first = a.get_token()
    b.invalidate()
    assert a.get_token() != first
    assert sandbox.count("rokt", "token") == 2


def _sent_token(session: requests.Session, box: Sandbox) -> str:
    """The token a Rokt API call through ``session`` carried."""
    response = session.get(box.rokt.api_url + "/v1/query/accounts", timeout=10)
    assert response.ok
    return response.request.headers["Authorization"]


@pytest.mark.parametrize("fetcher", ["leeway 1", "leeway 0", "leeway 60"])
def test_objects_sharing_a_token_each_renew_on_their_own_leeway(sandbox: Sandbox, fetcher: str) -> None:
    sandbox.lifetimes["rokt"] = 4.0  # a leeway is capped at a quarter of the lifetime: 1 s here
    objects = {"leeway 1": sandbox.rokt_auth(leeway=1), "leeway 0": sandbox.rokt_auth(leeway=0)}
    objects["leeway 60"] = sandbox.rokt_auth(leeway=60)
    token = objects[fetcher].get_token()
    assert all(auth.get_token() == token for auth in objects.values())
    assert sandbox.count("rokt", "token") == 1
    for name, leeway in (("leeway 1", 1.0), ("leeway 0", 0.0), ("leeway 60", 1.0)):
        status = objects[name].token_status
        assert status is not None
        # One reading of the clock: the gap is the object's own (capped) leeway, whatever the time.
        assert status.expires_in - status.renews_in == pytest.approx(leeway, abs=1e-6), name


def test_an_object_renews_a_token_another_fetched_at_its_own_point(sandbox: Sandbox) -> None:
    """The issue's case: 4 s tokens, a leeway-1 object sharing the token a leeway-0 object fetched."""
    sandbox.lifetimes["rokt"] = 4.0
    early, late = session_with(sandbox.rokt_auth(leeway=1)), session_with(sandbox.rokt_auth(leeway=0))
    first = _sent_token(late, sandbox)
    assert _sent_token(early, sandbox) == first
    deadline = time.monotonic() + 30
    status = late.auth.token_status  # type: ignore[union-attr]
    while status is not None and status.expires_in > 0.9:  # past the leeway-1 object's point (3 s in)
        assert time.monotonic() < deadline
        time.sleep(0.02)
        status = late.auth.token_status  # type: ignore[union-attr]
    second = _sent_token(early, sandbox)
    assert second != first  # renewed on its own leeway, not the fetcher's: never later than 3 s in
    assert _sent_token(late, sandbox) == second  # and shared: one fetch
    assert sandbox.count("rokt", "token") == 2


@pytest.mark.parametrize("fetcher", ["early", "late"])
def test_objects_sharing_a_token_renew_only_on_their_own_point(sandbox: Sandbox, fetcher: str) -> None:
    early_auth, late_auth = sandbox.rokt_auth(leeway=600), sandbox.rokt_auth(leeway=60)  # 3600 s tokens
    early, late = session_with(early_auth), session_with(late_auth)
    first = _sent_token(early if fetcher == "early" else late, sandbox)
    age_shared_token(late_auth, left=300)  # wide margins either side of both renewal points
    assert _sent_token(late, sandbox) == first  # 60 s leeway: 240 s to go
    assert sandbox.count("rokt", "token") == 1
    second = _sent_token(early, sandbox)  # 600 s leeway: due 300 s ago
    assert second != first
    assert _sent_token(late, sandbox) == second
    assert sandbox.count("rokt", "token") == 2


def test_algonomy_objects_share_only_for_the_same_resources(sandbox: Sandbox) -> None:
    basic = sandbox.algonomy_auth(resources=["basic"])
    same = sandbox.algonomy_auth(resources=["basic"])
    wider = sandbox.algonomy_auth(resources=["basic", "segments"])
    assert basic.get_token() == same.get_token()
    assert wider.get_token() != basic.get_token()
    basic.add_resources("segments")  # widens basic's live token; `same` keeps asking for basic only
    assert same.resources == ("basic",)
    assert sandbox.count("algonomy", "token") == 2


def _use(box: Sandbox, count: int, keep: list[DigitalTurbineAuth]) -> None:
    for i in range(count):
        # Distinct credentials (the sandbox refuses them): each costs a real token request.
        auth = DigitalTurbineAuth(
            f"client-{threading.get_ident()}-{i}",
            "not-the-secret",
            token_url=box.digital_turbine.token_url,
            max_retries=0,
        )
        with pytest.raises(requests.RequestException):
            auth.get_token()
        keep.append(auth)


def test_token_connections_do_not_pile_up(sandbox: Sandbox) -> None:
    _use(sandbox, 20, [])  # warm up: the token session's pool
    gc.collect()
    before = _open_descriptors()
    alive: list[DigitalTurbineAuth] = []
    _use(sandbox, 1000, alive)
    held = _open_descriptors() - before
    alive.clear()
    gc.collect()
    after = _open_descriptors() - before
    assert held <= 4, f"1000 live auth objects hold {held} more descriptors"
    assert after <= 4, f"{after} more descriptors after 1000 objects were used and dropped"
    assert sandbox.count("digital_turbine", "token") == 1020


def test_token_connections_do_not_pile_up_under_16_threads(sandbox: Sandbox) -> None:
    _use(sandbox, 20, [])
    gc.collect()
    before = _open_descriptors()
    alive: list[DigitalTurbineAuth] = []
    threads = [threading.Thread(target=_use, args=(sandbox, 40, alive)) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    held = _open_descriptors() - before
    alive.clear()
    gc.collect()
    # urllib3 keeps at most pool_maxsize (10) idle connections to the token host, and
    # the sandbox (in this process) holds the other end of each.
    assert held <= 24, f"640 live auth objects made in 16 threads hold {held} more descriptors"
    assert _open_descriptors() - before <= 24


def test_idle_objects_are_small(sandbox: Sandbox) -> None:
    import tracemalloc

    tracemalloc.start()
    try:
        start = tracemalloc.take_snapshot()
        objects = [AlgonomyAuth(sandbox.algonomy.token_url, f"tenant-{i}", ["basic"]) for i in range(200)]
        grown = sum(stat.size_diff for stat in tracemalloc.take_snapshot().compare_to(start, "filename"))
    finally:
        tracemalloc.stop()
    assert len(objects) == 200
    assert grown / 200 < 8 * 1024, f"{grown / 200:.0f} bytes per idle auth object"


@pytest.mark.parametrize("flow", FLOWS, ids=[f.name for f in FLOWS])
def test_state_binds_on_first_use_without_a_getattr_hook(sandbox: Sandbox, flow: Flow) -> None:
    # A __getattr__ anywhere in an auth class's MRO makes CPython take its slow
    # attribute lookup for every read on the per-request path (bench/: ~0.25x the floor).
    auth = flow.auth(sandbox)
    assert not any("__getattr__" in vars(klass) for klass in type(auth).__mro__)
    assert sandbox.count(flow.vendor, "token") == 0
    other = flow.auth(sandbox)
    session = requests.Session()
    session.auth = auth
    assert flow.call(session, sandbox).ok
    assert token_state_of(other) is token_state_of(auth), "objects of one credential share the state bound on first use"
    assert other.token_status is not None
    assert sandbox.count(flow.vendor, "token") == 1


def test_an_unshared_object_first_used_by_8_threads_at_once_binds_one_state(sandbox: Sandbox) -> None:
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads change often, so that they land in any window there is
    sandbox.token_delay = 0.05
    try:
        for _ in range(4):
            sandbox.reset_counts()
            auth = sandbox.rokt_auth(share_token=False)
            states: list[object] = []

            def first_use(auth: RoktAuth = auth, states: list[object] = states) -> None:
                auth.get_token()
                states.append(token_state_of(auth))

            in_threads(8, first_use)
            assert len(states) == 8 and len({id(s) for s in states}) == 1
            assert sandbox.count("rokt", "token") == 1
    finally:
        sys.setswitchinterval(switch)


class _TokenSchemeAuth(RoktAuth):
    _token_flow = "RoktAuth"  # the same token flow, as RoktEventAuth declares: one token for both
    authorization_scheme = "Token"


def test_classes_presenting_one_credentials_token_differently_each_send_their_own_form(sandbox: Sandbox) -> None:
    bearer = sandbox.rokt_auth()
    scheme = _TokenSchemeAuth(sandbox.rokt.app_id, sandbox.rokt.app_secret, token_url=sandbox.rokt.token_url)
    url = sandbox.rokt.api_url + "/v1/query/accounts"
    for auth, prefix in ((bearer, "Bearer "), (scheme, "Token "), (scheme, "Token "), (bearer, "Bearer ")):
        sent = auth(requests.Request("GET", url).prepare()).headers["Authorization"]
        assert sent.startswith(prefix), (prefix, sent[:6])
