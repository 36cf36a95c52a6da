"""Escaping control characters in server-sent text: every dangerous class, nothing else touched.

The classes and the check for raw ones are in control_text.py, independent of the
implementation's rule, shared with the suites that drive each flow and the CLI.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from requests_adtech_auth.control_chars import escape_controls

from .control_text import CONTROL_CLASSES, hostile_text, is_dangerous, raw_controls


@pytest.mark.parametrize("sample", CONTROL_CLASSES.values(), ids=CONTROL_CLASSES)
def test_each_class_is_escaped_as_python_writes_it(sample: str) -> None:
    shown = escape_controls(f"before {sample} after")
    assert raw_controls(shown) == []
    assert shown.startswith("before ") and shown.endswith(" after")
    expected = "".join(c if not is_dangerous(c) else repr(c)[1:-1] for c in sample)
    assert shown == f"before {expected} after"


def test_the_escapes_read_as_documented() -> None:
    assert escape_controls("a\x1b[2Jb") == "a\\x1b[2Jb"
    assert escape_controls("line\r\nnext\tcol") == "line\\r\\nnext\\tcol"
    assert escape_controls("\x9b\u202e\U000e0001\ud800") == "\\x9b\\u202e\\U000e0001\\ud800"


def test_printable_text_is_unchanged() -> None:
    text = "invalid_client (bad secret: é, 東京, emoji 😀, quote ' \" and back\\slash)"
    assert escape_controls(text) is text


@settings(max_examples=300, deadline=None)
@given(text=hostile_text)
def test_no_dangerous_character_survives_and_escaping_twice_is_escaping_once(text: str) -> None:
    shown = escape_controls(text)
    assert raw_controls(shown) == []
    assert escape_controls(shown) == shown
    shown.encode("utf-8")  # no lone surrogate left to fail a UTF-8 log file or terminal


@settings(max_examples=300, deadline=None)
@given(text=st.text(st.characters(exclude_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs")) | st.just(" ")))
def test_printable_text_of_any_script_is_never_changed(text: str) -> None:
    assert escape_controls(text) == text


def test_a_value_that_is_no_utf_8_is_still_hidden() -> None:
    # A server's text may hold a lone surrogate, which percent-encoding cannot take.
    from requests_adtech_auth.redaction import Redactor

    value = "tok\x00\ud800en"
    assert Redactor([value])(f"echo {value} end") == "echo [redacted] end"
