"""The manifest of an ltfu report directory: every file ltfu wrote, with its SHA-256."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
from pathlib import Path

from ltfu.errors import OutputError
from ltfu.outputs.target import _SHOW, MANIFEST, MANIFEST_KIND, PARTIAL, ReportTarget, _refuse


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
