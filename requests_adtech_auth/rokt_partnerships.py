"""Rokt Partnerships API: client credentials in the form body, ~5 minute tokens.

Wire format (Rokt's Partnerships authentication page): ``POST
https://auth.rokt.com/api/v1/oauth/token`` with the form body
``grant_type=client_credentials&client_id=...&client_secret=...`` (no Basic
header); the answer is a standard OAuth 2.0 token answer with ``expires_in`` 300.
Calls to ``accounts.rokt.com`` carry ``Authorization: Bearer <token>`` and
``X-Platform-Parent-Account-Id``, required on writes (a 422 without it) and
recommended on reads, so it is sent on every call. Errors come in Rokt's
envelope ``{"status", "error", "message", "request_id", "data"}``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from .core import EnvVar, require_text
from .oauth2 import OAuth2ClientCredentialsAuth
from .registry import ApiCall, Vendor, register

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from .options import CommonOptions

__all__ = ["ROKT_PARTNERSHIPS_TOKEN_URL", "RoktPartnershipsAuth"]

ROKT_PARTNERSHIPS_TOKEN_URL = "https://auth.rokt.com/api/v1/oauth/token"
PARENT_ACCOUNT_HEADER = "X-Platform-Parent-Account-Id"

_CHECK = "check the client_id (rspub_...) and client_secret (rsec_...) Rokt issued for your platform"


class RoktPartnershipsAuth(OAuth2ClientCredentialsAuth):
    """Auth for the Rokt Partnerships API.

    Args:
        client_id: the platform's ``rspub_...`` client id.
        client_secret: the platform's ``rsec_...`` client secret.
        parent_account_id: sent as ``X-Platform-Parent-Account-Id`` on every
            call, unless the request already sets that header.
        token_url: the token endpoint (default: Rokt's).
        **common: the options every auth class takes.
    """

    vendor = "Rokt Partnerships"
    default_api_hosts = ("accounts.rokt.com",)
    default_lifetime = 300.0
    credentials_in_body = True
    account_header = PARENT_ACCOUNT_HEADER
    account_header_caller_wins = True  # a platform acting for one of its accounts names it
    credentials_hint = _CHECK
    env_variables = (
        EnvVar("client_id", "ROKT_PARTNERSHIPS_CLIENT_ID"),
        EnvVar("client_secret", "ROKT_PARTNERSHIPS_CLIENT_SECRET"),
        EnvVar("parent_account_id", "ROKT_PARTNERSHIPS_PARENT_ACCOUNT_ID"),
        EnvVar("token_url", "ROKT_PARTNERSHIPS_TOKEN_URL", required=False),
    )
    error_hints = {
        "Unauthorized": _CHECK,
        "BadRequest": "the token request was malformed; report this as a bug in requests-adtech-auth",
        "Forbidden": "these credentials are not allowed to get tokens; ask Rokt",
    }

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        parent_account_id: str,
        *,
        token_url: str = ROKT_PARTNERSHIPS_TOKEN_URL,
        **common: Unpack[CommonOptions],
    ) -> None:
        self.parent_account_id = parent_account_id
        super().__init__(client_id, client_secret, token_url=token_url, **common)

    @property
    def parent_account_id(self) -> str:
        """The account sent as ``X-Platform-Parent-Account-Id`` when the request does not name one."""
        return self._account_header_value

    @parent_account_id.setter
    def parent_account_id(self, value: str) -> None:
        self._account_header_value = require_text("parent_account_id", value)

    def _parse_error(self, status: int, answer: Optional[dict[str, Any]]) -> tuple[Optional[str], Optional[str]]:
        error, description = super()._parse_error(status, answer)
        request_id = answer.get("request_id") if answer else None
        if isinstance(request_id, str) and request_id:
            # Rokt support asks for it.
            description = f"{description or 'no message'}; request_id {request_id}"
        return error, description


register(
    Vendor(
        "rokt-partnerships",
        RoktPartnershipsAuth,
        "Rokt Partnerships API",
        emulation="requests_adtech_auth.sandbox.rokt_partnerships:RoktPartnershipsEmulation",
        calls=(
            ApiCall(
                "POST",
                "/v1/accounts/register/partnership",
                {"external_account_id": "shop-1001", "store_url": "https://shop.example", "vertical_ids": [12]},
                idempotency_key=True,
            ),
            ApiCall("GET", "/v1/accounts"),
        ),
    )
)
