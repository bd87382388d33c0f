"""Number formats shared by the figures (and available to tables): one rule for p-values, and the
superscript digits that tables write (a dose's 3 x 10\u2076).

Kept free of heavy imports so that any part of ltfu can use it without pulling in matplotlib.
"""

from __future__ import annotations

import math

from ltfu.errors import InvalidInputError


def format_p(p) -> str:
    """A p-value as two significant digits ("0.047", "0.50", "1.0"), or "<0.001" below 0.001.

    ``None`` or a non-finite value gives "NA".  A value outside [0, 1] is an error (a p-value that
    is not a probability is a bug upstream, not something to print)."""
    if p is None:
        return "NA"
    try:
        p = float(p)
    except (TypeError, ValueError):
        raise InvalidInputError(f"p: must be a number, got {p!r}") from None
    if not math.isfinite(p):
        return "NA"
    if p < 0 or p > 1 + 1e-12:
        raise InvalidInputError(f"p: must be between 0 and 1, got {p!r}")
    if p < 0.001:
        return "<0.001"
    return format(min(p, 1.0), "#.2g")


def p_label(p, test: str | None = None) -> str:
    """"Log-rank P = 0.047" / "Log-rank P < 0.001" (``test`` optional)."""
    s = format_p(p)
    body = f"P < {s[1:]}" if s.startswith("<") else f"P = {s}"
    return f"{test} {body}" if test else body


#: "-0123456789" to their superscript forms (written by Table 1's doses)
_TO_SUPERSCRIPT = str.maketrans("-0123456789", "\u207b\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079")


def superscript(text: str) -> str:
    """``text`` with its digits and minus signs as superscripts ("-3" -> "\u207b\u00b3")."""
    return text.translate(_TO_SUPERSCRIPT)
