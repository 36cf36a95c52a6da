"""Talking to a token endpoint: one bounded exchange, answers, lifetimes and redaction.

What is the same for every vendor's token endpoint lives here, free of any
vendor and of the token's cached state: what a request and an issued token
look like, one POST whose whole duration (connect, headers and body) is bounded
by the timeout, size limits, reading lifetimes, and hiding secrets (in every
form the library sends them) from messages.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import socket
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any, Callable, NamedTuple, Optional
from urllib.parse import quote, quote_plus

import requests
from requests.auth import AuthBase

from .exceptions import AuthError, InvalidTokenResponseError

__all__ = [
    "MAX_LIFETIME",
    "MAX_TOKEN_ANSWER_BYTES",
    "AnswerBrokenOff",
    "IssuedToken",
    "Redactor",
    "TokenRequest",
    "body_snippet",
    "detached",
    "exchange",
    "is_token_syntax",
    "parse_lifetime",
    "retry_after_seconds",
    "without_trace",
]

#: A token answer larger than this is refused; reading stops there (a token is a few KiB).
MAX_TOKEN_ANSWER_BYTES = 1024 * 1024
#: A lifetime claimed beyond this is capped: a token renewed daily costs nothing,
#: and a bogus ``expires_in`` must not pin a revoked token for years.
MAX_LIFETIME = 24 * 3600.0
#: A token said to live less than this is refused: it would expire before it is used,
#: and accepting it would cost a token call per request.
MIN_LIFETIME = 1.0
#: Longest snippet of a non-JSON error body quoted in a message.
SNIPPET_CHARS = 200

# RFC 6750 b64token is stricter; vendors' tokens are all visible ASCII, and that
# is what makes a value safe to put in a header (no CR/LF, no spaces).
_TOKEN_SYNTAX = re.compile(r"[\x21-\x7e]{1,16384}")
_REDACTED = "[redacted]"


def is_token_syntax(value: object) -> bool:
    """Whether ``value`` can travel in a header as a token: 1 to 16384 visible ASCII characters."""
    return isinstance(value, str) and _TOKEN_SYNTAX.fullmatch(value) is not None


class TokenRequest(NamedTuple):
    """What a vendor flow sends to its token endpoint (always a POST).

    Exactly one of ``data`` (form-encoded text) or ``json`` is normally set.
    Its repr names the URL only: the rest carries secrets.
    """

    url: str
    headers: Mapping[str, str] = {}
    data: Optional[str] = None
    json: Any = None
    auth: Optional[AuthBase] = None

    def __repr__(self) -> str:
        return f"TokenRequest(url={self.url!r}, headers=[{len(self.headers)} hidden], body=[hidden])"


class IssuedToken(NamedTuple):
    """A token as parsed from a vendor's answer.

    ``lifetime`` is in seconds; None means the answer did not say, and the
    vendor's documented default lifetime applies.
    """

    value: str
    lifetime: Optional[float] = None

    def __repr__(self) -> str:
        return f"IssuedToken(value=[hidden], lifetime={self.lifetime!r})"


def parse_lifetime(value: object, name: str) -> Optional[float]:
    """Read a token lifetime in seconds from an answer field.

    Args:
        value: the field's value as decoded from JSON (None when absent).
        name: the field's name, for the error message.

    Returns:
        The lifetime in seconds, capped at :data:`MAX_LIFETIME`, or None when absent.

    Raises:
        InvalidTokenResponseError: the value is not a positive number.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise InvalidTokenResponseError(f"the token answer's {name!r} is not a number of seconds", status_code=200)
    try:
        number = float(value)
    except OverflowError:  # an integer beyond any float (10**400): absurdly long, so capped
        number = math.inf
    except ValueError:
        raise InvalidTokenResponseError(
            f"the token answer's {name!r} is not a number of seconds", status_code=200
        ) from None
    if not number >= MIN_LIFETIME:  # also true for NaN
        raise InvalidTokenResponseError(
            f"the token answer's {name!r} is not positive or is under {MIN_LIFETIME:g} s: "
            "the token would be expired on arrival",
            status_code=200,
        )
    return min(number, MAX_LIFETIME)


def retry_after_seconds(value: Optional[str]) -> Optional[float]:
    """Seconds asked for by a ``Retry-After`` header (delta or HTTP date), or None."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    from email.utils import parsedate_to_datetime  # rare: keep it off the import path

    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def without_trace(exc: AuthError) -> AuthError:
    """``exc`` stripped of its traceback and of the exceptions it was raised from.

    The frames a token request passes through hold secrets in their locals (the
    request body, headers, the answer echoing them), and so do requests' and
    urllib3's frames in a chained exception. Error trackers and
    ``pytest --showlocals`` print every local of every frame an exception
    carries, so the library's errors carry none of those frames.
    """
    cause = exc.__cause__
    if cause is not None and (cause.__traceback__ is not None or cause.__cause__ or cause.__context__):
        exc.__cause__ = None  # a live cause: its frames and chain hold the request
    exc.__context__ = None
    exc.__suppress_context__ = True
    return exc.with_traceback(None)


def detached(exc: BaseException, redact: Callable[[str], str]) -> BaseException:
    """A copy of ``exc`` (same type, redacted message) with no frames, chain or request.

    For ``raise ... from detached(exc)``: the caller can still tell a
    ConnectionError from an SSLError, and nothing of the request comes along.
    """
    message = redact(str(exc))[:500]
    try:
        return type(exc)(message)
    except Exception:  # an exception type with another constructor
        return requests.RequestException(message)


class Redactor:
    """Hides secrets in text, in every form the library sends them.

    Each secret is hidden as itself, percent-encoded (form bodies), JSON-escaped
    (JSON bodies) and, for ``Authorization`` header values, as the credentials
    after the scheme (the base64 of ``id:secret``). Matching ignores case, so a
    server that re-encodes with lower-case hex is caught too.
    """

    __slots__ = ("_pattern",)

    def __init__(self, secrets: Iterable[str]) -> None:
        forms: set[str] = set()
        for secret in secrets:
            if len(secret) < 4:  # too short to hide without mangling every message
                continue
            forms.update(
                (
                    secret,
                    quote(secret, safe=""),
                    quote_plus(secret),
                    json.dumps(secret)[1:-1],
                    json.dumps(secret, ensure_ascii=False)[1:-1],
                )
            )
        ordered = sorted(forms, key=len, reverse=True)  # longest first: a form may contain another
        self._pattern = re.compile("|".join(map(re.escape, ordered)), re.IGNORECASE) if ordered else None

    @classmethod
    def for_request(cls, secrets: Iterable[str], request: TokenRequest) -> Redactor:
        """A redactor for ``secrets`` and the credentials in ``request``'s Authorization header."""
        values = [s for s in secrets if s]
        for name, value in request.headers.items():
            if name.lower() == "authorization":
                values.append(value.partition(" ")[2] or value)
        if request.data:
            values.append(request.data)
        return cls(values)

    def __call__(self, text: str, *extra: str) -> str:
        """``text`` with every form of the secrets (and of ``extra`` values) replaced."""
        if self._pattern is not None:
            text = self._pattern.sub(_REDACTED, text)
        if any(extra):
            text = Redactor(extra)(text)
        return text


def body_snippet(body: bytes, content_type: Optional[str], redact: Redactor, *extra: str) -> str:
    """A short, printable, redacted quote of a non-JSON answer (an HTML error page, a WAF's text)."""
    # Redacted whole, then cut: a cut first could leave part of a secret that no longer matches.
    text = redact(body.decode("utf-8", "replace"), *extra)
    text = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    if not text:
        return ""
    if len(text) > SNIPPET_CHARS:
        text = text[: SNIPPET_CHARS - 1] + "…"
    return f"{content_type or 'no content type'}: {text!r}"


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
        self.done = threading.Event()
        self.guard = threading.Lock()
        self.abandoned = False
        self.connection: Any = None
        self.response: Optional[requests.Response] = None
        self.result: Optional[tuple[requests.Response, bytes]] = None
        self.error: Optional[BaseException] = None

    def attach(self, connection: Any) -> None:
        with self.guard:
            self.connection = connection
            abandoned = self.abandoned
        if abandoned:
            _shut(getattr(connection, "sock", None))

    def work(self, session: requests.Session, spec: TokenRequest, timeout: float, auth: AuthBase) -> None:
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
                return
            with response:
                try:
                    self.result = response, _read_limited(response, MAX_TOKEN_ANSWER_BYTES)
                except requests.RequestException as exc:
                    if isinstance(exc, AuthError):
                        raise
                    raise AnswerBrokenOff(response.status_code, type(exc).__name__) from None
        except BaseException as exc:  # handed to the waiting thread, which maps it
            self.error = exc
            if self.response is None and self.connection is not None:
                # requests failed after the answer arrived (an unreadable redirect
                # target) without closing it: close its connection here.
                with contextlib.suppress(Exception):
                    self.connection.close()
        finally:
            _RUNNING.job = None
            self.done.set()

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
    worker = threading.Thread(
        target=job.work, args=(session, spec, timeout, no_auth), name="requests-adtech-auth token request", daemon=True
    )
    worker.start()
    if not job.done.wait(timeout):
        job.abandon()
        raise requests.Timeout(f"no complete answer within {timeout:g} s")
    if job.error is not None:
        raise job.error
    assert job.result is not None  # set whenever no error was
    return job.result
