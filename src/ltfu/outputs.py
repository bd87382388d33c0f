"""Where ltfu may write, and how: the rule that no user file is ever lost to an output path.

**A report directory** (``ltfu report --out DIR``).  ltfu only ever replaces a directory that ltfu
made.  ``DIR`` may be

- a path that does not exist: it is created, parents too, with the user's umask;
- an existing empty directory: it is used (its permissions are kept);
- an ltfu report: a directory holding ``.ltfu-manifest.json`` (every file ltfu wrote, with its
  SHA-256, and the ltfu version) in which every file is still one the manifest lists with the same
  checksum and nothing else is present.  It is replaced as a whole.

Anything else is refused before anything is written (:class:`OutputError` with ``usage=True``,
exit 2): the empty string, a path ending in ``.`` or ``..``, ``/``, the home directory or one that
contains it, the current directory or one that contains it, the directory holding an input file or
one that contains it, a symbolic link (never followed), an existing file, or a directory holding
anything ltfu did not write (or a file changed since).

The write itself: the report is built in a hidden sibling ``.DIR.tmp-XXXX`` marked with
``.ltfu-partial`` (held under ``flock`` while its run is alive); then, under a lock on
``.DIR.lock`` beside ``DIR``, the directory is checked again and swapped in: the previous report
is renamed to ``.DIR.old-XXXX``, the new one renamed to ``DIR``, the old one removed file by file
(each checked against its manifest, the manifest last).  A run that dies between the two renames
leaves ``DIR`` missing and ``.DIR.old-XXXX`` complete: the next run renames it back first.
Leftovers are removed only when they are provably ltfu's: a temporary whose marker is not held by a
live run, or a directory whose every file checks against its manifest.  The lock file is removed
when the lock is released.

**A single file** (``ltfu demo --out FILE``, ``ltfu simulate --out FILE``): the extension picks the
format and must be one of the accepted ones; an existing file is refused unless ``overwrite``; a
directory, a symbolic link or anything but a regular file is always refused.  The file is written
to a hidden temporary sibling and moved into place in one step.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import secrets
import shlex
import shutil
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from ltfu.errors import OutputError

MANIFEST = ".ltfu-manifest.json"
PARTIAL = ".ltfu-partial"
MANIFEST_KIND = "ltfu report"
LOCK_TIMEOUT = 30.0          # seconds a run waits for another run's swap (which takes milliseconds)
_SHOW = 3                    # offending names listed in a refusal


# --------------------------------------------------------------------------------------------------
# the target and the refusals


@dataclass(frozen=True)
class ReportTarget:
    given: str          # --out as the user typed it
    path: Path          # absolute: the parent resolved, the last component kept (never followed)

    @property
    def parent(self) -> Path:
        return self.path.parent

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def lock_path(self) -> Path:
        return self.parent / f".{self.name}.lock"

    @property
    def tmp_prefix(self) -> str:
        return f".{self.name}.tmp-"

    @property
    def old_prefix(self) -> str:
        return f".{self.name}.old-"


def _q(path) -> str:
    return shlex.quote(str(path))


def _free(directory: str, stem: str = "report") -> str:
    """``directory/report`` (or ``report-2``, ...) that does not exist yet: a path ltfu would accept."""
    base = Path(directory or ".")
    for k in range(1, 100):
        name = stem if k == 1 else f"{stem}-{k}"
        if not os.path.lexists(base / name):
            break
    return os.path.join(directory, name) if directory else name


def _refuse(given: str, why: str, suggest_in: str) -> OutputError:
    shown = repr(given)
    return OutputError(
        f"--out {shown} {why}: ltfu writes a report only into a new directory, an empty one or a "
        f"report it made itself, so nothing was written; use for example --out {_q(_free(suggest_in))}",
        usage=True)


def _within(path: Path, container: Path) -> bool:
    """``container`` is ``path`` or one of its ancestors."""
    return path == container or container in path.parents


def _home() -> Path | None:
    try:
        return Path.home().resolve()
    except (RuntimeError, KeyError, OSError):
        return None


def resolve_report_target(out, *, inputs=()) -> ReportTarget:
    """Check ``--out`` by its name and place alone (nothing on disk is read but its parents)."""
    given = os.fspath(out) if out is not None else ""
    if not given.strip():
        raise _refuse(given, "is empty (an unset shell variable?)", "")
    text = os.path.expanduser(given)
    if text.strip("/") == "":
        raise _refuse(given, "is the root directory", ".")
    stripped = text.rstrip("/")
    head, tail = os.path.split(stripped)
    cwd = Path.cwd().resolve()
    home = _home()
    if tail in (".", ".."):
        real = Path(stripped).resolve()
        if _within(cwd, real):
            why = "is the current directory" if real == cwd else "contains the current directory"
        else:
            why = f"ends in {tail!r} (it names the existing directory {str(real)!r})"
        raise _refuse(given, why, given)
    path = Path(head or ".").resolve() / tail
    if path == Path(path.anchor):
        raise _refuse(given, "is the root directory", ".")
    if home is not None and _within(home, path):
        raise _refuse(given, "is your home directory" if path == home else "contains your home directory",
                      given)
    if _within(cwd, path):
        raise _refuse(given, "is the current directory" if path == cwd else "contains the current directory",
                      given)
    for f in inputs:
        if f is None:
            continue
        f = Path(f)
        holders = {Path(os.path.abspath(f)).parent, f.resolve().parent}
        with contextlib.suppress(OSError):
            holders.add(Path(os.path.abspath(f)).parent.resolve())
        for holder in holders:
            if _within(holder, path):
                why = (f"is the directory holding the input file {f.name!r}" if path == holder
                       else f"contains the input file {str(f)!r}")
                raise _refuse(given, why, given)
    # the first existing ancestor must be a directory
    anc = path.parent
    while not os.path.lexists(anc) and anc != anc.parent:
        anc = anc.parent
    if not anc.is_dir():
        raise _refuse(given, f"lies under {str(anc)!r}, which is not a directory", os.path.dirname(stripped))
    return ReportTarget(given, path)


# --------------------------------------------------------------------------------------------------
# manifests


def _sha256(path, *, sync: bool = False) -> tuple[str, int]:
    h = hashlib.sha256()
    n = 0
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    try:
        while chunk := os.read(fd, 1 << 20):
            h.update(chunk)
            n += len(chunk)
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)
    return h.hexdigest(), n


def _fsync_dir(path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_manifest(directory: Path) -> dict:
    """List every file and folder under ``directory`` (but the markers) in ``.ltfu-manifest.json``.

    Each file is synced to disk as it is hashed, then the manifest and every folder."""
    from ltfu import __version__

    files, dirs = {}, []
    for root, dnames, fnames in os.walk(directory):
        rel_root = Path(root).relative_to(directory)
        dnames.sort()
        for d in dnames:
            dirs.append((rel_root / d).as_posix())
        for f in sorted(fnames):
            rel = (rel_root / f).as_posix()
            if rel in (MANIFEST, PARTIAL):
                continue
            digest, size = _sha256(Path(root) / f, sync=True)
            files[rel] = {"sha256": digest, "bytes": size}
    manifest = {"kind": MANIFEST_KIND, "manifest_version": 1, "ltfu_version": __version__,
                "dirs": sorted(dirs), "files": dict(sorted(files.items()))}
    data = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode("utf-8")
    fd = os.open(directory / MANIFEST, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    for d in dirs:
        _fsync_dir(directory / d)
    _fsync_dir(directory)
    return manifest


def _read_manifest(directory: Path):
    """The manifest ltfu wrote in ``directory``, or None (missing, not a regular file, not ltfu's)."""
    p = directory / MANIFEST
    try:
        st = os.lstat(p)
        if not stat.S_ISREG(st.st_mode) or st.st_size > 16 << 20:
            return None
        m = json.loads(p.read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(m, dict) or m.get("kind") != MANIFEST_KIND or not isinstance(m.get("files"), dict):
        return None

    def safe(rel):
        return isinstance(rel, str) and rel and not rel.startswith("/") and \
            all(part not in ("", ".", "..") for part in rel.split("/"))

    files = m["files"]
    dirs = m.get("dirs", [])
    if not isinstance(dirs, list) or not all(safe(d) for d in dirs):
        return None
    for rel, info in files.items():
        if not safe(rel) or rel in (MANIFEST, PARTIAL) or not isinstance(info, dict) \
                or not isinstance(info.get("sha256"), str):
            return None
    return m


def check_ltfu_dir(directory: Path) -> list[str]:
    """What in ``directory`` ltfu did not write, as short reasons; empty when it is an intact report.

    An intact report: a manifest ltfu wrote, every file one it lists with the same SHA-256, every
    folder one it lists (or holding a listed file), no link or special file.  A listed file that is
    missing is no loss and does not count."""
    m = _read_manifest(directory)
    if m is None:
        foreign = []
        with contextlib.suppress(OSError), os.scandir(directory) as it:
            for e in it:
                foreign.append(e.name)
                if len(foreign) > _SHOW:
                    break
        names = ", ".join(repr(n) for n in sorted(foreign)[:_SHOW]) + (", ..." if len(foreign) > _SHOW else "")
        return [f"holds files ltfu did not write ({names})"]
    files = m["files"]
    allowed_dirs = set(m.get("dirs", []))
    for rel in files:
        parts = rel.split("/")
        allowed_dirs.update("/".join(parts[:k]) for k in range(1, len(parts)))
    problems: list[str] = []

    def walk(d: Path, rel_dir: str):
        with os.scandir(d) as it:
            entries = sorted(it, key=lambda e: e.name)
        for e in entries:
            if len(problems) > _SHOW:
                return
            rel = f"{rel_dir}{e.name}"
            if rel == MANIFEST:
                continue
            if e.is_dir(follow_symlinks=False):
                if rel in allowed_dirs:
                    walk(Path(e.path), rel + "/")
                else:
                    problems.append(f"{rel + '/'!r} is not a folder ltfu wrote")
            elif e.is_file(follow_symlinks=False):
                info = files.get(rel)
                if info is None:
                    problems.append(f"{rel!r} is not a file ltfu wrote")
                elif _sha256(e.path)[0] != info["sha256"]:
                    problems.append(f"{rel!r} was changed after ltfu wrote it")
            else:
                problems.append(f"{rel!r} is a link or special file ltfu did not write")

    try:
        walk(directory, "")
    except OSError as exc:
        problems.append(f"cannot be read ({exc.strerror})")
    return problems[:_SHOW] + (["..."] if len(problems) > _SHOW else [])


def _siblings(target: ReportTarget, prefix: str) -> list[Path]:
    try:
        names = os.listdir(target.parent)
    except OSError:
        return []
    return [target.parent / n for n in sorted(names) if n.startswith(prefix)]


def _is_real_dir(p: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(p).st_mode)
    except OSError:
        return False


def _restorable(target: ReportTarget) -> Path | None:
    """The previous report a run left aside (``.DIR.old-*`` with a manifest) when ``DIR`` is missing."""
    if os.path.lexists(target.path):
        return None
    olds = [p for p in _siblings(target, target.old_prefix)
            if _is_real_dir(p) and os.path.isfile(p / MANIFEST) and not os.path.islink(p / MANIFEST)]
    if not olds:
        return None
    return max(olds, key=lambda p: os.lstat(p).st_ctime_ns)


def check_report_target(target: ReportTarget) -> str:
    """Check what is at ``--out`` now (read only); return "missing", "empty" or "ltfu", else refuse.

    When ``DIR`` is missing but a run died leaving the previous report aside, that report is what
    is checked (the write puts it back first)."""
    path = target.path
    shown_as = ""
    if not os.path.lexists(path):
        old = _restorable(target)
        if old is None:
            return "missing"
        path, shown_as = old, f" (kept aside as {old.name!r} by an interrupted run)"
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        raise _refuse(target.given, "is a symbolic link (ltfu never follows one)",
                      os.path.dirname(target.given.rstrip("/")))
    if not stat.S_ISDIR(st.st_mode):
        raise _refuse(target.given, "is an existing file", os.path.dirname(target.given.rstrip("/")))
    try:
        with os.scandir(path) as it:
            empty = next(iter(it), None) is None
    except OSError as exc:
        raise OutputError(f"cannot read --out {target.given!r}: {exc.strerror}") from exc
    if empty:
        return "empty"
    problems = check_ltfu_dir(path)
    if problems:
        if _read_manifest(path) is None:
            raise _refuse(target.given, f"is a directory that {problems[0]}{shown_as}", target.given)
        raise _refuse(target.given, f"is an ltfu report changed since ltfu wrote it{shown_as}: "
                      + "; ".join(problems), os.path.dirname(target.given.rstrip("/")))
    return "ltfu"


# --------------------------------------------------------------------------------------------------
# removing only what is ltfu's


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


# --------------------------------------------------------------------------------------------------
# the lock


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


# --------------------------------------------------------------------------------------------------
# the transaction


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
                os.unlink(tmp / PARTIAL)
                _fsync_dir(tmp)
                _swap(target, tmp, kind)
                done = True
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


# --------------------------------------------------------------------------------------------------
# single files (demo, simulate)


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
