"""Rokt Event API and Reporting API: one app id and secret, one token flow.

Wire format (Rokt's Event and Reporting authentication pages): ``POST
https://api.rokt.com/auth/oauth2/token`` with ``Authorization: Basic
base64(app_id:app_secret)`` and the form body ``grant_type=client_credentials``;
the answer holds ``access_token`` (spelled ``Access_token`` on the Event page:
accepted in any case), ``expires_in`` (3600) and ``token_type``. API calls to
``api.rokt.com`` carry ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .core import EnvVar
from .oauth2 import OAuth2ClientCredentialsAuth
from .registry import ApiCall, Vendor, register

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from .options import CommonOptions

__all__ = ["ROKT_TOKEN_URL", "RoktAuth", "RoktEventAuth", "RoktReportingAuth"]

ROKT_TOKEN_URL = "https://api.rokt.com/auth/oauth2/token"

_CHECK_APP_CREDENTIALS = (
    "check the app id and app secret (One Platform > Profile Settings > Generate Personal API Credentials)"
)


class RoktAuth(OAuth2ClientCredentialsAuth):
    """Auth for Rokt's Event API and Reporting API (one credential serves both).

    Args:
        app_id: the Rokt App ID.
        app_secret: the Rokt App Secret.
        token_url: the token endpoint (default: Rokt's).
        **common: the options every auth class takes (``session``, ``timeout``,
            ``leeway``, ``hosts``, ``max_retries``, ...).
    """

    vendor = "Rokt"
    default_api_hosts = ("api.rokt.com",)
    default_lifetime = 3600.0
    credential_names = ("app_id", "app_secret")
    env_variables = (
        EnvVar("app_id", "ROKT_APP_ID"),
        EnvVar("app_secret", "ROKT_APP_SECRET"),
        EnvVar("token_url", "ROKT_TOKEN_URL", required=False),
    )
    credentials_hint = _CHECK_APP_CREDENTIALS
    # The Reporting page: a missing or bad token gets "either a 400 or 403". A 403
    # is also "not allowed", so the core renews on it only for a token past its
    # floor age; a 400 is left alone: it far more often means a bad request.
    refused_token_statuses = frozenset({401, 403})
    error_hints = {
        "invalid_client": _CHECK_APP_CREDENTIALS,
        "unauthorized_client": "these credentials may not use the client_credentials grant; ask Rokt",
        "invalid_grant": _CHECK_APP_CREDENTIALS,
    }

    def __init__(
        self,
        app_id: str,
        app_secret: str,
        *,
        token_url: str = ROKT_TOKEN_URL,
        **common: Unpack[CommonOptions],
    ) -> None:
        super().__init__(app_id, app_secret, token_url=token_url, **common)


class RoktEventAuth(RoktAuth):
    """:class:`RoktAuth` under the Event API's name (``POST /v1/events``); it shares RoktAuth's token."""

    _token_flow = "RoktAuth"


class RoktReportingAuth(RoktAuth):
    """:class:`RoktAuth` under the Reporting API's name (``/reporting/...``); it shares RoktAuth's token."""

    _token_flow = "RoktAuth"


_ROKT_EMULATION = "requests_adtech_auth.sandbox.rokt:RoktEmulation"

register(
    Vendor(
        "rokt",
        RoktAuth,
        "Rokt Query and Reporting API",
        emulation=_ROKT_EMULATION,
        calls=(
            ApiCall("GET", "/v1/query/accounts"),
            ApiCall(
                "GET",
                "/reporting/accounts/123/summary?dateStart=2026-11-01&dateEnd=2026-11-07&currency=USD"
                "&timeZoneVariation=UTC",
            ),
        ),
    )
)
register(
    Vendor(
        "rokt-event",
        RoktEventAuth,
        "Rokt Event API",
        emulation=_ROKT_EMULATION,
        calls=(
            ApiCall(
                "POST",
                "/v1/events",
                {
                    "events": [
                        {
                            "accountId": "123",
                            "clientEventId": "demo-1",
                            "eventTime": "2026-11-01T12:00:00Z",
                            "eventType": "conversion",
                        }
                    ]
                },
                {"Rokt-Version": "2020-05-21"},
                idempotency_key=True,
            ),
        ),
    )
)
# RoktAuth under the Reporting API's name: the "rokt" flow's calls show it already.
register(Vendor("rokt-reporting", RoktReportingAuth, "Rokt Reporting API", emulation=_ROKT_EMULATION))
