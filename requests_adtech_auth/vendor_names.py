"""One table of vendor names: what the sandbox (methods and control paths) and the CLI accept."""

from __future__ import annotations

#: Each vendor name as the CLI spells it: the sandbox's name for it (its emulation,
#: counters and faults) and the auth class. Rokt's Event and Reporting APIs share one emulation.
VENDORS: dict[str, tuple[str, str]] = {
    "rokt": ("rokt", "RoktAuth"),
    "rokt-event": ("rokt", "RoktEventAuth"),
    "rokt-reporting": ("rokt", "RoktReportingAuth"),
    "rokt-partnerships": ("rokt_partnerships", "RoktPartnershipsAuth"),
    "digital-turbine": ("digital_turbine", "DigitalTurbineAuth"),
    "dt": ("digital_turbine", "DigitalTurbineAuth"),
    "algonomy": ("algonomy", "AlgonomyAuth"),
}

# Every accepted spelling -> its key in VENDORS: each key, and each with '_' for '-'.
_SPELLINGS = {spelling: name for name in VENDORS for spelling in (name, name.replace("-", "_"))}

#: Every accepted spelling, sorted (what errors list).
NAMES = tuple(sorted(_SPELLINGS))


def cli_name(name: object) -> str:
    """``name``'s key in :data:`VENDORS` (the CLI's spelling).

    Raises:
        ValueError: not a vendor name; the message lists the accepted ones.
    """
    try:
        return _SPELLINGS[name]  # type: ignore[index]
    except (KeyError, TypeError):  # TypeError: an unhashable value from JSON
        shown = repr(name) if len(repr(name)) <= 60 else repr(name)[:57] + "..."
        raise ValueError(f"vendor must be one of {', '.join(NAMES)}, not {shown}") from None


def sandbox_name(name: object) -> str:
    """The sandbox's name for vendor ``name`` (any accepted spelling); ValueError as :func:`cli_name`."""
    return VENDORS[cli_name(name)][0]
