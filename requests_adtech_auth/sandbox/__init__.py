"""A loopback emulation of the vendors' token endpoints and APIs, for tests and demos.

The sandbox validates credentials and tokens the way each vendor's documentation
says, expires tokens, answers the documented error bodies, and has knobs: token
lifetimes, queued faults, revoking every token, and counters of what it saw::

    with Sandbox() as sandbox:
        auth = sandbox.rokt_auth()
        requests.get(sandbox.rokt.api_url + "/v1/query/accounts", auth=auth)
        assert sandbox.count("rokt", "token") == 1

Scripts and notebooks that keep the vendors' real URLs use
:meth:`Sandbox.intercept_vendor_hosts`.

Another process steers it over HTTP, below ``/_sandbox/`` (see
the sandbox page of the docs).
Wherever a vendor is named, any of :func:`requests_adtech_auth.registry.names`
works (``digital_turbine``, ``digital-turbine``, ``dt``, ...).

It listens on 127.0.0.1 on a free port (and on a second loopback address that
plays a foreign host: Digital Turbine's report storage). Credentials are random
for each sandbox; nothing here talks to a real vendor.
"""

from __future__ import annotations

import collections
import contextlib
import math
import os
import re
import ssl
import tempfile
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Optional
from urllib.parse import urlsplit

from .. import registry
from ..file_cache import CACHE_DIR_VARIABLE
from ._control import ENDPOINTS, control
from ._emulation import Emulation
from ._http import Call, Fault, Reply, serve
from ._interception import VendorHosts
from ._ledger import IssuedRecord, TokenLedger

if TYPE_CHECKING:
    from ..algonomy import AlgonomyAuth
    from ..digital_turbine import DigitalTurbineAuth
    from ..rokt import RoktAuth
    from ..rokt_partnerships import RoktPartnershipsAuth
    from .algonomy import AlgonomyEmulation
    from .digital_turbine import DigitalTurbineEmulation
    from .rokt import RoktEmulation
    from .rokt_partnerships import RoktPartnershipsEmulation

__all__ = ["Call", "Emulation", "Fault", "IssuedRecord", "Reply", "Sandbox"]

#: The events :meth:`Sandbox.count` knows (any other name is a typo).
_EVENT = re.compile(r"token|token_issued|update|api|api_ok|api_\d{3}(?:_stale)?")


class Sandbox:
    """The vendors' token endpoints and APIs on loopback; a context manager.

    Every flow in the :mod:`~requests_adtech_auth.registry` that names an
    emulation is served, other packages' flows included; each emulation is an
    attribute of its name (``sandbox.rokt``, ``sandbox.digital_turbine``) and
    :meth:`emulation` finds one by any vendor name.

    Args:
        lifetimes: token lifetime in seconds per vendor (``"rokt"``,
            ``"rokt_partnerships"``, ``"digital_turbine"``), overriding the
            documented ones. Algonomy tokens live as long as the validity asked for.
        ssl_context: serve the main host over HTTPS with this server context.
        record: keep every request received in :attr:`calls` (tests inspect them).
        port: the main host's port (default: a free one).
    """

    if TYPE_CHECKING:  # the package's own emulations, typed for callers (any other: Emulation)
        rokt: RoktEmulation
        rokt_partnerships: RoktPartnershipsEmulation
        digital_turbine: DigitalTurbineEmulation
        algonomy: AlgonomyEmulation

    def __init__(
        self,
        *,
        lifetimes: Optional[dict[str, float]] = None,
        ssl_context: Optional[ssl.SSLContext] = None,
        record: bool = True,
        port: int = 0,
    ) -> None:
        #: Seconds every token and update endpoint waits before answering (for overlap in load tests).
        self.token_delay = 0.0
        self.record = record
        self.calls: list[Call] = []
        self._ssl_context = ssl_context
        self._port = port
        self._lock = threading.Lock()
        self._ledger = TokenLedger()
        self._faults: dict[tuple[str, str], collections.deque[Fault]] = collections.defaultdict(collections.deque)
        self._counts: collections.Counter[tuple[str, str]] = collections.Counter()
        self._stopping = threading.Event()
        self._servers: list[Any] = []
        self.url = ""
        self.storage_url = ""
        self._emulations: dict[str, Emulation] = {}
        for vendor in registry.vendors():
            cls = vendor.emulation_class()
            if cls is not None and cls.name not in self._emulations:
                self._emulations[cls.name] = cls(self)
        self._by_prefix = {emulation.prefix: emulation for emulation in self._emulations.values()}
        #: The vendors' real hosts per emulation, as :meth:`intercept_vendor_hosts`
        #: routes them (``*.algonomy.com``: every tenant's host).
        self.vendor_hosts: dict[str, tuple[str, ...]] = {e.name: e.real_hosts for e in self._emulations.values()}
        self._vendor_hosts = VendorHosts(self.vendor_hosts)
        self.lifetimes: dict[str, float] = {
            e.name: e.documented_lifetime for e in self._emulations.values() if e.documented_lifetime is not None
        }
        self.set_lifetimes(lifetimes or {})
        self._cache_dir: Optional[tempfile.TemporaryDirectory[str]] = None
        self._pid = os.getpid()

    def __getattr__(self, name: str) -> Emulation:
        # Only for names __dict__ lacks: the emulations, by their names.
        emulations = self.__dict__.get("_emulations", {})
        if name in emulations:
            return emulations[name]  # type: ignore[no-any-return]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def emulations(self) -> list[Emulation]:
        """Every vendor emulation this sandbox serves."""
        return list(self._emulations.values())

    def emulation(self, vendor: object) -> Emulation:
        """The emulation serving ``vendor``: its name, or any name of a flow it serves (``"dt"``, ``"rokt-event"``).

        Raises:
            ValueError: no such vendor, or one the sandbox does not emulate; the message lists the names.
        """
        found = self._emulations.get(vendor) if isinstance(vendor, str) else None
        if found is not None:
            return found
        cls = registry.find(vendor).emulation_class()
        if cls is None or cls.name not in self._emulations:
            raise ValueError(f"the sandbox does not emulate {vendor!r}")
        return self._emulations[cls.name]

    def set_lifetimes(self, lifetimes: dict[str, float]) -> None:
        """Set token lifetimes in seconds per vendor (any of its names).

        Raises:
            ValueError: an unknown vendor, one whose tokens live what the request asks
                (Algonomy), or a lifetime that is no finite number above 0; nothing changes then.
        """
        named = {self.emulation(vendor).name: seconds for vendor, seconds in lifetimes.items()}
        bad = sorted(vendor for vendor, seconds in named.items() if not 0 < seconds < math.inf)
        if bad:  # nan, inf and negative lifetimes are the token parsers' tests, through faults
            raise ValueError(f"a lifetime is a finite number of seconds above 0 ({', '.join(bad)})")
        fixed = sorted(vendor for vendor in named if vendor not in self.lifetimes)
        if fixed:
            # Silently ignoring it would look like a working knob.
            raise ValueError(f"{', '.join(fixed)} tokens live as long as the token request asks (validity=)")
        self.lifetimes.update(named)

    # -- life cycle --------------------------------------------------------------------

    def start(self) -> Sandbox:
        """Start serving (the context manager does this)."""
        if self._servers:
            return self
        self._stopping.clear()
        self._pid = os.getpid()
        main, _ = serve("127.0.0.1", "main", self._handle_main, self._stopping, self._ssl_context, self._port)
        self._servers.append(main)
        scheme = "https" if self._ssl_context else "http"
        self.url = f"{scheme}://127.0.0.1:{main.server_address[1]}"
        try:
            storage, _ = serve("127.0.0.2", "storage", self._handle_storage, self._stopping)
            storage_host = "127.0.0.2"
        except OSError:  # no 127.0.0.2 (macOS): a second name for loopback
            storage, _ = serve("127.0.0.1", "storage", self._handle_storage, self._stopping)
            storage_host = "localhost"
        self._servers.append(storage)
        self.storage_url = f"http://{storage_host}:{storage.server_address[1]}"
        # Token files of sandbox runs stay out of the user's real cache (see environ()).
        self._cache_dir = tempfile.TemporaryDirectory(prefix="adtech-sandbox-cache-")
        return self

    def stop(self) -> None:
        """Stop serving and release the ports (only in the process that started the sandbox)."""
        if self._pid != os.getpid():
            # A forked child has no serving threads to wait for, and the directory is its parent's.
            return
        self._stopping.set()
        for server in self._servers:
            server.shutdown()
            server.server_close()
        self._servers.clear()
        if self._cache_dir is not None:
            self._cache_dir.cleanup()
            self._cache_dir = None

    def __repr__(self) -> str:
        # Addresses only: the demo credentials are for environ(), never a repr.
        if not self._servers:
            return "<Sandbox (not serving)>"
        return f"<Sandbox {self.url} storage={self.storage_url}>"

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- knobs and counters ------------------------------------------------------------

    def add_fault(self, vendor: str, endpoint: str, fault: Fault, times: int = 1) -> None:
        """Make the next ``times`` requests to ``vendor``'s ``endpoint`` misbehave.

        Args:
            vendor: any name of the vendor (``"rokt"``, ``"dt"``, ...), as everywhere here.
            endpoint: ``"token"``, ``"update"`` (Algonomy) or ``"api"``.
            fault: what to do instead of answering normally.
            times: how many requests in a row.

        Raises:
            ValueError: ``vendor`` is not a vendor's name, or ``endpoint`` not one of the three.
        """
        vendor = self.emulation(vendor).name
        if endpoint not in ENDPOINTS:  # a typo would queue a fault that never fires
            raise ValueError(f"endpoint must be one of {', '.join(ENDPOINTS)}, not {endpoint!r}")
        with self._lock:
            self._faults[(vendor, endpoint)].extend([fault] * times)

    def pending_faults(self, vendor: str, endpoint: str) -> int:
        """How many queued faults ``vendor``'s ``endpoint`` has yet to serve."""
        vendor = self.emulation(vendor).name
        with self._lock:
            return len(self._faults.get((vendor, endpoint), ()))

    def clear_faults(self) -> None:
        """Drop every queued fault."""
        with self._lock:
            self._faults.clear()

    def revoke_tokens(self, vendor: Optional[str] = None) -> None:
        """Make every token issued so far (for ``vendor``, or all) invalid."""
        self._ledger.revoke(None if vendor is None else self.emulation(vendor).name)

    def count(self, vendor: str, event: str) -> int:
        """How often ``event`` happened for ``vendor``.

        Events: ``token`` (token requests received), ``token_issued``, ``update``,
        ``api`` (API requests received), ``api_ok``, ``api_401``, ``api_403`` and
        so on (answered with that 4xx status, for any reason), ``api_401_stale``
        (401 for a token that had expired or was revoked; ``api_403_stale`` or
        ``api_400_stale`` when the Rokt emulation's ``stale_token_status`` says so).
        A name that is no vendor's, or no event's, is a ValueError, not a count of 0 that
        would pass an assertion.
        """
        vendor = self.emulation(vendor).name
        if not _EVENT.fullmatch(event):
            raise ValueError(
                f"no such event {event!r}: token, token_issued, update, api, api_ok, api_401, api_401_stale, ..."
            )
        with self._lock:
            return self._counts[(vendor, event)]

    def reset_counts(self) -> None:
        """Set every counter to zero and forget recorded calls."""
        with self._lock:
            self._counts.clear()
            self.calls.clear()

    def calls_to(self, server: str = "main", path_prefix: str = "") -> list[Call]:
        """Recorded calls to ``server`` (``"main"`` or ``"storage"``) under a path."""
        with self._lock:
            return [c for c in self.calls if c.server == server and c.path.startswith(path_prefix)]

    def secrets(self) -> list[str]:
        """Every credential and token value of this sandbox (for leak checks)."""
        return [s for emulation in self._emulations.values() for s in emulation.secrets()] + self._ledger.values()

    def counts(self) -> dict[tuple[str, str], int]:
        """Every counter: ``(vendor, event)`` to how often (see :meth:`count`)."""
        with self._lock:
            return dict(self._counts)

    def pending(self) -> dict[tuple[str, str], int]:
        """Queued faults: ``(vendor, endpoint)`` to how many are still to be served."""
        with self._lock:
            return {key: len(queue) for key, queue in self._faults.items()}

    # -- ready auth objects ------------------------------------------------------------

    def auth(self, vendor: str, **options: Any) -> Any:
        """An object of ``vendor``'s auth class (any of its names) pointed at this sandbox.

        ``options`` go to the constructor and win over the sandbox's own
        (``token_url`` too, to point it elsewhere).
        """
        flow = registry.find(vendor)
        return self.emulation(flow.name).auth(flow.auth, **options)

    def rokt_auth(self, **options: Any) -> RoktAuth:
        """A :class:`~requests_adtech_auth.RoktAuth` pointed at this sandbox (see :meth:`auth`)."""
        return self.auth("rokt", **options)  # type: ignore[no-any-return]

    def rokt_partnerships_auth(self, **options: Any) -> RoktPartnershipsAuth:
        """A :class:`~requests_adtech_auth.RoktPartnershipsAuth` pointed at this sandbox."""
        return self.auth("rokt-partnerships", **options)  # type: ignore[no-any-return]

    def digital_turbine_auth(self, **options: Any) -> DigitalTurbineAuth:
        """A :class:`~requests_adtech_auth.DigitalTurbineAuth` pointed at this sandbox."""
        return self.auth("digital-turbine", **options)  # type: ignore[no-any-return]

    def algonomy_auth(self, resources: Any = ("basic",), **options: Any) -> AlgonomyAuth:
        """An :class:`~requests_adtech_auth.AlgonomyAuth` pointed at this sandbox."""
        return self.auth("algonomy", resources=resources, **options)  # type: ignore[no-any-return]

    # -- what the emulations use -------------------------------------------------------

    def count_event(self, vendor: str, event: str) -> None:
        """Add one to a counter."""
        with self._lock:
            self._counts[(vendor, event)] += 1

    def issue(self, vendor: str, client: str, lifetime: float, resources: Any = ()) -> str:
        """Hand out a new random token valid for ``lifetime`` seconds."""
        value = self._ledger.issue(vendor, client, lifetime, resources)
        self.count_event(vendor, "token_issued")
        return value

    def check(self, vendor: str, value: Optional[str]) -> tuple[Optional[IssuedRecord], str]:
        """Look a presented token up: ``(record, "")`` or ``(None, why not)``."""
        return self._ledger.check(vendor, value)

    def take_fault(self, vendor: str, endpoint: str) -> Optional[Fault]:
        """Pop the next queued fault for an endpoint, if any."""
        with self._lock:
            queue = self._faults.get((vendor, endpoint))
            return queue.popleft() if queue else None

    def _handle_main(self, call: Call) -> Reply | Fault:
        if self.record:
            with self._lock:
                self.calls.append(call)
        # A client routed below the URL (httpx under intercept_vendor_hosts) names the vendor's host.
        try:
            host = urlsplit("//" + (call.header("Host") or "")).hostname or ""
        except ValueError:  # a malformed Host ("[") names no vendor
            host = ""
        serving = [self._emulations[name] for name in self._vendor_hosts.vendors(host) if name in self._emulations]
        if serving:  # several on one host: the one whose path it is
            by_path = next((e for e in serving if e.claims(call.path)), serving[0])
            return by_path.handle(call, call.path)
        prefix, _, rest = call.path.lstrip("/").partition("/")
        emulation = self._by_prefix.get(prefix)
        if emulation is not None:
            return emulation.handle(call, "/" + rest)
        if prefix == "_sandbox":
            return control(self, call, "/" + rest)
        if call.path == "/redirect":
            return Fault.redirect(call.query.get("to", "/"), int(call.query.get("status", "302")))
        return Reply.json(404, {"error": "not_found", "message": f"no such sandbox path {call.path}"})

    def info(self) -> dict[str, Any]:
        """Every vendor's URLs and demo credentials (what ``GET /_sandbox/info`` answers).

        Per emulation: ``token_url``, ``api_url`` (the base the vendor's API paths go
        below), ``real_hosts`` (the hosts ``api_url`` stands in for) and the auth
        class's arguments (credentials) by name.
        """
        document: dict[str, Any] = {"url": self.url, "storage_url": self.storage_url}
        for emulation in self._emulations.values():
            document[emulation.name] = emulation.info()
        return document

    @contextlib.contextmanager
    def intercept_vendor_hosts(self) -> Iterator[Sandbox]:
        """Route requests to the vendors' real hosts to this sandbox, for the ``with`` block.

        Code keeps its real URLs (``https://api.rokt.com/...``,
        ``https://reporting.digitalturbine.com/...``, any ``*.algonomy.com``, see
        :attr:`vendor_hosts`): every ``requests`` transport in the process, in
        every thread, sends them here instead, and responses keep the URL and
        request the code asked for. httpx and aiohttp clients are routed too
        (httpx's own transports, sync and async, and aiohttp's ``TCPConnector``:
        the connection goes to the sandbox, the URL and the credential checks
        stay the vendor's). Other hosts, and other clients (urllib), are untouched. The pytest fixture
        ``adtech_sandbox`` does this for a test; in a script::

            with Sandbox() as box, box.intercept_vendor_hosts():
                os.environ.update(box.environ())  # the variables from_env() reads
                auth = RoktAuth.from_env()
                response = requests.get("https://api.rokt.com/v1/query/accounts", auth=auth)

        In a notebook, where the sandbox should outlive a cell::

            stack = contextlib.ExitStack()
            box = stack.enter_context(Sandbox())
            stack.enter_context(box.intercept_vendor_hosts())
            os.environ.update(box.environ())
            # later cells: the documentation's examples, unchanged
            response = requests.get("https://api.rokt.com/v1/query/accounts", auth=RoktAuth.from_env())
            # the last cell: real hosts go to the network again, then the sandbox stops
            stack.close()
        """
        from ._interception import Route, routed

        host, port = urlsplit(self.url).hostname or "127.0.0.1", int(urlsplit(self.url).port or 0)
        with routed(Route(self._vendor_hosts, self.url, (host, port), tls=self._ssl_context is not None)):
            yield self

    def environ(self, prefix: str = "") -> dict[str, str]:
        """Environment variables that point every vendor's ``from_env()`` at this sandbox.

        Token URLs are always the sandbox's own: a child process, or code run after
        :meth:`intercept_vendor_hosts` ends, must never take sandbox credentials to
        a real host. Each emulation's values say more (Algonomy's ``hosts`` adds the
        examples' tenant host). ``ADTECH_AUTH_CACHE_DIR`` names a temporary
        directory that lives as long as the sandbox, so a
        :class:`~requests_adtech_auth.FileTokenCache` keeps sandbox tokens out of
        the user's real cache.
        """
        variables = {}
        # Named by the auth classes' own declarations, so the two never drift apart.
        for flow in registry.vendors():
            emulation = self._emulations.get(getattr(flow.emulation_class(), "name", ""))
            if emulation is None:
                continue
            values = emulation.environ_values()
            for var in flow.auth.env_variables:
                if var.argument in values:
                    variables[prefix + var.name] = values[var.argument]
        if self._cache_dir is not None:
            variables[CACHE_DIR_VARIABLE] = self._cache_dir.name
        return variables

    def _handle_storage(self, call: Call) -> Reply | Fault:
        if self.record:
            with self._lock:
                self.calls.append(call)
        for emulation in self._emulations.values():
            reply = emulation.storage(call)
            if reply is not None:
                return reply
        return Reply.json(200, {"ok": True})
