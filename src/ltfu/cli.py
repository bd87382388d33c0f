"""The ``ltfu`` command line: parses arguments and calls the library, nothing more.

Exit codes: 0 success, 1 data problems (errors found) or a failed run (including a file-system
error or another run holding the output's lock), 2 usage error (including an output path ltfu
refuses: see ``ltfu.outputs``), 130 interrupted (Ctrl-C: one line, no traceback).  Text from a
file is printed through ``ltfu.terminal.visible``: control characters appear as escapes, never act
on the terminal.
A data problem never shows a traceback; ``--debug`` shows one for anything unexpected.
Heavy modules (pandas, scipy, matplotlib) are imported inside the commands, so ``ltfu --help``
stays fast.
"""

from __future__ import annotations

import signal
import sys

if __name__ == "__main__":      # python -m ltfu.cli: Ctrl-C is handled from here on, not only from main()
    def _early_sigint(signum, frame):
        # while the modules are imported nothing is written; an exception here could be swallowed
        # by an import's bare except (measured: a Ctrl-C lost, the report written, exit 0), so leave
        import os

        os.write(2, b"interrupted; nothing was written\n")
        os._exit(130)

    signal.signal(signal.SIGINT, _early_sigint)

from typer.core import TyperCommand

# the commands register themselves on ``app`` when imported, in this order in --help
# isort: off
from ltfu import cli_data  # noqa: F401
from ltfu import cli_adam  # noqa: F401
from ltfu import cli_report  # noqa: F401
# isort: on
from ltfu import interrupt
from ltfu.cli_common import Engine, _Command, _console, _print_problems, app
from ltfu.interrupt import Interrupted
from ltfu.terminal import visible

__all__ = ["Engine", "_print_problems", "app", "console", "main"]

app.add_typer(__import__("ltfu.cli_study", fromlist=["app"]).app, name="study")   # init/add/list/diff/upgrade

for _info in app.registered_commands:     # every usage line as a user writes it (FILE, not {path})
    if _info.cls in (None, TyperCommand):
        _info.cls = _Command


INTERRUPTED = "interrupted; nothing was written"


def _interrupted() -> int:
    written = interrupt.written()
    print(INTERRUPTED if written is None else f"interrupted after {written} was written", file=sys.stderr)
    return 130


def main(argv=None) -> int:
    """Console-script entry point: no traceback for ltfu's own errors unless --debug.  The record
    of a Ctrl-C is this run's: cleared before and after (the Python API, in a notebook, goes on)."""
    interrupt.reset()
    try:
        return _main(argv)
    finally:
        interrupt.reset()


def console() -> int:
    """The ``ltfu`` program (its console script and ``python -m ltfu``): Arrow's allocator chosen
    (``ltfu.machine.choose_arrow_allocator``), ``main()``, then the garbage collector frozen
    (``gc.freeze``) before the interpreter exits.  Python's exit collects every object still
    tracked, several times over, while it tears the modules down: for the 200,000-odd objects of
    numpy, pandas, scipy, statsmodels and matplotlib that took 0.5-0.9 s at the end of every
    command (measured: ``ltfu report`` on a 1e6-patient table 0.89-0.93 s from its last line to its
    exit, 0.12-0.15 s frozen).  Frozen objects are freed with the process as any others; nothing
    ltfu writes waits for the collector (each output is closed and renamed into place before
    ``main`` returns, and temporary folders are removed by exit handlers, which run first).  Not in
    ``main``: the Python API and the in-process tests keep their allocator and go on collecting."""
    import gc

    from ltfu.machine import choose_arrow_allocator

    choose_arrow_allocator()            # before anything imports pyarrow
    code = main()
    gc.freeze()
    return code


def _main(argv) -> int:
    from ltfu.errors import LtfuError

    args = sys.argv[1:] if argv is None else list(argv)
    try:
        previous = signal.signal(signal.SIGINT, interrupt.handler)
    except ValueError:          # not the main thread (embedded use): leave SIGINT alone
        previous = None
    try:
        app(args=args, prog_name="ltfu")  # standalone: usage errors print and exit 2
    except SystemExit as exc:
        code = exc.code
        if code == 130 or interrupt.received():   # typer's answer to a KeyboardInterrupt inside a library,
            return _interrupted()                  # or ours swallowed on the way
        return code if isinstance(code, int) else (0 if code is None else 1)
    except (Interrupted, KeyboardInterrupt):
        return _interrupted()
    except LtfuError as exc:
        if interrupt.received():
            return _interrupted()
        if "--debug" in args:
            raise
        from rich.markup import escape

        _console(stderr=True).print(f"[bold red]error[/] {escape(visible(f'[{exc.code}]: {exc.message}'))}",
                                    markup=True, soft_wrap=True)
        return 1
    except OSError as exc:  # the file system (full, read-only, permissions): one plain line
        if interrupt.received():
            return _interrupted()
        if "--debug" in args:
            raise
        from rich.markup import escape

        where = f": {exc.filename}" if getattr(exc, "filename", None) else ""
        _console(stderr=True).print(f"[bold red]error:[/] {escape(f'{exc.strerror or exc}{where}')}",
                                    markup=True, soft_wrap=True)
        return 1
    except Exception as exc:  # the unexpected: one line, no traceback unless --debug
        if interrupt.received():    # Ctrl-C turned into another exception by a library
            return _interrupted()
        if "--debug" in args:
            raise
        from rich.markup import escape

        _console(stderr=True).print(
            f"[bold red]internal error[/]: {escape(visible(f'{type(exc).__name__}: {exc}'))}. Run again with --debug "
            "for a traceback and report it; no output was written.", markup=True)
        return 1
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    if interrupt.received():        # pressed, and the exception swallowed on the way
        return _interrupted()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(console())
