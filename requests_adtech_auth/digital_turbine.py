"""Digital Turbine Growth Reporting API: JSON token request, camelCase answer.

Wire format (DT's ``auth/v1/token`` page): ``POST
https://reporting.digitalturbine.com/auth/v1/token`` (the page's host spelling
``digitialturbine`` is a typo) with ``Content-Type: application/json`` and the body
``{"grant_type": "client_credentials", "client_id": ..., "client_secret": ...}``;
the answer is ``{"accessToken", "tokenType": "bearer", "expiresIn": 3600}``.
Errors are ``{"error": ...}`` per the page's table. Report calls carry
``Authorization: Bearer <token>``; a report's ``signed_url`` lives on another
host and gets no credential (a pre-signed URL refuses a second one).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Optional
from urllib.parse import urlsplit

from .core import EnvVar, IssuedToken, TokenRequest, parse_lifetime
from .exceptions import ConfigurationError, InvalidTokenResponseError
from .oauth2 import OAuth2ClientCredentialsAuth
from .registry import ApiCall, Vendor, register

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from .options import CommonOptions

__all__ = ["DIGITAL_TURBINE_TOKEN_URL", "DigitalTurbineAuth"]

_TYPO_DOMAIN = "digitialturbine.com"

#: A report request as DT's report endpoint page describes it (the demo's and the tests').
REPORT_EXAMPLE: dict[str, Any] = {
    "product": "dtgrowth",
    "query": {
        "dateRange": {"start": "2026-11-01", "end": "2026-11-07"},
        "metrics": ["Impressions", "Installs", "Spend"],
        "splits": ["Date", "Country"],
        "filters": [],
        "reportFormat": "csv",
    },
}

DIGITAL_TURBINE_TOKEN_URL = "https://reporting.digitalturbine.com/auth/v1/token"

_CHECK = (
    "the client id or secret is wrong, was revoked, or the account is disabled; "
    "check the Reporting API ID and password DT sent by encrypted email"
)
#: The page's error table, row by row: error code -> what to tell the user.
_ERROR_TABLE = {
    # 405, error "N/A": the request method is not POST. This library always POSTs
    # and never follows a token endpoint's redirect, so something else answered.
    "Method_Not_Allowed": (
        "DT's token endpoint answers 405 when the method is not POST, and this library always POSTs: "
        "token_url is probably not DT's .../auth/v1/token, or a proxy changed the method; check token_url"
    ),
    # 400, error "400 (Bad_Request)": empty request body or incorrect Content-Type.
    "Bad_Request": (
        "DT got an empty body or a Content-Type other than application/json, which this library always sends; "
        "a proxy may be rewriting the request"
    ),
    # 400 invalid_request: unparsable JSON, no grant_type, missing or invalid client_id or client_secret.
    "invalid_request": (
        "DT could not read the request: unparsable JSON, no grant_type, or a missing or invalid client_id "
        "or client_secret; check both credentials"
    ),
    # 400 unsupported_grant_type: only client_credentials is accepted.
    "unsupported_grant_type": "DT accepts only grant_type client_credentials; report this as a bug",
    # 400 invalid_client: credentials not found, incorrect, revoked, or the account disabled.
    "invalid_client": _CHECK,
    # The page's sample of an unsuccessful response: the service failed, whatever the status.
    "internal_server_error": "DT's token service reported an internal error; it is retried, then try again later",
}
#: Codes that mean "try again later" whatever the HTTP status (4xx, even 200).
_TRANSIENT_ERRORS = frozenset({"internal_server_error"})
# The table's error column spells some codes as the status line: "400 (Bad_Request)".
_STATUS_SPELLING = re.compile(r"\s*\d{3}\s*\(\s*(\w+)\s*\)\s*")


class DigitalTurbineAuth(OAuth2ClientCredentialsAuth):
    """Auth for the Digital Turbine Growth Reporting API.

    OAuth 2.0 client credentials in all but the wire format: the request is JSON,
    not a form, and the answer camelCase (``accessToken``, ``expiresIn``).

    Args:
        client_id: the Reporting API ID.
        client_secret: the Reporting API password.
        token_url: the token endpoint (default: DT's).
        **common: the options every auth class takes.
    """

    vendor = "Digital Turbine"
    default_api_hosts = ("reporting.digitalturbine.com",)
    default_lifetime = 3600.0
    credentials_in_body = True
    credentials_hint = _CHECK
    env_variables = (
        EnvVar("client_id", "DT_CLIENT_ID"),
        EnvVar("client_secret", "DT_CLIENT_SECRET"),
        EnvVar("token_url", "DT_TOKEN_URL", required=False),
    )
    error_hints = _ERROR_TABLE
    transient_errors = _TRANSIENT_ERRORS

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        *,
        token_url: str = DIGITAL_TURBINE_TOKEN_URL,
        **common: Unpack[CommonOptions],
    ) -> None:
        super().__init__(client_id, client_secret, token_url=token_url, **common)
        # The token page's spelling: a host nobody vouches for must never see the secret.
        if (urlsplit(self.token_url).hostname or "").endswith(_TYPO_DOMAIN):
            raise ConfigurationError(
                f"token_url is on {_TYPO_DOMAIN}, a typo on Digital Turbine's token page: "
                f"use {DIGITAL_TURBINE_TOKEN_URL} (the default)"
            )
        self._request = TokenRequest(
            self.token_url,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
            json={"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret},
        )

    def _token_request(self) -> TokenRequest:
        assert self._request is not None  # built in the constructor: the request is JSON, not oauthlib's form
        return self._request

    def _parse_token(self, answer: dict[str, Any]) -> IssuedToken:
        # camelCase as documented; snake_case and other casings are accepted too,
        # in case the service moves to RFC 6749 names.
        fields = {key.replace("_", "").lower(): value for key, value in answer.items()}
        token = fields.get("accesstoken")
        error = answer.get("error")
        if (not isinstance(token, str) or not token) and isinstance(error, str) and error:
            # An error body with a 2xx status: the error wins, as it would under a 4xx.
            raise self._error_for(200, answer)
        if not isinstance(token, str) or not token:
            raise InvalidTokenResponseError(
                "the Digital Turbine token answer has no accessToken string; check token_url", status_code=200
            )
        return IssuedToken(token, parse_lifetime(fields.get("expiresin"), "expiresIn"))

    def _parse_error(self, status: int, answer: Optional[dict[str, Any]]) -> tuple[Optional[str], Optional[str]]:
        error, description = super()._parse_error(status, answer)
        spelled = _STATUS_SPELLING.fullmatch(error) if error else None
        if spelled:
            error = spelled.group(1)  # "400 (Bad_Request)" -> "Bad_Request", one code for callers to match
        if error is None:
            # The page's table names these two statuses without an error body.
            error = {405: "Method_Not_Allowed", 400: "Bad_Request"}.get(status)
        return error, description


register(
    Vendor(
        "digital-turbine",
        DigitalTurbineAuth,
        "Digital Turbine Growth Reporting",
        aliases=("dt",),
        emulation="requests_adtech_auth.sandbox.digital_turbine:DigitalTurbineEmulation",
        calls=(ApiCall("POST", "/api/v1/report", REPORT_EXAMPLE),),
        demo_extra="requests_adtech_auth.sandbox.digital_turbine:demo_download",
    )
)
