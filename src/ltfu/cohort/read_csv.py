"""CSV and TSV: pyarrow's multi-threaded reader whenever it provably gives the careful line-by-line
reader's table and problems, else the careful reader (see ``ltfu.cohort.load``'s docstring).
tests/test_large_files.py compares the two on every corpus file and on random CSV text."""

from __future__ import annotations

import csv
import re

import numpy as np
import pandas as pd

from ltfu.cohort.raw import (
    LIMITS,
    MAX_CELL,
    MAX_PARSED_CELL,
    TOO_MANY_CELLS_CSV,
    _problem,
    _string_dtype,
    _too_many_columns,
)
from ltfu.errors import LoadError

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
    sample: list[str] = []
    size = 0
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
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


_BOM = b"\xef\xbb\xbf"
# line breaks to str.splitlines (which the careful reader uses for its preamble) but not to csv
_OTHER_BREAKS = (b"\x0b", b"\x0c", b"\x1c", b"\x1d", b"\x1e", b"\xc2\x85", b"\xe2\x80\xa8", b"\xe2\x80\xa9")


def _preamble(blob: bytes):
    """``(skip, header offset, sniffing sample)`` exactly as the careful reader finds them: leading
    comment or blank lines (Unicode whitespace), then the header, and the delimiter sniffed from
    the header and the 19 lines after it.  None if those lines are not plain UTF-8 lines."""
    offset = 3 if blob.startswith(_BOM) else 0       # utf-8-sig: a BOM only at the very start
    skip, start = 0, None
    sample: list[str] = []
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
    if fast is None:
        df, rows, problems = _read_csv_careful(blob, path, context.limits)
        fast = df, rows, problems, tuple(df.columns)
    # a CSV does not declare its size: counted once parsed, before it is validated (the costly part)
    df = fast[0]
    n_columns = len(df.columns) if keep is None else sum(bool(keep(str(c).strip())) for c in df.columns)
    if len(df) * n_columns > context.limits.max_cells:
        raise LoadError(f"{path.name}: {len(df):,} rows x {n_columns:,} columns, more than the "
                        f"{context.limits.max_cells:,} cells ltfu reads (limit max_cells). {TOO_MANY_CELLS_CSV}")
    return fast


def _fast_header(blob, path, limits):
    """(preamble lines, header offset, delimiter, column names) when the fast reader may try the
    file; None when only the careful reader reads it right."""
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
    return skip, start, delim, names


def _arrow_table(blob, start, delim, names, chosen):
    """pyarrow's table of the ``chosen`` columns (all text) and the rows it skipped for their number
    of fields, as (line number, text); None where pyarrow fails (the careful reader says why)."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

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
    return table, invalid


def _invalid_rows(invalid, skip, delim, n_names):
    """The problems and line numbers of the rows pyarrow skipped, as the careful reader sees them
    (blank rows skipped silently); None when only the careful reader can tell."""
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
            problems.append(_row_length_problem(len(rec), n_names, line))
    return problems, skipped


def _has_rows_to_skip(df, chosen) -> bool:
    """Whether ``df`` holds rows the careful reader skips (and reports): every cell blank, or the
    header again.  Only rows whose first cell is blank or its column name can be such rows."""
    first = df[chosen[0]].str.strip()
    candidates = np.flatnonzero(((first == "") | (first == chosen[0])).to_numpy(bool))
    if not candidates.size:
        return False
    cells = df.iloc[candidates][chosen].apply(lambda s: s.str.strip())
    return bool((cells == "").all(axis=1).any() or (cells == pd.Series(chosen, index=chosen)).all(axis=1).any())


def _read_csv_fast(blob, path, keep, limits=LIMITS):
    """pyarrow's reader, when it gives exactly the careful reader's table; else None."""
    header = _fast_header(blob, path, limits)
    if header is None:
        return None
    skip, start, delim, names = header
    chosen = [n for n in names if keep is None or keep(n)]
    read = _arrow_table(blob, start, delim, names, chosen)
    if read is None:
        return None
    table, invalid = read
    n_lines = blob.count(b"\n", start) + (0 if blob.endswith(b"\n") else 1)
    if table.num_rows + len(invalid) != n_lines - 1:
        return None     # blank lines or a quoted line break: row numbers need the careful reader
    checked = _invalid_rows(invalid, skip, delim, len(names))
    if checked is None:
        return None
    problems, skipped = checked
    df = table.to_pandas(types_mapper=_string_dtype)
    if len(df) and chosen and _has_rows_to_skip(df, chosen):
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


_LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"     # str.splitlines's
_PREAMBLE_LINE = re.compile(f"[^{_LINE_BREAKS}]*(?:\r\n|[{_LINE_BREAKS}])|[^{_LINE_BREAKS}]+\\Z")
_CSV_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")     # io's newline="" lines, as csv reads them


def _csv_lines(text, offset):
    """The lines csv.reader would get from io.StringIO(text[offset:], newline=""), without copying
    the text: one line at a time."""
    for m in _CSV_LINE.finditer(text, offset):
        yield m.group()


def _read_csv_careful_body(blob, path, limits=LIMITS):
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


def _read_csv_careful(blob, path, limits=LIMITS):
    """The careful reader, with csv's field size limit raised to MAX_PARSED_CELL only while it reads
    (the limit is process-wide: a user's own csv code must find it as it left it)."""
    previous = csv.field_size_limit(MAX_PARSED_CELL)
    try:
        return _read_csv_careful_body(blob, path, limits)
    finally:
        csv.field_size_limit(previous)


