"""Hiding secrets in text, in every form the library sends them, and quoting what a server sent."""

from __future__ import annotations

import contextlib
import html
import json
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

from .token_answers import TokenRequest

__all__ = ["SNIPPET_CHARS", "Redactor", "body_snippet"]

#: Longest snippet of a non-JSON error body quoted in a message.
SNIPPET_CHARS = 200

_REDACTED = "[redacted]"


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
                    html.escape(secret),  # an HTML error page echoing it
                    json.dumps(secret)[1:-1],
                    json.dumps(secret, ensure_ascii=False)[1:-1],
                )
            )
            # Percent-encoding takes UTF-8, which a value from a server need not be (a lone surrogate).
            with contextlib.suppress(UnicodeError):
                forms.update((quote(secret, safe=""), quote(secret), quote_plus(secret)))  # quote(): "/" kept
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
