"""Typing of the keyword options every auth class accepts (for type checkers only)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    import requests
    from typing_extensions import TypedDict

    from .cache import TokenCache

    class CommonOptions(TypedDict, total=False):
        """Keyword options shared by every auth class; see :class:`~requests_adtech_auth.core.TokenAuth`."""

        session: Optional[requests.Session]
        timeout: float
        leeway: float
        hosts: Optional[Iterable[str]]
        max_retries: int
        backoff: float
        max_backoff: float
        cache: Optional[TokenCache]
        share_token: bool
