"""A study: the patient table and, where given, the longitudinal tables (adverse events,
assessments, therapies), loaded and validated together.

    study = ltfu.load_study("trial.xlsx")     # a workbook of sheets, a folder of files, or one table
    problems = ltfu.study.validate_study("trial/")

Every problem of every table is listed at once (``Problem.table`` names the table); the patient
table is validated exactly as ``ltfu.load_cohort`` validates it.
"""

from __future__ import annotations

import datetime as dt

from ltfu.defaults import BURDEN_THRESHOLD
from ltfu.study.files import StudyFiles, find_tables
from ltfu.study.model import Study

__all__ = ["Study", "StudyFiles", "check_study", "find_tables", "load_study", "validate_study"]

DEFAULT_DATE_FLOOR = "1990-01-01"


def check_study(files: StudyFiles, *, cutoff=None, burden_threshold: float = BURDEN_THRESHOLD, today=None,
                date_floor=DEFAULT_DATE_FLOOR, max_follow_up_years: float = 50.0):
    """(every problem, the Study or None when there are errors) of the tables found."""
    from ltfu.cohort.model import Cohort
    from ltfu.cohort.validate import check
    from ltfu.study.validate import validate_tables

    today = today or dt.date.today()
    problems, data, cut = check(files.patients, cutoff=cutoff, burden_threshold=burden_threshold, today=today,
                                date_floor=date_floor, max_follow_up_years=max_follow_up_years)
    more, tables = validate_tables(files, data, today=today, date_floor=date_floor)
    if files.adam:
        problems = _adsl_unknown_columns(problems)
    problems = [*problems, *more, *_ignored(files)]
    if any(p.severity == "error" for p in problems):
        return problems, None
    p = files.patients
    warnings = tuple(q for q in problems if q.severity == "warning")
    cohort = Cohort(data, p.source, p.sha256, float(burden_threshold), cut, False,
                    tuple(q for q in warnings if q.table is None))
    sources = {name: (t.source, t.sha256) for name, t in files.tables.items()}
    return problems, Study(cohort, tables["events"], tables["assessments"], tables["therapies"], sources, warnings)


def _adsl_unknown_columns(problems):
    """ADSL carries many variables ltfu does not use: one warning naming them, not one each."""
    from ltfu.cohort.parse import _Collector

    unknown = [p for p in problems if p.code == "UNKNOWN_COLUMN" and p.table is None]
    if len(unknown) < 2:
        return problems
    names = [p.field for p in unknown]
    summary = _Collector.make("UNKNOWN_COLUMN", value=f"{len(names)} variables", fix="none needed",
                              message=f"{len(names)} ADSL variable(s) are not used by any analysis: "
                              f"{', '.join(map(str, names[:8]))}{' ...' if len(names) > 8 else ''}")
    return [p for p in problems if p not in unknown] + [summary]


def _ignored(files: StudyFiles):
    from ltfu.cohort.parse import _Collector

    what = "sheet" if files.kind == "workbook" else "file"
    named = [_Collector.make("UNKNOWN_TABLE", value=name, message=f"the {what} {name!r} is named after no table of "
                             "the study (patients, events, assessments, therapies); it was not read"
                             + _meant(name)) for name in files.ignored]
    return named + [_Collector.make("UNKNOWN_TABLE", value=f"{file}: {sheet}", message=f"the sheet {sheet!r} of "
                                    f"{file!r} was not read: a table's file is read from its first sheet",
                                    fix="move its rows to the first sheet (or to a file of their own), or delete "
                                        "the sheet") for file, sheet in files.unread_sheets] + \
        [_Collector.make("UNREADABLE_TABLE", value=file, message=why) for file, why in files.unreadable]


# names a table is often given elsewhere (CDISC domains, common exports) -> the study's table
_LIKELY = {"ae": "events", "aes": "events", "adae": "events", "adverse_events": "events", "adverse_event": "events",
           "event": "events", "safety": "events", "lb": "assessments", "labs": "assessments", "lab": "assessments",
           "assessment": "assessments", "visits": "assessments", "cm": "therapies", "therapy": "therapies",
           "treatments": "therapies", "treatment": "therapies", "patient": "patients", "dm": "patients",
           "subjects": "patients"}


def _meant(name: str) -> str:
    """ "; if it is the events table, name it events.csv" for a name such as AE.csv, or ""."""
    import re
    from pathlib import PurePath

    path = PurePath(name)
    table = _LIKELY.get(re.sub(r"[\s.-]+", "_", path.stem.strip().lower()))
    return "" if table is None else f"; if it is the {table} table, name it {table}{path.suffix.lower()}"


def validate_study(path, *, sheet=None, **options):
    """Every problem of the study at ``path`` (all its tables, every column read)."""
    return check_study(find_tables(path, sheet=sheet), **options)[0]


def load_study(path, *, sheet=None, **options) -> Study:
    """The validated Study at ``path``; raises DataError listing every problem when there are errors.
    Only the data model's columns of the patient table are read (as ``load_cohort``)."""
    from ltfu.cohort.raw import release_read_buffers
    from ltfu.cohort.schema import is_model_column
    from ltfu.errors import DataError

    problems, study = check_study(find_tables(path, sheet=sheet, columns=is_model_column), **options)
    release_read_buffers()                    # the raw tables are gone: so is the memory Arrow kept of them
    if study is None:
        errors = [p for p in problems if p.severity == "error"]
        raise DataError(f"{len(errors)} error(s) in the study", problems)
    from ltfu.demo import marked

    return Study(marked(study.cohort), study.events, study.assessments, study.therapies, study.sources,
                 study.warnings)
