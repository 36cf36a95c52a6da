"""The command line: ``adtech-auth`` (also ``python -m requests_adtech_auth``).

Commands: ``token VENDOR`` prints a valid access token (or, with ``--header``,
the header lines an API call needs) from credentials in the environment;
``demo`` runs every flow against the embedded sandbox; ``sandbox`` serves the
sandbox in the foreground. Secrets are never taken as arguments (they would show
in ``ps`` and shell history): only from the environment, or a prompt on the
terminal when standard input is one. Standard output carries only the command's
result (a token, header lines), so ``$(adtech-auth token rokt)`` captures nothing else.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Optional, Union

from . import __version__

if TYPE_CHECKING:
    from .core import TokenAuth
    from .sandbox import Sandbox

__all__ = [
    "EXIT_BROKEN_PIPE",
    "EXIT_CONFIGURATION",
    "EXIT_INTERRUPTED",
    "EXIT_REFUSED",
    "EXIT_UNAVAILABLE",
    "main",
]

#: The token endpoint answered, but refused the request (credentials, resources or
#: another setting: the message says which) or answered with no usable token.
EXIT_REFUSED = 1
#: A variable is missing or malformed.
EXIT_CONFIGURATION = 3
#: No answer from the token endpoint: unreachable, timed out, failing (try again
#: later) or its TLS certificate not trusted.
EXIT_UNAVAILABLE = 4
#: Interrupted (Ctrl-C): 128 + SIGINT, as shells report it.
EXIT_INTERRUPTED = 130
#: Standard output was closed before everything was written (``| head -c0``):
#: 128 + SIGPIPE, what a shell reports for a program that SIGPIPE ended.
EXIT_BROKEN_PIPE = 141

#: Where the documentation lives (the wheel ships no README or docs of its own).
DOCS_URL = "https://requests-adtech-auth.readthedocs.io/en/latest/"

_NO_CACHE_NOTE = (
    "no token cache: install 'requests-adtech-auth[file]' to reuse tokens across calls (--no-cache hides this note)"
)

_EPILOG = (
    """\
exit codes: 0 success; 1 the vendor refused the request (credentials, resources
or another setting: the message says which); 2 usage error (a --port that
cannot be listened on too); 3 missing or malformed environment variable; 4 no
answer from the vendor (unreachable, timed out, failing, or a TLS certificate
that is not trusted); 130 interrupted;
141 standard output closed early (e.g. by `| head`), as for SIGPIPE.
Standard output carries only the result; messages go to stderr. A missing
variable is asked for on the terminal when stdin is one, else it is an error (3).
Environment variables per vendor (e.g. ROKT_APP_ID, ROKT_APP_SECRET; DT_CLIENT_ID,
DT_CLIENT_SECRET; ALGONOMY_TOKEN_URL, ...) and the rest of this tool:
"""
    + DOCS_URL
    + "cli.html"
)


def _parser() -> argparse.ArgumentParser:
    from . import registry

    parser = argparse.ArgumentParser(
        prog="adtech-auth",
        description="Tokens for ad-tech vendor APIs (Rokt, Digital Turbine, Algonomy), and a sandbox to try them.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens to stderr (secrets never)")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    token = commands.add_parser(
        "token",
        help="print a valid access token from the environment's credentials",
        description="Print a valid access token for VENDOR, for shell use: "
        'curl -H "Authorization: Bearer $(adtech-auth token rokt)" ...',
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    token.add_argument(
        "vendor",
        type=str.lower,  # ROKT as rokt
        choices=registry.names(),  # also "_" for "-", as the sandbox takes them
        metavar="VENDOR",
        help=", ".join(sorted(v.name for v in registry.vendors())) + " (or with '_' for '-'; dt for digital-turbine)",
    )
    token.add_argument("--header", action="store_true", help="print the complete header line(s) an API call needs")
    token.add_argument("--prefix", default="", help="prefix of the variable names (e.g. ACME_ for ACME_ROKT_APP_ID)")
    token.add_argument(
        "--no-cache",
        action="store_true",
        help="do not share the token through the user's file cache (by default repeated calls reuse one token)",
    )
    token.add_argument(
        "--refresh",
        action="store_true",
        help="forget the cached token (also in the file cache) and fetch a new one, e.g. after a key rotation",
    )
    token.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    demo = commands.add_parser(
        "demo",
        help="run every flow against the embedded loopback sandbox",
        description="Run every registered flow against a sandbox on 127.0.0.1 (token, API calls, a forced "
        "expiry and the renewal after it) and print a table of what each did; nothing leaves loopback.",
    )
    demo.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    sandbox = commands.add_parser(
        "sandbox",
        help="serve the sandbox in the foreground (its URLs and demo credentials), or run FILE against it",
        description="Serve the vendors' emulated token endpoints and APIs on 127.0.0.1 until interrupted; "
        "with FILE, run that Python file against them instead.",
        epilog=f"more: {DOCS_URL}sandbox.html",
    )
    sandbox.add_argument("--port", type=int, default=0, help="port to listen on (default: any free port)")
    sandbox.add_argument(
        "script",
        nargs="?",
        metavar="FILE",
        help="instead of serving: run this Python file with the vendors' real hosts routed to the sandbox "
        "(requests, httpx and aiohttp) and the from_env() variables set, then print what it called on stderr",
    )
    sandbox.add_argument("args", nargs=argparse.REMAINDER, metavar="ARGS", help="arguments for FILE")
    sandbox.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line; return the exit code."""
    try:
        try:
            return _run(argv)
        finally:
            # A closed pipe shows here, where it can be handled, rather than in
            # the interpreter's final flush (a traceback and exit code 120).
            sys.stdout.flush()
    except KeyboardInterrupt:
        print("adtech-auth: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # Whatever is still buffered must not fail again at exit: send it nowhere.
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        return EXIT_BROKEN_PIPE


def _run(argv: Optional[Sequence[str]]) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.verbose:
        logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if args.command == "token":
        from .registry import find

        return _token(find(args.vendor).auth, args.prefix, args.header, not args.no_cache, args.refresh)
    if args.command == "demo":
        from .demo import run_demo

        return run_demo(sys.stdout)
    if args.command == "sandbox":
        if args.script is not None:
            return _run_in_sandbox(args.script, args.args, args.port)
        return _serve_sandbox(args.port)
    parser.print_help(sys.stderr)
    return 2


def _fail(message: str, code: int) -> int:
    print(f"adtech-auth: {message}", file=sys.stderr)
    return code


def _ask(name: str, secret: bool) -> str:
    """Ask for one variable on the terminal (never on stdout, which may be captured).

    Raises:
        EOFError: input ended (Ctrl-D) before a line was typed.
    """
    prompt = f"{name}: "
    if secret:
        # getpass talks to /dev/tty (the console on Windows), else to stderr; it raises EOFError itself.
        return _ended_on_interrupt(lambda: getpass.getpass(prompt), None)
    try:
        fd = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except (OSError, AttributeError):  # no controlling terminal, or Windows
        sys.stderr.write(prompt)
        sys.stderr.flush()
        return _ended_on_interrupt(lambda: _line_or_eof(sys.stdin.readline()), None).rstrip("\r\n")
    try:
        os.write(fd, prompt.encode())
        return _ended_on_interrupt(lambda: _read_line(fd), fd)
    finally:
        os.close(fd)


def _read_line(fd: int) -> str:
    # The terminal is in canonical mode: each read returns at most one line.
    data = b""
    while not data.endswith(b"\n"):
        chunk = os.read(fd, 1024)
        if not chunk:  # Ctrl-D: after typed text it ends the line, at its start the input
            break
        data += chunk
    return _line_or_eof(data.decode(sys.stdin.encoding or "utf-8", "replace")).rstrip("\r\n")


def _line_or_eof(line: str) -> str:
    # As input() does: end of input before anything was typed is EOFError, never an empty answer.
    if not line:
        raise EOFError
    return line


def _ended_on_interrupt(read: Callable[[], str], fd: Optional[int]) -> str:
    # Ctrl-C and Ctrl-D leave the cursor after the prompt: end that line before the message.
    try:
        return read()
    except (KeyboardInterrupt, EOFError):
        with contextlib.suppress(OSError):
            _end_prompt_line(fd)
        raise


def _end_prompt_line(fd: Optional[int]) -> None:
    # Where the prompt was shown: ``fd``, or for getpass the terminal if there is one, else stderr
    # (so that stderr, when it is a file, gets the message line alone).
    if fd is not None:
        os.write(fd, b"\n")
        return
    try:
        tty = os.open("/dev/tty", os.O_WRONLY | os.O_NOCTTY)
    except (OSError, AttributeError):  # no controlling terminal, or Windows
        sys.stderr.write("\n")
        return
    try:
        os.write(tty, b"\n")
    finally:
        os.close(tty)


def _ask_each(names: list[str], environ: dict[str, str]) -> Optional[str]:
    """Prompt for each variable into ``environ``; what went wrong at the first prompt left unanswered, if any."""
    for name in names:
        try:
            environ[name] = _ask(name, secret=any(word in name for word in ("SECRET", "HASH")))
        except EOFError:  # the person is done answering: no later prompt, no empty value
            return f"input ended at the prompt for {name}"
        if not environ[name].strip():  # Enter alone: said so, rather than "ROKT_APP_ID is empty"
            return f"nothing was typed at the prompt for {name}"
    return None


def _token(cls: type[TokenAuth], prefix: str, header: bool, use_cache: bool, refresh: bool = False) -> int:
    from .exceptions import AuthError, ConfigurationError, TokenRequestError
    from .file_cache import FileTokenCache

    environ = dict(os.environ)
    missing = [
        prefix + v.name for v in cls.env_variables if v.required and not environ.get(prefix + v.name, "").strip()
    ]
    # Only a person at a terminal can answer; a script gets the error naming the variables.
    if missing and sys.stdin is not None and sys.stdin.isatty():
        unanswered = _ask_each(missing, environ)
        if unanswered is not None:
            return _fail(f"{unanswered}; nothing was fetched", EXIT_CONFIGURATION)
    cache = None
    if use_cache and cls.token_cache_applies:
        try:
            cache = FileTokenCache()
        except ConfigurationError:  # the 'file' extra is not installed
            print(f"adtech-auth: {_NO_CACHE_NOTE}", file=sys.stderr)
    try:
        auth = cls.from_env(prefix, environ=environ, cache=cache)
        if refresh:
            auth.invalidate()  # the file cache's copy too: the next calls get the new token
        headers = auth.get_headers()
    except ConfigurationError as exc:
        return _fail(str(exc), EXIT_CONFIGURATION)
    except TokenRequestError as exc:
        # No HTTP answer at all (unreachable, timeout, TLS) is never a refusal.
        unavailable = exc.transient or exc.status_code is None
        message = str(exc)
        if "session.verify" in message:
            message += " (from a shell: set REQUESTS_CA_BUNDLE to that CA bundle's path)"
        return _fail(message, EXIT_UNAVAILABLE if unavailable else EXIT_REFUSED)
    except AuthError as exc:  # nothing else is expected; still a message, not a traceback
        return _fail(str(exc), EXIT_REFUSED)
    if header:
        for name, value in headers.items():
            print(f"{name}: {value}")
    else:
        print(auth.get_token())
    return 0


def _started_sandbox(port: int) -> Union[Sandbox, int]:
    """A running sandbox on ``port``, or the exit code after saying why it cannot listen there."""
    from .sandbox import Sandbox

    try:
        return Sandbox(port=port, record=False).start()
    except OverflowError:
        return _fail(f"cannot listen on port {port}: a port is a number from 0 to 65535", 2)
    except OSError as exc:
        # The fix is another argument, as for any usage error.
        return _fail(
            f"cannot listen on port {port}: {exc.strerror}; choose another --port, or leave it out for any free port", 2
        )


def _serve_sandbox(port: int) -> int:

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    box = _started_sandbox(port)
    if isinstance(box, int):
        return box
    try:
        info = box.info()
        print(f"sandbox ready on {box.url} (storage host {box.storage_url}); Ctrl-C to stop")
        print("# API base URLs: use them where the vendors' docs and the examples use the real hosts")
        width = max(len(vendor) for vendor in box.vendor_hosts)
        for vendor, hosts in box.vendor_hosts.items():
            real = ", ".join(f"https://{host}" for host in hosts)
            print(f"#   {vendor:<{width}}  {info[vendor]['api_url']}  (instead of {real})")
        print(
            f"# control paths: {box.url}/_sandbox/info, /counts, /faults, /revoke, /reset (see {DOCS_URL}sandbox.html)"
        )
        print("# demo credentials for this run; paste into a shell for from_env() and `adtech-auth token`:")
        for name, value in box.environ().items():
            print(f"export {name}={value}")
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass  # Ctrl-C is how the sandbox is meant to stop
    finally:
        box.stop()
    return 0


def _run_in_sandbox(script: str, script_args: Sequence[str], port: int = 0) -> int:
    """Run a Python file as ``python FILE`` would, against the sandbox; return its exit code."""
    import runpy

    if not os.path.isfile(script):
        return _fail(f"{'not a file' if os.path.exists(script) else 'no such file'}: {script}", 2)
    saved_argv, saved_environ, saved_path = sys.argv, dict(os.environ), list(sys.path)
    code = 0
    box = _started_sandbox(port)
    if isinstance(box, int):
        return box
    with box, box.intercept_vendor_hosts():
        os.environ.update(box.environ())
        sys.argv = [script, *script_args]
        sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
        try:
            runpy.run_path(script, run_name="__main__")
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
            if stop.code is not None and not isinstance(stop.code, int):
                print(stop.code, file=sys.stderr)
        except Exception as failure:  # the script's own failure: shown as Python would show it
            _print_script_traceback(failure, script)
            code = 1
        finally:
            # As the interpreter does at exit: the script's own threads finish while routing still holds,
            # and the library's idle worker threads (which the interpreter would stop) end.
            from .async_tokens import shut_down_workers

            shut_down_workers()
            for thread in threading.enumerate():
                if thread is not threading.current_thread() and not thread.daemon:
                    thread.join()
            sys.argv, sys.path[:] = saved_argv, saved_path
            os.environ.clear()
            os.environ.update(saved_environ)
        counts = {v: (box.count(v, "token"), box.count(v, "api"), box.count(v, "api_ok")) for v in box.vendor_hosts}
    used = ", ".join(f"{v} {t} token, {a} API ({ok} ok)" for v, (t, a, ok) in counts.items() if t or a)
    print(f"adtech-auth sandbox: {script} exited {code}; calls: {used or 'none'}", file=sys.stderr)
    return code


def _print_script_traceback(failure: BaseException, script: str) -> None:
    """Print ``failure`` as ``python FILE`` would: from the script's first frame, without this runner's."""
    import traceback

    tb = failure.__traceback__
    path = os.path.abspath(script)
    while tb is not None and os.path.abspath(tb.tb_frame.f_code.co_filename) != path:
        tb = tb.tb_next
    traceback.print_exception(type(failure), failure, tb or failure.__traceback__)
