"""The command line: ``adtech-auth`` (also ``python -m requests_adtech_auth``).

Commands: ``token VENDOR`` prints a valid access token (or, with ``--header``,
the header lines an API call needs) from credentials in the environment;
``demo`` runs every flow against the embedded sandbox; ``sandbox`` serves the
sandbox in the foreground. Secrets are never taken as arguments (they would show
in ``ps`` and shell history): only from the environment, or a prompt when
interactive.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from .core import TokenAuth

__all__ = ["EXIT_CONFIGURATION", "EXIT_REFUSED", "EXIT_UNAVAILABLE", "main"]

#: The token endpoint refused the credentials (or answered with no usable token).
EXIT_REFUSED = 1
#: A variable is missing or malformed.
EXIT_CONFIGURATION = 3
#: The token endpoint was unreachable, timed out or failing (try again later).
EXIT_UNAVAILABLE = 4

_EPILOG = """\
exit codes: 0 success, 1 credentials refused, 2 usage error,
3 missing or malformed environment variable, 4 vendor unreachable or failing.
Environment variables per vendor are listed in README.rst (e.g. ROKT_APP_ID,
ROKT_APP_SECRET; DT_CLIENT_ID, DT_CLIENT_SECRET; ALGONOMY_TOKEN_URL, ...)."""


def _vendors() -> dict[str, type[TokenAuth]]:
    from . import (
        AlgonomyAuth,
        DigitalTurbineAuth,
        RoktAuth,
        RoktEventAuth,
        RoktPartnershipsAuth,
        RoktReportingAuth,
    )

    return {
        "rokt": RoktAuth,
        "rokt-event": RoktEventAuth,
        "rokt-reporting": RoktReportingAuth,
        "rokt-partnerships": RoktPartnershipsAuth,
        "digital-turbine": DigitalTurbineAuth,
        "dt": DigitalTurbineAuth,
        "algonomy": AlgonomyAuth,
    }


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="adtech-auth",
        description="Tokens for ad-tech vendor APIs (Rokt, Digital Turbine, Algonomy), and a sandbox to try them.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens to stderr (secrets never)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    token = commands.add_parser(
        "token",
        help="print a valid access token from the environment's credentials",
        description="Print a valid access token for VENDOR, for shell use: "
        'curl -H "Authorization: Bearer $(adtech-auth token rokt)" ...',
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    token.add_argument("vendor", choices=sorted(_vendors()), metavar="VENDOR", help=", ".join(sorted(_vendors())))
    token.add_argument("--header", action="store_true", help="print the complete header line(s) an API call needs")
    token.add_argument("--prefix", default="", help="prefix of the variable names (e.g. ACME_ for ACME_ROKT_APP_ID)")
    token.add_argument(
        "--no-cache",
        action="store_true",
        help="do not share the token through the user's file cache (by default repeated calls reuse one token)",
    )
    token.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    demo = commands.add_parser("demo", help="run every flow against the embedded loopback sandbox")
    demo.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    sandbox = commands.add_parser(
        "sandbox",
        help="serve the sandbox in the foreground and print its URLs and demo credentials",
        description="Serve the vendors' emulated token endpoints and APIs on 127.0.0.1 until interrupted.",
    )
    sandbox.add_argument("--port", type=int, default=0, help="port to listen on (default: any free port)")
    sandbox.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line; return the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.verbose:
        logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if args.command == "token":
        return _token(args.vendor, args.prefix, args.header, not args.no_cache)
    if args.command == "demo":
        from .demo import run_demo

        return run_demo(sys.stdout)
    if args.command == "sandbox":
        return _serve_sandbox(args.port)
    parser.print_help(sys.stderr)
    return 2


def _fail(message: str, code: int) -> int:
    print(f"adtech-auth: {message}", file=sys.stderr)
    return code


def _token(vendor: str, prefix: str, header: bool, use_cache: bool) -> int:
    from .exceptions import ConfigurationError, TokenRequestError
    from .file_cache import FileTokenCache

    cls = _vendors()[vendor]
    environ = dict(os.environ)
    missing = [
        prefix + v.name for v in cls.env_variables if v.required and not environ.get(prefix + v.name, "").strip()
    ]
    if missing and sys.stdin.isatty() and sys.stderr.isatty():
        for name in missing:
            secret = any(word in name for word in ("SECRET", "HASH"))
            environ[name] = getpass.getpass(f"{name}: ") if secret else input(f"{name}: ")
    cache = None
    if use_cache:
        try:
            cache = FileTokenCache()
        except ConfigurationError as exc:  # the 'file' extra is not installed
            logging.getLogger("requests_adtech_auth").debug("no token cache: %s", exc)
    try:
        auth = cls.from_env(prefix, environ=environ, cache=cache)
        headers = auth.get_headers()
    except ConfigurationError as exc:
        return _fail(str(exc), EXIT_CONFIGURATION)
    except TokenRequestError as exc:
        return _fail(str(exc), EXIT_UNAVAILABLE if exc.transient else EXIT_REFUSED)
    if header:
        for name, value in headers.items():
            print(f"{name}: {value}")
    else:
        print(auth.get_token())
    return 0


def _serve_sandbox(port: int) -> int:
    from .sandbox import Sandbox

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        box = Sandbox(port=port, record=False).start()
    except OSError as exc:
        return _fail(f"cannot listen on port {port}: {exc.strerror}", EXIT_CONFIGURATION)
    try:
        print(f"sandbox ready on {box.url} (storage host {box.storage_url}); Ctrl-C to stop")
        print("# demo credentials for this run; paste into a shell for from_env() and `adtech-auth token`:")
        for name, value in box.environ().items():
            print(f"export {name}={value}")
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        box.stop()
    return 0
