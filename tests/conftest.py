"""Shared fixtures: the sandbox, the five flows as one table, and the suite-wide secret check."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from requests_adtech_auth.sandbox import Sandbox

from .helpers import FLOWS, Flow
from .redis_server import redis_server  # noqa: F401  (a fixture, for every test file)
from .run_reports import CACHE_REPORT, SOAK_REPORT

pytest_plugins = ["pytester"]

_SANDBOXES: list[Sandbox] = []


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--soak", action="store_true", help="run the soak tests for their full length")


def pytest_sessionfinish(session: pytest.Session) -> None:
    """On a pytest-xdist worker: hand what it measured and checked to the controller's summary."""
    output = getattr(session.config, "workeroutput", None)
    if output is not None:
        output["adtech_summary"] = {"checked": dict(_CHECKED), "soak": list(SOAK_REPORT), "caches": list(CACHE_REPORT)}


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """On the pytest-xdist controller: add a finished worker's figures to this process's."""
    summary = getattr(node, "workeroutput", {}).get("adtech_summary")
    if summary is None:
        return
    for name, count in summary["checked"].items():
        _CHECKED[name] += count
    SOAK_REPORT.extend(summary["soak"])
    CACHE_REPORT.extend(summary["caches"])


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for title, lines in (("soak", SOAK_REPORT), ("shared caches", CACHE_REPORT)):
        if lines:
            terminalreporter.section(title)
            for line in lines:
                terminalreporter.write_line(line)
    terminalreporter.section("secret hygiene")
    terminalreporter.write_line(
        f"{_CHECKED['records']} log records (DEBUG and up) and {_CHECKED['warnings']} warnings checked "
        f"against {_CHECKED['secrets']} sandbox secrets and tokens: 0 leaks"
    )


_CHECKED = {"records": 0, "warnings": 0, "secrets": 0}


@pytest.fixture
def ca() -> Any:
    """A certificate authority of the test's own (trustme)."""
    import trustme

    return trustme.CA()


@pytest.fixture
def tls_sandbox(ca: Any) -> Iterator[Sandbox]:
    """A sandbox serving HTTPS with a certificate of ``ca`` (which nothing trusts by default)."""
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    with Sandbox(ssl_context=context) as box:
        _SANDBOXES.append(box)
        yield box


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """A fresh sandbox for one test (its secrets join the leak check)."""
    with Sandbox() as box:
        _SANDBOXES.append(box)
        yield box


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info:
            text += logging.Formatter().formatException(record.exc_info)
        self.texts.append(text)


@pytest.fixture(autouse=True)
def no_secret_in_logs_or_warnings(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test: all log records at DEBUG and all warnings must be free of sandbox secrets."""
    capture = _Capture()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    root.removeHandler(capture)
    root.setLevel(old_level)
    plugin_box = getattr(request.node, "funcargs", {}).get("adtech_sandbox")
    if plugin_box is not None:
        _SANDBOXES.append(plugin_box)
    texts = capture.texts + [str(w.message) for w in caught]
    secrets = [s for box in _SANDBOXES for s in box.secrets() if s]
    _SANDBOXES.clear()
    _CHECKED["records"] += len(capture.texts)
    _CHECKED["warnings"] += len(caught)
    _CHECKED["secrets"] += len(secrets)
    for text in texts:
        for secret in secrets:
            assert secret not in text, f"a secret leaked into a log record or warning: {text[:200]!r}"
    for w in caught:
        # Hand them back to pytest, whose filterwarnings=error makes them fail the test.
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


@pytest.fixture(params=FLOWS, ids=[f.name for f in FLOWS])
def flow(request: pytest.FixtureRequest) -> Flow:
    """Each of the five flows in turn."""
    return request.param  # type: ignore[no-any-return]
