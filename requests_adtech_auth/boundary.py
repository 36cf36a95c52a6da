"""The credential boundary: whether a credential may travel to a URL.

Every decision about where a secret or a token may go is made here, on the URL
exactly as the HTTP library sends it: the token URL at construction (after
requests' own ``prepare_url``), every API request (whose URL requests has
already prepared), every redirect hop (computed by requests' own redirect
resolution, not by a look-alike) and every replay.

A URL is trusted only when the parsers that may pick the host to connect to
agree on it: ``urllib.parse`` (requests >= 2.32 picks its connection pool with
it) and urllib3's ``parse_url`` (older requests, and every request through a
proxy). Where they disagree (a backslash, ``@`` tricks, stray whitespace), no
credential goes anywhere: the boundary fails closed.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import re
from collections.abc import Iterable
from typing import NamedTuple, Optional
from urllib.parse import SplitResult, urlsplit

import requests

from .exceptions import ConfigurationError, InsecureTransportError

__all__ = [
    "BODY_HEADERS",
    "CredentialBoundary",
    "CredentialTrail",
    "Origin",
    "api_url_for_log",
    "is_loopback_host",
    "next_hop_url",
    "origin_of",
    "prepared_url",
    "url_for_display",
]

logger = logging.getLogger("requests_adtech_auth")

_DEFAULT_PORTS = {"http": 80, "https": 443}
_ASCII_HOST = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)(?:\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*")
#: Distinct origins remembered for the fast path (and hosts logged as refused).
_MEMORY = 64


class Origin(NamedTuple):
    """Where a request connects: scheme, lower-case host (IPv6 without brackets), port."""

    scheme: str
    host: str
    port: int


def is_loopback_host(host: str) -> bool:
    """Return True for ``localhost`` and addresses in 127.0.0.0/8 or ``::1``."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@functools.lru_cache(maxsize=512)
def origin_of(url: str) -> Optional[Origin]:
    """The origin a request to ``url`` connects to, or None if that is not certain.

    None when the URL is not absolute http(s), has characters that prepared URLs
    never hold (whitespace, controls, backslashes), or when ``urllib.parse`` and
    urllib3 read a different scheme, host or port from it.
    """
    if not url or any(c <= " " or c in "\x7f\\" for c in url):
        return None
    try:
        from urllib3.util import parse_url

        split = urlsplit(url)
        split_port = split.port
        parsed = parse_url(url)
    except (ValueError, TypeError):  # urllib3's LocationParseError is a ValueError
        return None
    scheme = split.scheme.lower()
    host = (split.hostname or "").lower()
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    other_host = (parsed.host or "").strip("[]").lower()
    if (parsed.scheme or "").lower() != scheme or other_host != host or parsed.port != split_port:
        return None
    return Origin(scheme, host, split_port if split_port is not None else _DEFAULT_PORTS[scheme])


def prepared_url(url: str) -> str:
    """``url`` as requests sends it (IDNA host, quoting), or raise ConfigurationError."""
    request = requests.PreparedRequest()
    try:
        request.prepare_url(url, None)
    except (requests.RequestException, ValueError, UnicodeError):
        # The URL is not echoed: it may carry user:password.
        raise ConfigurationError("the URL cannot be parsed; it must be an absolute https:// URL") from None
    return request.url or ""


def url_for_display(url: str) -> str:
    """``url`` without user:password, for messages, logs and repr."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(unparseable URL)"
    if "@" not in parts.netloc:
        return url
    return SplitResult(parts.scheme, parts.netloc.rpartition("@")[2], parts.path, parts.query, parts.fragment).geturl()


def api_url_for_log(url: str) -> str:
    """An API call's ``url`` as log lines show it: no user:password, no query, no fragment.

    A query string or a fragment may carry an identifier or a key the caller
    considers private; the scheme, host and path say which call it was.
    """
    return url_for_display(url.split("#", 1)[0].split("?", 1)[0])


def next_hop_url(response: requests.Response, request: requests.PreparedRequest) -> Optional[str]:
    """The URL requests will send the next hop of redirect ``response`` to.

    It asks requests' own redirect resolution (``yield_requests=True`` builds the
    next request without sending it), so the answer is the URL that goes out,
    whatever the ``Location`` header looks like. ``request`` is the request
    requests copies for the hop. None when requests would not follow.
    """
    if not response.is_redirect:
        return None
    resolver = requests.Session()
    resolver.trust_env = False  # no .netrc or proxy look-ups for a URL computation
    history = response.history
    try:
        hop = next(resolver.resolve_redirects(response, request, yield_requests=True), None)
    except (requests.RequestException, ValueError, UnicodeError):
        return None
    finally:
        response.history = history
        resolver.close()
    # Typed as a Response, but with yield_requests=True it is the next PreparedRequest.
    url = getattr(hop, "url", None)
    return url if isinstance(url, str) else None


def _same_origin_for_credentials(old: Origin, new: Origin) -> bool:
    # requests' rule for Authorization, so that every credential header stays or
    # goes together with it: same host, and same scheme and port, except the
    # upgrade from http:80 to https:443.
    if old.host != new.host:
        return False
    if (old.scheme, old.port, new.scheme, new.port) == ("http", 80, "https", 443):
        return True
    return old.scheme == new.scheme and old.port == new.port


def _canonical_host(host: object) -> str:
    if not isinstance(host, str) or not host:
        raise ConfigurationError(f"hosts must hold bare host names like 'api.example.com', not {host!r}")
    return _canonical_host_name(host)


@functools.lru_cache(maxsize=1024)
def _canonical_host_name(host: str) -> str:
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        return str(ipaddress.ip_address(bare))
    except ValueError:
        pass
    if "://" in bare or bare.startswith("//"):
        # A pasted URL: its ':' is the scheme's, not a port, so name the host inside instead.
        raise ConfigurationError(_url_for_host_message(host))
    problem = next((c for c in bare if c in ":/@*?#\\%[]" or c.isspace() or ord(c) < 0x20), None)
    if problem is not None:
        what = {":": "a port", "@": "user info", "*": "a wildcard"}.get(problem, f"the character {problem!r}")
        raise ConfigurationError(f"hosts must hold bare host names like 'api.example.com'; {host!r} has {what}")
    if _ASCII_HOST.fullmatch(bare):
        return bare.lower()  # what IDNA encoding would give, without its cost
    import idna  # a dependency of requests, which encodes hosts the same way

    try:
        return str(idna.encode(bare, uts46=True).decode("ascii")).lower()
    except (idna.IDNAError, UnicodeError, ValueError):
        raise ConfigurationError(f"hosts: {host!r} is not a valid host name") from None


def _url_for_host_message(url: str) -> str:
    shown = url_for_display(url)  # user:password never goes into a message
    try:
        name = urlsplit(url).hostname or ""
    except ValueError:
        name = ""
    suggestion = f": use {name!r}" if name else ""
    return f"hosts must hold bare host names like 'api.example.com'; {shown!r} is a URL, not a host name{suggestion}"


class CredentialBoundary:
    """The set of origins a flow's credentials may travel to.

    Args:
        hosts: host names that receive credentials (https, or http on loopback).
        vendor: the vendor's name, for messages.

    Raises:
        ConfigurationError: ``hosts`` is empty, a string, or holds something that
            is not a bare host name (a port, a wildcard, user info, a path).
    """

    __slots__ = ("_refusals_warned", "_refused_logged", "hosts", "prefixes", "vendor")

    def __init__(self, hosts: Iterable[str], vendor: str) -> None:
        if isinstance(hosts, (str, bytes)):
            raise ConfigurationError("hosts must be a collection of host names, e.g. ['api.example.com'], not a string")
        try:
            checked = frozenset(_canonical_host(host) for host in hosts)
        except TypeError:
            raise ConfigurationError("hosts must be a collection of host names, e.g. ['api.example.com']") from None
        if not checked:
            raise ConfigurationError("hosts is empty: no request would ever carry a credential; name at least one host")
        self.hosts = checked
        self.vendor = vendor
        #: "scheme://authority/" prefixes of URLs already allowed: the hot path's
        #: shortcut. Everything after the first "/" past "//" is path, for every parser.
        self.prefixes: tuple[str, ...] = ()
        self._refused_logged: set[str] = set()
        self._refusals_warned: set[str] = set()

    def __repr__(self) -> str:
        return f"CredentialBoundary({sorted(self.hosts)!r})"

    def allows(self, url: str) -> bool:
        """Whether a credential may go to ``url`` (as sent); remembers allowed origins.

        Raises:
            InsecureTransportError: ``url`` is plain http to an allowed host that is
                not loopback (refusing is clearer than a silent credential-less call).
        """
        if url.startswith(self.prefixes):  # an origin already allowed (TokenAuth inlines this test)
            return True
        origin = origin_of(url)
        if origin is None or origin.host not in self.hosts:
            self._log_refused(origin)
            return False
        if origin.scheme == "http" and not is_loopback_host(origin.host):
            raise InsecureTransportError(
                f"refusing to send a {self.vendor} token over plain http to {origin.host}: use https"
            )
        authority_end = url.find("/", len(origin.scheme) + 3)
        # Only a prefix that ends exactly where the authority does fixes the host.
        if authority_end > 0 and len(self.prefixes) < _MEMORY and not any(c in url[:authority_end] for c in "?#@"):
            prefix = url[: authority_end + 1]
            if prefix not in self.prefixes:
                self.prefixes = (*self.prefixes, prefix)
        return True

    def allows_quietly(self, url: str) -> bool:
        """Like :meth:`allows`, but plain http to a non-loopback host is just False."""
        origin = origin_of(url)
        return (
            origin is not None
            and origin.host in self.hosts
            and (origin.scheme == "https" or is_loopback_host(origin.host))
        )

    def keeps_credentials(self, from_url: str, to_url: Optional[str]) -> bool:
        """Whether credential headers may stay on a redirect from ``from_url`` to ``to_url``.

        Only to an allowed origin, and only where requests itself keeps
        ``Authorization`` (same origin, or the http to https upgrade).
        """
        if to_url is None or not self.allows_quietly(to_url):
            return False
        old, new = origin_of(from_url), origin_of(to_url)
        return old is not None and new is not None and _same_origin_for_credentials(old, new)

    def _log_refused(self, origin: Optional[Origin]) -> None:
        host = origin.host if origin is not None else "(a URL whose host is ambiguous)"
        # Only counted as told once it was told: a user who sees a 401 and then turns
        # DEBUG on still gets the line on the next request.
        if host in self._refused_logged or not logger.isEnabledFor(logging.DEBUG):
            return
        if len(self._refused_logged) < _MEMORY:
            self._refused_logged.add(host)
        # Host only: a path or query may carry something private.
        logger.debug(
            "%s: no credentials sent to %s: not one of hosts=%s. If it serves the vendor's API (a test "
            "environment, the sandbox), give the auth object that environment's token_url (or use from_env()) "
            "and add the host with hosts=...",
            self.vendor,
            host,
            sorted(self.hosts),
        )

    def refused_without_credentials(self, url: str, status: int) -> None:
        """A request this boundary sent bare was answered 401 or 403: say once per host that hosts= may be wrong."""
        origin = origin_of(url)
        host = origin.host if origin is not None else "(a URL whose host is ambiguous)"
        if host in self._refusals_warned:
            return
        if len(self._refusals_warned) < _MEMORY:
            self._refusals_warned.add(host)
        # Host only: a path or query may carry something private. A 2xx never gets here
        # (a pre-signed storage download is meant to go bare).
        logger.warning(
            "%s: %s answered %d to a request sent without credentials, because %s is not one of hosts=%s. "
            "Only if it serves the vendor's API (a test environment, not a pre-signed download or another "
            "service), add it to hosts= (or give that environment's token_url)",
            self.vendor,
            host,
            status,
            host,
            sorted(self.hosts),
        )

    def body_withheld(self, target: Optional[str], describe: str) -> None:
        """Say that a redirect hop to ``target``, another origin, goes without the request body.

        Also with ``allow_redirects=False`` (response hooks cannot tell): the
        redirect's request shows what a hop would get.
        """
        origin = origin_of(target) if target else None
        logger.warning(
            "%s: a redirect to another origin (%s) gets neither the request body, which may hold personal data, "
            "nor the credentials; if that URL serves the API, call it directly",
            describe,
            origin.host if origin is not None else "a URL whose host is ambiguous",  # host only, never the path
        )


#: Headers that frame a request body: a redirect hop sent without its body goes without them.
BODY_HEADERS = ("Content-Length", "Content-Type", "Transfer-Encoding")


class CredentialTrail:
    """Whether one request's credentials still go along, hop by hop through its redirects.

    Requests' rule, for every HTTP client: a hop keeps them only if the hop before
    it did and the boundary keeps them from that hop's URL to this one's (same
    origin, or the http to https upgrade, and an allowed host). Once lost, lost
    for every later hop.

    Args:
        boundary: the flow's credential boundary.
        url: the first request's URL, as sent.
    """

    __slots__ = ("boundary", "carried", "url")

    def __init__(self, boundary: CredentialBoundary, url: str) -> None:
        self.boundary = boundary
        #: The URL of the last hop sent.
        self.url = url
        #: Whether the last hop sent carried the credentials.
        self.carried = True

    def follow(self, url: str) -> bool:
        """Record the next hop, to ``url`` as sent; return whether it keeps the credentials."""
        self.carried = self.carried and self.boundary.keeps_credentials(self.url, url)
        self.url = url
        return self.carried


def check_token_url(url: object, vendor: str, argument: str = "token_url") -> str:
    """Validate a token endpoint URL; return it as requests will send it (see :func:`_validate_token_url`)."""
    if not isinstance(url, str):
        return _validate_token_url(url, vendor, argument)
    return _validate_token_url_cached(url, vendor, argument)


@functools.lru_cache(maxsize=256)
def _validate_token_url_cached(url: str, vendor: str, argument: str) -> str:
    # Pure, and the same few URLs come again for every auth object a program builds.
    return _validate_token_url(url, vendor, argument)


def _validate_token_url(url: object, vendor: str, argument: str) -> str:
    """Validate a token endpoint URL; return it as requests will send it.

    Raises:
        ConfigurationError: not an absolute http(s) URL with a certain host, has
            surrounding whitespace, or carries user:password (never echoed).
        InsecureTransportError: plain http to a host that is not loopback.
    """
    if not isinstance(url, str) or not url:
        raise ConfigurationError(f"{argument} must be a non-empty URL string")
    if url != url.strip():
        raise ConfigurationError(f"{argument} has surrounding spaces or line breaks; copy it again")
    if any(c < " " or c in "\x7f\\" for c in url):
        # Parsers read a backslash or a control character differently: which host is meant is not certain.
        raise ConfigurationError(f"{argument} holds a backslash or a control character; use a plain https:// URL")
    try:
        sent = prepared_url(url)
    except ConfigurationError:
        raise ConfigurationError(f"{argument} cannot be parsed; it must be an absolute https:// URL") from None
    if "@" in urlsplit(sent).netloc:
        raise ConfigurationError(f"{argument} must not carry user:password@; pass credentials as arguments")
    origin = origin_of(sent)
    if origin is None:
        raise ConfigurationError(f"{argument} must be an absolute https:// URL with an unambiguous host")
    if origin.scheme == "http" and not is_loopback_host(origin.host):
        raise InsecureTransportError(
            f"refusing to send {vendor} credentials over plain http to {origin.host}: "
            f"use an https:// {argument} (plain http is allowed for loopback hosts only)"
        )
    return sent
