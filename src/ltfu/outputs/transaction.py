"""The report transaction: build in a hidden sibling, then swap it in atomically."""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import stat
from pathlib import Path

from ltfu import interrupt
from ltfu.errors import OutputError
from ltfu.outputs.cleanup import _remove_partial, _remove_verified, clean_stale, locked, recover
from ltfu.outputs.manifest import _fsync_dir, check_report_target, write_manifest
from ltfu.outputs.target import PARTIAL, ReportTarget


def _fs_error(target: ReportTarget, exc: OSError, previous: str) -> OutputError:
    what = exc.strerror or str(exc)
    where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
    return OutputError(f"cannot write the report to {str(target.path)!r}: {what}{where}; {previous}")


def _make_parents(parent: Path) -> list[Path]:
    """Create the missing parents (umask applies); return those created, outermost first."""
    missing = []
    p = parent
    while not os.path.lexists(p) and p != p.parent:
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        with contextlib.suppress(FileExistsError):
            os.mkdir(d, 0o777)
    return list(reversed(missing))


def _new_tmp(target: ReportTarget) -> tuple[Path, int]:
    while True:
        tmp = target.parent / f"{target.tmp_prefix}{secrets.token_hex(4)}"
        try:
            os.mkdir(tmp, 0o777)             # the user's umask applies (mkdtemp would make it 0700)
            break
        except FileExistsError:
            continue
    try:
        fd = os.open(tmp / PARTIAL, os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
    except BaseException:
        with contextlib.suppress(OSError):
            os.rmdir(tmp)
        raise
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.write(fd, f"ltfu is building the report {target.name!r} here (pid {os.getpid()}); "
                 "a later ltfu run removes it if that run died.\n".encode())
    return tmp, fd


def _swap(target: ReportTarget, tmp: Path, kind: str) -> None:
    """Put the finished ``tmp`` at ``DIR``.  Under the lock; ``kind`` is what is at ``DIR`` now."""
    if kind != "ltfu":
        # nothing or an empty directory: one rename (onto an empty directory it is atomic too)
        os.rename(tmp, target.path)
        _fsync_dir(target.parent)
        return
    while True:
        old = target.parent / f"{target.old_prefix}{secrets.token_hex(4)}"
        if not os.path.lexists(old):
            break
    os.rename(target.path, old)
    try:
        os.rename(tmp, target.path)
    except OSError as exc:
        try:
            os.rename(old, target.path)
        except OSError:
            raise _fs_error(target, exc, f"the previous report is kept in {old.name!r} beside it, and the "
                                         "next ltfu run on this --out puts it back") from exc
        raise
    _fsync_dir(target.parent)
    _remove_verified(old)            # if this fails or is killed, the next run finishes it


@contextlib.contextmanager
def report_transaction(target: ReportTarget):
    """Yield an empty temporary directory to build the report in; on a clean exit swap it in.

    File-system errors become :class:`OutputError` (exit 1) with one plain line.  On any failure the
    temporary directory (and any parent folder this run created) is removed and the previous report
    is left as it was."""
    tmp = marker_fd = None
    created: list[Path] = []
    done = False
    previous = "nothing was written"
    try:
        try:
            created = _make_parents(target.parent)
            with locked(target):
                recover(target)
                clean_stale(target)
                kind = check_report_target(target)
                if kind == "ltfu":
                    previous = "the previous report is unchanged"
                tmp, marker_fd = _new_tmp(target)
            yield tmp
            write_manifest(tmp)
            with locked(target):
                recover(target)
                clean_stale(target)
                kind = check_report_target(target)
                if kind != "missing":
                    with contextlib.suppress(OSError):
                        os.chmod(tmp, stat.S_IMODE(os.lstat(target.path).st_mode))
                interrupt.check()           # Ctrl-C pressed, even if its exception was swallowed: no swap
                os.unlink(tmp / PARTIAL)
                _fsync_dir(tmp)
                _swap(target, tmp, kind)
                done = True
                interrupt.committed(target.path)
        except OSError as exc:
            raise _fs_error(target, exc, previous) from exc
    finally:
        if marker_fd is not None:
            os.close(marker_fd)
        if not done:
            if tmp is not None and os.path.lexists(tmp):
                _remove_partial(tmp)
            for d in reversed(created):
                with contextlib.suppress(OSError):
                    os.rmdir(d)
