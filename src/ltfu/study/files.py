"""Finding the tables of a study: an Excel workbook with a sheet per table, a folder of CSV, Parquet
(or other readable) files named after the tables, or a single patient table.

    workbook.xlsx            sheets "patients", "events", "assessments", "therapies" (any case);
                             a workbook without a "patients" sheet is a patient table (first sheet)
    folder/                  patients.csv, events.parquet, ... (one file per table; ADaM names
                             adsl, adae and adlb stand for patients, events and assessments)
    trial.csv                the patient table alone (the efficacy analysis needs nothing more)

Every table is read by ``ltfu.cohort.load`` (read-only, every problem of the file kept) and comes
back as a RawTable; which file or sheet it came from is in ``RawTable.source``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ltfu.cohort.load import FORMATS, RawTable, load
from ltfu.cohort.read_excel import FirstSheetNotATable
from ltfu.errors import LoadError

TABLE_NAMES = ("patients", "events", "assessments", "therapies")
ADAM_NAMES = {"adsl": "patients", "adae": "events", "adlb": "assessments"}


@dataclass(frozen=True)
class StudyFiles:
    """The raw tables of a study (None where the study has no such table) and where they came from."""

    patients: RawTable
    events: RawTable | None = None
    assessments: RawTable | None = None
    therapies: RawTable | None = None
    kind: str = "table"            # "table", "workbook" or "folder"
    adam: bool = False             # the folder held ADaM datasets (adsl, adae, adlb)
    ignored: tuple[str, ...] = ()  # data files (or sheets) named after no table: not read
    # in a folder, the sheets after the first of a table's workbook: (file, sheet), not read
    unread_sheets: tuple[tuple[str, str], ...] = ()
    # in a folder, table files that could not be read: (file, why)
    unreadable: tuple[tuple[str, str], ...] = ()

    @property
    def tables(self) -> dict:
        return {n: getattr(self, n) for n in TABLE_NAMES if getattr(self, n) is not None}


def _sheet_names(path: Path) -> list[str]:
    import openpyxl

    wb = openpyxl.load_workbook(path, read_only=True)
    try:
        return list(wb.sheetnames)
    finally:
        wb.close()


def _workbook_sheets(f: Path) -> list[str] | None:
    """The sheet names of a folder's table file that is a workbook; None for another format, or a
    damaged workbook (``load`` says why)."""
    if FORMATS.get(f.suffix.lower()) != "xlsx":
        return None
    try:
        return _sheet_names(f)
    except Exception:
        return None


def _table_sheet(sheets: list[str] | None, table: str) -> str | None:
    """The sheet named after ``table`` (any case, or its ADaM name), or None: the first sheet."""
    wanted = {table, *(k for k, v in ADAM_NAMES.items() if v == table)}
    return next((s for s in sheets or () if s.strip().lower() in wanted), None)


def find_tables(path, *, sheet: str | None = None, columns=None) -> StudyFiles:
    """Read the study at ``path`` (see the module docstring).  ``columns`` projects the patient table
    as ``ltfu.cohort.load`` does; the other tables are read whole."""
    path = Path(path)
    if not path.exists():
        raise LoadError(f"{path}: no such file or folder")
    if path.is_dir():
        found: dict[str, Path] = {}
        adam = False
        ignored = []
        for f in sorted(path.iterdir()):
            if f.name.startswith(".") or not f.is_file() or FORMATS.get(f.suffix.lower()) is None:
                continue
            stem = f.stem.lower()
            name = stem if stem in TABLE_NAMES else ADAM_NAMES.get(stem)
            if name is None:
                ignored.append(f.name)
                continue
            if name in found:
                raise LoadError(f"{path.name}: two files for the {name} table ({found[name].name}, {f.name}); keep one")
            found[name] = f
            adam |= stem in ADAM_NAMES
        if "patients" not in found:
            raise LoadError(f"{path.name}: no patient table in the folder (a file named patients.csv, "
                            "patients.parquet ... or adsl.xpt)")
        # a table file that cannot be read (empty, not what its name says ...) is one problem among the
        # others: the other tables are still validated (the patient table, which they are checked
        # against, must be read)
        # a table's workbook is read from the sheet named after its table, else its first sheet
        in_book = {n: _workbook_sheets(f) for n, f in found.items()}
        read_from = {n: _table_sheet(names, n) for n, names in in_book.items()}
        tables, unreadable = {}, []
        for n, f in found.items():
            try:
                tables[n] = load(f, sheet=read_from[n], columns=columns if n == "patients" else None)
            except LoadError as exc:
                if n == "patients":
                    raise
                why = str(exc) if not isinstance(exc, FirstSheetNotATable) else (
                    f"{f.name}: the first sheet {exc.first!r} holds no {n} table (sheet(s) "
                    f"{', '.join(map(repr, exc.sheets))} hold data); a folder's {n} table is read from the sheet "
                    f"named {n!r}, else from the first sheet: name that sheet {n!r}")
                unreadable.append((f.name, why))
        # any other sheet of a table's workbook (but a README) is named, so that rows kept there are
        # not lost without a word
        unread: list[tuple[str, str]] = []
        for n in tables:
            book = in_book[n] or []
            read = read_from[n] or (book[0] if book else None)
            unread += [(found[n].name, s) for s in book if s != read and s.strip().lower() != "readme"]
        return StudyFiles(**tables, kind="folder", adam=adam, ignored=tuple(ignored), unread_sheets=tuple(unread),
                          unreadable=tuple(unreadable))
    if FORMATS.get(path.suffix.lower()) == "xlsx" and sheet is None:
        names = {s.lower(): s for s in _sheet_names(path)}
        if "patients" in names:
            tables = {n: load(path, sheet=names[n], columns=columns if n == "patients" else None)
                      for n in TABLE_NAMES if n in names}
            sheets = tuple(s for k, s in names.items() if k not in TABLE_NAMES and k != "readme")
            return StudyFiles(**tables, kind="workbook", ignored=sheets)  # type: ignore[arg-type]
    return StudyFiles(load(path, sheet=sheet, columns=columns), kind="table")
