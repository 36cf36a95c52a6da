"""One operation run in a worker thread against a deadline, for I/O whose socket timeouts cannot bound it all.

A socket timeout bounds each read, so a server that drips its answer a byte at a
time could hold a token fetch (and the lock every request waits on) for as long
as it likes. The operation runs in a daemon thread; when the deadline passes the
caller gets an error at once, and ``abandon`` ends the blocked I/O (by shutting
its socket down), so that the thread finishes too.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, TypeVar

__all__ = ["run_within"]

_T = TypeVar("_T")


def run_within(seconds: float, operation: Callable[[], _T], *, abandon: Callable[[], BaseException], name: str) -> _T:
    """Run ``operation`` in a worker thread and return its result, or raise what it raised.

    Args:
        seconds: how long the caller waits in all.
        operation: the work, run in a daemon thread named ``name``.
        abandon: called when the time is up: ends the operation's I/O and returns
            the exception to raise instead.
        name: the worker thread's name (seen in a debugger or a thread dump).
    """
    outcome: list[tuple[bool, Any]] = []
    done = threading.Event()

    def run() -> None:
        try:
            outcome.append((True, operation()))
        except BaseException as exc:  # handed to the waiting thread, which raises it
            outcome.append((False, exc))
        finally:
            done.set()

    threading.Thread(target=run, name=name, daemon=True).start()
    if not done.wait(seconds):
        raise abandon()
    ok, value = outcome[0]
    if not ok:
        raise value
    return value  # type: ignore[no-any-return]
