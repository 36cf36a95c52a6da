"""Sphinx configuration of https://requests-adtech-auth.readthedocs.io/.

Build (warnings are errors, every cross-reference must resolve)::

    python -m sphinx -W --keep-going -n -b html docs docs/_build/html

The build needs no network: each intersphinx inventory has a local fallback,
and the references to httpx (whose MkDocs site has no inventory) and to requests
are resolved by ``_external_reference`` below when no inventory knows them.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Any, Optional

from docutils import nodes

# The package is imported from this tree (Read the Docs also installs it with pip).
sys.path.insert(0, os.path.abspath(".."))

import requests_adtech_auth

project = "requests-adtech-auth"
author = "The requests-adtech-auth developers"
copyright = "the requests-adtech-auth developers"
release = requests_adtech_auth.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.intersphinx",
    "sphinx.ext.napoleon",  # the package's docstrings use Args:/Raises:/Attributes: sections
    "sphinx.ext.viewcode",
]

root_doc = "index"
exclude_patterns = ["_build", "_inventories"]
html_theme = "furo"
html_title = f"requests-adtech-auth {release}"
pygments_style = "sphinx"
pygments_dark_style = "monokai"

# -- autodoc ------------------------------------------------------------------------------

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented_params"
autodoc_preserve_defaults = True
autodoc_class_signature = "separated"
autodoc_default_options = {"show-inheritance": True}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
# "Attributes:" become :ivar: fields, not attribute entries that would clash with
# the attributes autodoc documents on its own.
napoleon_use_ivar = True
napoleon_use_rtype = False

# -- cross-references ---------------------------------------------------------------------

nitpicky = True
# Names no inventory can hold: private helpers and typing internals that appear in
# signatures. Keep this list short; anything public must resolve.
nitpick_ignore = [
    # typing_extensions.Unpack[CommonOptions] in **common signatures: CommonOptions is a
    # TypedDict defined only under TYPE_CHECKING (requests_adtech_auth.options).
    ("py:class", "CommonOptions"),
    ("py:class", "Unpack"),
    # Emulation.auth returns an object of the class it is given (a TypeVar).
    ("py:class", "requests_adtech_auth.sandbox._emulation._Auth"),
]

_PYTHON_DOCS = "https://docs.python.org/3/"
_REQUESTS_DOCS = "https://requests.readthedocs.io/en/latest/"
intersphinx_mapping = {
    # Debian's python3-doc copy where it is installed (no network wait), else upstream's.
    "python": (_PYTHON_DOCS, ("/usr/share/doc/python3/html/objects.inv", None)),
    # requests publishes no inventory this build can rely on: a small one kept here
    # (the names these pages use, at requests' own anchors), else upstream's.
    "requests": (_REQUESTS_DOCS, ("_inventories/requests.inv", None)),
}
intersphinx_timeout = 10
intersphinx_disabled_reftypes = ["std:doc"]

# httpx and httpcore document their API with MkDocs, which writes no inventory;
# aiohttp's inventory would need the network, which the build does without.
_HTTPX_API = "https://www.python-httpx.org/api/"
_AIOHTTP_CLIENT = "https://docs.aiohttp.org/en/stable/client_reference.html"
_EXTERNAL = {
    "httpx.Client": _HTTPX_API + "#client",
    "httpx.AsyncClient": _HTTPX_API + "#asyncclient",
    "httpx.Auth": "https://www.python-httpx.org/advanced/authentication/",
    "httpx.Request": _HTTPX_API + "#request",
    "httpx.Response": _HTTPX_API + "#response",
    "httpx.URL": _HTTPX_API + "#url",
    "httpx.MockTransport": "https://www.python-httpx.org/advanced/transports/#mock-transports",
    "httpx.HTTPTransport": "https://www.python-httpx.org/advanced/transports/",
    "httpx.AsyncHTTPTransport": "https://www.python-httpx.org/advanced/transports/",
    "httpcore": "https://www.encode.io/httpcore/",
    "anyio.to_thread": "https://anyio.readthedocs.io/en/stable/threads.html",
    "redis.Redis": "https://redis.readthedocs.io/en/stable/connections.html#redis.Redis",
    "redis.Redis.from_url": "https://redis.readthedocs.io/en/stable/connections.html#redis.Redis.from_url",
    "filelock": "https://py-filelock.readthedocs.io/en/latest/",
    "pytest.MonkeyPatch": "https://docs.pytest.org/en/stable/reference/reference.html#pytest.MonkeyPatch",
    "aiohttp.ClientError": _AIOHTTP_CLIENT + "#aiohttp.ClientError",
    "aiohttp.client_reqrep.ClientResponse": _AIOHTTP_CLIENT + "#aiohttp.ClientResponse",
    "aiohttp.client_reqrep.ClientRequest": "https://docs.aiohttp.org/en/stable/client_advanced.html#client-middleware",
}
_FALLBACKS = (
    ("requests.", _REQUESTS_DOCS + "api/#module-requests"),
    ("httpx.", _HTTPX_API),
    ("httpcore.", "https://www.encode.io/httpcore/"),
    ("aiohttp.", _AIOHTTP_CLIENT),
)
_EXTERNAL_PREFIX = re.compile(r"^(requests|httpx|httpcore|aiohttp|anyio|redis|filelock|pytest)(\.|$)")


def _external_reference(app: Any, env: Any, node: Any, contnode: Any) -> Optional[nodes.reference]:
    """Resolve ``requests.*``, ``httpx.*`` and ``httpcore.*`` targets no inventory knows.

    Runs after intersphinx, so an inventory's exact anchor wins when there is one.
    Nothing is fetched: the addresses are the projects' public doc pages.
    """
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "")
    if not _EXTERNAL_PREFIX.match(target):
        return None
    uri = _EXTERNAL.get(target)
    if uri is None and _REQUESTS_ALIASES.get(target):
        uri = _REQUESTS_DOCS + "api/#" + _REQUESTS_ALIASES[target]
    if uri is None:
        uri = next((page for prefix, page in _FALLBACKS if target == prefix[:-1] or target.startswith(prefix)), None)
    if uri is None:
        return None
    reference = nodes.reference("", "", internal=False, refuri=uri, reftitle=target)
    reference.append(contnode)
    return reference


# Where requests defines a class (what autodoc writes for an annotation) and the
# name requests' API page documents it under.
_REQUESTS_ALIASES = {
    "requests.sessions.Session": "requests.Session",
    "requests.models.PreparedRequest": "requests.PreparedRequest",
    "requests.models.Response": "requests.Response",
    "requests.exceptions.RequestException": "requests.RequestException",
}


def _own_reference(app: Any, env: Any, node: Any, contnode: Any) -> Optional[nodes.Node]:
    """Resolve a short reference in the package's docstrings to the one object it names.

    The docstrings name objects as their module sees them (``TokenAuth.get_token``,
    ``StoredToken.loads``, ``requests_adtech_auth.file_cache.FileTokenCache``),
    while these pages document public names where users import them from
    (``requests_adtech_auth.FileTokenCache``). A reference is resolved only when
    exactly one documented object ends with its name; anything else still warns.
    """
    target = node.get("reftarget", "")
    in_package = (node.get("py:module") or "").startswith("requests_adtech_auth") or target.startswith(
        "requests_adtech_auth."
    )
    if node.get("refdomain") != "py" or not in_package:
        return None
    domain = env.get_domain("py")
    names = [target]
    if target.startswith("requests_adtech_auth."):
        parts = target.split(".")
        names += [".".join(parts[i:]) for i in range(2, len(parts))]
    for name in names:
        matches = [full for full in domain.objects if full == name or full.endswith("." + name)]
        if len(matches) == 1:
            return domain.resolve_xref(env, node["refdoc"], app.builder, node["reftype"], matches[0], node, contnode)
    return None


def _public_bases(app: Any, name: str, obj: Any, options: Any, bases: list[type]) -> None:
    """Show a public class's bases as public names: the package's private helpers are skipped."""
    public = {getattr(requests_adtech_auth, n) for n in requests_adtech_auth.__all__ if n != "__version__"}
    shown: list[type] = []
    for base in bases:
        stand_in: Optional[type] = base
        if base.__module__.startswith("requests_adtech_auth") and base not in public:
            # The nearest public ancestor stands in for a private base.
            stand_in = next((c for c in base.__mro__ if c in public), None)
        if stand_in is not None and stand_in not in shown:
            shown.append(stand_in)
    bases[:] = shown


_ORIGINAL_COMMENTS: dict[str, list[str]] = {}


def _keep_comment(app: Any, what: str, name: str, obj: Any, options: Any, lines: list[str]) -> None:
    """Remember an attribute's comment as written (runs before napoleon)."""
    if what in {"attribute", "data", "property"}:
        _ORIGINAL_COMMENTS[name] = list(lines)


def _no_inline_types(app: Any, what: str, name: str, obj: Any, options: Any, lines: list[str]) -> None:
    """Undo napoleon's reading of "Text: more text" in an attribute's comment as a type.

    The package documents constants with ``#:`` comments in prose (``Interrupted
    (Ctrl-C): 128 + SIGINT``), never with a leading type, so the comment is kept
    as it was written.
    """
    original = _ORIGINAL_COMMENTS.pop(name, None)
    typed = any(line.startswith(":type:") for line in lines)
    if original is not None and typed and not any(line.startswith(":type:") for line in original):
        lines[:] = original


def setup(app: Any) -> dict[str, Any]:
    """Connect the handlers above."""
    app.connect("missing-reference", _external_reference)
    app.connect("missing-reference", _own_reference)
    app.connect("autodoc-process-bases", _public_bases)
    # Around napoleon's own handler (priority 500).
    app.connect("autodoc-process-docstring", _keep_comment, priority=400)
    app.connect("autodoc-process-docstring", _no_inline_types, priority=600)
    return {"parallel_read_safe": True}
