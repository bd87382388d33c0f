"""Ctrl-C, remembered.

The command line's SIGINT handler raises ``Interrupted`` where the program is, and also records
that it was pressed.  A library that catches every exception (a bare ``except:`` during an import,
a worker pool turning it into another error) can swallow the exception; the record cannot be
swallowed: every commit of an output (the report's swap, an atomic file write) calls ``check()``
first, so an interrupted run writes nothing, and the command line exits 130 whatever became of
the exception.  (Found when a Ctrl-C under load was lost and the report written, exit 0.)
"""

from __future__ import annotations

_state: dict[str, object] = {"received": False, "written": None}


class Interrupted(BaseException):
    """Ctrl-C: raised by ltfu's SIGINT handler.  Not a KeyboardInterrupt, so no library code that
    catches KeyboardInterrupt (or Exception) turns it into something else half way."""


def handler(signum, frame):
    _state["received"] = True
    raise Interrupted()


def received() -> bool:
    return bool(_state["received"])


def check() -> None:
    """Raise ``Interrupted`` if Ctrl-C was pressed: called before an output is committed."""
    if _state["received"]:
        raise Interrupted()


def committed(path) -> None:
    """Record that an output was committed (the message of a later interrupt says so)."""
    _state["written"] = str(path)


def written():
    return _state["written"]


def reset() -> None:
    _state.update(received=False, written=None)
