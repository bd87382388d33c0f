"""What every reader of a table shares: the RawTable it returns, the size limits, the problems of
reading.  (``ltfu.cohort.load`` reads; the formats' readers are ``read_csv``, ``read_excel`` and
``read_other``.)"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ltfu.cohort.dates import Epoch
from ltfu.cohort.problems import Problem
from ltfu.errors import LoadError

MAX_CELL = 10_000          # characters; a longer cell is a problem (CELL_TOO_LONG)
MAX_PARSED_CELL = 1 << 24  # characters; the careful CSV reader does not even hold a longer field


@dataclass(frozen=True)
class Limits:
    """What ltfu agrees to read (module docstring); tests lower them to exercise every check fast."""

    max_columns: int = 16_384          # Excel's own maximum
    max_xlsx_cells: int = 500_000
    max_unpacked_bytes: int = 512 * 2 ** 20
    max_cells: int = 50_000_000


LIMITS = Limits()
# what to do with a table beyond max_cells (said with the refusal)
TOO_MANY_CELLS = ("ltfu holds this table in memory only up to that size. A Parquet patient table of any size (given "
                  "as a file, not in a study folder) is checked in row batches by `ltfu validate FILE.parquet`, "
                  "reported from counts by `ltfu report FILE.parquet` (DuckDB; README: 'Registry-sized files'), "
                  "and written typed with the report's endpoints by `ltfu prepare FILE.parquet --out "
                  "prepared.parquet` for the engine functions of ltfu.stats.engines (kaplan_meier_from, "
                  "logrank_from, cumulative_incidence_from, gray_test_from, cox_from); or report a subset (a "
                  "period, some centres)")
TOO_MANY_CELLS_CSV = ("Write it as Parquet (for example with DuckDB: COPY (SELECT * FROM read_csv('file.csv', "
                      "all_varchar=true)) TO 'file.parquet'). " + TOO_MANY_CELLS)
FORMATS = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".tab": "csv", ".xlsx": "xlsx", ".xlsm": "xlsx",
           ".parquet": "parquet", ".pq": "parquet", ".sas7bdat": "sas7bdat", ".xpt": "xpt"}


@dataclass(frozen=True, eq=False)
class RawTable:
    data: pd.DataFrame
    row_numbers: np.ndarray            # row i of ``data`` is this row (or line) of the file
    source: str
    sha256: str
    format: str
    problems: tuple = field(default_factory=tuple)
    header: tuple = ()                 # every column of the file, also those not read (projection)
    epoch: Epoch | None = None         # what a number in a date column counts from (None: refused)
    epochs: dict = field(default_factory=dict)   # per column, overriding ``epoch`` (SAS formats)

    def epoch_of(self, column) -> Epoch | None:
        return self.epochs.get(column, self.epoch)


def _problem(code, message, fix, *, severity="error", row=None, field=None, value=None):
    return Problem(code, severity, row, None, field, value, message, fix)


@dataclass
class _Context:
    """What a reader needs besides the bytes (limits) and tells besides the table (epochs)."""

    limits: Limits
    epoch: Epoch | None = None
    epochs: dict = field(default_factory=dict)     # file column name -> Epoch


def _too_many_columns(name, n, limits):
    if n > limits.max_columns:
        raise LoadError(f"{name}: {n:,} columns, more than the {limits.max_columns:,} ltfu reads (limit "
                        "max_columns); a patient table has one column per field: check the delimiter or keep "
                        "only the columns you need")


def _string_dtype(arrow_type):
    import pyarrow as pa

    if arrow_type in (pa.string(), pa.large_string()):
        return pd.StringDtype("pyarrow")
    return None


def arrow_to_pandas(table):
    """An Arrow table as pandas, text as Arrow strings.  A time-zone-aware timestamp becomes its
    local wall time at once (what date parsing takes from it, ``tz_localize(None)``), because pandas
    crashed the interpreter (SIGSEGV, pandas 2.3) listing a zoned timestamp of year 1.  Done in
    pandas after the conversion, so a zone recorded in the file's pandas metadata is the one used
    (done in Arrow before it, pandas put the zone back on the wall time: a day early)."""
    df = table.to_pandas(types_mapper=_string_dtype)
    for i in range(df.shape[1]):
        column = df.iloc[:, i]
        if isinstance(column.dtype, pd.DatetimeTZDtype):
            df.isetitem(i, column.dt.tz_localize(None))
    return df


def release_read_buffers() -> None:
    """Give back the memory Arrow kept from the tables just read, once they are gone.

    The readers hold text columns as Arrow strings; when the raw tables are freed, pyarrow's
    allocator keeps the pages for later Arrow allocations, which the analysis does not make:
    measured 210 MB of a 1e6-patient registry's load still resident through the whole report.
    (The command line makes jemalloc that allocator: ``ltfu.machine.choose_arrow_allocator``.)
    Called by the loaders after validation; harmless when nothing is cached or pyarrow was never
    imported."""
    import sys

    pa = sys.modules.get("pyarrow")
    if pa is not None:
        pa.default_memory_pool().release_unused()
