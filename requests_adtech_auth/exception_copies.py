"""Copies of exceptions that are safe to raise: no frames, no chained request, one copy per caller.

The frames a token request passes through hold secrets in their locals (the
request body, headers, the answer echoing them), and so do requests' and
urllib3's frames in a chained exception; error trackers and ``pytest
--showlocals`` print every local of every frame an exception carries.
"""

from __future__ import annotations

import functools
import re
from typing import Any, Callable, Optional, TypeVar, cast

import requests

from .exceptions import AuthError

__all__ = ["detached", "for_another_caller", "scrubbed_constructor", "strips_frames", "without_trace"]

_F = TypeVar("_F", bound=Callable[..., Any])


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


def for_another_caller(exc: AuthError, kind: Optional[type[AuthError]] = None) -> AuthError:
    """A copy of ``exc`` (same type, message, attributes and cause) for one more caller to raise.

    Raising one exception object in several threads or coroutines prepends each
    caller's frames to the one traceback they all hold: one caller's error
    report would show another's stack. ``kind``, a subclass of ``exc``'s type,
    is the copy's type instead (an HTTP client's own error class mixed in).
    """
    kind = type(exc) if kind is None else kind
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


def strips_frames(method: _F) -> _F:
    """Make library errors leave ``method`` without the frames (and chained errors) that hold secrets."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except AuthError as exc:
            raise without_trace(exc)  # noqa: B904 - the chain is what must go

    return wrapper  # type: ignore[return-value]


def scrubbed_constructor(init: _F) -> _F:
    """``init`` made a constructor whose errors carry no frame holding the credentials it was given."""
    if getattr(init, "_scrubbed", False):
        return init

    @functools.wraps(init)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> None:
        try:
            init(self, *args, **kwargs)
        except AuthError as exc:
            # Error trackers and --showlocals print the locals of every frame an error
            # carries: the vendor constructors' frames (dropped here) and this one
            # (emptied here) hold the secrets they were given.
            del self, args, kwargs
            raise without_trace(exc)  # noqa: B904 - the chain is what must go
        except TypeError as exc:  # a misspelt option: the message says which
            # Raised binding the call itself (no frame below this one): a bad keyword.
            at_call = exc.__traceback__ is not None and exc.__traceback__.tb_next is None
            renamed = _unexpected_keyword(type(self), exc) if at_call else None
            del self, args, kwargs
            if renamed is not None:
                raise renamed from None  # the base's wording of the same error adds nothing
            raise exc.with_traceback(None)  # noqa: B904
        except BaseException:
            del self, args, kwargs
            raise

    wrapper._scrubbed = True  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


_UNEXPECTED_KEYWORD = re.compile(r"(?:[\w.]+\.)?__init__\(\) got an unexpected keyword argument '(\w+)'")


def _unexpected_keyword(cls: type, exc: TypeError) -> Optional[TypeError]:
    """``exc`` reworded to name the class the caller wrote, not the base whose ``__init__`` refused it."""
    match = _UNEXPECTED_KEYWORD.match(str(exc))
    if match is None:
        return None
    import difflib
    import inspect

    name = match.group(1)
    # The class's own parameters, and the options its **common hands on to the root
    # constructor (the first class of the package, in the MRO, to define one).
    root = next(
        owner
        for owner in reversed(cls.__mro__)
        if "__init__" in owner.__dict__ and owner.__module__.startswith("requests_adtech_auth.")
    )
    accepted: list[str] = []
    for owner in (cls, root):
        for parameter in inspect.signature(owner).parameters.values():
            named = parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY)
            if named and parameter.name not in accepted and parameter.name != "self":
                accepted.append(parameter.name)
    close = difflib.get_close_matches(name, accepted, n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"it takes {', '.join(accepted)}"
    return TypeError(f"{cls.__name__}() got an unexpected keyword argument {name!r}; {hint}")
