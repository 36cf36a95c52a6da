"""The vendors: one declarative description per flow, read by the CLI, the sandbox, the demo and the test kit.

Each vendor module describes its flows with :class:`Vendor` and hands them to
:func:`register` (the package's own do so when ``requests_adtech_auth`` is
imported). Another package adds a flow without changing this one: it declares an
entry point in the group ``requests_adtech_auth.vendors`` whose object is a
:class:`Vendor` (or a sequence of them)::

    [options.entry_points]
    requests_adtech_auth.vendors =
        acme = acme_adtech.flow:VENDOR

``adtech-auth token acme``, the sandbox (when the vendor names an emulation) and
``adtech-auth demo`` then pick it up; :mod:`requests_adtech_auth.testing` holds the
contract its tests run.
"""

from __future__ import annotations

import importlib
import sys
import threading
import warnings
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple, Optional, Union

if TYPE_CHECKING:
    import requests

    from .core import TokenAuth

__all__ = ["ENTRY_POINT_GROUP", "ApiCall", "Vendor", "find", "names", "register", "vendors"]

#: The entry point group other packages declare their flows under.
ENTRY_POINT_GROUP = "requests_adtech_auth.vendors"


# NamedTuples, not dataclasses: the package imports this module, and dataclasses
# would bring in inspect, which costs more than the rest of the registry (bench/).
class ApiCall(NamedTuple):
    """One API call a flow is shown and tested with: method, path below the API's base URL, JSON body."""

    method: str
    path: str
    json: Optional[Mapping[str, Any]] = None
    #: Extra request headers (e.g. Rokt's ``Rokt-Version``).
    headers: Mapping[str, str] = {}
    #: Send a new ``Idempotency-Key`` (a UUID) each time, as the vendor asks of writes.
    idempotency_key: bool = False

    def headers_to_send(self) -> dict[str, str]:
        """The headers of one call: :attr:`headers`, and a new ``Idempotency-Key`` where it takes one."""
        headers = dict(self.headers)
        if self.idempotency_key:
            import uuid  # only where a call is made: not on the package's import path

            headers["Idempotency-Key"] = str(uuid.uuid4())
        return headers

    def send(self, session: requests.Session, base_url: str, **options: Any) -> requests.Response:
        """Make the call through ``session`` below ``base_url`` (``options`` go to ``session.request``)."""
        options.setdefault("timeout", 10)
        headers = {**self.headers_to_send(), **options.pop("headers", {})}
        return session.request(self.method, base_url + self.path, json=self.json, headers=headers, **options)


class _VendorFields(NamedTuple):
    name: str
    auth: type[TokenAuth]
    title: str
    aliases: tuple[str, ...] = ()
    emulation: Optional[str] = None
    calls: tuple[ApiCall, ...] = ()
    demo_extra: Optional[str] = None


class Vendor(_VendorFields):
    """One vendor token flow, as the tools see it.

    Args:
        name: the name ``adtech-auth token NAME`` takes (lower case, ``-`` between
            words; the same with ``_`` is accepted too).
        auth: the auth class.
        title: what the demo and the sandbox call it (``"Digital Turbine Growth Reporting"``).
        aliases: more names for it (``("dt",)``).
        emulation: ``"module:Class"`` of its sandbox emulation (a subclass of
            :class:`requests_adtech_auth.sandbox.Emulation`), imported only when a
            sandbox starts; None for a flow the sandbox does not serve. Flows may
            share one emulation (Rokt's Event and Reporting APIs do).
        calls: API calls, below the emulation's ``api_url``, that the demo makes
            and the test kit uses (the first one must succeed with a fresh token).
        demo_extra: ``"module:function"`` run by the demo after ``calls``, with
            ``(session, sandbox, auth, out)``; it returns True if all went well
            (Digital Turbine's download, Algonomy's added resource).

    Raises:
        ValueError: a name that is not lower-case words joined by ``-``, or a
            reference that is not ``"module:name"``.
    """

    __slots__ = ()

    def __new__(
        cls,
        name: str,
        auth: type[TokenAuth],
        title: str,
        aliases: tuple[str, ...] = (),
        emulation: Optional[str] = None,
        calls: tuple[ApiCall, ...] = (),
        demo_extra: Optional[str] = None,
    ) -> Vendor:
        """Check the description, then make it (see the class's arguments)."""
        for spelling in (name, *aliases):
            if not spelling or spelling != spelling.lower() or "_" in spelling or " " in spelling:
                raise ValueError(f"vendor name {spelling!r}: lower case words joined by '-'")
        if emulation is not None and emulation.count(":") != 1:
            raise ValueError(f"emulation {emulation!r}: 'module:Class'")
        if demo_extra is not None and demo_extra.count(":") != 1:
            raise ValueError(f"demo_extra {demo_extra!r}: 'module:function'")
        return super().__new__(cls, name, auth, title, tuple(aliases), emulation, tuple(calls), demo_extra)

    def emulation_class(self) -> Optional[type[Any]]:
        """The emulation class, imported now (None when the vendor has none)."""
        return None if self.emulation is None else load(self.emulation)


def load(reference: str) -> Any:
    """The object a ``"module:name"`` reference names, imported now."""
    module, _, name = reference.partition(":")
    return getattr(importlib.import_module(module), name)


_lock = threading.Lock()
_registered: dict[str, Vendor] = {}
_plugins_loaded = threading.Event()
_plugins_lock = threading.Lock()


def register(vendor: Vendor) -> Vendor:
    """Add ``vendor`` to the registry and return it (a name already taken by another flow is a ValueError)."""
    with _lock:
        taken = _spellings(_registered.values())
        for spelling in _spellings_of(vendor):
            owner = taken.get(spelling)
            if owner is not None and owner != vendor:
                raise ValueError(f"vendor name {spelling!r} is taken by {owner.auth.__qualname__}")
        _registered[vendor.name] = vendor
    return vendor


def vendors() -> tuple[Vendor, ...]:
    """Every registered flow: the package's own, then those of installed packages' entry points."""
    import requests_adtech_auth  # noqa: F401 - registers the package's own flows

    if not _plugins_loaded.is_set():
        with _plugins_lock:  # once per process, however many threads ask first
            if not _plugins_loaded.is_set():
                _load_entry_points()
                _plugins_loaded.set()
    with _lock:
        return tuple(_registered.values())


def names() -> tuple[str, ...]:
    """Every accepted name, sorted: each flow's names and aliases, also with ``_`` for ``-``."""
    return tuple(sorted(_spellings(vendors())))


def find(name: object) -> Vendor:
    """The flow called ``name`` (any accepted spelling).

    Raises:
        ValueError: no flow has that name; the message lists the accepted ones.
    """
    found = _spellings(vendors()).get(name) if isinstance(name, str) else None
    if found is None:
        shown = repr(name) if len(repr(name)) <= 60 else repr(name)[:57] + "..."
        raise ValueError(f"vendor must be one of {', '.join(names())}, not {shown}")
    return found


def _spellings_of(vendor: Vendor) -> Iterable[str]:
    for spelling in (vendor.name, *vendor.aliases):
        yield spelling
        yield spelling.replace("-", "_")


def _spellings(registered: Iterable[Vendor]) -> dict[str, Vendor]:
    return {spelling: vendor for vendor in registered for spelling in _spellings_of(vendor)}


def _load_entry_points() -> None:
    # A broken plugin must not take the CLI or the sandbox down with it: it is
    # named in a warning and left out.
    from importlib.metadata import entry_points

    if sys.version_info >= (3, 10):
        found = entry_points(group=ENTRY_POINT_GROUP)
    else:  # Python 3.9: a dict of groups
        found = entry_points().get(ENTRY_POINT_GROUP, [])
    for entry_point in found:
        try:
            declared: Union[Vendor, Iterable[Vendor]] = entry_point.load()
            for vendor in [declared] if isinstance(declared, Vendor) else list(declared):
                if not isinstance(vendor, Vendor):
                    raise TypeError(f"{type(vendor).__name__} is not a requests_adtech_auth.registry.Vendor")
                register(vendor)
        except Exception as exc:  # any failure of third-party code
            warnings.warn(
                f"requests-adtech-auth: the vendor plugin {entry_point.name!r} ({entry_point.value}) "
                f"was left out: {type(exc).__name__}: {exc}",
                RuntimeWarning,
                stacklevel=2,
            )
