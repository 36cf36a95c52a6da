"""Text that must never reach a message, a log record or a terminal raw, and the check for it.

Written out here, independent of the library's rule (``requests_adtech_auth.control_chars``),
for the suites that drive each flow, the CLI and the parsers with hostile server text.
"""

from __future__ import annotations

from hypothesis import strategies as st

#: One sample per class of character that must never reach a message, a log record
#: or a terminal raw: a terminal title change, a screen clear, a forged log line...
CONTROL_CLASSES: dict[str, str] = {
    "esc": "\x1b]0;owned\x07\x1b[2J",
    "bel": "\x07",
    "cr-lf": "\r\nINFO requests_adtech_auth: forged",
    "nul": "\x00",
    "tab": "\t",
    "del": "\x7f",
    "c1": "\x9b2J\x85\x90",
    "bidi": "\u202e\u202a\u202d\u2066\u2067\u2068\u2069\u200e\u200f\u061c",
    "zero-width": "\u200b\u200c\u200d\u2060\ufeff",
    "line-separators": "\u2028\u2029",
}
BIDI = set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
INVISIBLE = set("\u200b\u200c\u200d\u2060\ufeff\u2028\u2029")


def is_dangerous(c: str) -> bool:
    """C0 controls, DEL, C1 controls, bidi controls, zero-width characters, line separators, surrogates."""
    code = ord(c)
    return code < 0x20 or 0x7F <= code <= 0x9F or c in BIDI or c in INVISIBLE or 0xD800 <= code <= 0xDFFF


def raw_controls(text: str) -> list[str]:
    """The dangerous characters ``text`` holds raw (empty when it is safe to show)."""
    return [c for c in text if is_dangerous(c)]


DANGEROUS_CHARS = sorted(set("".join(CONTROL_CLASSES.values())) | BIDI | INVISIBLE | {chr(0xD800), chr(0xDFFF)})
#: Text mixing dangerous characters with anything else, lone surrogates too.
hostile_text = st.text(
    st.sampled_from([c for c in DANGEROUS_CHARS if is_dangerous(c)]) | st.characters(exclude_categories=()),
    max_size=60,
)
