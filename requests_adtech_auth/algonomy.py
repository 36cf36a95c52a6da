"""Algonomy Real-time CDP: tenant headers and tokens scoped to named resources.

Wire format (Algonomy's API Authentication page and FACTS): ``POST
https://{API_URL}/secureApi/token/{profile|gdpr}/create`` with headers
``tenant_hash`` and, for OAuth tenants, ``oauth_key_secret``, and the JSON body
``{"resource": [...], "validity": minutes}``; the answer ``{"token": ...}`` has no
expiry, so the token lives the validity asked for. ``.../update`` takes
``{"resource": [...], "token": current}`` and widens the live token's resources.
API calls carry the token in an ``access_token`` header, and ``tenant_hash`` too.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Optional

import requests

from .core import EnvVar, IssuedToken, TokenAuth, TokenRequest, logger, require_text
from .exceptions import ConfigurationError, InvalidTokenResponseError, TokenRequestError

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from .options import CommonOptions

__all__ = ["AlgonomyAuth"]

_CHECK = "check tenant_hash and oauth_key_secret (from your Algonomy Customer Success Manager)"


def _resource_names(names: Iterable[str], argument: str) -> tuple[str, ...]:
    if isinstance(names, (str, bytes)):
        raise ConfigurationError(f"{argument} must be a list of resource names like ['basic'], not a string")
    checked = tuple(dict.fromkeys(require_text("a resource name", name) for name in names))
    return checked


class AlgonomyAuth(TokenAuth):
    """Auth for Algonomy's Real-time CDP APIs (Customer Profile B2B, GDPR).

    Args:
        token_url: the tenant's ``.../secureApi/token/profile/create`` or
            ``.../secureApi/token/gdpr/create`` URL.
        tenant_hash: the tenant hash Algonomy issued (treated as a secret).
        resources: the resources the token must grant, e.g. ``["basic", "segments"]``.
        oauth_key_secret: required if the tenant has OAuth enabled.
        validity: token lifetime in minutes to ask for (default 15, as Algonomy's).
        update_url: the update endpoint; default: ``token_url`` with ``/create``
            replaced by ``/update``.
        **common: the options every auth class takes.
    """

    vendor = "Algonomy"
    credential_headers = ("access_token", "tenant_hash")
    credentials_hint = _CHECK
    env_variables = (
        EnvVar("token_url", "ALGONOMY_TOKEN_URL"),
        EnvVar("tenant_hash", "ALGONOMY_TENANT_HASH"),
        EnvVar("resources", "ALGONOMY_RESOURCES", kind="list"),
        EnvVar("oauth_key_secret", "ALGONOMY_OAUTH_KEY_SECRET", required=False),
        EnvVar("validity", "ALGONOMY_VALIDITY", required=False, kind="number"),
        EnvVar("update_url", "ALGONOMY_UPDATE_URL", required=False),
    )

    def __init__(
        self,
        token_url: str,
        tenant_hash: str,
        resources: Iterable[str],
        *,
        oauth_key_secret: Optional[str] = None,
        validity: float = 15,
        update_url: Optional[str] = None,
        **common: Unpack[CommonOptions],
    ) -> None:
        super().__init__(token_url, **common)
        self._tenant_hash = require_text("tenant_hash", tenant_hash)
        self._oauth_key_secret = (
            None if oauth_key_secret is None else require_text("oauth_key_secret", oauth_key_secret)
        )
        self._resources = _resource_names(resources, "resources")
        if not self._resources:
            raise ConfigurationError("resources must name at least one resource, e.g. ['basic']")
        if isinstance(validity, bool) or not isinstance(validity, (int, float)) or not validity > 0:
            raise ConfigurationError(f"validity must be a positive number of minutes, not {validity!r}")
        self.validity = validity
        if update_url is None:
            base, _, last = self.token_url.rstrip("/").rpartition("/")
            if last != "create":
                raise ConfigurationError("token_url does not end in /create: pass update_url explicitly")
            update_url = base + "/update"
        self.update_url = self._check_token_url(update_url)
        headers = {"tenant_hash": self._tenant_hash, "Content-Type": "application/json", "Accept": "application/json"}
        if self._oauth_key_secret is not None:
            headers["oauth_key_secret"] = self._oauth_key_secret
        self._headers = headers

    @property
    def resources(self) -> tuple[str, ...]:
        """The resources a token from this object grants (or will grant)."""
        return self._resources

    def add_resources(self, *names: str) -> None:
        """Add resources to the live token through the update endpoint.

        With no live token the names are only recorded; the next token asks for
        every resource recorded so far.

        Raises:
            ConfigurationError: a name is not a non-empty string.
            TokenRequestError: the update endpoint refused or failed; nothing
                is recorded then.
        """
        added = _resource_names(names, "names")
        with self._lock:
            wanted = tuple(dict.fromkeys((*self._resources, *added)))
            if wanted == self._resources:
                return
            cached = self._token
            if cached is None or time.monotonic() >= cached.expires_at:
                self._resources = wanted
                return
            spec = TokenRequest(
                self.update_url, headers=self._headers, json={"resource": list(wanted), "token": cached.value}
            )
            try:
                answer = self._retrying(lambda: self._post_token_endpoint(spec))
            except TokenRequestError as exc:
                if exc.status_code != 401:
                    raise
                # The server no longer knows the token: the next one asks for everything.
                logger.info(
                    "%s: update refused the token (401); a new token will carry the resources", self._describe()
                )
                self._token = None
                self._resources = wanted
                return
            self._resources = wanted
            value = answer.get("token")
            if value is not None and value != cached.value:
                self._check_token_value(value)
                cached = self._token = type(cached).of(value, cached.refresh_at, cached.expires_at)
            self._store_shared(cached)  # under the key of the wider resource list
            logger.info("%s: token updated, now grants %d resources", self._describe(), len(wanted))

    def _token_request(self) -> TokenRequest:
        return TokenRequest(
            self.token_url, headers=self._headers, json={"resource": list(self._resources), "validity": self.validity}
        )

    def _parse_token(self, answer: dict[str, Any]) -> IssuedToken:
        fields = {key.lower(): value for key, value in answer.items()}
        token = fields.get("token", fields.get("access_token"))
        if not isinstance(token, str) or not token:
            raise InvalidTokenResponseError(
                "the Algonomy token answer has no token string; check token_url", status_code=200
            )
        return IssuedToken(token, self.validity * 60.0)

    def _apply_token(self, request: requests.PreparedRequest, token: str) -> None:
        request.headers["access_token"] = token
        request.headers["tenant_hash"] = self._tenant_hash

    def _cache_scope(self) -> tuple[str, ...]:
        return tuple(sorted(self._resources))

    def _secrets(self) -> tuple[str, ...]:
        # Without OAuth the tenant hash alone obtains tokens: it is a secret too.
        return (self._tenant_hash, self._oauth_key_secret or "")
