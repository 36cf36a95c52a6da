"""The command line: ``python -m requests_adtech_auth demo``."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import Optional

__all__ = ["main"]


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line; return the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m requests_adtech_auth",
        description="requests auth for ad-tech vendor APIs: tools.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens (secrets are never logged)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("demo", help="run every flow against the embedded loopback sandbox")
    args = parser.parse_args(argv)
    if args.verbose:
        logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(name)s: %(message)s")
    if args.command == "demo":
        from .demo import run_demo

        return run_demo(sys.stdout)
    parser.print_help(sys.stderr)
    return 2
