"""The layout of a study store (one DuckDB file) and its versions.

A store holds every data cut of a study, each added once and never changed:

``ltfu_schema``   one row per schema version applied (version, when, by which ltfu); the store's
                  version is the largest.  Its first row also says the file is an ltfu store.
``cuts``          one row per cut: ``cut_id``, ``cut_date`` (unique), ``label`` (unique, optional),
                  ``added_at`` (UTC), ``ltfu_version``, ``burden_threshold``, ``kind`` (table,
                  workbook or folder), ``source`` (the export's file or folder name) and ``sha256``
                  (of the export: the file's bytes; for a folder, of its tables' names and
                  checksums) and, from version 2, the counts of patients, events, assessments,
                  therapies and validation warnings.
``cut_sources``   per cut and table: the file (or sheet) name and its SHA-256.
``cut_warnings``  per cut: the validation warnings (code, table, field, message; never a row, id or
                  value), so a report of a cut lists what validation said when it was added.
``patients``, ``events``, ``assessments``, ``therapies``: the typed tables of each cut (the columns
                  of ``ltfu.cohort.model`` and ``ltfu.study.model``; days from infusion), keyed by
                  ``cut_id``, with ``seq`` the row's position in the export.  Nothing derived is
                  stored (disease burden is recomputed on reading).

Versions: 1 stored no counts in ``cuts`` (``ltfu study list`` counted rows); 2 stores them.
``ltfu study upgrade`` migrates 1 to 2; every other command refuses an older store and asks for the
upgrade, and every command refuses a newer one (made by a later ltfu).
"""

from __future__ import annotations

import datetime as dt
import os
import time

from ltfu import interrupt
from ltfu.errors import LtfuError

SCHEMA_VERSION = 2
MAGIC = "ltfu study store"
LOCK_TIMEOUT = 30.0          # seconds a command waits for another process holding the store

#: the typed patient table as stored (name, DuckDB type): ltfu.cohort.model's columns, no derived ones
PATIENT_COLUMNS = (
    ("patient_id", "VARCHAR"), ("infusion_date", "DATE"), ("last_contact_day", "DOUBLE"), ("death_day", "DOUBLE"),
    ("response_day", "DOUBLE"), ("relapse_day", "DOUBLE"), ("allo_hct_day", "DOUBLE"), ("data_cutoff_day", "DOUBLE"),
    ("best_response", "VARCHAR"), ("mrd_negative", "VARCHAR"), ("marrow_blasts_pct", "DOUBLE"),
    ("extramedullary", "BOOLEAN"), ("relapse_cd19", "VARCHAR"), ("crs_grade", "INTEGER"), ("crs_scale", "VARCHAR"),
    ("neurotox_grade", "INTEGER"), ("neurotox_scale", "VARCHAR"), ("crs_death", "BOOLEAN"), ("age", "DOUBLE"),
    ("sex", "VARCHAR"), ("ph_positive", "BOOLEAN"), ("prior_allo_hct", "BOOLEAN"), ("prior_blinatumomab", "BOOLEAN"),
    ("prior_inotuzumab", "BOOLEAN"), ("prior_lines", "INTEGER"), ("dose_cells_per_kg", "DOUBLE"),
    ("conditioning", "VARCHAR"), ("centre", "VARCHAR"),
)
EVENT_COLUMNS = (
    ("patient_id", "VARCHAR"), ("term", "VARCHAR"), ("category", "VARCHAR"), ("subtype", "VARCHAR"),
    ("onset_day", "DOUBLE"), ("resolution_day", "DOUBLE"), ("grade", "INTEGER"), ("serious", "BOOLEAN"),
    ("outcome", "VARCHAR"), ("related", "VARCHAR"), ("transgene_test", "VARCHAR"),
)
ASSESSMENT_COLUMNS = (("patient_id", "VARCHAR"), ("day", "DOUBLE"), ("visit", "VARCHAR"), ("test", "VARCHAR"),
                      ("value", "DOUBLE"), ("result", "VARCHAR"))
THERAPY_COLUMNS = (("patient_id", "VARCHAR"), ("type", "VARCHAR"), ("start_day", "DOUBLE"), ("end_day", "DOUBLE"))
TABLE_COLUMNS = {"patients": PATIENT_COLUMNS, "events": EVENT_COLUMNS, "assessments": ASSESSMENT_COLUMNS,
                 "therapies": THERAPY_COLUMNS}
COUNT_COLUMNS = ("n_patients", "n_events", "n_assessments", "n_therapies", "n_warnings")


class StoreError(LtfuError):
    """A store command that cannot be done: ``exit_code`` 2 for a usage problem (a cut already
    stored, a store of another version, a path that is not a store), 1 for a failure (the store
    held by another process, a file-system error).  The message is one line, without data rows."""

    code = "STORE"

    def __init__(self, message: str, exit_code: int = 2, problems=()):
        super().__init__(message)
        self.exit_code = exit_code
        self.problems = tuple(problems)     # a refused cut's validation problems


def _ddl(version: int) -> list[str]:
    counts = "".join(f", {c} INTEGER NOT NULL" for c in COUNT_COLUMNS) if version >= 2 else ""
    out = [
        "CREATE TABLE ltfu_schema (version INTEGER NOT NULL, applied_at TIMESTAMP NOT NULL, "
        "ltfu_version VARCHAR NOT NULL, kind VARCHAR NOT NULL)",
        "CREATE TABLE cuts (cut_id INTEGER PRIMARY KEY, cut_date DATE NOT NULL UNIQUE, label VARCHAR UNIQUE, "
        "added_at TIMESTAMP NOT NULL, ltfu_version VARCHAR NOT NULL, burden_threshold DOUBLE NOT NULL, "
        f"kind VARCHAR NOT NULL, source VARCHAR, sha256 VARCHAR NOT NULL{counts})",
        "CREATE TABLE cut_sources (cut_id INTEGER NOT NULL, table_name VARCHAR NOT NULL, source VARCHAR, "
        "sha256 VARCHAR, PRIMARY KEY (cut_id, table_name))",
        "CREATE TABLE cut_warnings (cut_id INTEGER NOT NULL, table_name VARCHAR, code VARCHAR NOT NULL, "
        "field VARCHAR, message VARCHAR, fix VARCHAR)",
    ]
    for name, cols in TABLE_COLUMNS.items():
        body = ", ".join(f"{c} {t}" for c, t in cols)
        out.append(f"CREATE TABLE {name} (cut_id INTEGER NOT NULL, seq INTEGER NOT NULL, {body})")
    return out


def create(con, *, version: int = SCHEMA_VERSION) -> None:
    """Create the tables of ``version`` (the current one; older ones only for the upgrade's tests)."""
    from ltfu import __version__

    for stmt in _ddl(version):
        con.execute(stmt)
    con.execute("INSERT INTO ltfu_schema VALUES (?, ?, ?, ?)", [version, utc_now(), __version__, MAGIC])


def utc_now() -> dt.datetime:
    """Now in UTC, without time zone (DuckDB's TIMESTAMP), to the second."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


def version_of(con) -> int:
    """The store's schema version; StoreError when the file is a DuckDB database but no ltfu store."""
    try:
        row = con.execute("SELECT max(version), min(kind) FROM ltfu_schema").fetchone()
    except Exception:
        row = None
    if row is None or row[0] is None or row[1] != MAGIC:
        raise StoreError("is a DuckDB database but not an ltfu study store (no ltfu_schema table)")
    return int(row[0])


def check_version(con, name: str, *, upgrading: bool = False) -> int:
    """Refuse a store ltfu cannot use as it is: newer (made by a later ltfu) always, older unless
    ``upgrading``."""
    v = version_of(con)
    if v > SCHEMA_VERSION:
        raise StoreError(f"{name} has store schema version {v}, newer than this ltfu understands "
                         f"({SCHEMA_VERSION}); use a newer ltfu (nothing was changed)")
    if v < SCHEMA_VERSION and not upgrading:
        raise StoreError(f"{name} has store schema version {v}, older than this ltfu's ({SCHEMA_VERSION}); "
                         f"run `ltfu study upgrade {name}` first (nothing was changed)")
    return v


def _migrate_1_to_2(con) -> None:
    for c in COUNT_COLUMNS:
        con.execute(f"ALTER TABLE cuts ADD COLUMN {c} INTEGER")
    for c, table in (("n_patients", "patients"), ("n_events", "events"), ("n_assessments", "assessments"),
                     ("n_therapies", "therapies"), ("n_warnings", "cut_warnings")):
        con.execute(f"UPDATE cuts SET {c} = (SELECT count(*) FROM {table} t WHERE t.cut_id = cuts.cut_id)")


MIGRATIONS = {1: _migrate_1_to_2}


def upgrade(con) -> tuple[int, int]:
    """Migrate the store to SCHEMA_VERSION in one transaction: (version before, version after)."""
    from ltfu import __version__

    before = version_of(con)
    if before > SCHEMA_VERSION:
        check_version(con, "the store")
    if before == SCHEMA_VERSION:
        return before, before
    con.execute("BEGIN TRANSACTION")
    try:
        for v in range(before, SCHEMA_VERSION):
            MIGRATIONS[v](con)
            con.execute("INSERT INTO ltfu_schema VALUES (?, ?, ?, ?)", [v + 1, utc_now(), __version__, MAGIC])
        interrupt.check()               # Ctrl-C pressed, even if its exception was swallowed: no commit
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return before, SCHEMA_VERSION


def _lock_timeout() -> float:
    try:
        return float(os.environ.get("LTFU_STORE_LOCK_TIMEOUT", LOCK_TIMEOUT))
    except ValueError:
        return LOCK_TIMEOUT


def _is_lock_error(exc) -> bool:
    text = str(exc).lower()
    return "lock" in text and ("conflicting" in text or "could not set" in text)


def connect(path, *, read_only: bool = False, timeout: float | None = None):
    """Open the store's DuckDB file.  Another process holding it (DuckDB locks the file) is waited
    for, up to ``timeout`` seconds (LTFU_STORE_LOCK_TIMEOUT, default 30), then StoreError (exit 1)."""
    import duckdb

    wait = _lock_timeout() if timeout is None else timeout
    deadline = time.monotonic() + wait
    delay = 0.05
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as exc:
            if not _is_lock_error(exc):
                raise StoreError(f"{os.path.basename(str(path))} cannot be opened as an ltfu study store "
                                 "(not a DuckDB database, or damaged)", exit_code=2) from None
            if time.monotonic() >= deadline:
                raise StoreError(f"{os.path.basename(str(path))} is in use by another ltfu process (waited "
                                 f"{wait:g} s); try again when it has finished (nothing was changed)",
                                 exit_code=1) from None
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
