"""Talking to a token endpoint: one bounded exchange, retries, and errors a user can act on.

What is the same for every vendor's token endpoint, free of any vendor and of
the token's cached state: one POST whose whole duration (connect, headers and
body) is bounded by the timeout, the size limit, retries with backoff, and the
mapping of every failure to a library error whose text hides the secrets and
escapes what the server wrote.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Mapping
from typing import Any, Callable, ClassVar, Optional, TypeVar

import requests

from .boundary import url_for_display
from .control_chars import escape_controls
from .exception_copies import detached, without_trace
from .exceptions import AuthError, InvalidTokenResponseError, TokenRequestError
from .redaction import Redactor, body_snippet
from .token_answers import (
    IssuedToken,
    TokenRequest,
    decode_answer,
    is_token_syntax,
    retry_after_seconds,
)
from .token_exchange import NO_AUTH, AnswerBrokenOff, exchange

__all__ = ["TokenEndpointClient"]

logger = logging.getLogger("requests_adtech_auth")
_T = TypeVar("_T")


class TokenEndpointClient:
    """Talks to a vendor's token endpoint: bounded attempts, retries, answers read, errors mapped.

    A mixin of :class:`~requests_adtech_auth.core.TokenAuth`. What it needs from
    the class it is mixed into is declared below: the class attributes and options
    (set by ``TokenAuth`` and the vendor classes), and the methods under "supplied
    by the flow", which raise until a vendor module or ``TokenAuth`` defines them.
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

    # -- supplied by the flow: the vendor module (the first three) and TokenAuth ----------

    def _token_request(self) -> TokenRequest:
        """Build the request that asks the vendor for a token."""
        raise NotImplementedError

    def _parse_token(self, answer: dict[str, Any]) -> IssuedToken:
        """Read the token out of a 2xx JSON-object answer.

        Raises:
            InvalidTokenResponseError: the answer holds no usable token.
        """
        raise NotImplementedError

    def _secrets(self) -> tuple[str, ...]:
        """Values that must never appear in messages (the vendor's secrets)."""
        return ()

    def _describe(self) -> str:
        """How log lines name the credential (never a secret)."""
        raise NotImplementedError

    def _token_session(self) -> requests.Session:
        """The session token requests go through."""
        raise NotImplementedError

    # -- the exchange --------------------------------------------------------------------

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
            response, body = exchange(self._token_session(), spec, self.timeout, NO_AUTH)
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
        return self._read_answer(response.status_code, response.headers, body)

    def _read_answer(self, status: int, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
        """The 2xx JSON-object answer of a token request, or the library error for any other.

        Args:
            status: the answer's HTTP status.
            headers: its headers (a case-insensitive mapping, as every HTTP client gives).
            body: its whole body.
        """
        answer = decode_answer(body)
        if 300 <= status < 400:
            location = self._shown(url_for_display(headers.get("location", "(no location)")), 300)
            raise TokenRequestError(
                f"the {self.vendor} token endpoint answered HTTP {status}, a redirect to '{location}', "
                "which is not followed with credentials; check token_url",
                status_code=status,
            )
        if not 200 <= status < 300:
            error = self._error_for(status, answer if isinstance(answer, dict) else None, headers)
            if not isinstance(answer, dict) and body.strip():
                # Not the vendor's JSON: a proxy, a WAF or a load balancer may have answered.
                error.args = (f"{error} [{self._snippet(headers, body)}]",)
            raise error
        if not isinstance(answer, dict):
            what = "empty" if not body.strip() else "not a JSON object"
            # Never a quote of a 2xx body: it may hold a token in a form no parser read
            # (access_token=... form-encoded), which no redactor knows yet.
            content_type = headers.get("Content-Type")
            shown = self._shown(content_type, 100) if content_type else "no content type"
            raise InvalidTokenResponseError(
                f"the {self.vendor} token endpoint answered HTTP {status} but its body is {what}"
                f"{f' ({shown}, {len(body)} bytes)' if body.strip() else ''}; check token_url",
                status_code=status,
            )
        return answer

    def _snippet(self, headers: Mapping[str, str], body: bytes) -> str:
        """The content type and a quote of a non-JSON answer, for a message ("" when nothing is printable)."""
        quoted = body_snippet(body, self._redactor_for_messages(), *self._live())
        if not quoted:
            return ""
        content_type = headers.get("Content-Type")
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
        self, status: int, answer: Optional[dict[str, Any]], headers: Optional[Mapping[str, str]] = None
    ) -> TokenRequestError:
        """The library error for an error answer (also one inside a 2xx, for vendors that send those)."""
        error, description = self._parse_error(status, answer)
        # A 2xx answer may hold a token beside its error, which no redactor knows yet.
        issued = tuple(v for v in (answer or {}).values() if isinstance(v, str)) if 200 <= status < 300 else ()
        issued = tuple(v for v in issued if v not in (error, description))
        error = self._shown(error, 200, *issued) if error else None
        description = self._shown(description, 500, *issued) if description else None
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
            retry_after=retry_after_seconds(headers.get("Retry-After")) if headers is not None else None,
        )

    def _redactor_for_messages(self) -> Redactor:
        redactor = self._redactor
        if redactor is None:
            redactor = self._redactor = Redactor.for_request(self._secrets(), self._token_request())
        return redactor

    def _live(self) -> tuple[str, ...]:
        """Values to hide besides the secrets (the current token)."""
        return ()

    def _shown(self, text: str, limit: Optional[int] = None, *hidden: str) -> str:
        """Server-sent ``text`` as messages show it: no secret or token (nor ``hidden``), cut, controls escaped.

        The one way a value from a server (an error field, a request id, a
        header, an error message of requests) gets into a message or an
        exception's attributes, and so into log records and the CLI's output.
        Secrets are hidden first, in the form the server sent them: escaping
        first would split a secret holding a control or bidi character into
        text that no longer matches it. The cut comes before escaping, so it
        never splits an escape.
        """
        text = self._redactor_for_messages()(text, *self._live(), *hidden)
        return escape_controls(text if limit is None else text[:limit])
