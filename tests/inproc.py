"""``ltfu`` run in this process (``ltfu.cli.main``), answered like ``subprocess.run``: returncode,
stdout, stderr.  A subprocess costs about 1.2 s of imports before ltfu does anything; tests that
run many commands (the study store's) call them here, and keep real subprocesses for what only a
process shows (a kill, two writers at once, the console script itself: tests/test_cli.py).  The
environment variables given are set for the call only."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess


def run(*args, env: dict | None = None) -> subprocess.CompletedProcess:
    from ltfu import cli

    argv = [str(a) for a in args]
    changes = {"COLUMNS": "200", **(env or {})}
    before = {k: os.environ.get(k) for k in changes}
    out, err = io.StringIO(), io.StringIO()
    os.environ.update(changes)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main(argv)
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return subprocess.CompletedProcess(["ltfu", *argv], code, out.getvalue(), err.getvalue())
