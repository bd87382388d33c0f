"""Validation of the patient table that lists every problem at once, and the typed Cohort.

The steps, each collecting problems and never raising: the columns (duplicates, wrong units,
unknown and missing ones, control characters); the ids; the dates, parsed with one day/month order
for the whole table and turned into days from infusion; every other field parsed by the type its
schema declares (``ltfu.cohort.parse.parse_field``: a new field is one line of ``schema.FIELDS``);
then small rules on the order of events and the contradictions between fields; and the derived
disease burden.  ``validate`` returns the problems; ``to_cohort`` returns the Cohort or raises
``DataError`` carrying all of them.  Problems name the column as the file names it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ltfu.cohort.dates import decide_order, order_counts, parse_dates
from ltfu.cohort.load import RawTable, _unique_columns
from ltfu.cohort.model import DEFAULT_BURDEN_THRESHOLD, Cohort
from ltfu.cohort.parse import (
    _CONTROL,
    _as_written,
    _categorical,
    _check_ids,
    _Collector,
    _control_rows,
    _dates_of_distinct,
    _distinct,
    _is_missing,
    _missing_mask,
    _numbers,
    _text,
    _typed_not_text,
    parse_field,
)
from ltfu.cohort.schema import DATE_FIELDS, FIELD_BY_NAME, FIELDS, resolve_columns
from ltfu.defaults import COMPLETE_RESPONSE
from ltfu.errors import DataError

# every canonical field that is read as a value (not a date, not the id): parsed by its type
VALUE_FIELDS = tuple(f for f in FIELDS if f.type not in ("date", "id"))
EVENT_DAYS = ("death_day", "response_day", "relapse_day", "allo_hct_day")

@dataclass
class Shared:
    """What a table validated in row batches (``ltfu.cohort.stream``) decides over the whole file,
    and what its batches add up.  Given to ``check`` for each batch: the dates are read in the file's
    order (``order``, from ``evidence``: every date column's proving values, not the batch's); the
    ids are checked over the whole file by the caller; the column-level problems, DAY_AND_DATE and
    NO_CUTOFF are said by the ``first`` batch only; the patients with an event after the cut-off are
    counted into ``after_cutoff`` (the caller says AFTER_CUTOFF once)."""

    order: str | None
    evidence: tuple
    first: bool = True
    after_cutoff: int = 0


@dataclass
class _Table:
    """One table under validation: the raw frame, its row numbers, the file's header, where each
    canonical field is in it, and the collector of problems."""

    df: pd.DataFrame
    rows: np.ndarray
    header: tuple
    canon: dict              # canonical name -> file column
    mapping: dict            # file column -> canonical name
    col: _Collector
    epoch_of: Any

    def has(self, name) -> bool:
        return name in self.canon

    def raw(self, name):
        return self.df[self.canon[name]]

    def missing(self, name, distinct=None):
        """The rows where a canonical column is missing (reusing the dates' distinct values)."""
        if distinct is not None and name in distinct and not _typed_not_text(self.raw(name)):
            codes, values = distinct[name]
            return np.array([_is_missing(v) for v in values], bool)[codes]
        return _missing_mask(self.raw(name))


def _open(table, shared: Shared | None = None) -> _Table:
    if isinstance(table, RawTable):
        df, rows, load_problems = table.data, table.row_numbers, list(table.problems)
        header = table.header or tuple(df.columns)
        epoch_of = table.epoch_of
    else:                               # a DataFrame: repeated names kept apart and reported, as a file's
        df, load_problems = _unique_columns(table.reset_index(drop=True))
        rows, header = np.arange(2, len(table) + 2), tuple(df.columns)
        epoch_of = lambda column: None
    mapping, duplicates, unknown, wrong_units = resolve_columns(df.columns)
    if set(header) != set(df.columns):   # projected: the column-level warnings still see every column
        _, _, unknown, wrong_units = resolve_columns(header)
    canon = {v: k for k, v in mapping.items()}                 # canonical -> file column name
    ids = _text(df[canon["patient_id"]]) if "patient_id" in canon else np.full(len(df), None, dtype=object)
    t = _Table(df, rows, header, canon, mapping, _Collector(rows, ids, canon), epoch_of)
    t.col.problems.extend(load_problems)
    t.col.cells = {d: df[canon[d]] for d in DATE_FIELDS if d in canon}
    _columns(t, duplicates, unknown, wrong_units, shared is None or shared.first)
    return t


def _columns(t: _Table, duplicates, unknown, wrong_units, first: bool):
    """Column-level problems: repeated, wrongly-united, unknown and missing columns, control
    characters in names and cells, an empty table.  Not ``first`` (a later batch of a table): only
    the cells'."""
    col, canon, df = t.col, t.canon, t.df
    if not first:
        duplicates, unknown, wrong_units = [], [], []
    for orig, c in duplicates:
        col.add("DUPLICATE_COLUMN", None, orig, message=f"{orig!r} is another name for {c!r}, "
                f"already given as {canon[c]!r}", fix="keep one of them")
    for orig, c, message in wrong_units:
        col.add("WRONG_UNIT", None, orig, message=message,
                fix=f"convert the values to {FIELD_BY_NAME[c].unit} and name the column {c!r} "
                    f"(or e.g. '{c} ({FIELD_BY_NAME[c].unit})')")
    for orig, suggestion in unknown:
        if str(orig).strip().lower() == "synthetic":           # the demonstration cohort's marker
            continue
        if suggestion:
            col.add("UNKNOWN_COLUMN", None, orig, message=f"not a field of the data model; did you mean "
                    f"{suggestion!r}?", fix=f"rename it to {suggestion!r}, or ignore if it is an extra covariate")
        else:
            col.add("UNKNOWN_COLUMN", None, orig, message="not a field of the data model: no analysis uses it",
                    fix="rename it to a field's name or alias (see `ltfu schema`) if it is one, or ignore it if "
                        "it is an extra covariate")
    if first and "burden" in canon:
        col.add("UNKNOWN_COLUMN", None, canon["burden"],
                message="ltfu derives the disease burden from marrow_blasts_pct and extramedullary "
                        "(--burden-threshold), so this column is not read",
                fix="rename it if it holds something else (it is then kept as an extra column); otherwise "
                    "remove it")
    for name in t.header if first else ():
        if _CONTROL.search(str(name)):
            col.add("CONTROL_CHARACTER", None, None, str(name), message="a column name holds a control character")
    for c in df.columns:
        for i in _control_rows(df[c]):
            col.add("CONTROL_CHARACTER", i, t.mapping.get(c, c), df[c].iloc[i],
                    message="a control character (shown escaped) in a text cell")
    if not first:
        return
    if len(df) == 0:
        col.add("EMPTY_TABLE")
    day_only = not any(d in canon for d in DATE_FIELDS) and any(d.replace("_date", "_day") in canon
                                                                 for d in DATE_FIELDS)
    for r in ["patient_id"] + ([] if day_only else ["infusion_date"]):
        if r not in canon:
            col.add("MISSING_COLUMN", None, r, message=f"required column {r!r} is missing")
    if "last_contact_date" not in canon and "last_contact_day" not in canon:
        col.add("MISSING_COLUMN", None, "last_contact_date",
                message="required column 'last_contact_date' (or 'last_contact_day') is missing")


def _dates(t: _Table, today, date_floor, shared: Shared | None):
    """Every date column parsed with one day/month order for the table (each distinct value once);
    FUTURE_DATE and IMPLAUSIBLE_DATE cells become NaT.  Returns (dates, distinct values)."""
    col, df, canon = t.col, t.df, t.canon
    distinct = {d: _distinct(df[canon[d]]) for d in DATE_FIELDS
                if d in canon and not pd.api.types.is_datetime64_any_dtype(df[canon[d]])}
    if shared is None:
        evidence = order_counts(v for _, values in distinct.values() for v in values if isinstance(v, str))
        order = decide_order(*evidence)
    else:
        order, evidence = shared.order, shared.evidence
    floor = np.datetime64(date_floor, "D")
    dates = {}
    for d in DATE_FIELDS:
        if d not in canon:
            continue
        epoch = t.epoch_of(canon[d])
        if d in distinct:                # each distinct value parsed once, then spread to its rows
            codes, values = distinct[d]
            parsed = _dates_of_distinct(codes, values, d, col, order=order, epoch=epoch, evidence=evidence)
        else:
            parsed, _ = parse_dates(df[canon[d]], order=order, epoch=epoch)
        future = parsed > np.datetime64(today)
        for i in np.flatnonzero(future):
            col.add("FUTURE_DATE", i, d, str(parsed[i]))
        early = parsed < floor
        for i in np.flatnonzero(early):
            raw = df[canon[d]].iloc[i]
            how = "" if isinstance(raw, str) and raw.strip().startswith(str(parsed[i])[:4]) else \
                f" (read as {parsed[i]})"
            col.add("IMPLAUSIBLE_DATE", i, d, raw, message=f"before {floor}, the earliest plausible date{how}",
                    fix="correct the date (a year such as 0001, or a small number read as a date, is an export "
                        "error); a trial that started earlier can lower the floor (date_floor)")
        parsed[future | early] = np.datetime64("NaT")
        dates[d] = parsed
    return dates, distinct


def _days(t: _Table, dates, cutoff, max_follow_up_years, out_columns, first: bool):
    """Every *_date as days from the infusion (or the *_day column), IMPLAUSIBLE_DATE beyond the
    plausible follow-up; returns the infusion dates and, for the order checks, ``pairwise`` times
    that also place the dates of a row whose infusion date is missing (from 1970)."""
    col, canon, n = t.col, t.canon, len(t.df)
    max_days = float(max_follow_up_years) * 365.25
    if "infusion_date" in dates:
        inf = dates["infusion_date"]
        out_columns["infusion_date"] = pd.to_datetime(inf)
    else:
        inf = np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
        out_columns["infusion_date"] = pd.Series(pd.NaT, index=range(n), dtype="datetime64[ns]")
    pairwise: dict[str, Any] = {}
    origin = np.datetime64("1970-01-01", "D")
    dated = any(d in dates for d in DATE_FIELDS[1:])
    no_infusion = np.isnat(inf)
    for d in DATE_FIELDS[1:]:
        day = d.replace("_date", "_day")
        values = np.full(n, np.nan)
        if day in canon:
            values = _numbers(t.raw(day), day, col)      # negative days: DATE_BEFORE_INFUSION, in the rules
        if d in dates:
            if day in canon and first:
                col.add("DAY_AND_DATE", None, d, message=f"both {canon[d]!r} and {canon[day]!r} are given; "
                        "the date is used")
            with np.errstate(invalid="ignore"):
                values = (dates[d] - inf).astype("timedelta64[D]").astype(float)
            values[np.isnat(dates[d]) | np.isnat(inf)] = np.nan
        with np.errstate(invalid="ignore"):
            long = values > max_days
        for i in np.flatnonzero(long):
            col.add("IMPLAUSIBLE_DATE", i, d if d in dates else day,
                    _as_written(t.raw(d).iloc[i]) if d in dates else f"day {values[i]:g}",
                    message=f"{values[i] / 365.25:,.0f} years after the infusion (day {values[i]:g}), more than "
                            f"the plausible {max_follow_up_years:g} years of follow-up",
                    fix="correct the value (days, not another unit?); a longer follow-up can raise the bound "
                        "(max_follow_up_years)")
        values[long] = np.nan
        out_columns[day] = values
        if not no_infusion.any():       # every row placed from its infusion: the days themselves
            pairwise[day] = None
            continue
        rel = values.copy()
        if d in dates:
            only_dates = no_infusion & ~np.isnat(dates[d])
            rel[only_dates] = (dates[d][only_dates] - origin).astype("timedelta64[D]").astype(float)
        elif dated:
            rel[no_infusion] = np.nan
        pairwise[day] = rel
    if cutoff is not None:              # the --cutoff option overrides the file's column
        with np.errstate(invalid="ignore"):
            cd = (np.datetime64(cutoff, "D") - inf).astype("timedelta64[D]").astype(float)
        cd[np.isnat(inf)] = np.nan
        out_columns["data_cutoff_day"] = cd
    return inf, pairwise


def _assemble(t: _Table, out_columns) -> pd.DataFrame:
    """The typed frame: the model's columns in a fixed order, then the file's other columns as read."""
    n, df = len(t.df), t.df
    out = pd.DataFrame(index=range(n))
    for name in ("patient_id", "infusion_date", *[d.replace("_date", "_day") for d in DATE_FIELDS[1:]],
                 *[c for c in out_columns if c not in ("patient_id", "infusion_date") and not c.endswith("_day")]):
        v = out_columns.pop(name)       # popped: pandas copies it, and the original is freed now
        out[name] = v.to_numpy() if isinstance(v, pd.Series) else v      # a fixed few: inserted one by one
    # extra columns are kept as read (usable as covariates): any number of them, so joined at once
    # (inserting them one by one copies the frame each time: quadratic in the number of columns)
    extras = [c for c in df.columns if c not in t.mapping and c not in out.columns]
    if len(extras) <= 64:
        for c in extras:
            out[c] = df[c].to_numpy()
    else:
        out = pd.concat([out, pd.DataFrame({c: df[c].to_numpy() for c in extras}, index=out.index)], axis=1)
    return out


def _burden(out, burden_threshold):
    """Derived disease burden: high (blasts >= threshold or extramedullary), low, or unknown."""
    thr = float(burden_threshold)
    blasts, emd = out["marrow_blasts_pct"].to_numpy(float), out["extramedullary"]
    emd_true = emd.fillna(False).to_numpy(bool)
    emd_known = emd.notna().to_numpy()
    high = emd_true | (blasts >= thr)
    low = (blasts < thr) & emd_known & ~emd_true
    # categorical, as the other texts (``parse._categorical``): "high" and "low", missing NaN
    out["burden"] = _categorical(["high", "low", None], np.where(high, 0, np.where(low, 1, 2)))


def _check(table, cutoff, burden_threshold, today, date_floor, max_follow_up_years, shared=None):
    t = _open(table, shared)
    col, canon, n = t.col, t.canon, len(t.df)
    out_columns = {"patient_id": col.ids}
    if "patient_id" in canon and shared is None:
        _check_ids(col.ids, col, t.raw("patient_id"))
    dates, distinct = _dates(t, today, date_floor, shared)
    inf, pairwise = _days(t, dates, cutoff, max_follow_up_years, out_columns, shared is None or shared.first)
    if "infusion_date" in dates:
        for i in np.flatnonzero(np.isnat(inf) & t.missing("infusion_date", distinct)):
            col.add_missing(i, "infusion_date", t.raw("infusion_date").iloc[i])
    if "last_contact_date" in canon or "last_contact_day" in canon:
        src = "last_contact_date" if "last_contact_date" in canon else "last_contact_day"
        for i in np.flatnonzero(np.isnan(out_columns["last_contact_day"]) & t.missing(src, distinct)):
            col.add_missing(i, src, t.raw(src).iloc[i])
    for f in VALUE_FIELDS:             # every other field, by its declared type
        if f.name in canon:
            out_columns[f.name] = parse_field(t.raw(f.name), f, col, categorical=True)
        else:
            out_columns[f.name] = _absent(f, n)
    out = _assemble(t, out_columns)
    given = {}
    for d in DATE_FIELDS[1:]:
        day = d.replace("_date", "_day")
        src = d if d in canon else day if day in canon else None
        given[day] = ~t.missing(src, distinct) if src else np.zeros(n, bool)
    has_cutoff = cutoff is not None or "data_cutoff_date" in canon or "data_cutoff_day" in canon
    _consistency(out, col, has_cutoff, given, pairwise, shared, cutoff)
    _burden(out, burden_threshold)
    cut = None
    if cutoff is not None:
        cut = str(np.datetime64(cutoff, "D"))
    elif "data_cutoff_date" in dates:
        ok = dates["data_cutoff_date"][~np.isnat(dates["data_cutoff_date"])]
        cut = str(ok.max()) if ok.size else None
    return col.problems, out, cut


def _absent(f, n):
    """The column of a field the file does not have: missing everywhere, in the field's dtype."""
    if f.type == "yesno":
        return pd.array([None] * n, dtype="boolean")
    if f.type == "integer":
        return pd.array([None] * n, dtype="Int64")
    if f.type == "number":
        return np.full(n, np.nan)
    if f.type in ("code", "text"):                 # the patient table's texts are categorical
        return _categorical([None], np.zeros(n, np.int64))
    return np.full(n, None, dtype=object)


def _consistency(out, col: _Collector, has_cutoff: bool, given: dict, pairwise: dict, shared: Shared | None,
                 cutoff=None):
    """Order and contradiction rules.  Rules about a value being absent use ``given`` (was anything
    written in the file?), so a date that could not be read does not also count as missing.  The
    order of two events is checked on ``pairwise`` times, which also place the dates of a row whose
    infusion date is missing or unreadable (so those checks still run)."""
    days = {c: out[c].to_numpy(float) for c in ("last_contact_day", "death_day", "response_day", "relapse_day",
                                                 "allo_hct_day", "data_cutoff_day")}
    placed = {c: days[c] if pairwise.get(c) is None else pairwise[c] for c in days if c in pairwise}
    _order_rules(out, col, days, placed)
    _response_rules(out, col, given, placed)
    _crs_rules(out, col, given)
    _cutoff_rules(col, days, has_cutoff, shared, cutoff)


def _order_rules(out, col, days, placed):
    """Events dated before the infusion, relapse before response, events after the last contact,
    contact after death; a death after the last contact becomes the last contact."""
    last, death, resp, rel = (days[c] for c in ("last_contact_day", "death_day", "response_day", "relapse_day"))
    p_last, p_death, p_resp, p_rel = (placed[c] for c in ("last_contact_day", "death_day", "response_day",
                                                          "relapse_day"))
    with np.errstate(invalid="ignore"):
        for name in ("last_contact_day", "death_day", "response_day", "relapse_day", "allo_hct_day"):
            v = days[name]
            for i in np.flatnonzero(v < 0):
                col.add_dated("DATE_BEFORE_INFUSION", i, _date_name(name, col), f"day {v[i]:g}")
        for i in np.flatnonzero(p_rel < p_resp):
            col.add_dated("RELAPSE_BEFORE_RESPONSE", i, _date_name("relapse_day", col),
                          f"day {rel[i]:g} < {resp[i]:g}" if not np.isnan(rel[i]) else
                          f"{p_resp[i] - p_rel[i]:g} days before the response")
        for name in ("response_day", "relapse_day", "allo_hct_day"):
            v = placed[name]
            for i in np.flatnonzero(v > p_last):
                col.add_dated("EVENT_AFTER_LAST_CONTACT", i, _date_name(name, col),
                              f"day {out[name].iloc[i]:g} > last contact {last[i]:g}" if not np.isnan(last[i]) else
                              f"{v[i] - p_last[i]:g} days after the last contact")
        for i in np.flatnonzero(p_last > p_death):
            col.add_dated("CONTACT_AFTER_DEATH", i, _date_name("last_contact_day", col),
                          f"last contact day {last[i]:g} > death day {death[i]:g}" if not np.isnan(last[i]) else
                          f"last contact {p_last[i] - p_death[i]:g} days after death")
        for i in np.flatnonzero(p_death > p_last):
            col.add_dated("DEATH_AFTER_LAST_CONTACT", i, _date_name("death_day", col), f"day {death[i]:g}"
                          if not np.isnan(death[i]) else f"{p_death[i] - p_last[i]:g} days after the last contact")
        late = death > last
        out.loc[late, "last_contact_day"] = death[late]


def _response_rules(out, col, given, placed):
    """A CR patient who relapsed needs a response date; a relapse without a response is a warning."""
    cr = out["best_response"].isin(COMPLETE_RESPONSE).to_numpy()
    for i in np.flatnonzero(cr & given["relapse_day"] & ~given["response_day"]):
        col.add("CR_RELAPSE_NO_RESPONSE_DATE", i, _date_name("response_day", col))
    responded = out["best_response"].isin([*COMPLETE_RESPONSE, "PR"]).to_numpy()
    known = out["best_response"].notna().to_numpy()
    for i in np.flatnonzero(~responded & known & ~np.isnan(placed["relapse_day"])):
        col.add("RELAPSE_WITHOUT_RESPONSE", i, "best_response", out["best_response"].iloc[i])
    cd19 = out["relapse_cd19"].isin(["positive", "negative"]).to_numpy()
    for i in np.flatnonzero(cd19 & ~given["relapse_day"]):
        col.add("CD19_WITHOUT_RELAPSE", i, "relapse_cd19", out["relapse_cd19"].iloc[i])


def _crs_rules(out, col, given):
    """A death attributed to CRS is grade 5 (and grade 5 is such a death), and needs a death date."""
    crs_death = out["crs_death"].fillna(False).to_numpy(bool)
    crs_death_known_no = (out["crs_death"] == False).fillna(False).to_numpy(bool)  # noqa: E712
    grade = out["crs_grade"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    for i in np.flatnonzero((crs_death & (grade != 5) & ~np.isnan(grade)) | (crs_death_known_no & (grade == 5))):
        col.add("CRS_DEATH_GRADE", i, "crs_death", f"crs_death={'yes' if crs_death[i] else 'no'}, grade {grade[i]:g}")
    for i in np.flatnonzero(crs_death & ~given["death_day"]):       # a death date written but unreadable: not this
        col.add("CRS_DEATH_NO_DEATH", i, "crs_death", "yes")


def _cutoff_rules(col, days, has_cutoff, shared: Shared | None, given_cutoff=None):
    """A cut-off before the infusion; events after the cut-off (one warning); no cut-off at all.
    ``given_cutoff``: the cut-off given in place of the file's column (``--cutoff``), which is then
    the value a problem shows: the file's own date played no part."""
    cutoff = days["data_cutoff_day"]
    with np.errstate(invalid="ignore"):
        for i in np.flatnonzero(cutoff < 0):
            if given_cutoff is None:
                col.add_dated("CUTOFF_BEFORE_INFUSION", i, _date_name("data_cutoff_day", col), f"day {cutoff[i]:g}")
            else:
                col.add("CUTOFF_BEFORE_INFUSION", i, "data_cutoff_date", str(np.datetime64(given_cutoff, "D")),
                        message=f"the data cut-off given for the analysis (not the file's) is before the infusion "
                                f"(day {cutoff[i]:g})", fix="correct the cut-off given, or give none to use the file's")
        after = np.zeros(cutoff.size, bool)
        for c in ("death_day", "response_day", "relapse_day", "allo_hct_day", "last_contact_day"):
            after |= days[c] > cutoff
    if shared is not None:
        shared.after_cutoff += int(after.sum())
    elif after.any():
        after_cutoff(col, int(after.sum()))
    if not has_cutoff and (shared is None or shared.first):
        col.add("NO_CUTOFF", None, "data_cutoff_date")


def after_cutoff(col: _Collector, count: int):
    """The one AFTER_CUTOFF warning of a table, naming how many patients it concerns."""
    col.add("AFTER_CUTOFF", None, "data_cutoff_date",
            message=f"{count} patient(s) have an event or contact after the data cut-off: "
                    "later events are ignored and they are censored at the cut-off")


def _date_name(day_name, col: _Collector):
    """The file's column for a *_day quantity: its *_date column if given, else the *_day column."""
    date = day_name.replace("_day", "_date")
    return date if date in col.names else day_name


DEFAULT_DATE_FLOOR = "1990-01-01"     # an earlier date is IMPLAUSIBLE_DATE (CAR T cells: infused since 2010)
DEFAULT_MAX_FOLLOW_UP_YEARS = 50.0    # a longer time from infusion is IMPLAUSIBLE_DATE


def check(table, *, cutoff=None, burden_threshold: float = DEFAULT_BURDEN_THRESHOLD, today=None,
          date_floor=DEFAULT_DATE_FLOOR, max_follow_up_years: float = DEFAULT_MAX_FOLLOW_UP_YEARS,
          shared: Shared | None = None):
    """(every problem, the typed table, the data cut-off) of a RawTable or DataFrame, errors or not
    (the study's validation checks its other tables against the typed patients).  ``shared``: the
    table is one batch of a larger one (``Shared``)."""
    return _check(table, cutoff, burden_threshold, today or dt.date.today(), date_floor, max_follow_up_years,
                  shared)


def validate(table, *, cutoff=None, burden_threshold: float = DEFAULT_BURDEN_THRESHOLD, today=None,
             date_floor=DEFAULT_DATE_FLOOR, max_follow_up_years: float = DEFAULT_MAX_FOLLOW_UP_YEARS):
    """Every problem of a RawTable (or DataFrame), never only the first.

    ``date_floor``: dates before it are IMPLAUSIBLE_DATE; ``max_follow_up_years``: a longer time from
    infusion is IMPLAUSIBLE_DATE; dates after ``today`` are FUTURE_DATE.
    """
    problems, _, _ = _check(table, cutoff, burden_threshold, today or dt.date.today(), date_floor,
                            max_follow_up_years)
    return problems


def to_cohort(table, *, cutoff=None, burden_threshold: float = DEFAULT_BURDEN_THRESHOLD,
              synthetic: bool = False, today=None, date_floor=DEFAULT_DATE_FLOOR,
              max_follow_up_years: float = DEFAULT_MAX_FOLLOW_UP_YEARS) -> Cohort:
    """The typed Cohort; raises DataError listing every problem when there are errors."""
    problems, data, cut = _check(table, cutoff, burden_threshold, today or dt.date.today(), date_floor,
                                 max_follow_up_years)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise DataError(f"{len(errors)} error(s) in the patient table", problems)
    source = table.source if isinstance(table, RawTable) else "<memory>"
    sha = table.sha256 if isinstance(table, RawTable) else None
    warnings = tuple(p for p in problems if p.severity == "warning")
    return Cohort(data, source, sha, float(burden_threshold), cut, synthetic, warnings)
