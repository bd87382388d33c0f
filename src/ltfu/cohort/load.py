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
data are read wherever the file declares its size): at most 16,384 columns (Excel's own maximum) in any format; an XLSX
sheet of at most 500,000 cells (every worksheet's cells and rows counted in its XML bytes before
openpyxl opens the workbook, since a declared dimension may be absent or wrong; the declared
dimension checked too; then the cells counted again as openpyxl's read-only mode streams the rows),
at most as many shared strings, and at most 512 MiB of XML once unzipped; Parquet and SAS files at most 50,000,000 cells (rows x columns from their
metadata) and, for Parquet, 512 MiB of column data once decompressed.  A cell of more than 10,000
characters is a CELL_TOO_LONG problem (a CSV cell of more than 16 MiB is not even read: its row
is left out and reported).

Dates: each table records what a number in a date column counts from (``RawTable.epoch`` and
``RawTable.epochs``, see ``ltfu.cohort.dates``): the workbook's date system for XLSX, 1960-01-01
for SAS variables with a date or datetime format, nothing (numbers refused) for CSV and Parquet.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ltfu.cohort.dates import SAS_DATE, SAS_DATETIME, Epoch, excel_epoch
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
    renamed = {}
    for o, n in zip(original_names, df.columns):
        renamed.setdefault(str(o).strip(), n)
    epochs = {renamed[c]: e for c, e in context.epochs.items() if c in renamed}
    return RawTable(df, rows, str(path), digest, fmt, tuple(problems), tuple(str(h).strip() for h in header),
                    context.epoch, epochs)


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


def _text_bytes(s) -> int | None:
    """The size of a pyarrow text column's character data (an upper bound on any cell's length in
    characters), or None when the column is not backed by pyarrow."""
    import pyarrow as pa

    try:
        chunks = pa.chunked_array(s.array._pa_array).chunks
    except (AttributeError, TypeError, pa.ArrowException):
        return None
    total = 0
    for chunk in chunks:
        buffers = chunk.buffers()
        total += 0 if len(buffers) < 3 or buffers[2] is None else buffers[2].size
    return total


def _long_cells(df, rows):
    problems = []
    for col in df.columns:
        s = df[col]
        if isinstance(s.dtype, pd.StringDtype):
            size = _text_bytes(s)
            if size is not None and size <= MAX_CELL:      # no cell can be longer: skip the per-cell count
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
        # Windows-1252 where it decodes (its curly quotes and dashes would be C1 control characters in
        # Latin-1), else Latin-1, which decodes anything
        try:
            text, name = blob.decode("cp1252"), "Windows-1252 (Latin-1 with curly quotes and dashes)"
        except UnicodeDecodeError:
            text, name = blob.decode("latin-1"), "Latin-1 (ISO-8859-1)"
        problems.append(_problem("LATIN1", f"the file is not UTF-8; it was read as {name}",
                                 "check accented text, or save the file as UTF-8", severity="warning"))
    return text, problems


SNIFF_CHARS = 1 << 12     # the delimiter is sniffed from at most 4 KiB (whole lines; at least the header)


def _sniff_sample(lines) -> str:
    """The header and up to 19 lines after it, as long as they fit in SNIFF_CHARS: csv.Sniffer's
    time grows with its sample, and one huge cell must not make sniffing take minutes."""
    sample, size = [], 0
    for line in lines[:20]:
        if sample and size + len(line) > SNIFF_CHARS:
            break
        sample.append(line)
        size += len(line)
    return "".join(sample)


def _sniff(sample: str) -> str:
    first = sample.splitlines()[0] if sample else ""
    if len(sample) <= SNIFF_CHARS:
        try:
            return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
        except csv.Error:
            pass
    counts = {d: first.count(d) for d in ",;\t|"}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


_BOM = b"\xef\xbb\xbf"
# line breaks to str.splitlines (which the careful reader uses for its preamble) but not to csv
_OTHER_BREAKS = (b"\x0b", b"\x0c", b"\x1c", b"\x1d", b"\x1e", b"\xc2\x85", b"\xe2\x80\xa8", b"\xe2\x80\xa9")


def _preamble(blob: bytes):
    """``(skip, header offset, sniffing sample)`` exactly as the careful reader finds them: leading
    comment or blank lines (Unicode whitespace), then the header, and the delimiter sniffed from
    the header and the 19 lines after it.  None if those lines are not plain UTF-8 lines."""
    offset = 3 if blob.startswith(_BOM) else 0       # utf-8-sig: a BOM only at the very start
    skip, start, sample = 0, None, []
    while offset < len(blob) and len(sample) < 20:
        end = blob.find(b"\n", offset)
        end = len(blob) if end < 0 else end + 1
        raw = blob[offset:end]
        if any(b in raw for b in _OTHER_BREAKS):
            return None
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            return None
        if start is None and (line.lstrip().startswith("#") or not line.strip()):
            skip += 1
        else:
            start = offset if start is None else start
            sample.append(line)
        offset = end
    if start is None:
        return None
    return skip, start, _sniff_sample(sample)


def _read_csv(blob, path, sheet, keep, context):
    fast = _read_csv_fast(blob, path, keep, context.limits)
    if fast is not None:
        return fast
    df, rows, problems = _read_csv_careful(blob, path, context.limits)
    return df, rows, problems, tuple(df.columns)


def _read_csv_fast(blob, path, keep, limits=LIMITS):
    """pyarrow's reader, when it gives exactly the careful reader's table; else None."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    if b"\x00" in blob:
        return None                     # binary: the careful reader refuses it with the reason
    n_cr = blob.count(b"\r")
    if n_cr and n_cr != blob.count(b"\r\n"):
        return None                     # a bare carriage return ends a line for the careful reader
    found = _preamble(blob)
    if found is None:
        return None
    skip, start, sample = found
    head = sample.splitlines()[0]
    if blob.find(b"\n", start) < 0:
        return None                     # a header without a line end: nothing to read fast
    delim = "\t" if path.suffix.lower() in (".tsv", ".tab") else _sniff(sample)
    try:
        names = [h.strip() for h in next(csv.reader([head], delimiter=delim, strict=True))]
    except (csv.Error, StopIteration):
        return None
    _too_many_columns(path.name, len(names), limits)
    if len(set(names)) != len(names) or "" in names:
        return None
    if blob.find(b'"', start) >= 0 and _malformed_quoting(blob, start, delim):
        return None     # pyarrow would accept text after a closing quote; the careful reader reports it
    chosen = [n for n in names if keep is None or keep(n)]

    block = [1 << 24]

    def read(threads, on_invalid):
        return pcsv.read_csv(
            pa.py_buffer(blob)[start:],
            read_options=pcsv.ReadOptions(column_names=names, skip_rows=1, block_size=block[0],
                                          use_threads=threads),
            parse_options=pcsv.ParseOptions(delimiter=delim, quote_char='"', double_quote=True,
                                            escape_char=False, newlines_in_values=True,
                                            ignore_empty_lines=True, invalid_row_handler=on_invalid),
            convert_options=pcsv.ConvertOptions(column_types={n: pa.large_string() for n in names},
                                                strings_can_be_null=False, quoted_strings_can_be_null=False,
                                                include_columns=chosen or names[:1]))

    invalid = []                        # rows with too few or too many fields: skipped, then reported
    try:
        try:
            table = read(True, lambda row: invalid.append(row.text) or "skip")
        except pa.ArrowInvalid as exc:
            if "straddling" not in str(exc) or len(blob) - start >= 1 << 31:
                raise
            # a record longer than a block (a huge cell): one block for the whole file, rather than the
            # careful reader, which would hold the text several times over
            invalid.clear()
            block[0] = len(blob) - start + 1
            table = read(True, lambda row: invalid.append(row.text) or "skip")
        if invalid:                     # only a single-threaded read numbers them
            invalid.clear()
            table = read(False, lambda row: invalid.append((row.number, row.text)) or "skip")
    except (pa.ArrowException, ValueError):
        return None     # an unclosed quote, not UTF-8: the careful reader says where
    n_lines = blob.count(b"\n", start) + (0 if blob.endswith(b"\n") else 1)
    if table.num_rows + len(invalid) != n_lines - 1:
        return None     # blank lines or a quoted line break: row numbers need the careful reader
    problems, skipped = [], []
    for number, text in invalid:
        if number is None or "\n" in text:
            return None
        try:            # the careful reader's view of that line: blank rows are skipped silently
            rec = next(csv.reader([text.rstrip("\r")], delimiter=delim, strict=True), [])
        except csv.Error:
            return None
        line = skip + number
        skipped.append(line)
        if any(c.strip() for c in rec):
            problems.append(_row_length_problem(len(rec), len(names), line))
    df = table.to_pandas(types_mapper=_string_dtype)
    if len(df) and chosen:
        # rows the careful reader skips (and reports): every cell blank, or the header again.
        # Only rows whose first cell is blank or its column name can be such rows.
        first = df[chosen[0]].str.strip()
        candidates = np.flatnonzero(((first == "") | (first == chosen[0])).to_numpy(bool))
        if candidates.size:
            cells = df.iloc[candidates][chosen].apply(lambda s: s.str.strip())
            if ((cells == "").all(axis=1).any()
                    or (cells == pd.Series(chosen, index=chosen)).all(axis=1).any()):
                return None
    if not chosen:
        df = df.iloc[:, :0]
    rows = np.arange(skip + 2, skip + 1 + n_lines, dtype=np.int64)
    if skipped:
        rows = np.setdiff1d(rows, np.asarray(skipped, np.int64), assume_unique=True)
    if rows.size != len(df):
        return None
    return df, rows, sorted(problems, key=lambda p: p.row), tuple(names)


def _malformed_quoting(blob, start, delim) -> bool:
    """Whether any line departs from the quoting that Python's strict csv and pyarrow read alike:
    a field is either quoted whole ("..." with "" for a quote, and only the delimiter or the line
    end after the closing quote) or unquoted without any quote.  In such a line the k-th quote is an
    opening one when k is even (after the delimiter or at the line start, or straight after the
    quote before it: the second half of "") and a closing one when k is odd (before the delimiter or
    the line end, or straight before the next quote), and the count is even.  Checked on the quote
    positions as arrays; a line that fails (mid-field quotes, text after a closing quote, a quoted
    line break) sends the file to the careful reader."""
    data = np.frombuffer(blob, np.uint8)
    d, quote, lf, cr = ord(delim), ord('"'), ord("\n"), ord("\r")
    chunk = 1 << 24
    while start < data.size:                   # 16 MB at a time, cut at a line end
        stop = blob.find(b"\n", min(start + chunk, data.size) - 1)
        stop = data.size if stop < 0 else stop + 1
        b = data[start:stop]
        start = stop
        q = np.flatnonzero(b == quote)
        if q.size == 0:
            continue
        per_line = np.diff(np.r_[0, np.searchsorted(q, np.flatnonzero(b == lf)), q.size])
        if np.any(per_line % 2):
            return True
        # every line holds an even number, so a quote's parity in the chunk is its parity in its line
        even = (np.arange(q.size) % 2) == 0
        before = np.where(q > 0, b[np.maximum(q - 1, 0)], lf)
        after = np.where(q + 1 < b.size, b[np.minimum(q + 1, b.size - 1)], lf)
        opening = (before == d) | (before == lf) | ((before == quote) & even)
        closing = (after == d) | (after == lf) | (after == cr) | (after == quote)
        if np.any(np.where(even, ~opening, ~closing)):
            return True
    return False


def _row_length_problem(n_fields, n_header, line):
    # its values cannot be matched to columns: reported, and left out of further checks
    return _problem("ROW_LENGTH", f"{n_fields} fields where the header has {n_header}; the row was not read "
                    "further", "check for a missing or extra delimiter or a truncated file", row=line,
                    value=f"{n_fields} fields")


def _string_dtype(arrow_type):
    import pyarrow as pa

    if arrow_type in (pa.string(), pa.large_string()):
        return pd.StringDtype("pyarrow")
    return None


_LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"     # str.splitlines's
_PREAMBLE_LINE = re.compile(f"[^{_LINE_BREAKS}]*(?:\r\n|[{_LINE_BREAKS}])|[^{_LINE_BREAKS}]+\\Z")
_CSV_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")     # io's newline="" lines, as csv reads them


def _csv_lines(text, offset):
    """The lines csv.reader would get from io.StringIO(text[offset:], newline=""), without copying
    the text: one line at a time."""
    for m in _CSV_LINE.finditer(text, offset):
        yield m.group()


def _read_csv_careful(blob, path, limits=LIMITS):
    text, problems = _decode(blob, path.name)
    # leading comment and blank lines, as str.splitlines sees them
    skip, offset, n = 0, 0, len(text)
    while offset < n:
        m = _PREAMBLE_LINE.match(text, offset)
        if m.group().lstrip().startswith("#") or not m.group().strip():
            skip += 1
            offset = m.end()
        else:
            break
    if offset >= n:
        raise LoadError(f"{path.name}: no header row (only comments or blank lines)")
    sample, size = [], 0               # the header and the lines after it, for sniffing
    for m in _PREAMBLE_LINE.finditer(text, offset):
        if sample and (len(sample) == 20 or size + m.end() - m.start() > SNIFF_CHARS):
            break
        sample.append(m.group())
        size += m.end() - m.start()
    delim = "\t" if path.suffix.lower() in (".tsv", ".tab") else _sniff(_sniff_sample(sample))
    csv.field_size_limit(MAX_PARSED_CELL)
    reader = csv.reader(_csv_lines(text, offset), delimiter=delim, strict=True)
    header, records, rows = None, [], []
    last_line = 0
    while True:
        start = skip + last_line + 1
        try:
            rec = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            if "field larger than field limit" in str(exc):
                # a cell beyond any sensible size: the rest of its line was dropped by csv
                last_line = reader.line_num
                problems.append(_problem("CELL_TOO_LONG", f"a cell of more than {MAX_PARSED_CELL:,} characters; "
                                         "the row was not read", f"cells are limited to {MAX_CELL:,} characters; "
                                         "check the export", row=start))
                if header is None:
                    raise LoadError(f"{path.name}: the header row has a cell of more than {MAX_PARSED_CELL:,} "
                                    "characters") from None
                continue
            # an unterminated quote would otherwise swallow every following row into one cell
            problems.append(_problem("UNCLOSED_QUOTE", f"a quoted field is never closed ({exc}); the rows from "
                                     "here on cannot be read reliably", "close the quote or remove it",
                                     row=start))
            break
        last_line = reader.line_num
        if header is None:
            header = [h.strip() for h in rec]
            _too_many_columns(path.name, len(header), limits)
            continue
        if not any(c.strip() for c in rec):
            continue
        if [c.strip() for c in rec] == header:
            problems.append(_problem("REPEATED_HEADER", "the header row is repeated here; the row was skipped",
                                     "remove the repeated header rows", severity="warning", row=start))
            continue
        if len(rec) != len(header):
            problems.append(_row_length_problem(len(rec), len(header), start))
            continue
        records.append(rec)
        rows.append(start)
    if header is None:
        raise LoadError(f"{path.name}: no header row")
    df = pd.DataFrame(records, columns=header, dtype=object) if records else pd.DataFrame(columns=header, dtype=object)
    return df, rows, problems


# ----------------------------------------------------------------------------------------------
# Excel

_MERGE_REF = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?mergeCell\b[^>]*?\bref=\"([A-Z]+[0-9]+(?::[A-Z]+[0-9]+)?)\"")
_CELL_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?c[\s/>]")
_ROW_NUMBER = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?row\b[^>]*?\br=\"([0-9]{1,12})\"")
_SHARED_STRING = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?si[\s/>]")


def _scan_xml(source, patterns, chunk_size=1 << 20):
    """Stream an XML part (a file object) once, 1 MiB at a time: for each pattern, the list of its
    matches' first groups (or the number of matches, for a pattern without a group).  A match cut
    by a chunk end is found in the next round (it is shorter than the 256-byte overlap)."""
    found = [[] if p.groups else 0 for p in patterns]
    tail = b""
    while True:
        chunk = source.read(chunk_size)
        data = tail + chunk
        cut = max(0, len(data) - 256) if chunk else len(data)
        for k, p in enumerate(patterns):
            if p.groups:
                found[k] += [m.group(1) for m in p.finditer(data) if m.start() < cut]
            else:
                found[k] += sum(1 for m in p.finditer(data) if m.start() < cut)
        if not chunk:
            return found
        tail = data[cut:]


def _sheet_names(zf, names):
    """Worksheet part -> sheet name, read from workbook.xml and its relationships (best effort: a part
    it cannot name is shown by its path)."""
    import html

    out = {}
    try:
        book = zf.read("xl/workbook.xml") if "xl/workbook.xml" in names else b""
        rels = zf.read("xl/_rels/workbook.xml.rels") if "xl/_rels/workbook.xml.rels" in names else b""
    except (KeyError, OSError):
        return out
    targets = {}
    for m in re.finditer(rb"<(?:[A-Za-z_][\w.-]*:)?Relationship\b([^>]*)>", rels):
        rid, target = re.search(rb'\bId="([^"]*)"', m.group(1)), re.search(rb'\bTarget="([^"]*)"', m.group(1))
        if rid and target:
            t = target.group(1).decode("utf-8", "replace")
            targets[rid.group(1)] = t.lstrip("/") if t.startswith("/") else "xl/" + t
    for m in re.finditer(rb"<(?:[A-Za-z_][\w.-]*:)?sheet\b([^>]*)>", book):
        name, rid = re.search(rb'\bname="([^"]*)"', m.group(1)), re.search(rb'\b[A-Za-z_][\w.-]*:id="([^"]*)"', m.group(1))
        if name and rid and rid.group(1) in targets:
            out[targets[rid.group(1)]] = html.unescape(name.group(1).decode("utf-8", "replace"))
    return out


def _xlsx_limits(blob, name, limits):
    """Refuse a workbook beyond the limits before openpyxl parses any of it: parts that unzip to more
    than max_unpacked_bytes; a shared-string table or a worksheet with more than max_xlsx_cells
    (openpyxl reads every shared string at once, and every worksheet without a declared dimension
    to its end, while opening the workbook).  Counted in the XML bytes, as they stream by."""
    import zipfile

    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        infos = zf.infolist()
        unpacked = sum(i.file_size for i in infos)
        if unpacked > limits.max_unpacked_bytes:
            raise LoadError(f"{name}: the workbook unzips to {unpacked / 2 ** 20:,.0f} MiB, more than the "
                            f"{limits.max_unpacked_bytes / 2 ** 20:,.0f} MiB ltfu reads (limit max_unpacked_bytes); "
                            "export the patient table as CSV or Parquet")
        names = {i.filename for i in infos}
        types = zf.read("[Content_Types].xml") if "[Content_Types].xml" in names else b""

        def parts(kind):
            found = {m.group(1).decode("utf-8", "replace").lstrip("/") for m in re.finditer(
                rb'PartName="([^"]+)"[^>]*' + kind, types)}
            return sorted(found & names)

        for part in parts(rb"sharedStrings\+xml"):
            with zf.open(part) as src:
                (count,) = _scan_xml(src, [_SHARED_STRING])
            if count > limits.max_xlsx_cells:
                raise LoadError(f"{name}: the workbook holds {count:,} distinct texts, more than the "
                                f"{limits.max_xlsx_cells:,} cells ltfu reads from Excel (limit max_xlsx_cells); "
                                "export the table as CSV or Parquet")
        sheets = _sheet_names(zf, names)
        for part in parts(rb"worksheet\+xml"):
            with zf.open(part) as src:
                cells, row_numbers = _scan_xml(src, [_CELL_TAG, _ROW_NUMBER])
            last_row = max(map(int, row_numbers), default=0)
            if cells > limits.max_xlsx_cells or last_row > limits.max_xlsx_cells:
                title = repr(sheets[part]) if part in sheets else part
                raise LoadError(f"{name}: sheet {title} holds {cells:,} cells in {last_row:,} rows, more than the "
                                f"{limits.max_xlsx_cells:,} cells ltfu reads from Excel (limit max_xlsx_cells); "
                                "export the table as CSV or Parquet, which have no such limit")


def _merged_ranges(wb, ws):
    """The sheet's merged ranges (``A1:B2``): read-only openpyxl does not report them."""
    with wb._archive.open(ws._worksheet_path) as src:
        (merged,) = _scan_xml(src, [_MERGE_REF])
    return [m.decode() for m in merged]


def _sheet_header(ws, rows=20):
    """The first non-empty row of a sheet (looking at most ``rows`` rows down), as text, or None."""
    for k, row in enumerate(ws.iter_rows(values_only=True)):
        if k >= rows:
            return None
        if any(v not in (None, "") for v in row):
            return [("" if v is None else str(v)).strip() for v in row]
    return None


def _read_xlsx(blob, path, sheet, keep, context):
    import warnings

    import openpyxl

    from ltfu.cohort.schema import is_model_column

    limits = context.limits
    _xlsx_limits(blob, path.name, limits)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wb = openpyxl.load_workbook(io.BytesIO(blob), data_only=False, read_only=True)
    try:
        if sheet is None:
            ws = wb.worksheets[0]
        elif sheet in wb.sheetnames:
            ws = wb[sheet]
        else:
            raise LoadError(f"{path.name}: no sheet {sheet!r}; sheets are {', '.join(map(repr, wb.sheetnames))}")
        context.epoch = excel_epoch(wb.epoch)
        if ws.max_row is not None and ws.max_column is not None:      # the sheet's declared dimension
            _xlsx_size(path.name, ws.title, ws.max_row, ws.max_column, limits, declared=True)
        if sheet is None:
            _first_sheet_holds_a_table(wb, ws, path.name, is_model_column)
        return _read_sheet(wb, ws, path.name, limits)
    finally:
        wb.close()


def _xlsx_size(name, title, n_rows, n_columns, limits, *, declared):
    how = "declares" if declared else "has"
    if n_columns > limits.max_columns:
        raise LoadError(f"{name}: sheet {title!r} {how} {n_columns:,} columns, more than the {limits.max_columns:,} "
                        "ltfu reads (limit max_columns)")
    if n_rows * n_columns > limits.max_xlsx_cells:
        raise LoadError(f"{name}: sheet {title!r} {how} {n_rows:,} rows x {n_columns:,} columns, more than the "
                        f"{limits.max_xlsx_cells:,} cells ltfu reads from Excel (limit max_xlsx_cells); export "
                        "the table as CSV or Parquet, which have no such limit")


def _first_sheet_holds_a_table(wb, ws, name, is_model_column):
    """Without --sheet: if the first sheet is empty or names no data-model column while another
    sheet does, say which sheets hold a table instead of validating a cover or notes sheet."""
    header = _sheet_header(ws)
    if header is not None and any(is_model_column(h) for h in header if h):
        return
    others = [other.title for other in wb.worksheets[1:]
              if (h := _sheet_header(other)) is not None and any(is_model_column(c) for c in h if c)]
    if others:
        what = "is empty" if header is None else "holds no patient table (no column of the data model)"
        raise LoadError(f"{name}: the first sheet {ws.title!r} {what}; the patient table is on sheet(s) "
                        f"{', '.join(map(repr, others))}: use --sheet {others[0]!r}")
    if header is None:
        filled = [o.title for o in wb.worksheets[1:] if _sheet_header(o) is not None]
        raise LoadError(f"{name}: sheet {ws.title!r} is empty" + (
            f"; sheet(s) {', '.join(map(repr, filled))} hold data: use --sheet {filled[0]!r}" if filled else ""))


def _read_sheet(wb, ws, name, limits):
    problems = []
    for coord in _merged_ranges(wb, ws):
        first_row = int(re.search(r"[0-9]+", coord).group())
        problems.append(_problem("MERGED_CELLS", f"merged cells {coord}: every cell but the first is empty",
                                 "unmerge the cells and fill in each row's value", row=first_row))
    ws.reset_dimensions()       # read every row even if the declared dimension is wrong (too small)
    header, records, rows = None, [], []
    cells = 0
    for number, row in enumerate(ws.iter_rows(), start=1):
        cells += max(len(row), 1)       # counted as they stream by: the declared dimension may be absent
        if len(row) > limits.max_columns:
            raise LoadError(f"{name}: sheet {ws.title!r} has cells in column {len(row):,}, beyond the "
                            f"{limits.max_columns:,} columns ltfu reads (limit max_columns)")
        if cells > limits.max_xlsx_cells:
            raise LoadError(f"{name}: sheet {ws.title!r} has more than {limits.max_xlsx_cells:,} cells (row {number:,} "
                            "reached), the most ltfu reads from Excel (limit max_xlsx_cells); export the table as CSV "
                            "or Parquet, which have no such limit")
        values = []
        for cell in row:
            v = cell.value
            if cell.data_type == "f":
                problems.append(_problem("FORMULA", "a formula, not a value", "paste the values (Paste Special > "
                                         "Values) instead of formulas", row=number,
                                         field=None if header is None or len(values) >= len(header)
                                         else header[len(values)], value=str(v)[:60]))
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
                                     "remove the repeated header rows", severity="warning", row=number))
            continue
        records.append(values)
        rows.append(number)
    if header is None:
        raise LoadError(f"{name}: sheet {ws.title!r} is empty")
    return pd.DataFrame(records, columns=header, dtype=object), rows, problems, tuple(header)


# ----------------------------------------------------------------------------------------------
# Parquet, SAS

def _read_parquet(blob, path, sheet, keep, context):
    import pyarrow.parquet as pq

    limits = context.limits
    file = pq.ParquetFile(io.BytesIO(blob))
    header = tuple(file.schema_arrow.names)
    _too_many_columns(path.name, len(header), limits)
    stripped = [str(h).strip() for h in header]
    chosen = None
    if keep is not None and len(set(header)) == len(header):
        chosen = [h for h, s in zip(header, stripped) if keep(s)]
    meta = file.metadata
    wanted = set(header if chosen is None else chosen)
    n_columns = len(wanted)
    if meta.num_rows * n_columns > limits.max_cells:
        raise LoadError(f"{path.name}: {meta.num_rows:,} rows x {n_columns:,} columns, more than the "
                        f"{limits.max_cells:,} cells ltfu reads (limit max_cells)")
    unpacked = 0
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        for c in range(group.num_columns):
            column = group.column(c)
            if column.path_in_schema.split(".")[0] in wanted:
                unpacked += column.total_uncompressed_size
    if unpacked > limits.max_unpacked_bytes:
        raise LoadError(f"{path.name}: the columns decompress to {unpacked / 2 ** 20:,.0f} MiB, more than the "
                        f"{limits.max_unpacked_bytes / 2 ** 20:,.0f} MiB ltfu reads (limit max_unpacked_bytes)")
    df = file.read(columns=chosen).to_pandas(types_mapper=_string_dtype)
    return df, np.arange(1, len(df) + 1), [], header


# SAS formats whose numbers count days (dates) or seconds (datetimes) since 1960-01-01, as written
# without width and decimals (DATE9. -> DATE, E8601DA10. -> E8601DA)
_SAS_DATETIME = re.compile(r"^(DATETIME|DATEAMPM|DTDATE|DTMONYY|DTWKDATX|DTYEAR|DTYYQC|[EB]8601D[TZN]|IS8601D[TZN]|"
                           r"NLDATM|MDYAMPM)")
_SAS_DATE = re.compile(r"^(DATE|DAY|DDMMYY|MMDDYY|YYMMDD|YYMM|MMYY|MONYY|YYQ|YEAR|JULIAN|JULDAY|WEEKDAT|WORDDAT|"
                       r"DOWNAME|MONNAME|MONTH|QTR|WEEKDAY|NLDATE|[EB]8601DA|IS8601DA|MINGUO|NENGO|EURDF|YYWEEK|"
                       r"WEEK[UVW])")


def sas_epoch(fmt) -> Epoch | None:
    """The epoch of a SAS variable's display format: SAS_DATE, SAS_DATETIME or None."""
    if not fmt:
        return None
    name = re.sub(r"[0-9]*\.?[0-9]*$", "", str(fmt).strip().upper().lstrip("$"))
    if _SAS_DATETIME.match(name):
        return SAS_DATETIME
    if _SAS_DATE.match(name):
        return SAS_DATE
    return None


def _read_sas(blob, path, sheet, keep, context):
    import pyreadstat

    limits = context.limits
    reader = pyreadstat.read_sas7bdat if path.suffix.lower() == ".sas7bdat" else pyreadstat.read_xport
    _, meta = reader(str(path), metadataonly=True)
    header = tuple(meta.column_names)
    _too_many_columns(path.name, len(header), limits)
    chosen = None if keep is None else [h for h in header if keep(str(h).strip())] or None
    n_columns = max(1, len(chosen or header))
    most = limits.max_cells // n_columns          # rows
    too_many = lambda n: LoadError(f"{path.name}: {n} rows x {n_columns:,} columns, more than the "  # noqa: E731
                                   f"{limits.max_cells:,} cells ltfu reads (limit max_cells)")
    if meta.number_rows is not None and meta.number_rows > most:
        raise too_many(f"{meta.number_rows:,}")
    # XPT does not declare its rows: read at most one row more than the limit allows
    df, meta = reader(str(path), usecols=chosen, row_limit=most + 1)
    if len(df) > most:
        raise too_many(f"more than {most:,}")
    formats = getattr(meta, "original_variable_types", None) or {}
    for column in df.columns:          # numbers that pyreadstat left as numbers: their format says the epoch
        epoch = sas_epoch(formats.get(column))
        if epoch is not None and pd.api.types.is_numeric_dtype(df[column].dtype):
            context.epochs[str(column).strip()] = epoch
    return df, np.arange(1, len(df) + 1), [], header
