"""Building an auth object from environment variables: what each class reads, and the messages when one is wrong."""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Mapping
from typing import Any, Callable, NamedTuple, Optional, TypeVar

from .exceptions import ConfigurationError

__all__ = ["EnvVar", "from_environ"]

logger = logging.getLogger("requests_adtech_auth")
_Built = TypeVar("_Built")


class EnvVar(NamedTuple):
    """One environment variable that :meth:`~requests_adtech_auth.TokenAuth.from_env` reads.

    ``kind`` is ``"text"``, ``"list"`` (comma-separated) or ``"number"``.
    """

    argument: str
    name: str
    required: bool = True
    kind: str = "text"


_ENV_KINDS: dict[str, tuple[Callable[[str], Any], str]] = {
    "text": (str, "text"),
    "list": (lambda raw: [item.strip() for item in raw.split(",") if item.strip()], "a comma-separated list"),
    "number": (float, "a number"),
}


def _near_miss(name: str, environ: Mapping[str, str], expected: set[str]) -> Optional[str]:
    """A variable set in ``environ`` whose name looks like a typo of ``name`` (names only, never values)."""
    head = name.split("_", 1)[0] + "_"
    candidates = [key for key in environ if key.startswith(head) and key not in expected]
    found = difflib.get_close_matches(name, candidates, n=1, cutoff=0.85)
    return found[0] if found else None


def from_environ(
    cls: Callable[..., _Built], prefix: str, environ: Mapping[str, str], options: Mapping[str, Any]
) -> _Built:
    """An object of ``cls`` built from ``environ`` (see :meth:`~requests_adtech_auth.TokenAuth.from_env`).

    Raises:
        ConfigurationError: one message naming every variable that is missing or
            malformed (never a value), or the constructor's, naming the variable read.
    """
    variables: tuple[EnvVar, ...] = getattr(cls, "env_variables", ())
    vendor: str = getattr(cls, "vendor", "")
    arguments: dict[str, Any] = {}
    problems = []
    expected = {prefix + var.name for var in variables}
    for var in variables:
        if var.argument in options:  # an argument given to from_env() wins over its variable
            continue
        name = prefix + var.name
        raw = (environ.get(name) or "").strip()
        if not raw:
            near = _near_miss(name, environ, expected)
            if var.required:
                what = "is empty" if name in environ else "is not set"
                problems.append(f"{name} {what}" + (f" ({near} is: a typo?)" if near else ""))
            elif near:
                logger.warning("%s is not set but %s is: a typo? %s does not read %s", name, near, vendor, near)
            continue
        parse, description = _ENV_KINDS[var.kind]
        try:
            arguments[var.argument] = parse(raw)
        except ValueError:
            problems.append(f"{name} is not {description}")
    # from_env("ACME") for ACME_ROKT_APP_ID: say so rather than list every variable as unset.
    if problems and prefix[-1:] not in ("", "_") and any(prefix + "_" + v.name in environ for v in variables):
        problems.append(f"{prefix}_... variables are set: the prefix goes before the names as it is; pass {prefix}_")
    if problems:
        raise ConfigurationError(f"cannot configure {vendor} from the environment: {'; '.join(problems)}")
    try:
        return cls(**arguments, **options)
    except ConfigurationError as exc:
        read = [var for var in variables if var.argument in arguments]
        # The variable whose argument the message names, where it names one.
        named = [var for var in read if re.search(rf"\b{var.argument}\b", str(exc))] or read
        raise type(exc)(f"{exc} (read from {', '.join(prefix + var.name for var in named)})") from None
