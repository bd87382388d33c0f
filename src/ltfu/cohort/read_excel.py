"""Excel workbooks: size checked in the XML bytes before openpyxl opens them, then read in read-only
mode with merged cells and formulas reported (see ``ltfu.cohort.load``'s docstring)."""

from __future__ import annotations

import io
import re

import pandas as pd

from ltfu.cohort.dates import excel_epoch
from ltfu.cohort.raw import _problem
from ltfu.errors import LoadError

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
        name = re.search(rb'\bname="([^"]*)"', m.group(1))
        rid = re.search(rb'\b[A-Za-z_][\w.-]*:id="([^"]*)"', m.group(1))
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


class FirstSheetNotATable(LoadError):
    """Without --sheet, the first sheet holds no table while ``sheets`` do (a cover or notes sheet)."""

    def __init__(self, message: str, first: str, sheets: list):
        super().__init__(message)
        self.first, self.sheets = first, list(sheets)


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
        raise FirstSheetNotATable(f"{name}: the first sheet {ws.title!r} {what}; the patient table is on sheet(s) "
                                  f"{', '.join(map(repr, others))}: use --sheet {others[0]!r}", ws.title, others)
    if header is None:
        filled = [o.title for o in wb.worksheets[1:] if _sheet_header(o) is not None]
        if filled:
            raise FirstSheetNotATable(f"{name}: sheet {ws.title!r} is empty; sheet(s) {', '.join(map(repr, filled))} "
                                      f"hold data: use --sheet {filled[0]!r}", ws.title, filled)
        raise LoadError(f"{name}: sheet {ws.title!r} is empty")


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


