"""The few error types ltfu raises, each with a stable code.

A user never sees a traceback for a data problem: the CLI catches ``LtfuError`` and prints its
message (``--debug`` shows the traceback).  Statistics functions raise ``InvalidInputError`` for
bad arguments (negative times, NaN, wrong event codes, mismatched lengths, empty input), always
naming the argument.
"""

from __future__ import annotations


class LtfuError(Exception):
    """Base class of every error ltfu raises on purpose."""

    code = "LTFU"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:  # pragma: no cover - trivial
        return f"[{self.code}] {self.message}"


class InvalidInputError(LtfuError, ValueError):
    """An argument given to a statistics function is not valid (the message names it)."""

    code = "INVALID_INPUT"


class ConvergenceError(LtfuError, ArithmeticError):
    """An iterative fit did not converge, diverged (infinite coefficient) or met a singular design."""

    code = "CONVERGENCE"


class DataError(LtfuError):
    """The patient table has errors; ``problems`` lists every one of them."""

    code = "DATA"

    def __init__(self, message: str, problems=(), rows: int | None = None):
        super().__init__(message)
        self.problems = list(problems)
        self.rows = rows            # the table's rows, when known (a --cutoff before every infusion)


class LoadError(LtfuError):
    """A file could not be read at all (missing, unreadable, unknown format)."""

    code = "LOAD"


class OutputError(LtfuError):
    """An output path ltfu refuses to write (``usage``: exit 2) or a file-system failure (exit 1).

    Either way nothing the user had is changed: a refused path is left alone, and a failed write
    leaves the previous output in place and no temporary file behind.
    """

    code = "OUTPUT"

    def __init__(self, message: str, *, usage: bool = False):
        super().__init__(message)
        self.usage = usage
        self.exit_code = 2 if usage else 1
