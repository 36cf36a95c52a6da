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
import logging
import math
import random
import re
import socket
import threading
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Callable, ClassVar, NamedTuple, Optional, TypeVar, Union, cast
from urllib.parse import quote, quote_plus

import requests
from requests.auth import AuthBase

from .boundary import url_for_display
from .control_chars import escape_controls
from .exceptions import AuthError, InvalidTokenResponseError, TokenRequestError

__all__ = [
    "MAX_LIFETIME",
    "MAX_TOKEN_ANSWER_BYTES",
    "AnswerBrokenOff",
    "IssuedToken",
    "Redactor",
    "TokenEndpointClient",
    "TokenRequest",
    "body_snippet",
    "detached",
    "exchange",
    "is_token_syntax",
    "parse_lifetime",
    "retry_after_seconds",
    "without_trace",
]

logger = logging.getLogger("requests_adtech_auth")
_T = TypeVar("_T")

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

    A JSON number or a string holding one. Every form is judged by its sign and
    size, never by whether it fits a float: at least :data:`MIN_LIFETIME` is the
    lifetime, capped at :data:`MAX_LIFETIME` (so is a positive number too large
    for a float, ``1e400`` or ``10**400``, and infinity); anything under it is
    refused, zero, ``-0`` and every negative alike, however large (``-1e400``,
    ``-10**400``, ``-inf``, ``"-inf"``); so is NaN.

    Args:
        value: the field's value as decoded from JSON (None when absent).
        name: the field's name, for the error message.

    Returns:
        The lifetime in seconds, capped at :data:`MAX_LIFETIME`, or None when absent.

    Raises:
        InvalidTokenResponseError: the value is not a number of at least :data:`MIN_LIFETIME` seconds.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise InvalidTokenResponseError(f"the token answer's {name!r} is not a number of seconds", status_code=200)
    try:
        number = float(value)
    except OverflowError:  # an integer beyond any float (10**400): its sign decides, as for 1e400
        number = math.inf if isinstance(value, int) and value > 0 else -math.inf
    except ValueError:
        raise InvalidTokenResponseError(
            f"the token answer's {name!r} is not a number of seconds", status_code=200
        ) from None
    if math.isnan(number):
        raise InvalidTokenResponseError(f"the token answer's {name!r} is NaN, not a number of seconds", status_code=200)
    if number < MIN_LIFETIME:
        what = "not positive" if number <= 0 else f"under {MIN_LIFETIME:g} s"
        raise InvalidTokenResponseError(
            f"the token answer's {name!r} is {what}: the token would be expired on arrival", status_code=200
        )
    return min(number, MAX_LIFETIME)


#: Longest integer a token answer's JSON is read into an exact int: beyond it, as a
#: float (an infinity of its sign). Python's int() refuses texts over its digit
#: limit (4300 by default, as low as 640 if the application sets it), which would
#: make a whole answer "not JSON"; and no integer with more digits fits a float anyway.
_EXACT_INTEGER_CHARS = 400


def _json_integer(text: str) -> Union[int, float]:
    return int(text) if len(text) <= _EXACT_INTEGER_CHARS else float(text)


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


def for_another_caller(exc: AuthError) -> AuthError:
    """A copy of ``exc`` (same type, message, attributes and cause) for one more caller to raise.

    Raising one exception object in several threads or coroutines prepends each
    caller's frames to the one traceback they all hold: one caller's error
    report would show another's stack.
    """
    kind = type(exc)
    try:
        # Not through the type's own constructor or __new__ (a subclass's may take
        # other arguments): through the built-in base's, OSError for requests' errors.
        builtin = next(klass for klass in kind.__mro__ if klass.__module__ == "builtins")
        make = cast("Callable[[type[AuthError]], AuthError]", builtin.__new__)
        copied = make(kind)
        copied.args = exc.args
        if isinstance(exc, OSError):  # fields OSError's __init__ parses out of the args
            for field in ("errno", "strerror", "filename", "filename2"):
                value = getattr(exc, field)
                if value is not None:  # a field set to None still changes str()
                    setattr(copied, field, value)
        copied.__dict__.update(vars(exc))
        for klass in kind.__mro__:
            slots = getattr(klass, "__slots__", ())
            for name in (slots,) if isinstance(slots, str) else slots:
                if name not in ("__dict__", "__weakref__") and hasattr(exc, name):
                    setattr(copied, name, getattr(exc, name))
    except Exception:  # a type that cannot be copied so: shared after all, left as it is
        return exc
    notes = getattr(exc, "__notes__", None)
    if isinstance(notes, list):
        copied.__notes__ = list(notes)  # a note one caller adds stays on its own copy
    copied.__cause__ = exc.__cause__  # a detached copy without frames, safe to share
    copied.__suppress_context__ = True
    return copied.with_traceback(None)


def detached(exc: BaseException, shown: Callable[[str], str]) -> BaseException:
    """A copy of ``exc`` (same type, its message as ``shown`` makes it) with no frames, chain or request.

    For ``raise ... from detached(exc)``: the caller can still tell a
    ConnectionError from an SSLError, and nothing of the request comes along.
    ``shown`` hides the secrets (and escapes what the server wrote).
    """
    message = shown(str(exc))[:500]
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


def body_snippet(body: bytes, redact: Redactor, *extra: str) -> str:
    """A short, printable, redacted quote of a non-JSON answer (an HTML error page, a WAF's text).

    Every run of unprintable characters and whitespace (line breaks, escape
    sequences, bidi controls) becomes one space. Empty for a body with nothing
    printable.
    """
    # Redacted whole, then cut: a cut first could leave part of a secret that no longer matches.
    text = redact(body.decode("utf-8", "replace"), *extra)
    text = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    if not text:
        return ""
    if len(text) > SNIPPET_CHARS:
        text = text[: SNIPPET_CHARS - 1] + "…"
    return repr(text)


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


class _NoAuth(AuthBase):
    """Keeps a caller's session-level auth (or .netrc) off our token requests."""

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        return r


_NO_AUTH = _NoAuth()


class TokenEndpointClient:
    """Talks to a vendor's token endpoint: bounded attempts, retries, answers read, errors mapped.

    A mixin of :class:`~requests_adtech_auth.core.TokenAuth`, which supplies the
    class attributes and the vendor's overrides declared here.
    """

    vendor: ClassVar[str]
    error_hints: ClassVar[Mapping[str, str]]
    transient_errors: ClassVar[frozenset[str]]
    credentials_hint: ClassVar[str]
    timeout: float
    max_retries: int
    backoff: float
    max_backoff: float
    _redactor: Optional[Redactor]

    if TYPE_CHECKING:  # supplied by TokenAuth and the vendor modules

        def _token_request(self) -> TokenRequest: ...
        def _parse_token(self, answer: dict[str, Any]) -> IssuedToken: ...
        def _secrets(self) -> tuple[str, ...]: ...
        def _describe(self) -> str: ...
        def _token_session(self) -> requests.Session: ...

    def _parse_error(self, status: int, answer: Optional[dict[str, Any]]) -> tuple[Optional[str], Optional[str]]:
        """Return ``(error code, description)`` from an error answer."""
        if answer is None:
            return None, None
        error = answer.get("error")
        description = answer.get("error_description", answer.get("message"))
        return (
            error if isinstance(error, str) and error else None,
            description if isinstance(description, str) and description else None,
        )

    def _retrying(self, attempt: Callable[[], _T]) -> _T:
        """Run ``attempt``, retrying transient :class:`TokenRequestError` with backoff."""
        retries = 0
        while True:
            try:
                return attempt()
            except TokenRequestError as exc:
                if not exc.transient or retries >= self.max_retries:
                    raise
                delay = self._retry_delay(retries, exc.retry_after)
                retries += 1
                logger.warning(
                    "%s: token request failed (%s); retry %d of %d in %.2f s",
                    self._describe(),
                    exc,
                    retries,
                    self.max_retries,
                    delay,
                )
                time.sleep(delay)

    def _retry_delay(self, attempt: int, retry_after: Optional[float]) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_backoff)
        delay = self.backoff * 2.0**attempt
        return min(delay * random.uniform(0.75, 1.25), self.max_backoff)  # noqa: S311 - jitter, not crypto

    def _post_token_endpoint(self, spec: TokenRequest) -> dict[str, Any]:
        """POST ``spec`` once; return the 2xx JSON-object answer or raise a library error.

        The error carries no frames and no chained exception: those hold the
        request's secrets in their locals (see :func:`without_trace`).
        """
        try:
            return self._exchange(spec)
        except AuthError as exc:
            raise without_trace(exc)  # noqa: B904 - the chain is what must go

    def _exchange(self, spec: TokenRequest) -> dict[str, Any]:
        where = url_for_display(spec.url)
        logger.debug("%s: requesting a token from %s", self._describe(), where)
        try:
            response, body = exchange(self._token_session(), spec, self.timeout, _NO_AUTH)
        except requests.exceptions.SSLError as exc:
            raise TokenRequestError(
                f"{self.vendor} token endpoint {where} failed TLS verification; "
                "if it uses a private CA, pass session= with session.verify set to its bundle",
            ) from detached(exc, self._shown)
        except requests.Timeout as exc:
            raise TokenRequestError(
                f"{self.vendor} token endpoint {where} did not answer in full within {self.timeout:g} s",
                transient=True,
            ) from detached(exc, self._shown)
        except AnswerBrokenOff as exc:
            raise TokenRequestError(
                f"the {self.vendor} token endpoint broke off its answer ({exc.cause})",
                status_code=exc.status_code,
                transient=True,
            ) from None
        except requests.RequestException as exc:
            if isinstance(exc, AuthError):
                raise
            raise TokenRequestError(
                f"could not reach the {self.vendor} token endpoint {where} ({type(exc).__name__}); "
                "check the URL and the network",
                transient=True,
            ) from detached(exc, self._shown)
        except (ValueError, UnicodeError, LookupError, TypeError) as exc:
            # requests and urllib3 raise these for answers they cannot read (a Location
            # header that is not UTF-8, an unparseable redirect target): a hostile answer.
            raise TokenRequestError(
                f"the {self.vendor} token endpoint {where} sent an answer that cannot be read "
                f"({type(exc).__name__}); check token_url",
            ) from None
        declared = response.headers.get("Content-Length", "")
        complete = not (declared.isascii() and declared.isdigit()) or len(body) >= int(declared)
        if not complete and "Content-Encoding" not in response.headers:
            # urllib3 1.x returns a short body without complaint when the connection drops.
            raise TokenRequestError(
                f"the {self.vendor} token endpoint broke off its answer ({len(body)} of {declared} bytes)",
                status_code=response.status_code,
                transient=True,
            )
        return self._read_answer(response, body)

    def _read_answer(self, response: requests.Response, body: bytes) -> dict[str, Any]:
        status = response.status_code
        try:
            answer = json.loads(body, parse_int=_json_integer)
        except (ValueError, RecursionError):  # RecursionError: absurdly nested JSON
            answer = None
        if 300 <= status < 400:
            location = self._shown(url_for_display(response.headers.get("location", "(no location)")), 300)
            raise TokenRequestError(
                f"the {self.vendor} token endpoint answered HTTP {status}, a redirect to '{location}', "
                "which is not followed with credentials; check token_url",
                status_code=status,
            )
        if not 200 <= status < 300:
            error = self._error_for(status, answer if isinstance(answer, dict) else None, response)
            if not isinstance(answer, dict) and body.strip():
                # Not the vendor's JSON: a proxy, a WAF or a load balancer may have answered.
                error.args = (f"{error} [{self._snippet(response, body)}]",)
            raise error
        if not isinstance(answer, dict):
            what = "empty" if not body.strip() else "not a JSON object"
            snippet = "" if answer is not None else self._snippet(response, body)
            raise InvalidTokenResponseError(
                f"the {self.vendor} token endpoint answered HTTP {status} but its body is {what}"
                f"{f' ({snippet})' if snippet else ''}; check token_url",
                status_code=status,
            )
        return answer

    def _snippet(self, response: requests.Response, body: bytes) -> str:
        """The content type and a quote of a non-JSON answer, for a message ("" when nothing is printable)."""
        quoted = body_snippet(body, self._redactor_for_messages(), *self._live())
        if not quoted:
            return ""
        content_type = response.headers.get("Content-Type")
        return f"{self._shown(content_type, 100) if content_type else 'no content type'}: {quoted}"

    def _issued_from(self, answer: dict[str, Any]) -> IssuedToken:
        issued = self._parse_token(answer)
        self._check_token_value(issued.value)
        return issued

    def _check_token_value(self, value: object) -> None:
        """Refuse a token that cannot travel in a header (CR/LF, spaces, non-ASCII)."""
        if not is_token_syntax(value):
            raise InvalidTokenResponseError(
                f"the {self.vendor} token endpoint returned a token that is not a printable "
                "ASCII string and cannot be sent in a header",
                status_code=200,
            )

    def _error_for(
        self, status: int, answer: Optional[dict[str, Any]], response: Optional[requests.Response] = None
    ) -> TokenRequestError:
        """The library error for an error answer (also one inside a 2xx, for vendors that send those)."""
        error, description = self._parse_error(status, answer)
        error = self._shown(error, 200) if error else None
        description = self._shown(description, 500) if description else None
        transient = status in (408, 429) or status >= 500 or error in self.transient_errors
        if error and error in self.error_hints:
            hint = self.error_hints[error]
        elif transient:
            hint = "the vendor is busy or failing; try again later"
        elif status in (400, 401, 403):
            hint = self.credentials_hint
        else:
            hint = "check token_url"
        detail = f" {error}" if error else ""
        detail += f" ({description})" if description else ""
        return TokenRequestError(
            f"{self.vendor} token request failed: HTTP {status}{detail}; {hint}",
            status_code=status,
            error=error,
            description=description,
            transient=transient,
            retry_after=retry_after_seconds(response.headers.get("Retry-After")) if response is not None else None,
        )

    def _redactor_for_messages(self) -> Redactor:
        redactor = self._redactor
        if redactor is None:
            redactor = self._redactor = Redactor.for_request(self._secrets(), self._token_request())
        return redactor

    def _live(self) -> tuple[str, ...]:
        """Values to hide besides the secrets (the current token)."""
        return ()

    def _shown(self, text: str, limit: Optional[int] = None) -> str:
        """Server-sent ``text`` as messages show it: no secret or token, cut to ``limit``, controls escaped.

        The one way a value from a server (an error field, a request id, a
        header, an error message of requests) gets into a message or an
        exception's attributes, and so into log records and the CLI's output.
        Secrets are hidden first, in the form the server sent them: escaping
        first would split a secret holding a control or bidi character into
        text that no longer matches it. The cut comes before escaping, so it
        never splits an escape.
        """
        text = self._redactor_for_messages()(text, *self._live())
        return escape_controls(text if limit is None else text[:limit])
