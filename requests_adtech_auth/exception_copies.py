"""Copies of exceptions that are safe to raise: no frames, no chained request, one copy per caller.

The frames a token request passes through hold secrets in their locals (the
request body, headers, the answer echoing them), and so do requests' and
urllib3's frames in a chained exception; error trackers and ``pytest
--showlocals`` print every local of every frame an exception carries.
"""

from __future__ import annotations

from typing import Callable, cast

import requests

from .exceptions import AuthError

__all__ = ["detached", "for_another_caller", "without_trace"]


def without_trace(exc: AuthError) -> AuthError:
    """``exc`` stripped of its traceback and of the exceptions it was raised from.

    The frames a token request passes through hold secrets in their locals (the
    request body, headers, the answer echoing them), and so do requests' and
    urllib3's frames in a chained exception. Error trackers and
    ``pytest --showlocals`` print every local of every frame an exception
    carries, so the library's errors carry none of those frames.
    """
    cause = exc.__cause__
    if cause is not None and (cause.__traceback__ is not None or cause.__cause__ or cause.__context__):
        exc.__cause__ = None  # a live cause: its frames and chain hold the request
    exc.__context__ = None
    exc.__suppress_context__ = True
    return exc.with_traceback(None)


def for_another_caller(exc: AuthError) -> AuthError:
    """A copy of ``exc`` (same type, message, attributes and cause) for one more caller to raise.

    Raising one exception object in several threads or coroutines prepends each
    caller's frames to the one traceback they all hold: one caller's error
    report would show another's stack.
    """
    kind = type(exc)
    try:
        # Not through the type's own constructor or __new__ (a subclass's may take
        # other arguments): through the built-in base's, OSError for requests' errors.
        builtin = next(klass for klass in kind.__mro__ if klass.__module__ == "builtins")
        make = cast("Callable[[type[AuthError]], AuthError]", builtin.__new__)
        copied = make(kind)
        copied.args = exc.args
        if isinstance(exc, OSError):  # fields OSError's __init__ parses out of the args
            for field in ("errno", "strerror", "filename", "filename2"):
                value = getattr(exc, field)
                if value is not None:  # a field set to None still changes str()
                    setattr(copied, field, value)
        copied.__dict__.update(vars(exc))
        for klass in kind.__mro__:
            slots = getattr(klass, "__slots__", ())
            for name in (slots,) if isinstance(slots, str) else slots:
                if name not in ("__dict__", "__weakref__") and hasattr(exc, name):
                    setattr(copied, name, getattr(exc, name))
    except Exception:  # a type that cannot be copied so: shared after all, left as it is
        return exc
    notes = getattr(exc, "__notes__", None)
    if isinstance(notes, list):
        copied.__notes__ = list(notes)  # a note one caller adds stays on its own copy
    copied.__cause__ = exc.__cause__  # a detached copy without frames, safe to share
    copied.__suppress_context__ = True
    return copied.with_traceback(None)


def detached(exc: BaseException, shown: Callable[[str], str]) -> BaseException:
    """A copy of ``exc`` (same type, its message as ``shown`` makes it) with no frames, chain or request.

    For ``raise ... from detached(exc)``: the caller can still tell a
    ConnectionError from an SSLError, and nothing of the request comes along.
    ``shown`` hides the secrets (and escapes what the server wrote).
    """
    message = shown(str(exc))[:500]
    try:
        return type(exc)(message)
    except Exception:  # an exception type with another constructor
        return requests.RequestException(message)
