"""The vendors' APIs as the sandbox emulates them: what a wrong request gets, and what a replay keeps."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import requests

from requests_adtech_auth.sandbox import Sandbox

from .helpers import (
    ALGONOMY_CUSTOMER,
    DT_REPORT,
    PARTNERSHIP,
    ROKT_SUMMARY_PARAMS,
    idempotency_key,
    rokt_event_headers,
    rokt_events,
    session_with,
)

# -- Rokt Event API ------------------------------------------------------------------------


def _post_events(sandbox: Sandbox, body: Any = None, **headers: str) -> requests.Response:
    url = sandbox.rokt.api_url + "/v1/events"
    sent = {**rokt_event_headers(), **headers}
    sent = {name: value for name, value in sent.items() if value != "(absent)"}
    return session_with(sandbox.rokt_auth()).post(
        url, json=rokt_events(1) if body is None else body, headers=sent, timeout=10
    )


def test_events_are_accepted_as_documented(sandbox: Sandbox) -> None:
    response = _post_events(sandbox, rokt_events(100))
    assert response.status_code == 200 and response.json() == {"unprocessedRecords": []}
    assert _post_events(sandbox, **{"Rokt-Version": ""}).ok, "an empty Rokt-Version asks for the latest"


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"Rokt-Version": "(absent)"}, "Rokt-Version"),
        ({"Rokt-Version": "2019-01-01"}, "Rokt-Version"),
        ({"Idempotency-Key": "(absent)"}, "Idempotency-Key must be a UUID"),
        ({"Idempotency-Key": "not-a-uuid"}, "Idempotency-Key must be a UUID"),
    ],
)
def test_an_event_call_with_a_wrong_header_is_a_400(headers: dict[str, str], message: str, sandbox: Sandbox) -> None:
    response = _post_events(sandbox, **headers)
    assert response.status_code == 400
    assert response.json()["code"] == "RequestValidationError" and message in response.json()["message"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"events": []}, "1 to 100 events"),
        (rokt_events(101), "1 to 100 events"),
        ({"event": rokt_events(1)["events"]}, "1 to 100 events"),
        ({"events": [{"accountId": "1", "eventType": "conversion"}]}, "events[0] lacks clientEventId, eventTime"),
    ],
)
def test_a_wrong_event_body_is_a_400_naming_the_problem(body: Any, message: str, sandbox: Sandbox) -> None:
    response = _post_events(sandbox, body)
    assert response.status_code == 400 and message in response.json()["message"], response.text


def test_a_body_that_is_not_json_is_rokts_unmarshal_error(sandbox: Sandbox) -> None:
    response = session_with(sandbox.rokt_auth()).post(
        sandbox.rokt.api_url + "/v1/events", data=b"{events", headers=rokt_event_headers(), timeout=10
    )
    assert response.status_code == 400 and response.json()["code"] == "RequestJsonUnmarshalError"


def test_a_reused_idempotency_key_is_a_409(sandbox: Sandbox) -> None:
    headers = rokt_event_headers()
    assert _post_events(sandbox, **headers).ok
    assert _post_events(sandbox, **headers).status_code == 409


def test_the_account_summary_needs_its_four_parameters(sandbox: Sandbox) -> None:
    session = session_with(sandbox.rokt_auth())
    url = sandbox.rokt.api_url + "/reporting/accounts/123/summary"
    assert session.get(url, params=ROKT_SUMMARY_PARAMS, timeout=10).ok
    missing = session.get(url, params={"dateStart": "2026-11-01"}, timeout=10)
    assert missing.status_code == 400
    assert "dateEnd, currency, timeZoneVariation" in missing.json()["message"]


def test_a_replay_after_a_refused_token_keeps_the_callers_idempotency_key(sandbox: Sandbox) -> None:
    auth = sandbox.rokt_auth()
    auth.get_token()
    sandbox.revoke_tokens("rokt")
    headers = rokt_event_headers()
    response = session_with(auth).post(
        sandbox.rokt.api_url + "/v1/events", json=rokt_events(1), headers=headers, timeout=10
    )
    assert response.status_code == 200 and [r.status_code for r in response.history] == [401]
    sent = sandbox.calls_to(path_prefix="/rokt/v1/events")
    assert [call.header("Idempotency-Key") for call in sent] == [headers["Idempotency-Key"]] * 2


@pytest.mark.parametrize(
    ("vendor", "path", "body", "headers"),
    [
        ("rokt", "/v1/events", rokt_events(1), rokt_event_headers),
        ("rokt_partnerships", "/v1/accounts/register/partnership", PARTNERSHIP, idempotency_key),
    ],
)
def test_a_key_recorded_on_the_refused_attempt_gets_the_replay_a_409_returned_once(
    vendor: str, path: str, body: Any, headers: Any, sandbox: Sandbox
) -> None:
    # Rokt does not say whether it records a key on a refused call; if it does, the
    # caller gets the 409 as it is, once, and sends the write again with a new key.
    emulation = sandbox.emulation(vendor)
    emulation.record_refused_keys = True  # type: ignore[attr-defined]
    auth = sandbox.auth(vendor)
    auth.get_token()
    sandbox.revoke_tokens(vendor)
    session = session_with(auth)
    conflict = session.post(emulation.api_url + path, json=body, headers=headers(), timeout=10)
    assert conflict.status_code == 409
    assert sandbox.count(vendor, "api") == 2, "the 409 is not retried"
    assert session.post(emulation.api_url + path, json=body, headers=headers(), timeout=10).ok, "a new key goes through"


# -- Rokt Partnerships API -------------------------------------------------------------------


def _register(sandbox: Sandbox, body: Any = PARTNERSHIP, **headers: str) -> requests.Response:
    url = sandbox.rokt_partnerships.api_url + "/v1/accounts/register/partnership"
    session = session_with(sandbox.rokt_partnerships_auth())
    return session.post(url, json=body, headers={**idempotency_key(), **headers}, timeout=10)


def test_a_registration_answers_an_operation_id_that_can_be_polled(sandbox: Sandbox) -> None:
    created = _register(sandbox)
    assert created.status_code == 201
    operation_id = created.headers["X-Operation-Id"]
    assert created.json()["data"]["operation_id"] == operation_id
    url = sandbox.rokt_partnerships.api_url + "/v1/partnership/operations/" + operation_id
    polled = session_with(sandbox.rokt_partnerships_auth()).get(url, timeout=10)
    assert polled.json()["data"] == {"id": operation_id, "status": "completed"}


def test_a_write_without_an_idempotency_key_is_a_400_with_an_operation_id(sandbox: Sandbox) -> None:
    url = sandbox.rokt_partnerships.api_url + "/v1/accounts/register/partnership"
    response = session_with(sandbox.rokt_partnerships_auth()).post(url, json=PARTNERSHIP, timeout=10)
    assert response.status_code == 400 and response.json()["error"] == "BadRequest"
    assert "Idempotency-Key" in response.json()["message"]
    assert response.headers["X-Operation-Id"], "every write answers one, errors included"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"external_account_id": ""}, "external_account_id is required"),
        ({"store_url": "shop.example"}, "store_url must be a URL with its scheme"),
        ({"vertical_ids": []}, "vertical_ids must be a non-empty list"),
    ],
)
def test_a_registration_lacking_a_field_is_a_422_naming_it(
    change: dict[str, Any], message: str, sandbox: Sandbox
) -> None:
    response = _register(sandbox, {**PARTNERSHIP, **change})
    assert response.status_code == 422 and response.json()["error"] == "ValidationFailed"
    assert message in response.json()["message"]


def test_the_same_write_with_the_same_key_gets_the_first_answer(sandbox: Sandbox) -> None:
    key = idempotency_key()
    first, again = _register(sandbox, **key), _register(sandbox, **key)
    assert first.status_code == again.status_code == 201
    assert first.json()["data"]["partnership_id"] == again.json()["data"]["partnership_id"]


# -- Digital Turbine ---------------------------------------------------------------------------


def _report(sandbox: Sandbox, body: Any) -> requests.Response:
    session = session_with(sandbox.digital_turbine_auth())
    return session.post(sandbox.digital_turbine.api_url + "/api/v1/report", json=body, timeout=10)


def _changed(path: str, value: Any) -> dict[str, Any]:
    body = copy.deepcopy(DT_REPORT)
    *parents, last = path.split(".")
    target = body
    for name in parents:
        target = target[name]
    target[last] = value
    return body


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"metrics": ["Installs"]}, 'product must be "dtgrowth"'),
        (_changed("product", "offerwall"), 'product must be "dtgrowth"'),
        (_changed("query", None), "query must be an object"),
        (_changed("query.dateRange", "last week"), "dateRange must be {start, end}"),
        (_changed("query.dateRange", {"start": "2026-01-01", "end": "2026-05-01"}), "at most 90 days"),
        (_changed("query.dateRange", {"start": "2026-11-07", "end": "2026-11-01"}), "run forward"),
        (_changed("query.metrics", []), "metrics must be a non-empty list"),
        (_changed("query.splits", "Date"), "splits must be a list"),
        (_changed("query.reportFormat", "json"), 'reportFormat must be "csv"'),
    ],
)
def test_a_wrong_report_request_is_a_400_naming_the_problem(body: Any, message: str, sandbox: Sandbox) -> None:
    response = _report(sandbox, body)
    assert response.status_code == 400 and message in response.json()["error_description"], response.text


@pytest.mark.parametrize(("field", "pending_status"), [("signed_url", 200), ("url", 404)])
def test_a_report_is_there_after_a_few_polls_of_its_url(field: str, pending_status: int, sandbox: Sandbox) -> None:
    sandbox.digital_turbine.url_field, sandbox.digital_turbine.pending_status = field, pending_status
    answer = _report(sandbox, DT_REPORT).json()
    url = answer.get("signed_url") or answer["url"]
    polls = [requests.get(url, timeout=10) for _ in range(sandbox.digital_turbine.polls_until_ready + 1)]
    assert [(p.status_code, bool(p.content)) for p in polls[:-1]] == [(pending_status, pending_status == 404)] * 2
    assert polls[-1].status_code == 200 and polls[-1].text.startswith("Date,Country,Installs")


# -- Algonomy -----------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["", "/rcdpapi"])
def test_profile_apis_take_the_customer_in_a_header_under_either_base(prefix: str, sandbox: Sandbox) -> None:
    auth = sandbox.algonomy_auth(token_url=sandbox.algonomy.base_url + prefix + "/secureApi/token/profile/create")
    url = sandbox.algonomy.api_url + prefix + "/api/v1/profile/b2b/basic"
    assert requests.post(url, headers={"email_address": "c@example.com"}, auth=auth, timeout=10).ok
    refused = requests.post(url, auth=auth, timeout=10)
    assert refused.status_code == 400 and "gcrId, mobile_number, email_address" in refused.json()["message"]


def test_the_basic_api_takes_no_body(sandbox: Sandbox) -> None:
    url = sandbox.algonomy.api_url + "/api/v1/profile/b2b/basic"
    response = requests.post(
        url, json={"customerId": "c1"}, headers=ALGONOMY_CUSTOMER, auth=sandbox.algonomy_auth(), timeout=10
    )
    assert response.status_code == 400 and "takes no request body" in response.json()["message"]
