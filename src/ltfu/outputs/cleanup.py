"""Removing only what is provably ltfu's, and the lock that serialises swaps."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import stat
import time
from pathlib import Path

from ltfu.errors import OutputError
from ltfu.outputs.manifest import (
    _fsync_dir,
    _is_real_dir,
    _read_manifest,
    _restorable,
    _sha256,
    _siblings,
    check_ltfu_dir,
)
from ltfu.outputs.target import MANIFEST, PARTIAL, ReportTarget

LOCK_TIMEOUT = 30.0          # seconds a run waits for another run's swap (which takes milliseconds)


def _remove_verified(directory: Path) -> bool:
    """Remove an ltfu report file by file, each checked against the manifest, the manifest last.

    Anything unlisted or changed stays (and so does the directory); True when all of it is gone."""
    m = _read_manifest(directory)
    if m is None:
        return False
    for rel, info in sorted(m["files"].items()):
        p = directory / rel
        with contextlib.suppress(OSError):
            if stat.S_ISREG(os.lstat(p).st_mode) and _sha256(p)[0] == info["sha256"]:
                os.unlink(p)
    dirs = set(m.get("dirs", []))
    for rel in m["files"]:
        parts = rel.split("/")
        dirs.update("/".join(parts[:k]) for k in range(1, len(parts)))
    for rel in sorted(dirs, key=lambda r: r.count("/"), reverse=True):
        with contextlib.suppress(OSError):
            os.rmdir(directory / rel)
    try:
        if os.listdir(directory) != [MANIFEST]:
            return False
        os.unlink(directory / MANIFEST)
        os.rmdir(directory)
    except OSError:
        return False
    return True


def _remove_partial(directory: Path) -> None:
    """Remove a temporary build directory of ltfu's (its marker last, so a killed removal resumes)."""
    with contextlib.suppress(OSError), os.scandir(directory) as it:
        for e in list(it):
            if e.name == PARTIAL:
                continue
            with contextlib.suppress(OSError):
                if e.is_dir(follow_symlinks=False):
                    shutil.rmtree(e.path)
                else:
                    os.unlink(e.path)
    with contextlib.suppress(OSError):
        os.unlink(directory / PARTIAL)
    with contextlib.suppress(OSError):
        os.rmdir(directory)


def _held(marker: Path) -> bool:
    """Whether a live run holds the marker of its temporary build."""
    try:
        fd = os.open(marker, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return True          # cannot tell: leave it alone
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


def recover(target: ReportTarget) -> Path | None:
    """If a run died between its two renames, put the previous report back at ``DIR``."""
    old = _restorable(target)
    if old is not None:
        os.rename(old, target.path)
        _fsync_dir(target.parent)
    return old


def clean_stale(target: ReportTarget) -> None:
    """Remove what killed runs left beside ``DIR``, but only what is provably ltfu's and unused."""
    for p in _siblings(target, target.tmp_prefix):
        if not _is_real_dir(p):
            continue
        marker = p / PARTIAL
        if os.path.lexists(marker):
            if stat.S_ISREG(os.lstat(marker).st_mode) and not _held(marker):
                _remove_partial(p)
        elif _read_manifest(p) is not None and not check_ltfu_dir(p):
            _remove_verified(p)
        else:
            with contextlib.suppress(OSError):
                os.rmdir(p)          # only if empty
    if not os.path.lexists(target.path):
        return                       # an old report would be restored, not removed
    for p in _siblings(target, target.old_prefix):
        if not _is_real_dir(p):
            continue
        if _read_manifest(p) is not None and not check_ltfu_dir(p):
            _remove_verified(p)
        else:
            with contextlib.suppress(OSError):
                os.rmdir(p)


@contextlib.contextmanager
def locked(target: ReportTarget, timeout: float | None = None):
    """Hold ``flock`` on ``.DIR.lock`` beside ``DIR``; removed again on release.

    A run that finds the lock held waits up to ``timeout`` seconds (``LOCK_TIMEOUT``), then fails
    with :class:`OutputError` (exit 1).  The lock file may be unlinked by its holder, so after
    locking it we check that the path still names the file we locked, else try again."""
    timeout = LOCK_TIMEOUT if timeout is None else timeout
    path = target.lock_path
    deadline = time.monotonic() + timeout
    while True:
        fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), 0o666)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise OutputError(
                            f"another ltfu run is writing to {str(target.path)!r} (it holds {path.name!r} "
                            f"for more than {timeout:g} s); nothing was written, run again when it has finished"
                        ) from None
                    time.sleep(0.05)
            try:
                a, b = os.stat(path, follow_symlinks=False), os.fstat(fd)
                same = (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)
            except FileNotFoundError:
                same = False
        except BaseException:
            os.close(fd)
            raise
        if same:
            break
        os.close(fd)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
        os.close(fd)
