"""Text from a patient table, made safe to print on a terminal.

A value, id or column name can hold terminal control sequences: clear-screen, colours, a window
title, an OSC 8 hyperlink, or ``ESC[1A ESC[2K`` which erases the line above and writes a fake one.
:func:`visible` prints every such character as an escape (``\\x1b``, ``\\u202e``), so what the user
sees is exactly what the file holds, and nothing in it can act on the terminal.
"""

from __future__ import annotations

_SHORT = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape(ch: str) -> str:
    if ch in _SHORT:
        return _SHORT[ch]
    o = ord(ch)
    if o < 0x100:
        return f"\\x{o:02x}"
    return f"\\u{o:04x}" if o < 0x10000 else f"\\U{o:08x}"


def visible(text) -> str:
    """``str(text)`` with every non-printable character (C0 and C1 controls, DEL, bidirectional and
    other format characters, line and paragraph separators, unusual spaces) written as an escape."""
    s = "" if text is None else str(text)
    if s.isprintable():
        return s
    return "".join(ch if ch == " " or ch.isprintable() else _escape(ch) for ch in s)
