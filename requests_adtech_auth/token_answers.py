"""What goes to a token endpoint and what comes back: requests, issued tokens, lifetimes, answers.

Plain values and pure functions: nothing here sends a request or holds a token,
so parsers take bytes and header values, not a transport's response object.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Mapping
from typing import Any, NamedTuple, Optional, Union

from requests.auth import AuthBase

from .exceptions import InvalidTokenResponseError

__all__ = [
    "MAX_LIFETIME",
    "MAX_TOKEN_ANSWER_BYTES",
    "MIN_LIFETIME",
    "IssuedToken",
    "TokenRequest",
    "decode_answer",
    "is_token_syntax",
    "parse_lifetime",
    "retry_after_seconds",
]

#: A token answer larger than this is refused; reading stops there (a token is a few KiB).
MAX_TOKEN_ANSWER_BYTES = 1024 * 1024
#: A lifetime claimed beyond this is capped: a token renewed daily costs nothing,
#: and a bogus ``expires_in`` must not pin a revoked token for years.
MAX_LIFETIME = 24 * 3600.0
#: A token said to live less than this is refused: it would expire before it is used,
#: and accepting it would cost a token call per request.
MIN_LIFETIME = 1.0
# RFC 6750 b64token is stricter; vendors' tokens are all visible ASCII, and that
# is what makes a value safe to put in a header (no CR/LF, no spaces).
_TOKEN_SYNTAX = re.compile(r"[\x21-\x7e]{1,16384}")


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
    size, never by whether it fits a float: at least ``MIN_LIFETIME`` (1 s) is the
    lifetime, capped at ``MAX_LIFETIME`` (a day) (so is a positive number too large
    for a float, ``1e400`` or ``10**400``, and infinity); anything under it is
    refused, zero, ``-0`` and every negative alike, however large (``-1e400``,
    ``-10**400``, ``-inf``, ``"-inf"``); so is NaN.

    Args:
        value: the field's value as decoded from JSON (None when absent).
        name: the field's name, for the error message.

    Returns:
        The lifetime in seconds, capped at ``MAX_LIFETIME`` (a day), or None when absent.

    Raises:
        InvalidTokenResponseError: the value is not a number of at least ``MIN_LIFETIME`` (1 s) seconds.
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


def decode_answer(body: bytes) -> object:
    """A token answer's body as JSON (integers too long to be exact read as floats), or None if it is not JSON."""
    try:
        return json.loads(body, parse_int=_json_integer)
    except (ValueError, RecursionError):  # RecursionError: absurdly nested JSON
        return None
