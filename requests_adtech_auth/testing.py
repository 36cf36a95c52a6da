"""The contract every vendor flow keeps, as a pytest suite a flow's own tests run.

A flow (ours, or another package's) subclasses :class:`VendorContract` in a test
module and names its :class:`~requests_adtech_auth.registry.Vendor`::

    from requests_adtech_auth.testing import VendorContract

    from acme_adtech import VENDOR


    class TestAcmeFlow(VendorContract):
        vendor = VENDOR

pytest then runs every ``test_*`` method below against the flow's sandbox
emulation, over real loopback HTTP and real ``requests`` sessions: the token is
fetched lazily and once, renewed before it expires, fetched once however many
threads ask, replaced once when the vendor refuses it, and no credential reaches
another host, a redirect's target, a log record, a ``repr``, a message or a
traceback's locals. The package's own flows run this same suite. Importing this
module needs pytest.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
import requests

from . import registry
from .exceptions import TokenRequestError
from .sandbox import Fault, Sandbox

__all__ = ["VendorContract"]


class VendorContract:
    """The contract tests; set :attr:`vendor` in a subclass whose name starts with ``Test``."""

    #: The flow under test (it is registered, if it is not yet, when a test starts).
    vendor: ClassVar[registry.Vendor]

    # -- fixtures and helpers ------------------------------------------------------------

    @pytest.fixture
    def box(self) -> Iterator[Sandbox]:
        """A sandbox serving the flow's emulation, for one test."""
        if self.vendor.emulation is None or not self.vendor.calls:
            pytest.fail(f"{self.vendor.name}: the contract needs an emulation and at least one call")
        registry.register(self.vendor)
        with Sandbox() as sandbox:
            yield sandbox

    def make_auth(self, box: Sandbox, **options: Any) -> Any:
        """A fresh auth object of the flow, pointed at ``box``, that keeps its token to itself."""
        options.setdefault("backoff", 0.01)
        options.setdefault("share_token", False)
        return box.auth(self.vendor.name, **options)

    def first_call(self, session: requests.Session, box: Sandbox, **options: Any) -> requests.Response:
        """The flow's first documented call, through ``session``."""
        return self.vendor.calls[0].send(session, box.emulation(self.vendor.name).api_url, **options)

    def counted(self, box: Sandbox, event: str) -> int:
        """A counter of the flow's emulation."""
        return box.count(box.emulation(self.vendor.name).name, event)

    def requires_tokens(self, box: Sandbox) -> None:
        """Skip a test about tokens for a flow whose calls carry a key (its emulation has no token endpoint)."""
        if not box.emulation(self.vendor.name).token_paths:
            pytest.skip(f"{self.vendor.name} sends a key with every call: no token to fetch or renew")

    def session(self, auth: Any) -> requests.Session:
        """A session that sends ``auth`` and nothing from the environment (.netrc, proxies)."""
        session = requests.Session()
        session.trust_env = False
        session.auth = auth
        return session

    # -- the contract --------------------------------------------------------------------

    def test_no_token_call_before_the_first_request(self, box: Sandbox) -> None:
        """Building the object does no I/O; the first request fetches one token."""
        self.requires_tokens(box)
        auth = self.make_auth(box)
        assert self.counted(box, "token") == 0, "building an auth object must do no I/O"
        assert self.first_call(self.session(auth), box).ok
        assert self.counted(box, "token") == 1

    def test_one_token_serves_many_requests(self, box: Sandbox) -> None:
        """Requests reuse the cached token."""
        self.requires_tokens(box)
        session = self.session(self.make_auth(box))
        for _ in range(5):
            assert self.first_call(session, box).ok
        assert self.counted(box, "token") == 1

    def test_renewed_before_it_expires_without_a_refusal(self, box: Sandbox) -> None:
        """A token past its renewal point is replaced before it expires, not after a refusal."""
        self.requires_tokens(box)
        options = box.emulation(self.vendor.name).lifetime_options(2.0)
        auth = self.make_auth(box, **options)
        session = self.session(auth)
        assert self.first_call(session, box).ok
        status = auth.token_status
        assert status is not None and 0 < status.renews_in < status.expires_in <= 2.0
        time.sleep(status.renews_in + 0.05)  # past the renewal point, before expiry
        response = self.first_call(session, box)
        assert response.ok and not response.history, "renewed ahead, not after a refusal"
        assert self.counted(box, "token") == 2

    def test_threads_asking_at_once_share_one_token_call(self, box: Sandbox) -> None:
        """Eight threads using one new object at once cause one token call."""
        self.requires_tokens(box)
        box.token_delay = 0.2  # every thread arrives while the first fetch is in flight
        auth = self.make_auth(box)
        barrier = threading.Barrier(8)
        outcomes: list[bool] = []

        def first_use() -> None:
            barrier.wait(10)
            with self.session(auth) as session:
                outcomes.append(self.first_call(session, box).ok)

        threads = [threading.Thread(target=first_use) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert outcomes == [True] * 8
        assert self.counted(box, "token") == 1

    def test_a_refused_token_is_replaced_and_the_request_replayed_once(self, box: Sandbox) -> None:
        """A revoked token is replaced and the request replayed once; a lasting refusal is returned."""
        self.requires_tokens(box)
        session = self.session(self.make_auth(box))
        assert self.first_call(session, box).ok
        box.revoke_tokens(self.vendor.name)
        replayed = self.first_call(session, box)
        assert replayed.ok and len(replayed.history) == 1, (
            "the refused token was not replaced: the replay calls _apply_token again on the request that "
            "carried it, so _apply_token must overwrite the token header, and credential_headers must list it"
        )
        assert self.counted(box, "token") == 2
        box.add_fault(self.vendor.name, "api", Fault.status(401), times=10)
        calls_before = self.counted(box, "api")
        assert self.first_call(session, box).status_code == 401, "a refusal that persists is returned"
        assert self.counted(box, "api") - calls_before == 2, "one replay, never a loop"

    def test_every_header_the_flow_attaches_is_a_credential_header(self, box: Sandbox) -> None:
        """What the flow attaches, ``credential_headers`` lists: a redirect to another origin takes it off."""
        auth = self.make_auth(box)
        listed = {name.lower() for name in auth.credential_headers}
        unlisted = sorted(name for name in auth.get_headers() if name.lower() not in listed)
        assert not unlisted, (
            f"{type(auth).__name__} attaches {unlisted}, which credential_headers does not list: "
            "add them there, or a redirect to another origin carries them"
        )

    def test_no_credential_follows_a_redirect_to_another_host(self, box: Sandbox) -> None:
        """A redirect to another host arrives there with no credential."""
        auth = self.make_auth(box)
        box.add_fault(self.vendor.name, "api", Fault.redirect(box.storage_url + "/landing", 307))
        self.first_call(self.session(auth), box)
        landed = box.calls_to("storage", "/landing")
        assert len(landed) == 1, "the redirect was followed"
        self._assert_carries_nothing(box, auth, landed[0].headers)

    def test_no_credential_to_a_host_outside_hosts(self, box: Sandbox) -> None:
        """A request to a host outside ``hosts`` carries no credential and fetches no token."""
        auth = self.make_auth(box)
        assert self.session(auth).get(box.storage_url + "/elsewhere", timeout=10).ok
        self._assert_carries_nothing(box, auth, box.calls_to("storage", "/elsewhere")[0].headers)
        assert self.counted(box, "token") == 0, "no token is fetched for a host that gets none"

    def test_secrets_stay_out_of_logs_reprs_messages_and_locals(
        self, box: Sandbox, caplog: pytest.LogCaptureFixture
    ) -> None:
        """No secret or token in logs, ``repr``, a refusal's message or its traceback's locals."""
        caplog.set_level(logging.DEBUG)
        auth = self.make_auth(box, max_retries=0)
        assert self.first_call(self.session(auth), box).ok
        shown = [repr(auth)]
        if box.emulation(self.vendor.name).token_paths:
            auth.invalidate()
            box.add_fault(self.vendor.name, "token", Fault.status(401, {"error": "invalid_client"}))
            with pytest.raises(TokenRequestError) as refused:
                auth.get_token()
            error = refused.value
            shown += [
                str(error),
                repr(error),
                "".join(traceback.TracebackException.from_exception(error, capture_locals=True).format()),
            ]
        else:  # a key flow: the API refuses the key itself
            box.add_fault(self.vendor.name, "api", Fault.status(401, {"error": "invalid_key"}))
            assert self.first_call(self.session(auth), box).status_code == 401
        shown.append(caplog.text)
        for secret in box.secrets():
            for text in shown:
                assert secret not in text, "a credential or token was shown"

    def _assert_carries_nothing(self, box: Sandbox, auth: Any, headers: Any) -> None:
        for name in auth.credential_headers:
            assert name not in headers, f"{name} reached another host (is it in credential_headers?)"
        for value in headers.values():
            assert not any(secret in value for secret in box.secrets()), "a credential reached another host"
