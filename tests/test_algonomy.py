"""Algonomy against its page and a hostile caller or server: validity, update answers, input checks."""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
import traceback
from fractions import Fraction
from typing import Any

import pytest
import requests

from requests_adtech_auth import (
    AlgonomyAuth,
    ConfigurationError,
    InvalidTokenResponseError,
    TokenRequestError,
)
from requests_adtech_auth.control_chars import escape_controls
from requests_adtech_auth.sandbox import Fault, Reply, Sandbox

from .control_text import CONTROL_CLASSES, raw_controls
from .helpers import (
    ALGONOMY_CUSTOMER,
    assert_token_timing,
    cached_token,
    in_threads,
)

CREATE = "https://b2b.example.test/secureApi/token/profile/create"


def api_ok(sandbox: Sandbox, auth: AlgonomyAuth, resource: str) -> bool:
    url = sandbox.algonomy.api_url + "/api/v1/profile/b2b/" + resource
    return requests.post(url, headers=ALGONOMY_CUSTOMER, auth=auth, timeout=10).ok


def create_bodies(sandbox: Sandbox) -> list[bytes]:
    return [c.body for c in sandbox.calls_to(path_prefix="/algonomy/secureApi/token/profile/create")]


def remaining(auth: AlgonomyAuth) -> float:
    return cached_token(auth).expires_at - time.monotonic()


# -- validity: whole minutes on the wire -----------------------------------------------
@pytest.mark.parametrize(("validity", "wire"), [(15, 15), (15.0, 15), (300.0, 300), (1440, 1440)])
def test_validity_goes_out_as_a_json_integer(sandbox: Sandbox, validity: float, wire: int) -> None:
    sandbox.algonomy_auth(validity=validity).get_token()
    (body,) = create_bodies(sandbox)
    sent = json.loads(body)["validity"]
    assert sent == wire and type(sent) is int
    assert b".0" not in body


def test_validity_from_the_environment_is_an_integer(sandbox: Sandbox) -> None:
    auth = AlgonomyAuth.from_env(environ={**sandbox.environ(), "ALGONOMY_VALIDITY": "15"})
    auth.get_token()
    (body,) = create_bodies(sandbox)
    assert json.loads(body)["validity"] == 15
    assert b'"validity": 15}' in body or b'"validity":15}' in body


@pytest.mark.parametrize(("validity", "wire", "seconds"), [(0.5, 1, 30.0), (2.5, 3, 150.0), (Fraction(1, 4), 1, 15.0)])
def test_a_fraction_asks_for_whole_minutes_and_lives_the_fraction(
    sandbox: Sandbox, validity: float, wire: int, seconds: float
) -> None:
    auth = sandbox.algonomy_auth(validity=validity)
    auth.get_token()
    (body,) = create_bodies(sandbox)
    assert json.loads(body)["validity"] == wire
    # Never used longer than asked: the client's clock runs the fraction.
    assert seconds - 1 <= remaining(auth) <= seconds


@pytest.mark.parametrize(
    "validity",
    [float("inf"), float("-inf"), float("nan"), 1e9, 1e308, 10**400, 1441, 1440.5, 0, -1, "15", None, True],
)
def test_unusable_validity_is_refused_at_construction(validity: Any) -> None:
    with pytest.raises(ConfigurationError, match="validity"):
        AlgonomyAuth(CREATE, "t" * 32, ["basic"], validity=validity)


# -- token_url and update_url ----------------------------------------------------------
def test_token_url_need_not_end_in_create(sandbox: Sandbox) -> None:
    auth = AlgonomyAuth("https://cdp.example.test/oauth/token", "t" * 32, ["basic"])
    assert auth.update_url is None
    with pytest.raises(ConfigurationError, match="update_url"):
        auth.add_resources("segments")
    assert auth.resources == ("basic",)
    auth.add_resources("basic")  # nothing new: nothing needed


def test_update_url_is_derived_from_the_path_only() -> None:
    auth = AlgonomyAuth(CREATE + "/?region=eu", "t" * 32, ["basic"])
    assert auth.update_url == "https://b2b.example.test/secureApi/token/profile/update?region=eu"


def test_explicit_update_url_serves_a_token_url_of_any_shape(sandbox: Sandbox) -> None:
    e = sandbox.algonomy
    update = e.base_url + "/secureApi/token/profile/update"
    auth = sandbox.algonomy_auth(["basic"], update_url=update)
    auth.get_token()
    auth.add_resources("segments")
    assert api_ok(sandbox, auth, "segments")
    assert sandbox.count("algonomy", "update") == 1


# -- update answers --------------------------------------------------------------------
@pytest.mark.parametrize("status", [400, 401, 403])
def test_update_of_a_token_the_server_forgot_gets_a_new_token(sandbox: Sandbox, status: int) -> None:
    sandbox.algonomy.unknown_token_status = status
    auth = sandbox.algonomy_auth(["basic"])
    old = auth.get_token()
    sandbox.revoke_tokens()
    auth.add_resources("segments")  # no error: the server's "unknown token" is not the caller's fault
    assert auth.resources == ("basic", "segments")
    assert auth.get_token() != old
    assert api_ok(sandbox, auth, "segments")
    assert sandbox.count("algonomy", "update") == 1
    assert sandbox.count("algonomy", "token") == 2
    assert json.loads(create_bodies(sandbox)[-1])["resource"] == ["basic", "segments"]
    assert sandbox.count("algonomy", "api_401") == 0


def test_fallback_that_cannot_get_a_token_records_nothing(sandbox: Sandbox) -> None:
    sandbox.algonomy.unknown_token_status = 403
    auth = sandbox.algonomy_auth(["basic"], backoff=0.01)
    auth.get_token()
    sandbox.revoke_tokens()
    sandbox.add_fault("algonomy", "token", Fault.status(503), times=3)
    with pytest.raises(TokenRequestError) as caught:
        auth.add_resources("segments")
    assert caught.value.transient
    assert auth.resources == ("basic",)
    assert api_ok(sandbox, auth, "basic")  # the next call fetches a token for what is recorded
    assert json.loads(create_bodies(sandbox)[-1])["resource"] == ["basic"]


@pytest.mark.parametrize("status", [422, 503], ids=["resource-refused", "unavailable-after-a-retry"])
def test_control_characters_in_an_update_refusal_are_escaped(
    sandbox: Sandbox, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    every = "".join(CONTROL_CLASSES.values())
    auth = sandbox.algonomy_auth(["basic"], backoff=0.01, max_retries=1)
    auth.get_token()
    refusal = {"error": f"Bad{every}", "message": f"unknown resource{every}segments"}
    sandbox.add_fault("algonomy", "update", Fault.status(status, refusal, {"Retry-After": "0"}), times=2)
    with pytest.raises(TokenRequestError) as caught:
        auth.add_resources("segments")
    error = caught.value
    shown = [str(error), error.error or "", error.description or "", *(r.getMessage() for r in caplog.records)]
    assert [raw_controls(text) for text in shown] == [[]] * len(shown)
    assert f"update failed: HTTP {status} Bad{escape_controls(every)} (unknown resource" in str(error)
    assert auth.resources == ("basic",)


def _unconfirmed_answers(token: str) -> list[dict[str, Any]]:
    return [
        {},
        {"message": "Token update failed"},
        {"message": "Token update failed", "token": token},
        {"message": "Token update unsuccessful", "token": token},
        {"message": "Token not updated successfully", "token": token},
        {"token": token, "error": "invalid resource"},
        {"token": token, "success": False},
        {"token": token, "status": 400, "message": "Token updated successfully"},
        {"token": token, "resource": ["basic"]},
        {"token": token, "resource": "basic,segments"},
        # Item 14: a token that cannot travel in a header, or is not a string.
        {"message": "Token updated successfully", "token": "abc\r\nX-Injected: 1"},
        {"message": "Token updated successfully", "token": 12345},
    ]


@pytest.mark.parametrize("case", range(len(_unconfirmed_answers(""))))
def test_a_2xx_that_does_not_report_success_changes_nothing(sandbox: Sandbox, case: int) -> None:
    auth = sandbox.algonomy_auth(["basic"])
    token = auth.get_token()
    sandbox.add_fault("algonomy", "update", Fault.status(200, _unconfirmed_answers(token)[case]))
    with pytest.raises(InvalidTokenResponseError) as caught:
        auth.add_resources("segments")
    assert "nothing was recorded" in str(caught.value)
    assert token not in str(caught.value)
    assert auth.resources == ("basic",)
    assert auth.get_token() == token
    assert not api_ok(sandbox, auth, "segments")  # the server did not widen it either
    assert sandbox.count("algonomy", "token") == 1


@pytest.mark.parametrize("body", [b"", b"<html>ok</html>"])
def test_a_2xx_that_is_not_json_changes_nothing(sandbox: Sandbox, body: bytes) -> None:
    auth = sandbox.algonomy_auth(["basic"])
    auth.get_token()
    sandbox.add_fault("algonomy", "update", Fault(Reply(200, body, {"Content-Type": "text/html"})))
    with pytest.raises(InvalidTokenResponseError, match="update_url"):
        auth.add_resources("segments")
    assert auth.resources == ("basic",)


def _confirmed_answers(token: str) -> list[dict[str, Any]]:
    return [
        {"message": "Token updated successfully", "token": token},  # the page's second example
        {"resource": ["basic", "segments"], "token": token},  # the page's first example
        {"token": token},
    ]


@pytest.mark.parametrize("case", range(len(_confirmed_answers(""))))
def test_the_pages_update_answers_are_success(sandbox: Sandbox, case: int) -> None:
    auth = sandbox.algonomy_auth(["basic"])
    token = auth.get_token()
    sandbox.add_fault("algonomy", "update", Fault.status(200, _confirmed_answers(token)[case]))
    auth.add_resources("segments")
    assert auth.resources == ("basic", "segments")
    assert auth.get_token() == token


def test_a_404_from_the_update_endpoint_blames_update_url(sandbox: Sandbox) -> None:
    auth = sandbox.algonomy_auth(["basic"], update_url=sandbox.url + "/secureApi/token/profile/update")
    auth.get_token()
    with pytest.raises(TokenRequestError) as caught:
        auth.add_resources("segments")
    assert caught.value.status_code == 404
    assert "update_url" in str(caught.value)
    assert "tenant_hash" not in str(caught.value)
    assert auth.resources == ("basic",)
    assert sandbox.count("algonomy", "token") == 1


def test_a_failed_update_records_nothing_and_keeps_secrets_out_of_traceback_locals(sandbox: Sandbox) -> None:
    # No secret in this frame's locals either: it is the outermost frame of the traceback.
    auth = sandbox.algonomy_auth(["basic"])
    auth.get_token()
    sandbox.add_fault("algonomy", "update", Fault.status(400, {"message": "unknown profile resources: nope"}))
    with pytest.raises(TokenRequestError) as caught:
        auth.add_resources("segments")
    assert caught.value.status_code == 400
    assert auth.resources == ("basic",)
    shown = "".join(traceback.TracebackException.from_exception(caught.value, capture_locals=True).format())
    for secret in (auth.get_token(), sandbox.algonomy.tenant_hash, sandbox.algonomy.oauth_key_secret):
        assert secret not in shown


# -- unknown resources are not the credentials' fault ----------------------------------
RESOURCE_WORDS = "does not offer a resource"


def test_unknown_resource_at_creation_names_the_resource(sandbox: Sandbox) -> None:
    with pytest.raises(TokenRequestError) as caught:
        sandbox.algonomy_auth(["basic", "nope"]).get_token()
    message = str(caught.value)
    assert caught.value.status_code == 400
    assert "unknown profile resources: nope" in message
    assert RESOURCE_WORDS in message
    assert "tenant_hash" not in message and "oauth_key_secret" not in message


def test_profile_resource_on_the_gdpr_endpoint(sandbox: Sandbox) -> None:
    e = sandbox.algonomy
    auth = AlgonomyAuth(e.gdpr_token_url, e.tenant_hash, ["basic"], oauth_key_secret=e.oauth_key_secret)
    with pytest.raises(TokenRequestError, match=RESOURCE_WORDS):
        auth.get_token()


def test_unknown_resource_in_an_update_is_refused_and_not_recorded(sandbox: Sandbox) -> None:
    auth = sandbox.algonomy_auth(["basic"])
    token = auth.get_token()
    with pytest.raises(TokenRequestError) as caught:
        auth.add_resources("segments", "nope")
    message = str(caught.value)
    assert caught.value.status_code == 400
    assert RESOURCE_WORDS in message and "update" in message
    assert "tenant_hash" not in message
    assert auth.resources == ("basic",)
    assert auth.get_token() == token
    assert sandbox.count("algonomy", "token") == 1  # a bad name costs no new token
    assert api_ok(sandbox, auth, "basic")


def test_cli_names_the_resource_not_the_tenant(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from requests_adtech_auth.cli import main

    for name, value in sandbox.environ().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ALGONOMY_RESOURCES", "basic,nope")
    assert main(["token", "algonomy", "--no-cache"]) != 0
    err = capsys.readouterr().err
    assert "unknown profile resources: nope" in err
    assert RESOURCE_WORDS in err
    assert "tenant_hash" not in err


# -- what a caller may pass ------------------------------------------------------------
@pytest.mark.parametrize("argument", ["tenant_hash", "oauth_key_secret"])
@pytest.mark.parametrize("value", ["t€nant-hash-0123456789", "tenänt-hash-0123456789", "tenant hash 0123456789"])
def test_header_secrets_must_be_visible_ascii(argument: str, value: str) -> None:
    arguments: dict[str, Any] = {"oauth_key_secret": "k" * 16, "tenant_hash": "t" * 32, argument: value}
    with pytest.raises(ConfigurationError) as caught:
        AlgonomyAuth(CREATE, arguments.pop("tenant_hash"), ["basic"], **arguments)
    assert argument in str(caught.value)
    for shown in (str(caught.value), repr(caught.value)):
        assert value not in shown
        assert value.split("-")[0] not in shown


@pytest.mark.parametrize("argument", ["tenant_hash", "oauth_key_secret"])
def test_non_latin1_secret_never_reaches_the_wire(sandbox: Sandbox, argument: str) -> None:
    # Before: accepted, then the first fetch raised UnicodeEncodeError holding the secret.
    e = sandbox.algonomy
    arguments = {"tenant_hash": e.tenant_hash, "oauth_key_secret": e.oauth_key_secret, argument: "ключ-" + "9" * 12}
    with pytest.raises(ConfigurationError, match=argument):
        auth = AlgonomyAuth(e.token_url, arguments.pop("tenant_hash"), ["basic"], **arguments)
        auth.get_token()
    assert sandbox.count("algonomy", "token") == 0


@pytest.mark.parametrize(
    ("resources", "words"),
    [
        (None, "resources must be a list"),
        (5, "resources must be a list"),
        ("basic", "not a string"),
        ([1], "as strings"),
        (["basic", None], "as strings"),
        ([b"basic"], "as strings"),
        ([""], "resource name"),
        ([" basic"], "resource name"),
        ([], "at least one"),
    ],
)
def test_unusable_resources_are_refused(resources: Any, words: str) -> None:
    with pytest.raises(ConfigurationError, match=words):
        AlgonomyAuth(CREATE, "t" * 32, resources)


@pytest.mark.parametrize("names", [(["segments"],), (None,), (3,), ("",)])
def test_unusable_names_for_add_resources(names: tuple[Any, ...]) -> None:
    auth = AlgonomyAuth(CREATE, "t" * 32, ["basic"])
    with pytest.raises(ConfigurationError, match="add_resources"):
        auth.add_resources(*names)
    assert auth.resources == ("basic",)


def test_sandbox_refuses_non_standard_json_numbers(sandbox: Sandbox) -> None:
    # What a standard JSON parser on the vendor's side does with Python's "Infinity".
    e = sandbox.algonomy
    response = requests.post(
        e.token_url,
        data=b'{"resource": ["basic"], "validity": Infinity}',
        headers={
            "tenant_hash": e.tenant_hash,
            "oauth_key_secret": e.oauth_key_secret,
            "Content-Type": "application/json",
        },
        timeout=10,
    )
    assert (response.status_code, response.json()["message"]) == (400, "body must be JSON")


# -- add_resources on an object other threads are using --------------------------------------
def _add_resources_while_in_use(auth: AlgonomyAuth) -> list[BaseException]:
    """``add_resources`` on ``auth`` while 4 threads read its headers in a loop; their errors."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def use() -> None:
        while not stop.is_set():
            try:
                auth.get_headers()
            except BaseException as exc:
                errors.append(exc)
                return

    threads = [threading.Thread(target=use) for _ in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(0.02)
    auth.add_resources("segments")
    time.sleep(0.02)
    stop.set()
    for thread in threads:
        thread.join(10)
    return errors


def test_add_resources_while_threads_use_the_object_makes_no_extra_token_call(sandbox: Sandbox) -> None:
    # The state moves to the wider scope in one step: a thread never meets an
    # unbound object that would fetch a token of its own in between.
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads change often, so that they land in any window there is
    try:
        for _ in range(4):
            sandbox.reset_counts()
            auth = sandbox.algonomy_auth(resources=("basic",), share_token=False)
            auth.get_token()
            assert _add_resources_while_in_use(auth) == []
            assert (sandbox.count("algonomy", "token"), sandbox.count("algonomy", "update")) == (1, 1)
    finally:
        sys.setswitchinterval(switch)


def test_concurrent_add_resources_on_one_object_keep_every_resource(sandbox: Sandbox) -> None:
    from requests_adtech_auth.sandbox.algonomy import RESOURCES

    names = sorted(RESOURCES["profile"] - {"basic"})[:3]
    auth = sandbox.algonomy_auth(resources=("basic",), share_token=False)
    auth.get_token()
    sandbox.token_delay = 0.3  # each update call takes this long
    first = threading.Thread(target=auth.add_resources, args=(names[0],))
    first.start()
    time.sleep(0.05)
    second = threading.Thread(target=auth.add_resources, args=(names[1],))  # waits while the first updates
    second.start()
    time.sleep(0.35)  # the first has moved the object to a new scope; the second is updating
    third = threading.Thread(target=auth.add_resources, args=(names[2],))
    third.start()
    for thread in (first, second, third):
        thread.join(10)
    sandbox.token_delay = 0
    assert set(names) <= set(auth.resources)
    assert api_ok(sandbox, auth, names[0]) and api_ok(sandbox, auth, names[2])


def test_algonomy_validity_is_part_of_the_credential(sandbox: Sandbox) -> None:
    long_lived = sandbox.algonomy_auth(validity=15)
    short_lived = sandbox.algonomy_auth(validity=0.5)
    assert long_lived.get_token() != short_lived.get_token()
    status = short_lived.token_status
    assert status is not None and status.expires_in <= 30


# -- the token request, call headers, resources and updates, arguments ---------------
def test_algonomy_token_request(sandbox: Sandbox) -> None:
    e = sandbox.algonomy
    sandbox.algonomy_auth(["basic", "segments"], validity=30).get_token()
    (call,) = sandbox.calls_to(path_prefix="/algonomy/secureApi")
    assert call.method == "POST"
    assert call.path.endswith("/secureApi/token/profile/create")
    assert call.header("tenant_hash") == e.tenant_hash
    assert call.header("oauth_key_secret") == e.oauth_key_secret
    assert call.header("Authorization") is None
    assert call.content_type() == "application/json"
    assert json.loads(call.body) == {"resource": ["basic", "segments"], "validity": 30}


def test_algonomy_lifetime_is_the_validity_asked_for(sandbox: Sandbox) -> None:
    assert_token_timing(sandbox.algonomy_auth(validity=1), 60, 15)


def test_algonomy_call_headers(sandbox: Sandbox) -> None:
    auth = sandbox.algonomy_auth()
    response = requests.post(
        sandbox.algonomy.api_url + "/api/v1/profile/b2b/basic", headers=ALGONOMY_CUSTOMER, auth=auth, timeout=10
    )
    assert response.status_code == 200
    call = sandbox.calls_to(path_prefix="/algonomy/api")[-1]
    assert call.header("access_token") == auth.get_token()
    assert call.header("tenant_hash") == sandbox.algonomy.tenant_hash
    assert call.header("Authorization") is None
    assert call.header("oauth_key_secret") is None


def test_algonomy_403_for_a_missing_resource_is_not_retried(sandbox: Sandbox) -> None:
    auth = sandbox.algonomy_auth(["basic"])
    url = sandbox.algonomy.api_url + "/api/v1/profile/b2b/segments"
    response = requests.post(url, headers=ALGONOMY_CUSTOMER, auth=auth, timeout=10)
    assert response.status_code == 403
    assert sandbox.count("algonomy", "api") == 1
    assert sandbox.count("algonomy", "token") == 1


def test_algonomy_add_resources_updates_the_live_token(sandbox: Sandbox) -> None:
    auth = sandbox.algonomy_auth(["basic"])
    session = requests.Session()
    session.auth = auth
    api = sandbox.algonomy.api_url + "/api/v1/profile/b2b/"
    assert session.post(api + "basic", headers=ALGONOMY_CUSTOMER, timeout=10).ok
    token = auth.get_token()
    auth.add_resources("segments", "userActivity")
    assert auth.resources == ("basic", "segments", "userActivity")
    assert session.post(api + "segments", headers=ALGONOMY_CUSTOMER, timeout=10).ok
    assert session.post(api + "userActivity", headers=ALGONOMY_CUSTOMER, timeout=10).ok
    assert auth.get_token() == token
    assert sandbox.count("algonomy", "token") == 1
    assert sandbox.count("algonomy", "update") == 1
    (update,) = sandbox.calls_to(path_prefix="/algonomy/secureApi/token/profile/update")
    assert json.loads(update.body) == {"resource": ["basic", "segments", "userActivity"], "token": token}
    assert update.header("tenant_hash") == sandbox.algonomy.tenant_hash


def test_algonomy_add_resources_without_a_token_only_records(sandbox: Sandbox) -> None:
    auth = sandbox.algonomy_auth(["basic"])
    auth.add_resources("campaigns")
    auth.add_resources("campaigns", "basic")  # nothing new: no call
    assert sandbox.count("algonomy", "update") == 0
    response = requests.post(
        sandbox.algonomy.api_url + "/api/v1/profile/b2b/campaigns", headers=ALGONOMY_CUSTOMER, auth=auth, timeout=10
    )
    assert response.ok
    (create,) = sandbox.calls_to(path_prefix="/algonomy/secureApi")
    assert json.loads(create.body)["resource"] == ["basic", "campaigns"]


def test_algonomy_update_of_a_dead_token_falls_back_to_a_new_token(sandbox: Sandbox) -> None:
    auth = sandbox.algonomy_auth(["basic"])
    auth.get_token()
    sandbox.revoke_tokens()
    auth.add_resources("segments")
    response = requests.post(
        sandbox.algonomy.api_url + "/api/v1/profile/b2b/segments", headers=ALGONOMY_CUSTOMER, auth=auth, timeout=10
    )
    assert response.ok
    assert sandbox.count("algonomy", "token") == 2


def test_algonomy_add_resources_is_thread_safe(sandbox: Sandbox) -> None:
    auth = sandbox.algonomy_auth(["basic"])
    auth.get_token()
    names = ["segments", "searchSegments", "isCustomerInSegment", "campaigns", "userActivity", "userAttributes"]
    pending = list(names)
    in_threads(len(names), lambda: auth.add_resources(pending.pop()))
    assert set(auth.resources) == {"basic", *names}
    session = requests.Session()
    session.auth = auth
    for name in names:
        assert session.post(
            sandbox.algonomy.api_url + "/api/v1/profile/b2b/" + name, headers=ALGONOMY_CUSTOMER, timeout=10
        ).ok
    assert sandbox.count("algonomy", "token") == 1


def test_algonomy_gdpr_flow_and_update_url(sandbox: Sandbox) -> None:
    e = sandbox.algonomy
    auth = AlgonomyAuth(e.gdpr_token_url, e.tenant_hash, ["registerGdprRequest"], oauth_key_secret=e.oauth_key_secret)
    assert auth.update_url == e.gdpr_token_url.replace("/create", "/update")
    response = requests.post(e.api_url + "/api/v1/gdpr/b2b/registerGdprRequest", json={}, auth=auth, timeout=10)
    assert response.ok
    auth.add_resources("gdprRequestStatus")
    assert sandbox.calls_to(path_prefix="/algonomy/secureApi/token/gdpr/update")


@pytest.mark.parametrize(("tenant", "key"), [("bad-tenant", None), (None, "bad-key"), (None, "omit")])
def test_algonomy_bad_tenant_credentials(sandbox: Sandbox, tenant: str | None, key: str | None) -> None:
    e = sandbox.algonomy
    secret = key if key not in (None, "omit") else e.oauth_key_secret
    auth = AlgonomyAuth(
        e.token_url,
        tenant or e.tenant_hash,
        ["basic"],
        oauth_key_secret=None if key == "omit" else secret,
    )
    with pytest.raises(TokenRequestError) as caught:
        auth.get_token()
    assert caught.value.status_code == 401
    assert "tenant_hash" in str(caught.value)
    assert e.tenant_hash not in str(caught.value)


def test_algonomy_custom_headers_do_not_follow_a_cross_host_redirect(sandbox: Sandbox) -> None:
    auth = sandbox.algonomy_auth()
    target = sandbox.storage_url + "/elsewhere"
    response = requests.post(
        sandbox.url + "/redirect", params={"to": target, "status": "307"}, json={}, auth=auth, timeout=10
    )
    assert response.ok
    (call,) = sandbox.calls_to("storage")
    assert call.header("access_token") is None
    assert call.header("tenant_hash") is None
    # ...while the request that was redirected did carry them
    assert sandbox.count("algonomy", "token") == 1


def test_algonomy_same_origin_redirect_keeps_headers(sandbox: Sandbox) -> None:
    auth = sandbox.algonomy_auth()
    target = sandbox.algonomy.api_url + "/api/v1/profile/b2b/basic"
    response = requests.post(
        sandbox.url + "/redirect",
        params={"to": target, "status": "307"},
        headers=ALGONOMY_CUSTOMER,
        auth=auth,
        timeout=10,
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"resources": "basic"}, "not a string"),
        ({"resources": []}, "at least one"),
        ({"validity": 0}, "validity"),
        ({"validity": True}, "validity"),
        ({"tenant_hash": ""}, "tenant_hash"),
    ],
)
def test_algonomy_bad_arguments(kwargs: dict[str, object], words: str) -> None:
    arguments: dict[str, object] = {
        "token_url": "https://x.example/secureApi/token/profile/create",
        "tenant_hash": "t" * 32,
        "resources": ["basic"],
    }
    arguments.update(kwargs)
    with pytest.raises(ConfigurationError, match=words):
        AlgonomyAuth(**arguments)  # type: ignore[arg-type]


def test_algonomy_a_mistyped_update_url_says_check_update_url(sandbox: Sandbox) -> None:
    e = sandbox.algonomy
    auth = sandbox.algonomy_auth(update_url=e.token_url.replace("/create", "/updat"))
    token = auth.get_token()
    with pytest.raises(TokenRequestError) as caught:
        auth.add_resources("segments")
    assert caught.value.status_code == 404
    assert str(caught.value).endswith("; check update_url"), str(caught.value)
    # Not taken for a forgotten token: no new token was asked for in its place.
    assert (auth.get_token(), auth.resources) == (token, ("basic",))
    assert sandbox.count("algonomy", "token_issued") == 1
