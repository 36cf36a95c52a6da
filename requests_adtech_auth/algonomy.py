"""Algonomy Real-time CDP: tenant headers and tokens scoped to named resources.

Wire format (Algonomy's API Authentication page and FACTS): ``POST
https://{API_URL}/secureApi/token/{profile|gdpr}/create`` with headers
``tenant_hash`` and, for OAuth tenants, ``oauth_key_secret``, and the JSON body
``{"resource": [...], "validity": minutes}``; the answer ``{"token": ...}`` has no
expiry, so the token lives the validity asked for. ``.../update`` takes
``{"resource": [...], "token": current}`` and widens the live token's resources.
API calls carry the token in an ``access_token`` header, and ``tenant_hash`` too.
Customer identifiers travel in headers the caller sets (``gcrId``, ``email_address``,
..., and the GDPR calls' ``reqParamValue``): personal data, kept to its origin on
redirects as the credential headers are.
"""

from __future__ import annotations

import math
import numbers
import re
import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Optional
from urllib.parse import urlsplit, urlunsplit

from .boundary import check_token_url
from .core import MAX_LIFETIME, EnvVar, IssuedToken, TokenAuth, TokenRequest, logger, require_text
from .exception_copies import strips_frames
from .exceptions import AuthError, ConfigurationError, InvalidTokenResponseError, TokenRequestError
from .registry import ApiCall, Vendor, register

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from .options import CommonOptions

__all__ = ["AlgonomyAuth"]

_CHECK = "check tenant_hash and oauth_key_secret (from your Algonomy Customer Success Manager)"
_RESOURCE_HINT = (
    "Algonomy does not offer a resource named in the request on this endpoint; check the names given "
    "as resources or to add_resources (the profile and GDPR endpoints take different resource names)"
)
#: The longest validity accepted: the core never trusts a token for longer than this.
MAX_VALIDITY_MINUTES = int(MAX_LIFETIME // 60)
# Header values travel as latin-1 at best; Algonomy's hashes and keys are hex. Visible
# ASCII only, so that a mistyped or mis-pasted value fails here, not on the wire.
_HEADER_SAFE = re.compile(r"[\x21-\x7e]+")
# Answers of the update endpoint that may mean "this token is unknown here" (expired,
# revoked, another node's): the fallback then asks the create endpoint, which is
# authoritative about the credentials and the resource names.
# A 404 is left out: a wrong update_url is far likelier than a token the server forgot.
_TOKEN_UNKNOWN_STATUSES = frozenset({400, 401, 403, 410})
# "Token updated successfully" (the page's); not "unsuccessful", "not successful".
_SUCCESS = re.compile(r"\bsuccess", re.IGNORECASE)
_NEGATED = re.compile(r"\b(not|fail\w*|error\w*|invalid|unable|denied)\b", re.IGNORECASE)


def _resource_names(names: object) -> tuple[str, ...]:
    if isinstance(names, (str, bytes)):
        raise ConfigurationError("resources must be a list of resource names like ['basic'], not a string")
    if not isinstance(names, Iterable):
        raise ConfigurationError("resources must be a list of resource names like ['basic']")
    checked = []
    for name in names:
        if not isinstance(name, str):
            raise ConfigurationError("resources must hold resource names as strings, like ['basic']")
        checked.append(require_text("a resource name in resources", name))
    return tuple(dict.fromkeys(checked))


def _added_names(names: tuple[object, ...]) -> tuple[str, ...]:
    checked = []
    for name in names:
        if not isinstance(name, str):
            raise ConfigurationError(
                "add_resources takes resource names as separate strings: add_resources('segments', 'campaigns')"
            )
        checked.append(require_text("a resource name given to add_resources", name))
    return tuple(dict.fromkeys(checked))


def _header_secret(argument: str, value: object) -> str:
    text = require_text(argument, value)
    if not _HEADER_SAFE.fullmatch(text):
        # Never the value, nor the offending character: both are part of the secret.
        raise ConfigurationError(
            f"{argument} must be visible ASCII characters only (no spaces, no accented letters); copy it again"
        )
    return text


def _validity_minutes(validity: object) -> float:
    if isinstance(validity, bool) or not isinstance(validity, numbers.Real):
        raise ConfigurationError(f"validity must be a number of minutes, not a {type(validity).__name__}")
    try:
        number = float(validity)
    except OverflowError:  # an integer of hundreds of digits (so the value is not echoed below)
        number = math.inf
    if not 0 < number <= MAX_VALIDITY_MINUTES:  # also false for NaN
        raise ConfigurationError(
            f"validity must be a finite number of minutes above 0 and at most {MAX_VALIDITY_MINUTES} (24 h)"
        )
    return int(number) if number.is_integer() else number


def _derived_update_url(token_url: str) -> Optional[str]:
    parts = urlsplit(token_url)
    base, _, last = parts.path.rstrip("/").rpartition("/")
    if last != "create":
        return None
    return urlunsplit(parts._replace(path=base + "/update"))


def _mentions(exc: TokenRequestError, word: str) -> bool:
    return word in f"{exc.error or ''} {exc.description or ''}".lower()


def _is_resource_problem(exc: TokenRequestError) -> bool:
    # "unknown profile resources: x", "resource must be a non-empty array", ...
    # An answer that also speaks of the token is left to the fallback, which asks
    # the create endpoint: misreading a dead token as a bad name would be worse.
    # Only 400 and 422: a 403 or 404 "resource" is as likely a gateway's word for a URL.
    return (
        not exc.transient
        and exc.status_code in (400, 422)
        and _mentions(exc, "resource")
        and not _mentions(exc, "token")
    )


def _reworded(exc: TokenRequestError, message: str) -> TokenRequestError:
    return type(exc)(
        message,
        status_code=exc.status_code,
        error=exc.error,
        description=exc.description,
        transient=exc.transient,
        retry_after=exc.retry_after,
    )


class AlgonomyAuth(TokenAuth):
    """Auth for Algonomy's Real-time CDP APIs (Customer Profile B2B, GDPR).

    ``validity`` goes on the wire in whole minutes, as a JSON integer (``15``,
    never ``15.0``). A fraction is asked for rounded up (``0.5`` asks for one
    minute), and the token is used only for the validity given (renewed as a
    30-second token), so no token is used longer than ``validity`` says.

    ``tenant_hash`` and ``oauth_key_secret`` travel as header values: they must
    be visible ASCII without spaces, as Algonomy issues them.

    Args:
        token_url: the tenant's ``.../secureApi/token/profile/create`` or
            ``.../secureApi/token/gdpr/create`` URL.
        tenant_hash: the tenant hash Algonomy issued (treated as a secret).
        resources: the resources the token must grant, e.g. ``["basic", "segments"]``.
        oauth_key_secret: required if the tenant has OAuth enabled.
        validity: token lifetime in minutes to ask for (default 15, as
            Algonomy's); above 0 and at most 1440 (24 h).
        update_url: the update endpoint, used by :meth:`add_resources`; default:
            ``token_url`` with its last path segment ``create`` replaced by
            ``update``. Needed only when ``token_url`` does not end in ``/create``
            and :meth:`add_resources` is called.
        **common: the options every auth class takes.

    Raises:
        ConfigurationError: an argument is unusable (the message names it,
            never its value).
    """

    vendor = "Algonomy"
    # FACTS.md: the token goes as it is in an access_token header, with the tenant hash.
    token_header = "access_token"
    authorization_scheme = ""
    account_header = "tenant_hash"
    # Customer identifiers the caller puts on profile API calls, and the GDPR calls'
    # identifier value, which Algonomy sends as a header because it is sensitive.
    personal_data_headers = ("gcrId", "mobile_number", "email_address", "customer_code_external", "reqParamValue")
    # The GCR ID API takes the same identifiers in its JSON body.
    personal_data_in_body = True
    credentials_hint = _CHECK
    env_variables = (
        EnvVar("token_url", "ALGONOMY_TOKEN_URL"),
        EnvVar("tenant_hash", "ALGONOMY_TENANT_HASH"),
        EnvVar("resources", "ALGONOMY_RESOURCES", kind="list"),
        EnvVar("oauth_key_secret", "ALGONOMY_OAUTH_KEY_SECRET", required=False),
        EnvVar("validity", "ALGONOMY_VALIDITY", required=False, kind="number"),
        EnvVar("update_url", "ALGONOMY_UPDATE_URL", required=False),
        # The token URL's host is the default; a tenant whose API lives elsewhere names it here.
        EnvVar("hosts", "ALGONOMY_HOSTS", required=False, kind="list"),
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
        self._account_header_value = _header_secret("tenant_hash", tenant_hash)
        self._oauth_key_secret = (
            None if oauth_key_secret is None else _header_secret("oauth_key_secret", oauth_key_secret)
        )
        self._resources = _resource_names(resources)
        if not self._resources:
            raise ConfigurationError("resources must name at least one resource, e.g. ['basic']")
        self.validity = _validity_minutes(validity)
        #: What the create request asks for: whole minutes, rounded up.
        self._wire_validity = math.ceil(self.validity)
        if update_url is None:
            self.update_url: Optional[str] = _derived_update_url(self.token_url)
        else:
            self.update_url = check_token_url(update_url, self.vendor, "update_url")
        headers = {"tenant_hash": self._tenant_hash, "Content-Type": "application/json", "Accept": "application/json"}
        if self._oauth_key_secret is not None:
            headers["oauth_key_secret"] = self._oauth_key_secret
        self._headers = headers

    @property
    def resources(self) -> tuple[str, ...]:
        """The resources a token from this object grants (or will grant)."""
        return self._resources

    @strips_frames
    def add_resources(self, *names: str) -> None:
        """Add resources to the live token through the update endpoint.

        With no live token the names are only recorded; the next token asks for
        every resource recorded so far. Names already recorded cost nothing.

        An update answer that may mean the server no longer knows the token
        (400, 401, 403 or 410, unless it is about a resource name) falls back
        to a new token carrying every resource, fetched here and now: the create
        endpoint then has the last word on the credentials and the names. A 2xx
        answer must report success (a usable token, no failure message or error
        field, any echoed resource list complete); otherwise nothing changes.

        Raises:
            ConfigurationError: a name is not a non-empty string, or the update
                endpoint is unknown (``token_url`` does not end in ``/create``
                and no ``update_url`` was given).
            TokenRequestError: the update (or the fallback's new token) was
                refused or failed, e.g. for a resource Algonomy does not know;
                nothing is recorded then.
            InvalidTokenResponseError: the update endpoint answered 2xx
                without reporting success; nothing is recorded then.
        """
        # strips_frames: the frames below hold the token and the tenant headers in their
        # locals, which error trackers and ``pytest --showlocals`` print.
        self._add_resources(_added_names(names))

    def _add_resources(self, added: tuple[str, ...]) -> None:
        # The object's own lock first: the token state's lock changes with the scope,
        # so two calls would otherwise each hold a different one and lose a resource.
        with self._scope_lock, self._bound_state().lock:
            current = self._resources
            wanted = tuple(dict.fromkeys((*current, *added)))
            if wanted == current:
                return
            if self.update_url is None:
                raise ConfigurationError(
                    "add_resources needs the update endpoint, and token_url does not end in /create: "
                    "pass update_url to AlgonomyAuth"
                )
            cached = self._bound_state().token
            if cached is None or time.monotonic() >= cached.expires_at:
                self._resources = wanted
                self._rebind_state(None)  # objects still asking for the old list keep their token
                return
            spec = TokenRequest(
                self.update_url, headers=self._headers, json={"resource": list(wanted), "token": cached.value}
            )
            try:
                answer = self._retrying(lambda: self._post_token_endpoint(spec))
            except InvalidTokenResponseError as exc:
                raise self._unconfirmed(str(exc).replace("; check token_url", ""), exc.status_code) from None
            except TokenRequestError as exc:
                if not self._token_unknown(exc):
                    # It was the update endpoint that answered, not token_url.
                    message = str(exc).replace("token request failed", "token update failed")
                    raise _reworded(exc, message.replace("check token_url", "check update_url")) from None
                self._replace_token(wanted, exc)
                return
            value = self._confirmed_token(answer, wanted)
            self._resources = wanted
            if value != cached.value:
                cached = cached.with_value(value)
            self._rebind_state(cached)  # the token now grants the wider list: it lives under that key
            self._store_shared(cached)
            logger.info("%s: token updated, now grants %d resources", self._describe(), len(wanted))

    def _init_state(self) -> None:
        super()._init_state()
        self._scope_lock = threading.Lock()  # one add_resources at a time on this object

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state.pop("_scope_lock", None)
        return state

    def _token_unknown(self, exc: TokenRequestError) -> bool:
        return not exc.transient and exc.status_code in _TOKEN_UNKNOWN_STATUSES and not _is_resource_problem(exc)

    def _replace_token(self, wanted: tuple[str, ...], refusal: TokenRequestError) -> None:
        """The server no longer knows the live token: get one that carries ``wanted``.

        Called with the lock held. On failure the resources stay as they were.
        """
        logger.info(
            "%s: the update endpoint refused the token (HTTP %s); asking for a new token with %d resources",
            self._describe(),
            refusal.status_code,
            len(wanted),
        )
        current = self._resources
        self.invalidate()  # the refused token, also from a shared cache (under the old resources)
        self._resources = wanted
        self._rebind_state(None)
        try:
            self.get_token()
        except AuthError:
            self._resources = current
            self._rebind_state(None)
            raise

    def _confirmed_token(self, answer: dict[str, Any], wanted: tuple[str, ...]) -> str:
        """The token of an update answer that reports success, else raise."""
        fields = {key.lower(): value for key, value in answer.items()}
        value = fields.get("token")
        if not isinstance(value, str) or not value:
            raise self._unconfirmed("its answer holds no token")
        message = fields.get("message")
        if message is not None and (
            not isinstance(message, str) or not _SUCCESS.search(message) or _NEGATED.search(message)
        ):
            raise self._unconfirmed("its message does not report success")
        if fields.get("error") or fields.get("success") is False:
            raise self._unconfirmed("its answer carries an error")
        status = fields.get("status")
        if isinstance(status, int) and not isinstance(status, bool) and not 200 <= status < 300:
            raise self._unconfirmed(f"its answer carries the status {status}")
        echoed = fields.get("resource", fields.get("resources"))
        if echoed is not None and (
            not isinstance(echoed, list)
            or not all(isinstance(name, str) for name in echoed)
            or not set(wanted) <= set(echoed)
        ):
            raise self._unconfirmed("the resources it lists are not the ones asked for")
        try:
            self._check_token_value(value)
        except InvalidTokenResponseError as exc:
            raise self._unconfirmed(f"{exc}") from None
        return value

    def _unconfirmed(self, why: str, status: Optional[int] = 200) -> InvalidTokenResponseError:
        return InvalidTokenResponseError(
            f"the {self.vendor} update endpoint did not confirm the update ({why}); "
            "nothing was recorded and the token keeps its resources; check update_url",
            status_code=status,
        )

    def _error_for(self, *args: Any, **kwargs: Any) -> TokenRequestError:
        exc = super()._error_for(*args, **kwargs)
        if _is_resource_problem(exc):
            # Not the credentials: the tenant was recognised, a resource name was not.
            message = str(exc)
            if self.credentials_hint in message:
                return _reworded(exc, message.replace(self.credentials_hint, _RESOURCE_HINT))
            return _reworded(exc, f"{message}; {_RESOURCE_HINT}")
        return exc

    def _token_request(self) -> TokenRequest:
        return TokenRequest(
            self.token_url,
            headers=self._headers,
            json={"resource": list(self._resources), "validity": self._wire_validity},
        )

    def _parse_token(self, answer: dict[str, Any]) -> IssuedToken:
        fields = {key.lower(): value for key, value in answer.items()}
        token = fields.get("token", fields.get("access_token"))
        if not isinstance(token, str) or not token:
            raise InvalidTokenResponseError(
                "the Algonomy token answer has no token string; check token_url", status_code=200
            )
        # The validity given, not the whole minutes asked for: never used longer than that.
        return IssuedToken(token, self.validity * 60.0)

    @property
    def _tenant_hash(self) -> str:
        return self._account_header_value  # the header value is the tenant hash itself

    def _cache_scope(self) -> tuple[str, ...]:
        # The validity too: a token asked for 15 minutes must not serve an object
        # promised at most 30 seconds (nor the other way round).
        return (*sorted(self._resources), f"validity={self.validity!r}")

    def _shown_identity(self) -> tuple[tuple[str, str], ...]:
        # No public id to show (the tenant hash is a secret): what the token grants tells objects apart.
        return (("resources", repr(list(self._resources))), ("validity", f"{self.validity:g} min"))

    def _secrets(self) -> tuple[str, ...]:
        # Without OAuth the tenant hash alone obtains tokens: it is a secret too.
        return (self._tenant_hash, self._oauth_key_secret or "")


register(
    Vendor(
        "algonomy",
        AlgonomyAuth,
        "Algonomy Real-time CDP",
        emulation="requests_adtech_auth.sandbox.algonomy:AlgonomyEmulation",
        calls=(ApiCall("POST", "/rcdpapi/api/v1/profile/b2b/basic", headers={"gcrId": "gcr-1001"}),),
        demo_extra="requests_adtech_auth.sandbox.algonomy:demo_add_resources",
    )
)
