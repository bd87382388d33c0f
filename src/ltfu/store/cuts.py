"""Adding, listing and reading the cuts of a study store (``ltfu.store.schema`` has the layout).

A cut is added once and never changed: ``add_cut`` validates the export with the loader and the
validation every other command uses (``ltfu.study.check_study``, the cut date as the data cut-off),
then writes the typed tables, the checksums and the validation warnings in ONE transaction.  An
export with errors is refused with its problem list before the store is even opened for writing;
a process killed midway leaves the store as it was (DuckDB's write-ahead log keeps only committed
transactions); another process holding the store is waited for (``schema.connect``).

Nothing here logs or prints a patient row; messages name cuts, files and counts only.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import re
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from ltfu import interrupt
from ltfu.store import schema
from ltfu.store.schema import StoreError

SUFFIX = ".ltfu"
#: test hook: when set to a file path, add_cut creates that file inside its transaction (all rows
#: inserted, not committed) and then sleeps LTFU_STORE_PAUSE_SECONDS (default 60) before committing,
#: so that a test can kill the process mid-transaction.  Never set in normal use.
PAUSE_ENV = "LTFU_STORE_PAUSE_IN_ADD"


@dataclass(frozen=True)
class CutInfo:
    """One cut as ``ltfu study list`` shows it (no patient rows)."""

    cut_id: int
    cut_date: str                # ISO date
    label: str | None
    added_at: str                # ISO UTC time, seconds
    ltfu_version: str
    kind: str                    # table, workbook or folder
    source: str | None           # the export's file or folder name
    sha256: str
    burden_threshold: float
    n_patients: int
    n_events: int
    n_assessments: int
    n_therapies: int
    n_warnings: int
    n_deaths: int                # deaths on or before the cut date (from the stored table)
    n_relapses: int

    @property
    def name(self) -> str:
        """How commands name the cut: its label, else its date."""
        return self.label or self.cut_date

    def to_dict(self) -> dict:
        from dataclasses import asdict

        return asdict(self)


def _name(path) -> str:
    return os.path.basename(str(path)) or str(path)


def _check_suffix(path) -> Path:
    path = Path(path)
    if path.suffix.lower() != SUFFIX:
        raise StoreError(f"{_name(path)}: a study store's name ends in {SUFFIX} (e.g. trial{SUFFIX}), so that "
                         "`ltfu report` knows it from an export")
    return path


def _existing(path) -> Path:
    path = Path(path)
    if not path.exists():
        raise StoreError(f"{_name(path)}: no such study store (create it with `ltfu study init {_name(path)}`)")
    if not path.is_file():
        raise StoreError(f"{_name(path)}: not a study store (a folder or special file)")
    return path


def _open(path, *, read_only: bool, upgrading: bool = False, timeout=None):
    """A connection to an existing store whose version this ltfu uses."""
    path = _existing(path)
    con = schema.connect(path, read_only=read_only, timeout=timeout)
    try:
        schema.check_version(con, _name(path), upgrading=upgrading)
    except StoreError as exc:
        con.close()
        raise StoreError(f"{_name(path)} {exc.message}" if exc.message.startswith("is a DuckDB") else exc.message,
                         exc.exit_code) from None
    except Exception:
        con.close()
        raise
    return con


# -- init and upgrade -------------------------------------------------------------------------------

def init(path) -> Path:
    """Create an empty store at ``path`` (a new file ending in .ltfu; an existing file is refused).
    The database is built under a temporary name and linked into place, so a store is never half
    made and an existing file is never replaced."""
    import duckdb

    path = _check_suffix(path)
    if path.exists() or path.is_symlink():
        raise StoreError(f"{_name(path)} already exists; ltfu never replaces a file (choose another name)")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise StoreError(f"{_name(path)}: the folder {parent} does not exist")
    tmp = parent / f".{path.name}.{os.getpid()}.tmp"
    try:
        con = duckdb.connect(str(tmp))
        try:
            con.execute("BEGIN TRANSACTION")
            schema.create(con)
            interrupt.check()
            con.execute("COMMIT")
            con.execute("CHECKPOINT")
        finally:
            con.close()
        try:
            interrupt.check()
            os.link(tmp, path)          # fails if path appeared meanwhile: never replaced
            interrupt.committed(path)
        except FileExistsError:
            raise StoreError(f"{_name(path)} already exists; ltfu never replaces a file") from None
    finally:
        for p in (tmp, Path(str(tmp) + ".wal")):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
    return path


def upgrade(path) -> tuple[int, int]:
    """Migrate the store to this ltfu's schema version, in one transaction: (before, after)."""
    con = _open(path, read_only=False, upgrading=True)
    try:
        return schema.upgrade(con)
    finally:
        con.close()


def version(path) -> int:
    """The schema version of the store at ``path`` (any version; nothing is checked or changed)."""
    con = schema.connect(_existing(path), read_only=True)
    try:
        return schema.version_of(con)
    finally:
        con.close()


# -- adding a cut ------------------------------------------------------------------------------------

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _cut_date(cut_date) -> dt.date:
    if isinstance(cut_date, dt.datetime):
        return cut_date.date()
    if isinstance(cut_date, dt.date):
        return cut_date
    try:
        return dt.date.fromisoformat(str(cut_date))
    except ValueError:
        raise StoreError(f"the cut date must be an ISO date (YYYY-MM-DD), got {str(cut_date)[:40]!r}") from None


def _check_label(label):
    if label is None:
        return None
    label = str(label)
    if not label.strip() or len(label) > 100 or not label.isprintable():
        raise StoreError("--label: give a short printable name (1 to 100 characters)")
    if _DATE.match(label) or label.isdigit():
        raise StoreError(f"--label {label!r} looks like a cut date or number; commands name cuts by date or label, "
                         "so choose a label that is neither")
    return label


def _sha256_of(export: Path, files) -> str:
    """The export's SHA-256: the file's bytes, or for a folder the names and checksums of its tables."""
    if export.is_dir():
        h = hashlib.sha256()
        for name, table in sorted(files.tables.items()):
            h.update(f"{name}\t{_name(table.source)}\t{table.sha256}\n".encode())
        return h.hexdigest()
    h = hashlib.sha256()
    with open(export, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _refuse_duplicate(con, date: dt.date, label, name: str):
    row = con.execute("SELECT cut_id, label FROM cuts WHERE cut_date = ?", [date]).fetchone()
    if row is not None:
        raise StoreError(f"{name} already holds a cut dated {date.isoformat()}"
                         f"{f' ({row[1]})' if row[1] else ''}; a cut is never replaced (nothing was stored)")
    if label is not None:
        row = con.execute("SELECT cut_date FROM cuts WHERE label = ?", [label]).fetchone()
        if row is not None:
            raise StoreError(f"{name} already holds a cut labelled {label!r} (dated {row[0].isoformat()}); "
                             "nothing was stored")


def validate_export(export, cut_date, *, sheet=None, burden_threshold=None, today=None):
    """(problems, Study or None, StudyFiles) of ``export`` validated as of ``cut_date``: the loader and
    validation of ``ltfu validate``/``ltfu report`` (every table of a study), the cut date as the cut-off."""
    from ltfu.cohort.schema import is_model_column
    from ltfu.defaults import BURDEN_THRESHOLD
    from ltfu.study import check_study, find_tables

    files = find_tables(Path(export), sheet=sheet, columns=is_model_column)
    problems, study = check_study(files, cutoff=_cut_date(cut_date),
                                  burden_threshold=BURDEN_THRESHOLD if burden_threshold is None else burden_threshold,
                                  today=today)
    return problems, study, files


def _frame(df: pd.DataFrame, columns) -> pd.DataFrame:
    """The stored columns of a typed table (absent ones NULL), with ``seq`` the export's row order."""
    out = pd.DataFrame({"seq": np.arange(len(df), dtype=np.int64)})
    for name, typ in columns:
        if name in df.columns:
            out[name] = df[name].to_numpy() if typ != "DATE" else pd.to_datetime(df[name]).to_numpy()
        else:
            out[name] = pd.Series([None] * len(df), dtype=object)
    return out


def _insert(con, table: str, df: pd.DataFrame, cut_id: int):
    cols = schema.TABLE_COLUMNS[table]
    frame = _frame(df, cols)
    con.register("_ltfu_rows", frame)
    try:
        select = ", ".join(f"CAST({c} AS {t})" for c, t in cols)
        con.execute(f"INSERT INTO {table} SELECT {int(cut_id)}, seq, {select} FROM _ltfu_rows")
    finally:
        con.unregister("_ltfu_rows")


def _pause_for_tests():
    marker = os.environ.get(PAUSE_ENV)
    if marker:
        Path(marker).write_text(str(os.getpid()))
        time.sleep(float(os.environ.get("LTFU_STORE_PAUSE_SECONDS", "60")))


def add_cut(path, export, cut_date, label=None, *, sheet=None, burden_threshold=None, today=None,
            timeout=None) -> CutInfo:
    """Validate ``export`` (a patient table, workbook or folder) as of ``cut_date`` and store it as a
    new cut of the store at ``path``.  Refused (StoreError, nothing stored) when validation finds
    errors (``StoreError.problems`` lists every problem), or when the store already holds a cut of
    that date or label.  Returns the new cut's CutInfo."""
    from ltfu import __version__

    path = _existing(path)
    name = _name(path)
    date = _cut_date(cut_date)
    label = _check_label(label)
    export = Path(export)
    if not export.exists():
        raise StoreError(f"{_name(export)}: no such file or folder")
    con = _open(path, read_only=True, timeout=timeout)      # refuse a duplicate before the long validation
    try:
        _refuse_duplicate(con, date, label, name)
    finally:
        con.close()
    problems, study, files = validate_export(export, date, sheet=sheet, burden_threshold=burden_threshold,
                                             today=today)
    if study is None:
        n = sum(p.severity == "error" for p in problems)
        raise StoreError(f"{_name(export)}: {n} error(s) in the export; the cut was refused and nothing was stored",
                         exit_code=1, problems=problems)
    digest = _sha256_of(export, files)
    counts = (study.cohort.n, len(study.events), len(study.assessments), len(study.therapies), len(study.warnings))
    con = _open(path, read_only=False, timeout=timeout)
    try:
        con.execute("BEGIN TRANSACTION")
        try:
            _refuse_duplicate(con, date, label, name)     # again, under the write lock
            cut_id = int(con.execute("SELECT coalesce(max(cut_id), 0) + 1 FROM cuts").fetchone()[0])
            added = schema.utc_now()
            con.execute(f"INSERT INTO cuts (cut_id, cut_date, label, added_at, ltfu_version, burden_threshold, kind, "
                        f"source, sha256, {', '.join(schema.COUNT_COLUMNS)}) VALUES ({', '.join(['?'] * 14)})",
                        [cut_id, date, label, added, __version__, float(study.cohort.burden_threshold), files.kind,
                         _name(export), digest, *counts])
            for table, (source, sha) in study.sources.items():
                con.execute("INSERT INTO cut_sources VALUES (?, ?, ?, ?)", [cut_id, table, _name(source), sha])
            for w in study.warnings:      # code, table, field and message only: no row, id or value
                con.execute("INSERT INTO cut_warnings VALUES (?, ?, ?, ?, ?, ?)",
                            [cut_id, w.table, w.code, w.field, w.message, w.fix])
            _insert(con, "patients", study.cohort.data, cut_id)
            _insert(con, "events", study.events, cut_id)
            _insert(con, "assessments", study.assessments, cut_id)
            _insert(con, "therapies", study.therapies, cut_id)
            _pause_for_tests()
            interrupt.check()           # Ctrl-C pressed, even if its exception was swallowed: no commit
            con.execute("COMMIT")
            interrupt.committed(path)
        except BaseException:
            with contextlib.suppress(Exception):     # the transaction may already be gone
                con.execute("ROLLBACK")
            raise
        return _infos(con, cut_id)[0]
    finally:
        con.close()


# -- listing and reading ----------------------------------------------------------------------------

_INFO_SQL = """
SELECT c.cut_id, c.cut_date, c.label, c.added_at, c.ltfu_version, c.kind, c.source, c.sha256, c.burden_threshold,
       c.n_patients, c.n_events, c.n_assessments, c.n_therapies, c.n_warnings,
       (SELECT count(*) FROM patients p WHERE p.cut_id = c.cut_id AND p.death_day IS NOT NULL
            AND (p.data_cutoff_day IS NULL OR p.death_day <= p.data_cutoff_day)),
       (SELECT count(*) FROM patients p WHERE p.cut_id = c.cut_id AND p.relapse_day IS NOT NULL
            AND (p.data_cutoff_day IS NULL OR p.relapse_day <= p.data_cutoff_day))
FROM cuts c {where} ORDER BY c.cut_date
"""


def _infos(con, cut_id=None) -> list[CutInfo]:
    where, args = ("WHERE c.cut_id = ?", [cut_id]) if cut_id is not None else ("", [])
    rows = con.execute(_INFO_SQL.format(where=where), args).fetchall()
    return [CutInfo(int(r[0]), r[1].isoformat(), r[2], r[3].isoformat(sep=" ") + "Z", r[4], r[5], r[6], r[7],
                    float(r[8]), *(int(x) for x in r[9:])) for r in rows]


def list_cuts(path, *, timeout=None) -> list[CutInfo]:
    """Every cut of the store, oldest cut date first."""
    con = _open(path, read_only=True, timeout=timeout)
    try:
        return _infos(con)
    finally:
        con.close()


def resolve(cuts: list[CutInfo], key) -> CutInfo:
    """The cut named ``key``: its label, its ISO date, or its number; StoreError naming the cuts."""
    key = str(key)
    for c in cuts:
        if c.label == key:
            return c
    for c in cuts:
        if c.cut_date == key:
            return c
    if key.isdigit():
        for c in cuts:
            if c.cut_id == int(key):
                return c
    known = ", ".join(c.name for c in cuts) or "none"
    raise StoreError(f"no cut {key[:40]!r} in the store (cuts: {known})")


def _typed(df: pd.DataFrame, columns) -> pd.DataFrame:
    """DuckDB's result in the dtypes of the loader's tables (boolean, Int64, None for missing text)."""
    out = {}
    for name, typ in columns:
        s = df[name]
        if typ == "BOOLEAN":
            out[name] = s.astype("boolean")
        elif typ == "INTEGER":
            out[name] = s.astype("Int64")
        elif typ == "DOUBLE":
            out[name] = s.astype(float)
        elif typ == "DATE":
            out[name] = pd.to_datetime(s).astype("datetime64[s]")
        else:
            v = s.astype(object)
            out[name] = v.where(v.notna(), None)
    return pd.DataFrame(out)


def _read(con, table: str, cut_id: int) -> pd.DataFrame:
    cols = schema.TABLE_COLUMNS[table]
    df = con.execute(f"SELECT {', '.join(c for c, _ in cols)} FROM {table} WHERE cut_id = ? ORDER BY seq",
                     [cut_id]).df()
    return _typed(df, cols)


def _warnings(con, cut_id: int) -> tuple:
    from ltfu.cohort.problems import Problem

    rows = con.execute("SELECT table_name, code, field, message, fix FROM cut_warnings WHERE cut_id = ?",
                       [cut_id]).fetchall()
    return tuple(Problem(code, "warning", None, None, field, None, message or "", fix or "", table)
                 for table, code, field, message, fix in rows)


def _study(con, info: CutInfo, store_name: str, tables=("events", "assessments", "therapies"),
           burden_threshold=None):
    from ltfu.cohort.model import Cohort
    from ltfu.cohort.validate import _burden
    from ltfu.demo import marked
    from ltfu.study.model import Study

    if burden_threshold is not None:
        info = replace(info, burden_threshold=float(burden_threshold))
    patients = _read(con, "patients", info.cut_id)
    _burden(patients, info.burden_threshold)            # derived on reading, never stored
    sources = {t: (s, sha) for t, s, sha in con.execute(
        "SELECT table_name, source, sha256 FROM cut_sources WHERE cut_id = ?", [info.cut_id]).fetchall()}
    warnings = _warnings(con, info.cut_id)
    sha = sources.get("patients", (None, None))[1]
    cohort = Cohort(patients, f"{store_name} cut {info.cut_date}", sha, info.burden_threshold, info.cut_date,
                    False, tuple(w for w in warnings if w.table is None))
    others = {t: _read(con, t, info.cut_id) for t in ("events", "assessments", "therapies") if t in tables}
    return Study(marked(cohort), sources=sources, warnings=warnings, **others)


def load_cut(path, cut=None, *, timeout=None):
    """The Study of one cut (default the latest), as ``ltfu.study.load_study`` returns one."""
    return load_cuts(path, [cut], timeout=timeout)[0][1]


def load_cuts(path, keys=None, *, tables=("events", "assessments", "therapies"), burden_threshold=None,
              timeout=None) -> list:
    """[(CutInfo, Study)] for the cuts named in ``keys`` (None in it: the latest; ``keys`` None: every
    cut, oldest first), read in one read-only connection.  ``tables``: which of the study's other
    tables to read besides the patients (the others are empty; the maturity section needs only
    ``("events",)``).  ``burden_threshold``: derive disease burden with this threshold instead of the
    one each cut was validated with."""
    con = _open(path, read_only=True, timeout=timeout)
    try:
        cuts = _infos(con)
        if not cuts:
            raise StoreError(f"{_name(path)} holds no cut yet (add one with `ltfu study add`)")
        chosen = cuts if keys is None else [cuts[-1] if k is None else resolve(cuts, k) for k in keys]
        return [(c, _study(con, c, _name(path), tables, burden_threshold)) for c in chosen]
    finally:
        con.close()
