"""Control characters in server-sent text, escaped before the library shows it.

A vendor's error code, description or request id, a ``Content-Type`` or a
``Location`` is data. Put raw into a message, a log record or the CLI's stderr,
an escape sequence would retitle or clear a terminal, a CR or LF would forge a
log line, and a bidi override would make a line read differently from what it
holds. :func:`escape_controls` writes every such character as its Python
escape instead.
"""

from __future__ import annotations

__all__ = ["escape_controls"]


def escape_controls(text: str) -> str:
    r"""``text`` with every character that is not printable written as its Python escape.

    Not printable is what :meth:`str.isprintable` says, the rule ``repr()``
    follows: C0 controls (with TAB, LF and CR: a message is one line), DEL,
    C1 controls, bidi and other format characters (``U+202E``, ``U+2066``,
    zero-width ones, ``U+FEFF``), line and paragraph separators, spaces other
    than the ASCII one, lone surrogates, private-use and unassigned code
    points. They become ``\x1b``, ``\n``, ``\u202e``, ``\U000e0001``; nothing
    else changes (a backslash stays one), so escaping twice is escaping once.
    """
    if text.isprintable():  # the usual case: nothing to escape
        return text
    # repr() of one unprintable character is its escape in quotes.
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
