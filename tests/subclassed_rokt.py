"""A user's RoktAuth subclass that fails with an error of its own, for the shared-renewal tests.

Subclassing TokenAuth is documented: when one renewal serves many waiting threads or
coroutines, each must get the subclass's own error, with its type and attributes.
"""

from __future__ import annotations

from typing import Any

from requests_adtech_auth import InvalidTokenResponseError, RoktAuth
from requests_adtech_auth.token_answers import IssuedToken


class MissingScope(InvalidTokenResponseError):
    """A subclass's own error, with a constructor of its own (subclassing TokenAuth is documented)."""

    def __init__(self, scope: str) -> None:
        super().__init__(f"the token lacks the {scope} scope", status_code=200)
        self.scope = scope


class ScopeCheckingRokt(RoktAuth):
    """Rejects every token answer with MissingScope, as a subclass checking the granted scope might."""

    def _parse_token(self, answer: dict[str, Any]) -> IssuedToken:
        raise MissingScope("reporting")
