"""The tokens a sandbox handed out: issued, checked, expired and revoked, for every emulation alike."""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Optional

__all__ = ["IssuedRecord", "TokenLedger"]


@dataclass
class IssuedRecord:
    """A token the sandbox handed out."""

    vendor: str
    client: str
    expires_at: float  # time.monotonic()
    resources: set[str] = field(default_factory=set)


class TokenLedger:
    """Every token issued, and those revoked (a 401 for one counts as "stale")."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[str, IssuedRecord] = {}
        self._revoked: set[str] = set()

    def issue(self, vendor: str, client: str, lifetime: float, resources: Any = ()) -> str:
        """A new random token valid for ``lifetime`` seconds."""
        value = secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[value] = IssuedRecord(vendor, client, time.monotonic() + lifetime, set(resources))
        return value

    def check(self, vendor: str, value: Optional[str]) -> tuple[Optional[IssuedRecord], str]:
        """Look a presented token up: ``(record, "")`` or ``(None, why not)``."""
        if not value:
            return None, "missing"
        with self._lock:
            record = self._tokens.get(value)
            if record is None or record.vendor != vendor:
                return None, "stale" if value in self._revoked else "unknown"
            if time.monotonic() >= record.expires_at:
                return None, "stale"
            return record, ""

    def revoke(self, vendor: Optional[str]) -> None:
        """Make every token issued so far (``vendor``'s, or all) invalid."""
        with self._lock:
            for value in [v for v, r in self._tokens.items() if vendor in (None, r.vendor)]:
                del self._tokens[value]
                self._revoked.add(value)

    def values(self) -> list[str]:
        """Every token value issued, live or revoked (for leak checks)."""
        with self._lock:
            return [*self._tokens, *self._revoked]
