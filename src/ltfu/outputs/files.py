"""Single output files (ltfu demo, ltfu simulate): checked, then written atomically."""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from pathlib import Path

from ltfu import interrupt
from ltfu.errors import OutputError
from ltfu.outputs.manifest import _fsync_dir
from ltfu.outputs.target import _q
from ltfu.outputs.transaction import _make_parents


def check_out_file(out, *, suffixes: tuple[str, ...], overwrite: bool, example: str) -> Path:
    """Check ``--out FILE`` for ``demo`` and ``simulate`` (refusals are usage errors, exit 2)."""
    given = os.fspath(out) if out is not None else ""
    accepted = ", ".join(suffixes)
    if not given.strip():
        raise OutputError(f"--out is empty (an unset shell variable?); give a file name, e.g. --out {example}",
                          usage=True)
    path = Path(os.path.expanduser(given))
    if given.endswith("/") or (os.path.lexists(path) and stat.S_ISDIR(os.lstat(path).st_mode)):
        raise OutputError(f"--out {given!r} is a directory; give a file name, e.g. --out "
                          f"{_q(os.path.join(given, example))}", usage=True)
    if path.suffix.lower() not in suffixes:
        raise OutputError(f"--out {given!r}: the extension {path.suffix or '(none)'!r} is not one ltfu "
                          f"writes here; accepted: {accepted}", usage=True)
    if os.path.lexists(path):
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode):
            raise OutputError(f"--out {given!r} is a symbolic link (ltfu never writes through one); "
                              "give a plain file name", usage=True)
        if not stat.S_ISREG(st.st_mode):
            raise OutputError(f"--out {given!r} exists and is not a regular file; give another name",
                              usage=True)
        if not overwrite:
            raise OutputError(f"--out {given!r} already exists; add --overwrite to replace it, or give "
                              "another name (nothing was written)", usage=True)
    return path


def write_file_atomic(path: Path, fill, *, overwrite: bool) -> Path:
    """Write ``path`` in one step: ``fill(tmp_path)`` writes a hidden sibling, which is then moved in.

    Without ``overwrite`` the move never replaces a file (a hard link, which fails if the name was
    taken meanwhile); with it ``os.replace`` does, keeping the old file's permissions.  File-system
    errors become :class:`OutputError` (exit 1); the temporary file is always removed."""
    path = Path(path)
    created: list[Path] = []
    tmp = None
    fd = -1
    done = False
    try:
        try:
            created = _make_parents(path.parent)
            while True:
                tmp = path.parent / f".{path.name}.tmp-{secrets.token_hex(4)}"
                try:
                    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
                    break
                except FileExistsError:
                    continue
            os.close(fd)
            fill(tmp)
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            interrupt.check()               # Ctrl-C pressed, even if its exception was swallowed
            if overwrite:
                with contextlib.suppress(OSError):
                    st = os.lstat(path)
                    if stat.S_ISREG(st.st_mode):
                        os.chmod(tmp, stat.S_IMODE(st.st_mode))
                os.replace(tmp, path)
            else:
                try:
                    os.link(tmp, path)
                except FileExistsError:
                    raise OutputError(f"--out {str(path)!r} appeared while ltfu was writing it; nothing was "
                                      "replaced (add --overwrite to replace it)", usage=True) from None
                except OSError as exc:
                    if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV,
                                         errno.EMLINK, errno.ENOSYS):
                        raise
                    if os.path.lexists(path):            # no hard links here: check, then move
                        raise OutputError(f"--out {str(path)!r} appeared while ltfu was writing it; nothing "
                                          "was replaced", usage=True) from None
                    os.replace(tmp, path)
                else:
                    os.unlink(tmp)
            _fsync_dir(path.parent)
            done = True
            interrupt.committed(path)
        except OSError as exc:
            where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
            raise OutputError(f"cannot write {str(path)!r}: {exc.strerror or exc}{where}; "
                              + ("the existing file is unchanged" if os.path.lexists(path) else "nothing was written")
                              ) from exc
    finally:
        if tmp is not None and not done:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        if not done:
            for d in reversed(created):
                with contextlib.suppress(OSError):
                    os.rmdir(d)
    return path
