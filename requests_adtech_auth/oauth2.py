"""Standard OAuth 2.0 client credentials, through oauthlib's ``BackendApplicationClient``.

Used by the Rokt flows. oauthlib builds the form body and validates the answer
(an ``error`` in it, a missing token); this module adds what the vendors need
beyond the standard: ``Access_token`` in any letter case, credentials either in
a Basic header or in the body.

requests-oauthlib's ``OAuth2Session.fetch_token`` is deliberately not used to
send the request: it logs the request headers and body (the client secret) and
the token at DEBUG level, refuses plain-http loopback URLs unless a process-wide
environment variable is set, and follows redirects with the secret.
"""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any, ClassVar, Optional

from .core import IssuedToken, TokenAuth, TokenRequest, parse_lifetime, require_text
from .exceptions import ConfigurationError, InvalidTokenResponseError, TokenRequestError

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from .options import CommonOptions

__all__ = ["OAuth2ClientCredentialsAuth"]

# Fields of RFC 6749 section 5 handed to oauthlib for validation; the rest is ignored.
_STANDARD_FIELDS = ("access_token", "token_type", "expires_in", "scope", "error", "error_description", "error_uri")


class OAuth2ClientCredentialsAuth(TokenAuth):
    """OAuth 2.0 client-credentials grant (RFC 6749 section 4.4).

    Args:
        client_id: the client (or app) id.
        client_secret: the client (or app) secret.
        token_url: the token endpoint.
        **common: the options every auth class takes (see :class:`~requests_adtech_auth.TokenAuth`).
    """

    #: True: id and secret go in the form body; False: in a Basic header.
    credentials_in_body: ClassVar[bool] = False
    credentials_hint: ClassVar[str] = "check the client id and secret"
    #: How the vendor names the two credentials (used in error messages).
    credential_names: ClassVar[tuple[str, str]] = ("client_id", "client_secret")

    def __init__(self, client_id: str, client_secret: str, *, token_url: str, **common: Unpack[CommonOptions]) -> None:
        id_name, secret_name = self.credential_names
        self.client_id = require_text(id_name, client_id)
        self._client_secret = require_text(secret_name, client_secret)
        if not self.credentials_in_body and ":" in client_id:
            # RFC 7617: the Basic user-id ends at the first colon, so the server would read another id.
            raise ConfigurationError(f"{id_name} must not contain ':' (it goes in an HTTP Basic header)")
        super().__init__(token_url, **common)
        self._request: Optional[TokenRequest] = None

    def _token_request(self) -> TokenRequest:
        # Built at the first token fetch (a network call anyway), not in the
        # constructor: oauthlib.oauth2 takes ~25 ms to import. Built once: the
        # request never changes for a given credential.
        if self._request is None:
            from oauthlib.oauth2 import BackendApplicationClient

            client = BackendApplicationClient(self.client_id)
            if self.credentials_in_body:
                body = client.prepare_request_body(include_client_id=True, client_secret=self._client_secret)
                headers = {}
            else:
                body = client.prepare_request_body()
                pair = f"{self.client_id}:{self._client_secret}".encode()
                headers = {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}
            headers.update({"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"})
            self._request = TokenRequest(self.token_url, headers=headers, data=body)
        return self._request

    def _secrets(self) -> tuple[str, ...]:
        return (self._client_secret,)

    def _public_id(self) -> str:
        return self.client_id

    def _parse_token(self, answer: dict[str, Any]) -> IssuedToken:
        # Key case varies between vendor pages (Rokt's "Access_token"); RFC 6749
        # names are lower case, so fold before handing the answer to oauthlib.
        from oauthlib.oauth2 import BackendApplicationClient, MissingTokenError, OAuth2Error

        fields = {key.lower(): value for key, value in answer.items()}
        lifetime = parse_lifetime(fields.get("expires_in"), "expires_in")
        token = fields.get("access_token")
        standard = {name: fields[name] for name in _STANDARD_FIELDS if isinstance(fields.get(name), str)}
        if lifetime is not None:
            standard["expires_in"] = max(1, int(lifetime))
        try:
            BackendApplicationClient(self.client_id).parse_request_body_response(json.dumps(standard))
        except MissingTokenError:
            problem = "has no access_token" if token is None else "has an access_token that is not a string"
            raise InvalidTokenResponseError(
                f"the {self.vendor} token answer {problem}; check token_url", status_code=200
            ) from None
        except OAuth2Error as exc:
            # The token beside the error is known to no redactor yet: hidden here.
            issued = (token,) if isinstance(token, str) else ()
            error = self._shown(str(exc.error), None, *issued)
            raise TokenRequestError(
                f"{self.vendor} token answer carried an error: {error}; {self.credentials_hint}",
                status_code=200,
                error=error,
                description=self._shown(exc.description, None, *issued) if exc.description else None,
            ) from None
        except (ValueError, TypeError, Warning) as exc:
            raise InvalidTokenResponseError(
                f"the {self.vendor} token answer is not a valid OAuth 2.0 token answer ({type(exc).__name__})",
                status_code=200,
            ) from None
        # oauthlib found it in the strings-only dict, so it is a string.
        return IssuedToken(standard["access_token"], lifetime)
