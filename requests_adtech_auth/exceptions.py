"""The library's exceptions: one base, :class:`AuthError`, for everything it raises."""

from __future__ import annotations

from typing import Optional

import requests

__all__ = [
    "AuthError",
    "ConfigurationError",
    "InsecureTransportError",
    "InvalidTokenResponseError",
    "TokenRequestError",
]


class AuthError(requests.RequestException):
    """Base of every exception raised by requests-adtech-auth.

    It subclasses :class:`requests.RequestException`, so code that already
    catches ``requests`` errors around its API calls keeps working.
    """


class ConfigurationError(AuthError, ValueError):
    """The auth object was given an argument it cannot work with.

    Raised by constructors and methods before any request is made; fix the
    argument named in the message.
    """


class InsecureTransportError(ConfigurationError):
    """A credential would travel over plain ``http://`` to a non-loopback host."""


class TokenRequestError(AuthError):
    """The vendor's token endpoint did not hand out a usable token.

    Attributes:
        status_code: HTTP status of the token endpoint's answer, or None when no
            answer arrived (connection refused, timeout).
        error: the vendor's error code (``invalid_client``, ``ValidationFailed``,
            ...), or None when the answer carried none.
        description: the vendor's human-readable explanation, or None.
        transient: True when trying again later may succeed (timeouts,
            connection errors, 429, 5xx); False for credential and
            configuration problems.
        retry_after: seconds the server asked to wait (``Retry-After``), or None.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: Optional[int] = None,
        error: Optional[str] = None,
        description: Optional[str] = None,
        transient: bool = False,
        retry_after: Optional[float] = None,
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.status_code = status_code
        self.error = error
        self.description = description
        self.transient = transient

    def __reduce__(self):  # type: ignore[no-untyped-def]
        # Keyword-only attributes would be lost by the default exception pickling,
        # and multiprocessing pickles exceptions to send them back to the parent.
        return (
            _rebuild_token_error,
            (
                type(self),
                str(self),
                self.status_code,
                self.error,
                self.description,
                self.transient,
                self.retry_after,
            ),
        )


class InvalidTokenResponseError(TokenRequestError):
    """The token endpoint answered 2xx, but not with a token this library can use.

    Examples: an HTML page, truncated JSON, a missing or malformed token, an
    unusable ``expires_in``. The message says which.
    """


def _rebuild_token_error(
    cls: type[TokenRequestError],
    message: str,
    status_code: Optional[int],
    error: Optional[str],
    description: Optional[str],
    transient: bool,
    retry_after: Optional[float],
) -> TokenRequestError:
    return cls(
        message,
        status_code=status_code,
        error=error,
        description=description,
        transient=transient,
        retry_after=retry_after,
    )


def missing_extra(module: str, extra: str, why: str) -> ImportError:
    """The ImportError of an optional module whose extra is not installed: it names the ``pip install``."""
    return ImportError(f"{module} needs the {extra!r} extra ({why}): pip install 'requests-adtech-auth[{extra}]'")
