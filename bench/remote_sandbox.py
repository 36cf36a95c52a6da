"""The project's sandbox in a child process, for bench/run.py and bench/async_run.py.

In its own process the sandbox's serving does not share the measuring process's
GIL. Counters and lifetimes are steered over its /_sandbox control paths;
``token_delay``, which has no control path, over a pipe.
"""

from __future__ import annotations

import itertools
import multiprocessing
import queue
import time
from typing import Any

import requests

from requests_adtech_auth.core import TokenAuth
from requests_adtech_auth.registry import Vendor

#: The Rokt API call every Rokt-only measurement makes, with the query parameters the Reporting API requires.
ROKT_API_PATH = (
    "/reporting/accounts/123/summary?dateStart=2026-11-01&dateEnd=2026-11-07&currency=USD&timeZoneVariation=UTC"
)


def _serve(started: Any, commands: Any, done: Any) -> None:
    from requests_adtech_auth.sandbox import Sandbox

    with Sandbox(record=False) as box:
        arguments = {emulation.name: emulation.auth_arguments() for emulation in box.emulations()}
        started.put({"info": box.info(), "auth_arguments": arguments})
        while True:
            command, value = commands.get()
            if command == "stop":
                return
            box.token_delay = float(value)
            done.put(command)


class RemoteSandbox:
    """The sandbox in a child process; ``info`` is what ``GET /_sandbox/info`` answers."""

    def __init__(self) -> None:
        self._runs = itertools.count(1)
        self._token_delay = 0.0

    def __enter__(self) -> RemoteSandbox:
        ctx = multiprocessing.get_context("spawn")
        started, self._commands, self._done = ctx.Queue(), ctx.Queue(), ctx.Queue()
        self._process = ctx.Process(target=_serve, args=(started, self._commands, self._done), daemon=True)
        self._process.start()
        first = self._started(started)
        self.info: dict[str, Any] = first["info"]
        self._auth_arguments: dict[str, dict[str, Any]] = first["auth_arguments"]
        self.url: str = self.info["url"]
        rokt = self.info["rokt"]
        self.token_url, self.app_id, self.app_secret = rokt["token_url"], rokt["app_id"], rokt["app_secret"]
        self.api = rokt["api_url"] + ROKT_API_PATH
        self._control = requests.Session()
        return self

    def _started(self, started: Any) -> dict[str, Any]:
        deadline = time.monotonic() + 60
        while True:
            try:
                return started.get(timeout=1)  # type: ignore[no-any-return]
            except queue.Empty:
                if not self._process.is_alive() or time.monotonic() > deadline:
                    raise RuntimeError("the sandbox's process did not start (its error, if any, is above)") from None

    def __exit__(self, *exc: object) -> None:
        self._commands.put(("stop", 0))
        self._process.join(10)
        if self._process.is_alive():
            self._process.terminate()

    def reset(self, lifetime: float = 3600.0, token_delay: float = 0.0) -> None:
        """Zero the counters, set the Rokt token lifetime and the delay of every token answer."""
        self._control.post(self.url + "/_sandbox/reset", timeout=10).raise_for_status()
        self.set_lifetimes({"rokt": lifetime})
        if token_delay != self._token_delay:
            self._commands.put(("token_delay", token_delay))
            self._done.get(timeout=10)  # set before the next request arrives
            self._token_delay = token_delay

    def set_lifetimes(self, lifetimes: dict[str, float]) -> dict[str, float]:
        """Set token lifetimes per emulation; the answer is every lifetime that can be set, as now set."""
        answer = self._control.post(self.url + "/_sandbox/lifetimes", json=lifetimes, timeout=10)
        answer.raise_for_status()
        return answer.json()  # type: ignore[no-any-return]

    def counts(self, emulation: str = "rokt") -> dict[str, int]:
        answer = self._control.get(self.url + "/_sandbox/counts", timeout=10).json()
        return answer.get(emulation, {})  # type: ignore[no-any-return]

    def fresh_token_url(self) -> str:
        """Rokt's token URL with a query string no earlier run used.

        The sandbox ignores the query; every library's token cache keys on the token
        URL, so a run never inherits a token that an earlier run left in the process.
        """
        return f"{self.token_url}?run={next(self._runs)}"

    def emulation_info(self, vendor: Vendor) -> dict[str, Any]:
        """The sandbox's info on the emulation that serves ``vendor`` (its URLs and real hosts)."""
        return self.info[self._emulation_name(vendor)]  # type: ignore[no-any-return]

    def auth_arguments(self, vendor: Vendor) -> dict[str, Any]:
        """The constructor arguments that point ``vendor``'s auth class at this sandbox."""
        return dict(self._auth_arguments[self._emulation_name(vendor)])

    def auth(self, vendor: Vendor) -> TokenAuth:
        """An object of ``vendor``'s auth class pointed at this sandbox."""
        return vendor.auth(**self.auth_arguments(vendor))

    @staticmethod
    def _emulation_name(vendor: Vendor) -> str:
        emulation = vendor.emulation_class()
        if emulation is None:
            raise ValueError(f"{vendor.name} has no sandbox emulation")
        return emulation.name  # type: ignore[no-any-return]
