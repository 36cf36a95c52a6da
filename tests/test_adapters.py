"""What every HTTP-client adapter (HttpxAuth, AiohttpAuth) promises as a wrapper, whatever the client.

It wraps only the library's auth objects, shows no secret, is never imported by
the package itself, and without its extra says which one to install. Each
adapter's behaviour on the wire is in test_httpx.py and test_aiohttp.py.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from typing import NamedTuple

import pytest
import requests

from requests_adtech_auth import ConfigurationError
from requests_adtech_auth.sandbox import Sandbox


class Adapter(NamedTuple):
    """One adapter module: its class and the top-level packages its extra brings."""

    module: str
    name: str
    packages: tuple[str, ...]


ADAPTERS = [
    Adapter("requests_adtech_auth.httpx", "HttpxAuth", ("httpx", "httpcore", "anyio")),
    Adapter("requests_adtech_auth.aiohttp", "AiohttpAuth", ("aiohttp",)),
]
BY_NAME = pytest.mark.parametrize("adapter", ADAPTERS, ids=[a.name for a in ADAPTERS])


def adapter_class(adapter: Adapter) -> type:
    return getattr(importlib.import_module(adapter.module), adapter.name)  # type: ignore[no-any-return]


@BY_NAME
def test_wraps_only_token_auth_objects(adapter: Adapter) -> None:
    with pytest.raises(ConfigurationError, match=f"{adapter.name} wraps"):
        adapter_class(adapter)(requests.auth.HTTPBasicAuth("user", "pass"))


@BY_NAME
def test_repr_names_the_wrapped_object_and_no_secret(sandbox: Sandbox, adapter: Adapter) -> None:
    auth = sandbox.rokt_auth()
    wrapped = adapter_class(adapter)(auth)
    auth.get_token()
    assert repr(wrapped) == f"{adapter.name}({auth!r})"
    assert not any(secret in repr(wrapped) for secret in sandbox.secrets())


def test_importing_the_package_imports_no_adapter_client() -> None:
    clients = sorted({package for adapter in ADAPTERS for package in adapter.packages})
    code = f"import sys, requests_adtech_auth; sys.exit(any(name in sys.modules for name in {clients!r}))"
    assert subprocess.run([sys.executable, "-c", code], check=False, timeout=60).returncode == 0


@BY_NAME
def test_importing_the_adapter_without_the_extra_names_the_extra(adapter: Adapter) -> None:
    blocker = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name.split('.')[0] in {adapter.packages!r}:\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, Block())\n"
        f"import {adapter.module}\n"
    )
    done = subprocess.run([sys.executable, "-c", blocker], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode != 0
    extra = adapter.module.rsplit(".", 1)[1]
    assert f"pip install 'requests-adtech-auth[{extra}]'" in done.stderr
