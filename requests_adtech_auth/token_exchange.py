"""One POST to a token endpoint and its whole answer, bounded in time, size and where it may go.

requests' own timeout bounds each socket operation, so a server sending one byte
at a time could keep a request alive indefinitely: the exchange runs under one
deadline (:mod:`~requests_adtech_auth.deadline`), and connections of the
default token session tell the exchange which socket to shut when it passes.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from typing import Any, Optional

import requests
from requests.auth import AuthBase

from .deadline import run_within
from .exceptions import AuthError, InvalidTokenResponseError
from .token_answers import MAX_TOKEN_ANSWER_BYTES, TokenRequest

__all__ = ["DEFAULT_SESSION", "NO_AUTH", "AnswerBrokenOff", "cutoff_session", "exchange"]


def _sever(response: requests.Response) -> None:
    # A read blocked in another thread ends only when its socket is shut down.
    raw = response.raw
    connection = getattr(raw, "_connection", None) or getattr(raw, "connection", None)
    _shut(getattr(connection, "sock", None))
    with contextlib.suppress(Exception):
        response.close()


def _read_limited(response: requests.Response, limit: int) -> bytes:
    chunks = []
    size = 0
    for chunk in response.iter_content(65536):
        size += len(chunk)
        if size > limit:
            raise InvalidTokenResponseError(
                f"the token answer is larger than {limit} bytes; this is not a token answer",
                status_code=response.status_code,
            )
        chunks.append(chunk)
    return b"".join(chunks)


class AnswerBrokenOff(requests.RequestException):
    """The answer's headers arrived but its body did not, in full."""

    def __init__(self, status_code: int, cause: str) -> None:
        super().__init__(f"the answer broke off ({cause})")
        self.status_code = status_code
        self.cause = cause


# The exchange a worker thread is running, for the connection classes below.
_RUNNING = threading.local()


def _shut(sock: object) -> None:
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _tracked(connection_class: type[Any]) -> type[Any]:
    class Tracked(connection_class):  # type: ignore[misc]
        """Tells the exchange running in this thread which connection it uses."""

        def request(self, *args: Any, **kwargs: Any) -> Any:
            job = getattr(_RUNNING, "job", None)
            if job is not None:
                job.attach(self)
            return super().request(*args, **kwargs)

    Tracked.__name__ = Tracked.__qualname__ = "Tracked" + connection_class.__name__
    return Tracked


def cutoff_session() -> requests.Session:
    """A session whose token requests an expired deadline can cut off even mid-headers.

    Its connections tell the running exchange which socket they use, so that
    :func:`exchange` can shut it down when the deadline passes while the answer's
    headers are still arriving (no Response object exists yet then). Sessions a
    caller passes in are used as they are: there only the body can be cut off.
    """
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    class TrackedHTTPPool(HTTPConnectionPool):
        ConnectionCls = _tracked(HTTPConnection)

    class TrackedHTTPSPool(HTTPSConnectionPool):
        ConnectionCls = _tracked(HTTPSConnection)

    session = requests.Session()
    for prefix in ("https://", "http://"):
        adapter = session.get_adapter(prefix)
        pools = getattr(adapter, "poolmanager", None)
        if pools is not None:
            pools.pool_classes_by_scheme = {"http": TrackedHTTPPool, "https": TrackedHTTPSPool}
    return session


class _Exchange:
    """One POST and its whole answer, run in a worker thread so that a deadline can end it."""

    def __init__(self) -> None:
        self.guard = threading.Lock()
        self.abandoned = False
        self.connection: Any = None
        self.response: Optional[requests.Response] = None

    def attach(self, connection: Any) -> None:
        with self.guard:
            self.connection = connection
            abandoned = self.abandoned
        if abandoned:
            _shut(getattr(connection, "sock", None))

    def work(
        self, session: requests.Session, spec: TokenRequest, timeout: float, auth: AuthBase
    ) -> tuple[requests.Response, bytes]:
        _RUNNING.job = self
        try:
            response = session.post(
                spec.url,
                headers=dict(spec.headers),
                data=spec.data,
                json=spec.json,
                auth=spec.auth or auth,
                timeout=timeout,
                allow_redirects=False,
                stream=True,
                # Passed explicitly: otherwise REQUESTS_CA_BUNDLE in the environment
                # silently overrides the CA bundle set on session.verify.
                verify=session.verify,
            )
            with self.guard:
                self.response = response
                abandoned = self.abandoned
            if abandoned:
                _sever(response)
                raise requests.Timeout("abandoned")  # nobody waits for it any more
            with response:
                try:
                    return response, _read_limited(response, MAX_TOKEN_ANSWER_BYTES)
                except requests.RequestException as exc:
                    if isinstance(exc, AuthError):
                        raise
                    raise AnswerBrokenOff(response.status_code, type(exc).__name__) from None
        except BaseException:
            if self.response is None and self.connection is not None:
                # requests failed after the answer arrived (an unreadable redirect
                # target) without closing it: close its connection here.
                with contextlib.suppress(Exception):
                    self.connection.close()
            raise
        finally:
            _RUNNING.job = None

    def abandon(self) -> None:
        with self.guard:
            self.abandoned = True
            response, connection = self.response, self.connection
        if response is not None:
            _sever(response)
        elif connection is not None:  # still reading the headers
            _shut(getattr(connection, "sock", None))


def exchange(
    session: requests.Session, spec: TokenRequest, timeout: float, no_auth: AuthBase
) -> tuple[requests.Response, bytes]:
    """POST ``spec`` and read the whole answer within ``timeout`` seconds in all.

    requests' own timeout bounds each socket operation, so a server sending one
    byte at a time could keep a request alive indefinitely. The exchange runs in
    a worker thread; when the deadline passes the caller gets
    :class:`requests.Timeout` at once and the worker's socket is shut down.

    Args:
        session: the session to send with.
        spec: the request.
        timeout: seconds for connecting, sending, and reading headers and body.
        no_auth: the auth used when ``spec`` has none (keeps session auth off).

    Returns:
        The response (its body already read and the connection released) and the body.

    Raises:
        requests.RequestException: the exchange failed or ran out of time.
        InvalidTokenResponseError: the answer is over :data:`MAX_TOKEN_ANSWER_BYTES`.
    """
    job = _Exchange()

    def time_is_up() -> BaseException:
        job.abandon()
        return requests.Timeout(f"no complete answer within {timeout:g} s")

    return run_within(
        timeout,
        lambda: job.work(session, spec, timeout, no_auth),
        abandon=time_is_up,
        name="requests-adtech-auth token request",
    )


class _NoAuth(AuthBase):
    """Keeps a caller's session-level auth (or .netrc) off our token requests."""

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        return r


NO_AUTH = _NoAuth()


class _DefaultTokenSession:
    """The token session of every auth object not given one.

    One connection pool for the process, however many auth objects come and go.
    Its cookie jar takes nothing: a cookie one credential's token answer sets is
    not sent with another's.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.session: Optional[requests.Session] = None

    def get(self) -> requests.Session:
        with self.lock:
            if self.session is None:
                from http.cookiejar import DefaultCookiePolicy

                session = cutoff_session()
                session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
                self.session = session
            return self.session

    def after_fork(self) -> None:
        # Pooled sockets are shared with the parent; never write to them from both.
        self.lock = threading.Lock()
        self.session = None


DEFAULT_SESSION = _DefaultTokenSession()

if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=DEFAULT_SESSION.after_fork)
