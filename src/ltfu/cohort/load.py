"""Reading a patient table from CSV/TSV, Excel, Parquet, SAS7BDAT or XPT, exactly as it is.

Nothing is coerced here (validation does that, listing every problem): text stays text, and each
record keeps the row number a user sees in the file.  Input files are opened read-only and never
modified.  A file that cannot be read at all raises ``LoadError``; everything else that is odd
about a readable file becomes a ``Problem`` in ``RawTable.problems``.

Row numbers: CSV/TSV the physical line where the record starts (line 1 is the first line of the
file, comment lines included); Excel the sheet's row number; Parquet and SAS the record number
counted from 1.

Large files: CSV is first read by pyarrow's multi-threaded reader, every column as text.  That
path is taken only when it provably gives the same table and problems as the careful line-by-line
reader (UTF-8, one record per physical line, no blank or repeated-header rows; short or long rows
are numbered by a second, single-threaded read and reported as the careful reader does); anything
else falls back to the careful reader.  ``columns`` projects: only the
file columns it selects are read (CSV and Parquet skip the others entirely), while the header is
kept whole so that column-level checks still see every name.

Limits (``Limits``; a file beyond one raises ``LoadError`` naming the limit, checked before the
data are read wherever the file declares its size): at most 16,384 columns (Excel's own maximum)
in any format; an XLSX sheet of at most 500,000 cells (every worksheet's cells and rows counted in its XML bytes before
openpyxl opens the workbook, since a declared dimension may be absent or wrong; the declared
dimension checked too; then the cells counted again as openpyxl's read-only mode streams the rows),
at most as many shared strings, and at most 512 MiB of XML once unzipped; Parquet and SAS files at
most 50,000,000 cells (rows x columns from their metadata) and, for Parquet, 512 MiB of column
data once decompressed; a CSV as many cells, counted once parsed (it declares no size).  A cell
of more than 10,000 characters is a CELL_TOO_LONG problem (a CSV cell of more than 16 MiB is not
even read: its row is left out and reported).

Dates: each table records what a number in a date column counts from (``RawTable.epoch`` and
``RawTable.epochs``, see ``ltfu.cohort.dates``): the workbook's date system for XLSX, 1960-01-01
for SAS variables with a date or datetime format, nothing (numbers refused) for CSV and Parquet.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from ltfu.cohort.raw import (
    FORMATS,
    LIMITS,
    MAX_CELL,
    MAX_PARSED_CELL,
    Limits,
    RawTable,
    _Context,
    _problem,
    _string_dtype,
    _too_many_columns,
)
from ltfu.cohort.read_csv import (
    SNIFF_CHARS,
    _malformed_quoting,
    _read_csv,
    _read_csv_careful,
    _read_csv_fast,
    _sniff_sample,
)
from ltfu.cohort.read_excel import _CELL_TAG, _MERGE_REF, _ROW_NUMBER, _read_xlsx, _scan_xml
from ltfu.cohort.read_other import _read_parquet, _read_sas, sas_epoch
from ltfu.errors import LoadError

__all__ = [
    "FORMATS",
    "LIMITS",
    "MAX_CELL",
    "MAX_PARSED_CELL",
    "SNIFF_CHARS",
    "_CELL_TAG",
    "_MERGE_REF",
    "_ROW_NUMBER",
    "Limits",
    "RawTable",
    "_malformed_quoting",
    "_problem",
    "_read_csv_careful",
    "_read_csv_fast",
    "_scan_xml",
    "_sniff_sample",
    "_string_dtype",
    "_too_many_columns",
    "load",
    "sas_epoch",
]


def load(path, *, sheet: str | None = None, columns=None, limits: Limits | None = None) -> RawTable:
    """Read a patient table; never modifies the file. Raises LoadError if it cannot be read.

    ``columns``: None reads every column; otherwise a predicate on a (stripped) column name, or a
    collection of names, choosing the columns to read.  ``limits``: the size limits (``LIMITS``).
    """
    path = Path(path)
    if not path.exists():
        raise LoadError(f"{path}: no such file")
    if path.is_dir():
        raise LoadError(f"{path}: is a directory, not a patient table")
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise LoadError(f"{path.name}: unknown file type {path.suffix or '(none)'}; use .csv, .tsv, .xlsx, "
                        ".parquet, .sas7bdat or .xpt")
    try:
        blob = path.read_bytes()
    except OSError as exc:
        raise LoadError(f"{path}: cannot be read ({exc.strerror})") from None
    if not blob or blob.isspace():
        raise LoadError(f"{path.name}: the file is empty")
    digest = hashlib.sha256(blob).hexdigest()
    keep = _selector(columns)
    reader = {"csv": _read_csv, "xlsx": _read_xlsx, "parquet": _read_parquet,
              "sas7bdat": _read_sas, "xpt": _read_sas}[fmt]
    context = _Context(limits or LIMITS)
    try:
        df, rows, problems, header = reader(blob, path, sheet, keep, context)
    except LoadError:
        raise
    except Exception as exc:  # a corrupt binary file: say so, without a traceback
        raise LoadError(f"{path.name}: cannot be read as {fmt} ({type(exc).__name__}: "
                        f"{str(exc)[:200]})") from None
    if keep is not None:                # readers that could not project: drop the columns now
        df = df.iloc[:, [i for i, c in enumerate(df.columns) if keep(str(c).strip())]]
    original_names = list(df.columns)
    df, dup_problems = _unique_columns(df)
    rows = np.asarray(rows, dtype=np.int64)
    problems = [*problems, *dup_problems, *_long_cells(df, rows)]
    renamed: dict[str, str] = {}
    for o, n in zip(original_names, df.columns):
        renamed.setdefault(str(o).strip(), n)
    epochs = {renamed[c]: e for c, e in context.epochs.items() if c in renamed}
    return RawTable(df, rows, str(path), digest, fmt, tuple(problems), tuple(str(h).strip() for h in header),
                    context.epoch, epochs)


def _selector(columns):
    if columns is None or callable(columns):
        return columns
    wanted = {str(c) for c in columns}
    return lambda name: name in wanted


def _unique_columns(df):
    """Exactly repeated column names get a suffix so both are kept; each repeat is a problem."""
    seen, names, problems = {}, [], []
    for c in df.columns:
        name = str(c).strip()
        if name in seen:
            seen[name] += 1
            problems.append(_problem("DUPLICATE_COLUMN", f"column {name!r} appears more than once",
                                     "keep one column of that name", field=name))
            name = f"{name}.{seen[name]}"
        else:
            seen[name] = 0
        names.append(name)
    df = df.copy(deep=False)            # the data are shared, only the names change
    df.columns = names
    return df, problems


def _longest_text(s) -> int | None:
    """An upper bound on the length in characters of a pyarrow-backed text column's cells (0 when
    empty or all missing), or None when the column is not backed by pyarrow: the size of its
    character data when that is small, else the longest cell, counted by Arrow."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        column = pa.chunked_array(s.array._pa_array)
    except (AttributeError, TypeError, pa.ArrowException):
        return None
    total = 0
    for chunk in column.chunks:
        buffers = chunk.buffers()
        total += 0 if len(buffers) < 3 or buffers[2] is None else buffers[2].size
    if total <= MAX_CELL:
        return total
    longest = pc.max(pc.utf8_length(column)).as_py()
    return 0 if longest is None else int(longest)


def _long_cells(df, rows):
    problems = []
    for col in df.columns:
        s = df[col]
        if isinstance(s.dtype, pd.StringDtype):
            size = _longest_text(s)
            if size is not None and size <= MAX_CELL:      # no cell is longer: skip the per-cell count
                continue
            lengths = s.str.len().fillna(0).astype(np.int64)
        elif s.dtype == object:
            lengths = s.map(lambda v: len(v) if isinstance(v, str) else 0)
        else:
            continue
        for i in lengths.index[lengths.to_numpy() > MAX_CELL]:
            problems.append(_problem("CELL_TOO_LONG", f"a cell of {lengths[i]:,} characters",
                                     f"cells are limited to {MAX_CELL:,} characters; check the export",
                                     row=int(rows[i]), field=col))
            df.iat[i, df.columns.get_loc(col)] = s[i][:60] + "..."
    return problems


