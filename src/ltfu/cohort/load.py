"""Reading a patient table from CSV/TSV, Excel, Parquet, SAS7BDAT or XPT, exactly as it is.

Nothing is coerced here (validation does that, listing every problem): text stays text, and each
record keeps the row number a user sees in the file.  Input files are opened read-only and never
modified.  A file that cannot be read at all raises ``LoadError``; everything else that is odd
about a readable file becomes a ``Problem`` in ``RawTable.problems``.

Row numbers: CSV/TSV the physical line where the record starts (line 1 is the first line of the
file, comment lines included); Excel the sheet's row number; Parquet and SAS the record number
counted from 1.
"""

from __future__ import annotations

import csv
import hashlib
import io
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ltfu.cohort.problems import Problem
from ltfu.errors import LoadError

MAX_CELL = 10_000          # characters; a longer cell is a problem (CELL_TOO_LONG)
FORMATS = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".tab": "csv", ".xlsx": "xlsx", ".xlsm": "xlsx",
           ".parquet": "parquet", ".pq": "parquet", ".sas7bdat": "sas7bdat", ".xpt": "xpt"}


@dataclass(frozen=True)
class RawTable:
    data: pd.DataFrame
    row_numbers: tuple
    source: str
    sha256: str
    format: str
    problems: tuple = field(default_factory=tuple)


def _problem(code, message, fix, *, severity="error", row=None, field=None, value=None):
    return Problem(code, severity, row, None, field, value, message, fix)


def load(path, *, sheet: str | None = None) -> RawTable:
    """Read a patient table; never modifies the file. Raises LoadError if it cannot be read."""
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
    if not blob.strip():
        raise LoadError(f"{path.name}: the file is empty")
    digest = hashlib.sha256(blob).hexdigest()
    reader = {"csv": _read_csv, "xlsx": _read_xlsx, "parquet": _read_parquet,
              "sas7bdat": _read_sas, "xpt": _read_sas}[fmt]
    try:
        df, rows, problems = reader(blob, path, sheet)
    except LoadError:
        raise
    except Exception as exc:  # a corrupt binary file: say so, without a traceback
        raise LoadError(f"{path.name}: cannot be read as {fmt} ({type(exc).__name__}: "
                        f"{str(exc)[:200]})") from None
    df, dup_problems = _unique_columns(df)
    problems = [*problems, *dup_problems, *_long_cells(df, rows)]
    return RawTable(df, tuple(rows), str(path), digest, fmt, tuple(problems))


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
    df = df.copy()
    df.columns = names
    return df, problems


def _long_cells(df, rows):
    problems = []
    for col in df.columns:
        s = df[col]
        if s.dtype != object:
            continue
        lengths = s.map(lambda v: len(v) if isinstance(v, str) else 0)
        for i in lengths.index[lengths > MAX_CELL]:
            problems.append(_problem("CELL_TOO_LONG", f"a cell of {lengths[i]:,} characters",
                                     f"cells are limited to {MAX_CELL:,} characters; check the export",
                                     row=rows[i], field=col))
            df.iat[i, df.columns.get_loc(col)] = s[i][:60] + "..."
    return problems


# ----------------------------------------------------------------------------------------------
# CSV / TSV

def _decode(blob, name):
    problems = []
    if b"\x00" in blob:
        raise LoadError(f"{name}: contains NUL bytes: it is binary or corrupted, not a text table "
                        "(re-export it as CSV)")
    try:
        text = blob.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = blob.decode("latin-1")
        problems.append(_problem("LATIN1", "the file is not UTF-8; it was read as Latin-1 (ISO-8859-1)",
                                 "check accented text, or save the file as UTF-8", severity="warning"))
    return text, problems


def _sniff(sample: str) -> str:
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        first = sample.splitlines()[0] if sample else ""
        counts = {d: first.count(d) for d in ",;\t|"}
        best = max(counts, key=counts.get)
        return best if counts[best] else ","


def _read_csv(blob, path, sheet):
    text, problems = _decode(blob, path.name)
    lines = text.splitlines(keepends=True)
    skip = 0
    while skip < len(lines) and (lines[skip].lstrip().startswith("#") or not lines[skip].strip()):
        skip += 1
    body = "".join(lines[skip:])
    if not body.strip():
        raise LoadError(f"{path.name}: no header row (only comments or blank lines)")
    delim = "\t" if path.suffix.lower() in (".tsv", ".tab") else _sniff("".join(lines[skip:skip + 20]))
    csv.field_size_limit(sys.maxsize)
    reader = csv.reader(io.StringIO(body, newline=""), delimiter=delim, strict=True)
    header, records, rows = None, [], []
    last_line = 0
    while True:
        start = skip + last_line + 1
        try:
            rec = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            # an unterminated quote would otherwise swallow every following row into one cell
            problems.append(_problem("UNCLOSED_QUOTE", f"a quoted field is never closed ({exc}); the rows from "
                                     "here on cannot be read reliably", "close the quote or remove it",
                                     row=start))
            break
        last_line = reader.line_num
        if header is None:
            header = [h.strip() for h in rec]
            continue
        if not any(c.strip() for c in rec):
            continue
        if [c.strip() for c in rec] == header:
            problems.append(_problem("REPEATED_HEADER", "the header row is repeated here; the row was skipped",
                                     "remove the repeated header rows", severity="warning", row=start))
            continue
        if len(rec) != len(header):
            # its values cannot be matched to columns: reported, and left out of further checks
            problems.append(_problem("ROW_LENGTH", f"{len(rec)} fields where the header has {len(header)}; the "
                                     "row was not read further", "check for a missing or extra delimiter or a "
                                     "truncated file", row=start, value=f"{len(rec)} fields"))
            continue
        records.append(rec)
        rows.append(start)
    if header is None:
        raise LoadError(f"{path.name}: no header row")
    df = pd.DataFrame(records, columns=header, dtype=object) if records else pd.DataFrame(columns=header, dtype=object)
    return df, rows, problems


# ----------------------------------------------------------------------------------------------
# Excel

def _read_xlsx(blob, path, sheet):
    import warnings

    import openpyxl

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wb = openpyxl.load_workbook(io.BytesIO(blob), data_only=False, read_only=False)
    if sheet is None:
        ws = wb.worksheets[0]
    elif sheet in wb.sheetnames:
        ws = wb[sheet]
    else:
        raise LoadError(f"{path.name}: no sheet {sheet!r}; sheets are {', '.join(map(repr, wb.sheetnames))}")
    problems = []
    for rng in ws.merged_cells.ranges:
        problems.append(_problem("MERGED_CELLS", f"merged cells {rng.coord}: every cell but the first is empty",
                                 "unmerge the cells and fill in each row's value", row=rng.min_row))
    header, records, rows = None, [], []
    for row in ws.iter_rows():
        values = []
        for cell in row:
            v = cell.value
            if cell.data_type == "f" or (isinstance(v, str) and v.startswith("=") and cell.data_type == "f"):
                problems.append(_problem("FORMULA", "a formula, not a value", "paste the values (Paste Special > "
                                         "Values) instead of formulas", row=cell.row,
                                         field=None if header is None or cell.column > len(header)
                                         else header[cell.column - 1], value=str(v)[:60]))
                v = None
            values.append(v)
        if header is None:
            if any(v not in (None, "") for v in values):
                header = [("" if v is None else str(v)).strip() for v in values]
                while header and header[-1] == "":
                    header.pop()
            continue
        values = values[:len(header)] + [None] * (len(header) - len(values))
        if all(v in (None, "") for v in values):
            continue
        if [("" if v is None else str(v)).strip() for v in values] == header:
            problems.append(_problem("REPEATED_HEADER", "the header row is repeated here; the row was skipped",
                                     "remove the repeated header rows", severity="warning", row=row[0].row))
            continue
        records.append(values)
        rows.append(row[0].row)
    if header is None:
        raise LoadError(f"{path.name}: sheet {ws.title!r} is empty")
    return pd.DataFrame(records, columns=header, dtype=object), rows, problems


# ----------------------------------------------------------------------------------------------
# Parquet, SAS

def _read_parquet(blob, path, sheet):
    import pyarrow.parquet as pq

    df = pq.read_table(io.BytesIO(blob)).to_pandas()
    return df, list(range(1, len(df) + 1)), []


def _read_sas(blob, path, sheet):
    import pyreadstat

    reader = pyreadstat.read_sas7bdat if path.suffix.lower() == ".sas7bdat" else pyreadstat.read_xport
    df, _meta = reader(str(path))
    return df, list(range(1, len(df) + 1)), []
