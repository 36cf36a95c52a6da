"""The sandbox itself: Rokt's refusal switches, faults queued over HTTP, the documented interception."""

from __future__ import annotations

import contextlib
import inspect
import os
import re
import textwrap
import time
import warnings
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
import requests.adapters

from requests_adtech_auth import RoktAuth
from requests_adtech_auth.sandbox import Fault, Sandbox

from .helpers import DT_REPORT, ROKT_SUMMARY_PARAMS, run_cli

SUMMARY_PATH = "/reporting/accounts/{}/summary"
SUMMARY = SUMMARY_PATH + "?" + urlencode(ROKT_SUMMARY_PARAMS)


def rokt_get(box: Sandbox, path: str, token: str) -> requests.Response:
    return requests.get(box.rokt.api_url + path, headers={"Authorization": f"Bearer {token}"}, timeout=10)


def stale_token(box: Sandbox, how: str) -> str:
    """A Rokt token the sandbox issued and no longer accepts: revoked, or expired."""
    if how == "revoked":
        token = box.issue("rokt", box.rokt.app_id, 3600)
        assert rokt_get(box, SUMMARY.format(1), token).ok
        box.revoke_tokens("rokt")
    else:
        token = box.issue("rokt", box.rokt.app_id, 0.01)
        time.sleep(0.05)  # it only gets more expired: no race
    return token


# -- Rokt: a stale token's status, genuine 403s ------------------------------------------


@pytest.mark.parametrize("how", ["revoked", "expired"])
def test_rokt_stale_token_gets_401_by_default(how: str, sandbox: Sandbox) -> None:
    response = rokt_get(sandbox, SUMMARY.format(1), stale_token(sandbox, how))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert sandbox.count("rokt", "api_401_stale") >= 1


@pytest.mark.parametrize("how", ["revoked", "expired"])
@pytest.mark.parametrize("status", [403, 400])
def test_rokt_stale_token_status_switch(status: int, how: str, sandbox: Sandbox) -> None:
    sandbox.rokt.stale_token_status = status  # the Reporting page: "either a 400 or 403"
    token = stale_token(sandbox, how)
    sandbox.reset_counts()
    response = rokt_get(sandbox, SUMMARY.format(1), token)
    assert response.status_code == status
    assert "WWW-Authenticate" not in response.headers
    assert response.json()["message"] == "access token stale"
    assert sandbox.count("rokt", f"api_{status}_stale") == 1
    assert sandbox.count("rokt", f"api_{status}") == 1
    assert sandbox.count("rokt", "api_401_stale") == 0
    # Only stale tokens: a token never issued, or none, is still a 401; a fresh one works.
    assert rokt_get(sandbox, SUMMARY.format(1), "never-issued").status_code == 401
    assert requests.get(sandbox.rokt.api_url + SUMMARY.format(1), timeout=10).status_code == 401
    assert rokt_get(sandbox, SUMMARY.format(1), sandbox.rokt_auth().get_token()).ok


def test_rokt_forbidden_path_is_a_genuine_403_for_a_valid_token(sandbox: Sandbox) -> None:
    sandbox.rokt.forbidden_paths.add(SUMMARY_PATH.format(999))
    token = sandbox.rokt_auth().get_token()
    sandbox.reset_counts()
    refused = rokt_get(sandbox, SUMMARY.format(999), token)
    assert refused.status_code == 403
    assert refused.json()["error"] == "Forbidden"
    assert rokt_get(sandbox, SUMMARY.format(998), token).ok, "other accounts stay readable"
    assert sandbox.count("rokt", "api_403") == 1
    assert sandbox.count("rokt", "api_403_stale") == 0
    assert sandbox.count("rokt", "api_ok") == 1
    # A stale token on a forbidden path is refused as stale first, as a server checks the token first.
    sandbox.rokt.stale_token_status = 403
    sandbox.revoke_tokens()
    assert rokt_get(sandbox, SUMMARY.format(999), token).json()["message"] == "access token stale"


def test_rokt_switches_over_http(sandbox: Sandbox) -> None:
    control = sandbox.url + "/_sandbox/rokt"
    assert requests.get(control, timeout=10).json() == {
        "token_field": "access_token",
        "stale_token_status": 401,
        "forbidden_paths": [],
        "record_refused_keys": False,
    }
    answer = requests.post(
        control, json={"stale_token_status": 403, "forbidden_paths": [SUMMARY_PATH.format(7)]}, timeout=10
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["stale_token_status"] == 403
    assert sandbox.rokt.stale_token_status == 403
    assert sandbox.rokt.forbidden_paths == {SUMMARY_PATH.format(7)}
    token = sandbox.rokt_auth().get_token()
    assert rokt_get(sandbox, SUMMARY.format(7), token).status_code == 403
    sandbox.revoke_tokens()
    assert rokt_get(sandbox, SUMMARY.format(1), token).status_code == 403
    # Knobs left out keep their value; an empty list clears the paths.
    assert requests.post(control, json={"forbidden_paths": []}, timeout=10).ok
    assert sandbox.rokt.forbidden_paths == set()
    assert sandbox.rokt.stale_token_status == 403


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"stale_token_status": 200}, "401, 403 or 400"),
        ({"stale_token_status": 404}, "401, 403 or 400"),
        ({"stale_token_status": True}, "401, 403 or 400"),
        ({"forbidden_paths": "/reporting"}, "list of API paths"),
        ({"forbidden_paths": ["reporting/accounts/1/summary"]}, "starting with '/'"),
        ({"stale_token_status": 403, "typo": 1}, "unknown Rokt setting(s) 'typo'"),
        ([403], "JSON object"),
        ("not json", "body must be JSON"),
    ],
)
def test_rokt_switches_over_http_refuse_bad_values_and_change_nothing(
    body: Any, message: str, sandbox: Sandbox
) -> None:
    if body == "not json":
        answer = requests.post(sandbox.url + "/_sandbox/rokt", data=b"{", timeout=10)
    else:
        answer = requests.post(sandbox.url + "/_sandbox/rokt", json=body, timeout=10)
    assert answer.status_code == 400
    assert message in answer.json()["error"]
    assert sandbox.rokt.settings() == {
        "token_field": "access_token",
        "stale_token_status": 401,
        "forbidden_paths": [],
        "record_refused_keys": False,
    }


# -- paths a vendor does not serve ---------------------------------------------------------


def token_request_kwargs(box: Sandbox, vendor: str) -> dict[str, Any]:
    """What a correct token request to ``vendor`` sends: its credentials in the vendor's way."""
    if vendor == "rokt":
        return {"auth": (box.rokt.app_id, box.rokt.app_secret), "data": {"grant_type": "client_credentials"}}
    if vendor == "rokt-partnerships":
        e = box.rokt_partnerships
        form = {"grant_type": "client_credentials", "client_id": e.client_id, "client_secret": e.client_secret}
        return {"data": form}
    if vendor == "dt":
        e = box.digital_turbine
        document = {"grant_type": "client_credentials", "client_id": e.client_id, "client_secret": e.client_secret}
        return {"json": document}
    headers = {"tenant_hash": box.algonomy.tenant_hash, "oauth_key_secret": box.algonomy.oauth_key_secret}
    return {"headers": headers, "json": {"resource": ["basic"], "validity": 15}}


@pytest.mark.parametrize(
    ("vendor", "path"),
    [
        ("rokt", "/auth/oauth2/tokn"),
        ("rokt", "/auth/oauth2/token/"),
        ("rokt-partnerships", "/api/v1/oauth/tokens"),
        ("dt", "/auth/v1/tokn"),
        ("algonomy", "/secureApi/token/profile/creat"),
        ("algonomy", "/secureApi/token/gdpr/crate"),
        ("algonomy", "/secureApi/token/profile/updat"),
        ("algonomy", "/secureApi/token/gdpr/udpate"),
    ],
)
def test_a_mistyped_token_path_is_a_404_not_a_credential_refusal(vendor: str, path: str, sandbox: Sandbox) -> None:
    # Right credentials at a wrong path: a real server's router answers 404 before any auth.
    url = f"{sandbox.url}/{vendor}{path}"
    answer = requests.post(url, timeout=10, **token_request_kwargs(sandbox, vendor))
    assert answer.status_code == 404, answer.text
    assert "WWW-Authenticate" not in answer.headers
    assert requests.get(url, timeout=10).status_code == 404, "with no credentials too"


def test_the_api_paths_still_refuse_a_missing_token(sandbox: Sandbox) -> None:
    assert rokt_get(sandbox, SUMMARY.format(1), "").status_code == 401
    assert requests.post(sandbox.digital_turbine.api_url + "/api/v1/report", timeout=10).status_code == 401
    partnerships = sandbox.rokt_partnerships.api_url + "/v1/accounts"
    assert requests.get(partnerships, timeout=10).status_code == 401
    algonomy = sandbox.algonomy.api_url + "/api/v1/profile/b2b/basic"
    assert requests.post(algonomy, headers={"tenant_hash": sandbox.algonomy.tenant_hash}, timeout=10).status_code == 401


# -- faults over HTTP --------------------------------------------------------------------


def post_fault(box: Sandbox, **spec: Any) -> requests.Response:
    return requests.post(box.url + "/_sandbox/faults", json=spec, timeout=10)


def test_fault_queued_over_http_is_served_to_a_real_session(sandbox: Sandbox) -> None:
    # What another process (a notebook, a script against `adtech-auth sandbox`) does.
    answer = post_fault(
        sandbox, vendor="digital_turbine", endpoint="token", fault={"kind": "status", "status": 503}, times=2
    )
    assert answer.json() == {"ok": True, "pending": 2}
    assert requests.get(sandbox.url + "/_sandbox/faults", timeout=10).json() == {"digital_turbine": {"token": 2}}
    session = requests.Session()
    session.auth = sandbox.digital_turbine_auth()
    assert session.post(sandbox.digital_turbine.api_url + "/api/v1/report", json=DT_REPORT, timeout=30).ok
    assert sandbox.count("digital_turbine", "token") == 3, "two 503s, then the token"
    assert requests.get(sandbox.url + "/_sandbox/faults", timeout=10).json() == {}


def _is(status: int, **expected: str) -> Any:
    def check(response: requests.Response) -> bool:
        return response.status_code == status and all(response.headers[k] == v for k, v in expected.items())

    return check


@pytest.mark.parametrize(
    ("fault", "check"),
    [
        (
            {"kind": "status", "status": 429, "body": {"error": "slow_down"}, "headers": {"Retry-After": "7"}},
            _is(429, **{"Retry-After": "7", "Content-Type": "application/json"}),
        ),
        (
            {"kind": "raw", "status": 502, "body": "<html>Bad gateway</html>", "content_type": "text/html"},
            _is(502, **{"Content-Type": "text/html", "Content-Length": "24"}),
        ),
        (
            {"kind": "redirect", "location": "https://elsewhere.example/token"},
            _is(302, Location="https://elsewhere.example/token"),
        ),
        ({"kind": "close"}, requests.ConnectionError),
        ({"kind": "reset"}, requests.RequestException),
        ({"kind": "hang", "seconds": 20}, requests.ReadTimeout),
    ],
    ids=["status", "raw", "redirect", "close", "reset", "hang"],
)
def test_every_fault_kind_over_http(fault: dict[str, Any], check: Any, sandbox: Sandbox) -> None:
    assert post_fault(sandbox, vendor="rokt", endpoint="token", fault=fault).ok
    url = sandbox.rokt.token_url
    if isinstance(check, type):
        with pytest.raises(check):
            requests.post(url, timeout=(5, 0.5), allow_redirects=False)
    else:
        assert check(requests.post(url, timeout=10, allow_redirects=False))
    assert sandbox.pending_faults("rokt", "token") == 0
    assert sandbox.count("rokt", "token_issued") == 0


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"vendor": "acme", "endpoint": "token", "fault": {"kind": "close"}}, "vendor must be one of algonomy,"),
        ({"vendor": "rokt", "endpoint": "tokens", "fault": {"kind": "close"}}, "endpoint must be one of token,"),
        ({"vendor": "rokt", "endpoint": "token", "fault": {"kind": "explode"}}, "fault kind must be one of"),
        ({"vendor": "rokt", "endpoint": "token", "fault": {"status": 503}}, "fault kind must be one of"),
        ({"vendor": "rokt", "endpoint": "token", "fault": "close"}, "fault must be a JSON object"),
        ({"vendor": "rokt", "endpoint": "token", "fault": {"kind": "status"}}, "HTTP status code"),
        ({"vendor": "rokt", "endpoint": "token", "fault": {"kind": "status", "status": 700}}, "HTTP status code"),
        ({"vendor": "rokt", "endpoint": "token", "fault": {"kind": "hang", "secs": 1}}, "takes no 'secs'"),
        ({"vendor": "rokt", "endpoint": "token", "fault": {"kind": "hang", "seconds": -1}}, "from 0 to 3600"),
        ({"vendor": "rokt", "endpoint": "token", "fault": {"kind": "redirect"}}, "needs a location"),
        ({"vendor": "rokt", "endpoint": "token", "fault": {"kind": "close"}, "times": 0}, "times must be"),
        ({"vendor": "rokt", "endpoint": "token", "fault": {"kind": "close"}, "count": 2}, "unknown field(s) 'count'"),
    ],
)
def test_bad_fault_over_http_is_a_400_naming_the_problem(spec: dict[str, Any], message: str, sandbox: Sandbox) -> None:
    answer = post_fault(sandbox, **spec)
    assert answer.status_code == 400
    assert message in answer.json()["error"]
    assert requests.get(sandbox.url + "/_sandbox/faults", timeout=10).json() == {}


def test_fault_control_path_needs_a_json_body_and_post(sandbox: Sandbox) -> None:
    assert requests.post(sandbox.url + "/_sandbox/faults", data=b"nope", timeout=10).json() == {
        "error": "body must be JSON"
    }
    assert requests.put(sandbox.url + "/_sandbox/faults", json={}, timeout=10).status_code == 405


def test_fault_from_dict_builds_what_the_class_methods_build() -> None:
    assert Fault.from_dict({"kind": "status", "status": 503}) == Fault.status(503)
    assert Fault.from_dict({"kind": "status", "status": 400, "body": {"e": 1}}) == Fault.status(400, {"e": 1})
    assert Fault.from_dict({"kind": "raw", "status": 200, "body": "x"}) == Fault.raw(200, b"x")
    assert Fault.from_dict({"kind": "hang", "seconds": 2}) == Fault.hang(2)
    assert Fault.from_dict({"kind": "reset"}) == Fault.reset()
    assert Fault.from_dict({"kind": "close"}) == Fault.close()
    assert Fault.from_dict({"kind": "redirect", "location": "/x", "status": 307}) == Fault.redirect("/x", 307)


# -- vendor names --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("dt", "digital_turbine"),
        ("digital-turbine", "digital_turbine"),
        ("rokt-partnerships", "rokt_partnerships"),
        ("rokt_event", "rokt"),
        ("algonomy", "algonomy"),
    ],
)
def test_every_vendor_name_works_in_every_method(name: str, canonical: str, sandbox: Sandbox) -> None:
    sandbox.add_fault(name, "token", Fault.status(503))
    assert sandbox.pending_faults(canonical, "token") == sandbox.pending_faults(name, "token") == 1
    assert requests.post(getattr(sandbox, canonical).token_url, timeout=10).status_code == 503
    assert sandbox.count(name, "token") == sandbox.count(canonical, "token") == 1
    token = sandbox.issue(canonical, "client", 3600)
    sandbox.revoke_tokens(name)
    assert sandbox.check(canonical, token) == (None, "stale")


@pytest.mark.parametrize("name", ["dt", "digital-turbine", "digital_turbine"])
def test_every_vendor_name_works_in_every_control_path(name: str, sandbox: Sandbox) -> None:
    answer = post_fault(sandbox, vendor=name, endpoint="token", fault={"kind": "status", "status": 503})
    assert answer.json() == {"ok": True, "pending": 1}, answer.text
    assert requests.get(sandbox.url + "/_sandbox/faults", timeout=10).json() == {"digital_turbine": {"token": 1}}
    lifetimes = requests.post(sandbox.url + "/_sandbox/lifetimes", json={name: 5}, timeout=10)
    assert lifetimes.json()["digital_turbine"] == 5.0, lifetimes.text
    token = sandbox.issue("digital_turbine", "client", 3600)
    assert requests.post(sandbox.url + "/_sandbox/revoke", params={"vendor": name}, timeout=10).ok
    assert sandbox.check("digital_turbine", token) == (None, "stale")


def test_an_unknown_vendor_name_is_refused_with_the_accepted_names(sandbox: Sandbox) -> None:
    accepted = "vendor must be one of algonomy, digital-turbine, digital_turbine, dt, rokt, rokt-event, "
    for refuse in (
        lambda: sandbox.add_fault("acme", "token", Fault.close()),
        lambda: sandbox.pending_faults("digitalturbine", "token"),
        lambda: sandbox.count("Rokt", "token"),
        lambda: sandbox.revoke_tokens("acme"),
        lambda: Sandbox(lifetimes={"acme": 1.0}),
    ):
        with pytest.raises(ValueError, match=accepted):
            refuse()
    token = sandbox.issue("rokt", "client", 3600)
    for method, path, options in (
        ("POST", "/_sandbox/revoke", {"params": {"vendor": "acme"}}),
        ("POST", "/_sandbox/lifetimes", {"json": {"acme": 5}}),
        ("POST", "/_sandbox/faults", {"json": {"vendor": "acme", "endpoint": "token", "fault": {"kind": "close"}}}),
    ):
        answer = requests.request(method, sandbox.url + path, timeout=10, **options)  # type: ignore[arg-type]
        assert answer.status_code == 400
        assert answer.json()["error"].startswith(accepted), answer.text
    assert sandbox.check("rokt", token)[0] is not None, "an unknown vendor revokes nothing"
    answer = requests.post(sandbox.url + "/_sandbox/lifetimes", json={"algonomy": 5}, timeout=10)
    assert (answer.status_code, "validity" in answer.json()["error"]) == (400, True)
    assert "acme" not in sandbox.lifetimes
    assert "algonomy" not in sandbox.lifetimes


# -- the API bases and interception for scripts and notebooks ----------------------------


def test_info_names_the_real_hosts_each_api_url_stands_in_for(sandbox: Sandbox) -> None:
    info = requests.get(sandbox.url + "/_sandbox/info", timeout=10).json()
    assert info["rokt"]["real_hosts"] == ["api.rokt.com"]
    assert info["algonomy"]["real_hosts"] == ["*.algonomy.com"]
    for vendor, hosts in sandbox.vendor_hosts.items():
        assert info[vendor]["real_hosts"] == list(hosts)
        assert info[vendor]["api_url"].startswith(sandbox.url + "/")


def docstring_examples() -> list[str]:
    # cleandoc: Python 3.13 strips a docstring's indentation itself, older ones keep it.
    doc = inspect.cleandoc(Sandbox.intercept_vendor_hosts.__doc__ or "")
    blocks = re.findall(r"::\n\n((?:(?: {4}.*)?\n)+)", doc + "\n")
    return [textwrap.dedent(block) for block in blocks]


@pytest.mark.parametrize("which", ["script", "notebook"])
def test_interception_examples_for_scripts_and_notebooks_run(which: str) -> None:
    examples = docstring_examples()
    assert len(examples) == 2, "intercept_vendor_hosts() documents a script and a notebook"
    example = examples[["script", "notebook"].index(which)]
    original_send = requests.adapters.HTTPAdapter.send
    saved = dict(os.environ)
    namespace: dict[str, Any] = {"os": os, "contextlib": contextlib, "requests": requests}
    namespace.update(Sandbox=Sandbox, RoktAuth=RoktAuth)
    try:
        exec(compile(example, "intercept_vendor_hosts.__doc__", "exec"), namespace)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    assert requests.adapters.HTTPAdapter.send is original_send, "the real hosts are the network's again"
    box = namespace["box"]
    assert box.count("rokt", "api_ok") == 1, "the call to https://api.rokt.com reached the sandbox"
    assert namespace["response"].url == "https://api.rokt.com/v1/query/accounts", "the real URL stays"


def test_environ_keeps_token_urls_on_loopback_even_while_intercepting(sandbox: Sandbox) -> None:
    # A child process does not inherit the interception: real-host token URLs would send
    # the sandbox's credentials to the vendor.
    with sandbox.intercept_vendor_hosts():
        variables = sandbox.environ()
    for name, value in variables.items():
        if name.endswith("_URL"):
            assert value.startswith(sandbox.url + "/"), (name, value)
    assert variables["ALGONOMY_HOSTS"].split(",") == ["127.0.0.1", "b2b.example.algonomy.com"]


def test_a_child_process_under_the_fixture_reaches_the_sandbox(adtech_sandbox: Sandbox) -> None:
    done = run_cli("token", "rokt", "--no-cache")
    assert done.returncode == 0, done.stderr
    assert adtech_sandbox.count("rokt", "token") == 1


def test_algonomy_from_env_sends_to_the_example_host_under_interception(adtech_sandbox: Sandbox) -> None:
    from requests_adtech_auth import AlgonomyAuth

    auth = AlgonomyAuth.from_env()
    reply = requests.post(
        "https://b2b.example.algonomy.com/api/v1/profile/b2b/basic", headers={"gcrId": "c1"}, auth=auth, timeout=10
    )
    assert reply.status_code == 200, reply.text


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_leaves_the_sandbox_to_its_parent(sandbox: Sandbox) -> None:
    cache_dir = sandbox.environ()["ADTECH_AUTH_CACHE_DIR"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # Python 3.12+: fork with threads
        pid = os.fork()
    if pid == 0:  # the child: stopping must neither hang nor remove the parent's directory
        try:
            sandbox.stop()
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert status == 0
    assert os.path.isdir(cache_dir)
    assert requests.get(sandbox.url + "/_sandbox/counts", timeout=10).status_code == 200


def test_a_malformed_host_header_still_gets_an_answer(sandbox: Sandbox) -> None:
    import http.client

    port = int(sandbox.url.rsplit(":", 1)[1])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.putrequest("GET", "/_sandbox/counts", skip_host=True)
    connection.putheader("Host", "[")
    connection.endheaders()
    assert connection.getresponse().status == 200
    connection.close()


def test_a_fault_for_an_unknown_endpoint_is_refused_not_queued(sandbox: Sandbox) -> None:
    with pytest.raises(ValueError, match="endpoint must be one of token, update, api, not 'tokn'"):
        sandbox.add_fault("rokt", "tokn", Fault.status(500))
    assert sandbox.pending_faults("rokt", "tokn") == 0


def test_repr_names_the_addresses_and_no_credential() -> None:
    box = Sandbox()
    assert repr(box) == "<Sandbox (not serving)>"
    with box:
        shown = repr(box)
        assert box.url in shown and box.storage_url in shown
        assert not any(secret in shown for secret in box.secrets())
    assert repr(box) == "<Sandbox (not serving)>"


def test_an_empty_vendor_to_revoke_is_refused_not_taken_as_every_vendor(sandbox: Sandbox) -> None:
    token = sandbox.issue("rokt", "client", 3600)
    answer = requests.post(sandbox.url + "/_sandbox/revoke?vendor=", timeout=10)
    assert answer.status_code == 400, answer.text
    assert sandbox.check("rokt", token)[1] == "", "the token is still good"


@pytest.mark.parametrize("seconds", [0, -5, "nan", "inf", "-inf"])
def test_a_lifetime_that_is_no_positive_finite_number_is_refused(seconds: object, sandbox: Sandbox) -> None:
    answer = requests.post(sandbox.url + "/_sandbox/lifetimes", json={"rokt": seconds}, timeout=10)
    assert answer.status_code == 400 and "finite number of seconds above 0" in answer.json()["error"], answer.text
    assert sandbox.lifetimes["rokt"] == 3600.0
    with pytest.raises(ValueError, match="above 0"):
        Sandbox(lifetimes={"rokt": float(seconds)})  # type: ignore[arg-type]


def test_counting_an_event_that_does_not_exist_is_refused(sandbox: Sandbox) -> None:
    with pytest.raises(ValueError, match="no such event 'tokens'"):
        sandbox.count("rokt", "tokens")
    assert sandbox.count("rokt", "api_401_stale") == 0
