"""requests-adtech-auth: ``requests`` auth classes for ad-tech vendor APIs.

Pass one as ``auth=`` to a request or a session; it fetches the vendor's access
token when first needed, caches it, renews it before it expires, replays a
request once after a 401, and attaches the token the way the vendor wants.
"""

from __future__ import annotations

from .algonomy import AlgonomyAuth
from .cache import CacheUnavailableError, TokenCache
from .core import TokenAuth, TokenStatus
from .digital_turbine import DigitalTurbineAuth
from .exceptions import (
    AuthError,
    ConfigurationError,
    InsecureTransportError,
    InvalidTokenResponseError,
    TokenRequestError,
)
from .file_cache import FileTokenCache
from .redis_cache import RedisTokenCache
from .rokt import RoktAuth, RoktEventAuth, RoktReportingAuth
from .rokt_event_keys import RoktEventKeyAuth
from .rokt_partnerships import RoktPartnershipsAuth

__version__ = "0.1.0"

__all__ = [
    "AlgonomyAuth",
    "AuthError",
    "CacheUnavailableError",
    "ConfigurationError",
    "DigitalTurbineAuth",
    "FileTokenCache",
    "InsecureTransportError",
    "InvalidTokenResponseError",
    "RedisTokenCache",
    "RoktAuth",
    "RoktEventAuth",
    "RoktEventKeyAuth",
    "RoktPartnershipsAuth",
    "RoktReportingAuth",
    "TokenAuth",
    "TokenCache",
    "TokenRequestError",
    "TokenStatus",
    "__version__",
]
