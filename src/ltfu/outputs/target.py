"""Where a report may be written: the target, and every refusal with its reason."""

from __future__ import annotations

import contextlib
import os
import shlex
from dataclasses import dataclass
from pathlib import Path

from ltfu.errors import OutputError

MANIFEST = ".ltfu-manifest.json"
PARTIAL = ".ltfu-partial"
MANIFEST_KIND = "ltfu report"
_SHOW = 3                    # offending names listed in a refusal


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
