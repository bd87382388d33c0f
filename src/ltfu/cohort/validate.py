"""Validation that lists every problem at once, and the typed Cohort built from a clean table.

One pass reads every field (collecting, never raising), then checks the order of events and the
contradictions between fields.  ``validate`` returns the problems; ``to_cohort`` returns the Cohort
or raises ``DataError`` carrying all of them.  Problems name the column as the file names it.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

import numpy as np
import pandas as pd

from ltfu.cohort.dates import decide_order, order_counts, parse_dates
from ltfu.cohort.load import RawTable
from ltfu.cohort.model import DEFAULT_BURDEN_THRESHOLD, Cohort
from ltfu.cohort.problems import _CONTROL, CONTROL_CHARACTERS, PROBLEM_CODES, Problem, truncate
from ltfu.cohort.schema import DATE_FIELDS, FIELD_BY_NAME, resolve_columns
from ltfu.errors import DataError

EVENT_DAYS = ("death_day", "response_day", "relapse_day", "allo_hct_day")
_SYNONYMS = {
    "yesno": {"yes": "yes", "y": "yes", "1": "yes", "true": "yes", "t": "yes", "1.0": "yes",
              "no": "no", "n": "no", "0": "no", "false": "no", "f": "no", "0.0": "no"},
    "mrd_negative": {"yes": "yes", "y": "yes", "1": "yes", "true": "yes", "negative": "yes", "neg": "yes",
                     "no": "no", "n": "no", "0": "no", "false": "no", "positive": "no", "pos": "no",
                     "unknown": "unknown", "unk": "unknown", "ne": "unknown", "not evaluable": "unknown"},
    "sex": {"f": "F", "female": "F", "w": "F", "m": "M", "male": "M", "other": "other",
            "unknown": "unknown", "u": "unknown"},
    "relapse_cd19": {"positive": "positive", "pos": "positive", "+": "positive", "negative": "negative",
                     "neg": "negative", "-": "negative", "unknown": "unknown", "unk": "unknown"},
    "best_response": {"cr": "CR", "cri": "CRi", "pr": "PR", "sd": "SD", "pd": "PD", "nr": "NR", "ne": "NE",
                      "crh": "CRi", "mlfs": "PR"},
}
_MISSING_TOKENS = ("", "NA", "N/A", "NAN", "NULL", "NONE", ".")
_NUM = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


class _Collector:
    def __init__(self, rows, ids, names):
        self.rows, self.ids, self.names = rows, ids, names
        self.problems = []

    def add(self, code, idx=None, field=None, value=None, message=None, fix=None, severity=None):
        sev, meaning, todo = PROBLEM_CODES[code]
        row = None if idx is None else int(self.rows[idx])
        pid = None if idx is None else self.ids[idx]
        col = self.names.get(field, field)
        self.problems.append(Problem(code, severity or sev, row, pid, col, value,
                                     message or meaning, fix or todo))

    @staticmethod
    def make(code, *, field=None, value=None, message=None, fix=None, row=None, patient_id=None):
        """A Problem that belongs to no row of a collector (a whole column, a whole dataset)."""
        sev, meaning, todo = PROBLEM_CODES[code]
        return Problem(code, sev, row, patient_id, field, value, message or meaning, fix or todo)


def _is_missing(v) -> bool:
    if v is None or v is pd.NaT or v is pd.NA:
        return True
    if isinstance(v, float) and np.isnan(v):
        return True
    return isinstance(v, str) and v.strip().upper() in _MISSING_TOKENS


def _distinct(series):
    """``(codes, values)`` with ``values[codes[i]]`` the value of row i.

    Every rule below is a function of one cell's value, so it is applied once per distinct value
    (a registry column has a few thousand) and spread back to the rows; the answers are those of a
    loop over every cell.  Missing values (None, NaN, NA) share the last slot, as ``None``.  A
    column mixing Python types (Excel) is not factorised, because 1, 1.0 and True hash alike.
    """
    if series.dtype == object and pd.api.types.infer_dtype(series, skipna=True) not in ("string", "empty"):
        values = series.tolist()
        return np.arange(len(values)), values
    if series.dtype == object and "\x00" in _joined(series.tolist()):
        # pandas factorises Python strings as C strings, so "a\x00b" would count as "a": a dict does not
        index, codes = {}, np.empty(len(series), np.int64)
        for i, v in enumerate(series.tolist()):
            codes[i] = -1 if v is None or (isinstance(v, float) and np.isnan(v)) else index.setdefault(v, len(index))
        uniques = list(index)
    else:
        codes, uniques = pd.factorize(series, use_na_sentinel=True)
    values = [*(uniques.tolist() if hasattr(uniques, "tolist") else list(uniques)), None]
    codes = np.where(codes < 0, len(values) - 1, codes)
    return codes, values


def _joined(values) -> str:
    """Every text among ``values`` joined into one string: one C-speed pass answers "does any cell
    hold character X" for a whole object column."""
    try:
        return "".join(values)
    except TypeError:                   # missing values, numbers, dates among the texts
        return "".join(v for v in values if isinstance(v, str))


def _rows_of(codes, flagged):
    """Rows, in file order, whose distinct value is among ``flagged`` (indices into values)."""
    if not flagged:
        return np.empty(0, np.int64)
    mark = np.zeros(max(int(codes.max(initial=0)), max(flagged)) + 1, bool)
    mark[list(flagged)] = True
    return np.flatnonzero(mark[codes])


def _missing_mask(series):
    codes, values = _distinct(series)
    return np.array([_is_missing(v) for v in values], bool)[codes]


def _number(v, f, integer):
    """(number or nan, problem or None) for one cell; problem = (code, value, message, fix)."""
    if _is_missing(v):
        return np.nan, None
    if isinstance(v, (bool, np.bool_)):
        return np.nan, ("BAD_NUMBER", v, None, None)
    if isinstance(v, (int, float, np.integer, np.floating)):
        x = float(v)
    else:
        s = str(v).strip()
        if not _NUM.match(s):
            hint = "use a dot as the decimal mark" if re.match(r"^[+-]?[0-9]+,[0-9]+$", s) else None
            return np.nan, ("BAD_NUMBER", s, None, hint)
        x = float(s)
    if not np.isfinite(x):
        return np.nan, ("BAD_NUMBER", v, _NOT_FINITE, None)
    if integer and not float(x).is_integer():
        return np.nan, ("BAD_NUMBER", v, "a whole number is expected", None)
    if (f.low is not None and x < f.low) or (f.high is not None and x > f.high):
        return np.nan, ("OUT_OF_RANGE", v, _range_text(f), None)
    return x, None


_NOT_FINITE = "not a finite number (infinity or NaN)"


def _range_text(f) -> str:
    if f.high is None:
        return f"below {f.low:g}"
    if f.low is None:
        return f"above {f.high:g}"
    return f"outside {f.low:g} to {f.high:g}"


def _numbers(series, name, col: _Collector, *, integer=False, field=None):
    """Floats (nan = missing) from a raw column, with BAD_NUMBER/OUT_OF_RANGE problems.  ``field``:
    the Field whose range applies (default: the data model's field ``name``)."""
    f = field or FIELD_BY_NAME[name]
    if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype):
        # a typed numeric column (Parquet, SAS): the same rules as _number, on the whole array
        x = series.to_numpy(dtype=float, na_value=np.nan)
        with np.errstate(invalid="ignore"):
            infinite = np.isinf(x)
            fraction = ~np.isnan(x) & ~infinite & (x != np.floor(x)) if integer else np.zeros(len(x), bool)
            outside = ~np.isnan(x) & ~infinite & ~fraction & (
                (x < (f.low if f.low is not None else -np.inf)) | (x > (f.high if f.high is not None else np.inf)))
        for i in np.flatnonzero(infinite | fraction | outside):
            v = series.iloc[i]
            if infinite[i]:
                col.add("BAD_NUMBER", i, name, v, message=_NOT_FINITE)
            elif fraction[i]:
                col.add("BAD_NUMBER", i, name, v, message="a whole number is expected")
            else:
                col.add("OUT_OF_RANGE", i, name, v, message=_range_text(f))
        x = x.copy()
        x[infinite | fraction | outside] = np.nan
        return x
    codes, values = _distinct(series)
    results = [_number(v, f, integer) for v in values]
    bad = {k for k, (_, p) in enumerate(results) if p is not None}
    for i in _rows_of(codes, bad):
        code, value, message, fix = results[codes[i]][1]
        col.add(code, i, name, value, message=message, fix=fix)
    return np.array([x for x, _ in results], float)[codes]


def _code(v, table, allowed):
    if _is_missing(v):
        return None
    key = str(v).strip().lower()
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        key = str(int(v))
    return (table or {}).get(key) or allowed.get(key)


def _codes(series, name, col: _Collector):
    """The canonical code of each cell (None if missing or unreadable, with BAD_CODE) as objects."""
    f = FIELD_BY_NAME[name]
    table = _SYNONYMS.get(name) or (_SYNONYMS["yesno"] if f.type == "yesno" else None)
    allowed = {a.lower(): a for a in f.allowed}
    codes, values = _distinct(series)
    mapped = [_code(v, table, allowed) for v in values]
    bad = {k for k, (v, m) in enumerate(zip(values, mapped)) if m is None and not _is_missing(v)}
    for i in _rows_of(codes, bad):
        col.add("BAD_CODE", i, name, values[codes[i]], message=f"allowed: {', '.join(f.allowed)}")
    return np.array(mapped, dtype=object)[codes]


_PLAIN_ASCII = r"[!-~]([ -~]*[!-~])?"    # printable ASCII, no space at either end


def _text(series):
    """Each cell stripped, None where missing (the rule of ``_is_missing``)."""
    if isinstance(series.dtype, pd.StringDtype):
        # Patient ids are all distinct, so the per-distinct-value loop would visit every row.  A cell
        # of printable ASCII without surrounding spaces is its own stripped form and is missing only
        # if it is one of the tokens: decided for the whole column at once; only the others go
        # through the per-value rule (tests compare both on arbitrary text).
        plain = series.str.fullmatch(_PLAIN_ASCII).fillna(False).to_numpy(bool)
        out = series.to_numpy(dtype=object, na_value=None)
        out[plain & series.str.upper().isin(_MISSING_TOKENS).to_numpy(bool)] = None
        rest = np.flatnonzero(~plain)
        out[rest] = [None if _is_missing(v) else str(v).strip() for v in out[rest]] if rest.size else []
        return out
    codes, values = _distinct(series)
    return np.array([None if _is_missing(v) else str(v).strip() for v in values], dtype=object)[codes]


def _control_rows(series) -> np.ndarray:
    """Rows whose cell is text holding a control character (problems.CONTROL_CHARACTERS)."""
    if isinstance(series.dtype, pd.StringDtype):
        if not _may_hold_controls(series):
            return np.empty(0, np.int64)
        return np.flatnonzero(series.str.contains(CONTROL_CHARACTERS, regex=True).fillna(False).to_numpy(bool))
    if series.dtype != object or not _CONTROL.search(_joined(series.tolist())):
        return np.empty(0, np.int64)
    codes, values = _distinct(series)
    return _rows_of(codes, {k for k, v in enumerate(values) if isinstance(v, str) and _CONTROL.search(v)})


def _may_hold_controls(series) -> bool:
    """False when the UTF-8 bytes of a pyarrow text column cannot encode a control character (a
    byte below 0x20 other than tab, DEL, C2 80-9F, E2 80 AA-AE, E2 81 A6-A9): then the per-row search
    is skipped, which keeps a registry's text columns cheap.  True when unsure."""
    import pyarrow as pa

    try:
        chunked = pa.chunked_array(series.array._pa_array)
    except (AttributeError, TypeError, pa.ArrowException):
        return True
    for chunk in chunked.chunks:
        buffers = chunk.buffers()
        if len(buffers) < 3 or buffers[2] is None:
            continue
        b = np.frombuffer(buffers[2], np.uint8)
        if np.any(((b < 0x20) & (b != 0x09)) | (b == 0x7F)):
            return True
        lead = np.flatnonzero(b[:-1] == 0xC2)
        if lead.size and np.any((b[lead + 1] >= 0x80) & (b[lead + 1] <= 0x9F)):
            return True
        lead = np.flatnonzero(b[:-2] == 0xE2)
        if lead.size:
            second, third = b[lead + 1], b[lead + 2]
            if np.any(((second == 0x80) & (third >= 0xAA) & (third <= 0xAE))
                      | ((second == 0x81) & (third >= 0xA6) & (third <= 0xA9))):
                return True
    return False


def _id_keys(ids) -> np.ndarray:
    """The form of each id used to find duplicates: NFKC (full-width letters and digits become
    plain ones), without format characters (zero-width spaces and joiners, soft hyphens,
    direction marks: Unicode category Cf), stripped.  Printable ASCII ids are their own key."""
    keys = np.array(ids, dtype=object)
    for i, v in enumerate(keys):
        if v is not None and not (v.isascii() and v.isprintable()):
            k = "".join(ch for ch in unicodedata.normalize("NFKC", v) if unicodedata.category(ch) != "Cf").strip()
            keys[i] = k or v
    return keys


def _case_variants_possible(raw, ids) -> bool:
    """False when no two ids can differ only by case: every id ASCII and the column without lower-case
    letters, or without upper-case ones (a registry's R0000001 ...); decided on the arrow column."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if raw is not None and isinstance(raw.dtype, pd.StringDtype):
        try:
            arr = pa.chunked_array(raw.array._pa_array)
        except (AttributeError, TypeError, pa.ArrowException):
            return True
        if not pc.all(pc.string_is_ascii(arr)).as_py() in (True, None):
            return True
        return bool(pc.any(pc.match_substring_regex(arr, "[a-z]")).as_py()) and \
            bool(pc.any(pc.match_substring_regex(arr, "[A-Z]")).as_py())
    joined = _joined(list(ids))
    return not joined.isascii() or (joined.lower() != joined and joined.upper() != joined)


def _all_plain(raw, ids) -> bool:
    """Whether every id is printable ASCII (its own normalised key); on the arrow column when there is one."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if raw is not None and isinstance(raw.dtype, pd.StringDtype):
        try:
            arr = pa.chunked_array(raw.array._pa_array)
            return pc.all(pc.and_(pc.string_is_ascii(arr), pc.ascii_is_printable(arr))).as_py() in (True, None)
        except (AttributeError, TypeError, pa.ArrowException):
            pass
    joined = _joined(list(ids))
    return joined.isascii() and joined.isprintable()


def _check_ids(ids, col: _Collector, raw=None):
    """MISSING_VALUE, DUPLICATE_ID (on the normalised ids, ``_id_keys``) and ID_CASE_VARIANT.
    ``raw``: the column as read, which lets a registry of plain ids skip the per-id work."""
    s = pd.Series(ids, dtype=object)
    for i in np.flatnonzero(s.isna().to_numpy()):
        col.add("MISSING_VALUE", i, "patient_id")
    keys = s if _all_plain(raw, ids) else pd.Series(_id_keys(ids), dtype=object)
    dup = (keys.notna() & keys.duplicated(keep=False)).to_numpy()
    if dup.any():
        rows = np.flatnonzero(dup)
        first = pd.Series(rows).groupby(keys.iloc[rows].to_numpy()).transform("min").to_numpy()
        for i, f in zip(rows, first):
            if ids[i] != ids[f] and i != f:
                col.add("DUPLICATE_ID", i, "patient_id", ids[i],
                        message=f"the same id as row {col.rows[f]} ({truncate(ids[f])}) once invisible characters "
                                "and full-width forms are ignored")
            else:
                col.add("DUPLICATE_ID", i, "patient_id", ids[i])
    if not _case_variants_possible(raw, ids):
        return
    folded = keys.map(lambda k: None if k is None else k.casefold())
    variant = (folded.notna() & folded.duplicated(keep=False)).to_numpy() & ~dup
    if variant.any():
        rows = np.flatnonzero(variant | (folded.notna() & folded.isin(set(folded[variant]))).to_numpy())
        first = pd.Series(rows).groupby(folded.iloc[rows].to_numpy()).transform("min").to_numpy()
        for i, f in zip(rows, first):
            if variant[i] and keys[i] != keys[f]:
                col.add("ID_CASE_VARIANT", i, "patient_id", ids[i],
                        message=f"differs only by upper/lower case from row {col.rows[f]}'s id {truncate(ids[f])}")


def _check(table, cutoff, burden_threshold, today, date_floor, max_follow_up_years):
    if isinstance(table, RawTable):
        df, rows, load_problems = table.data, table.row_numbers, list(table.problems)
        header = table.header or tuple(df.columns)
        epoch_of = table.epoch_of
    else:
        df, rows, load_problems = table.reset_index(drop=True), np.arange(2, len(table) + 2), []
        header = tuple(df.columns)
        epoch_of = lambda column: None  # noqa: E731 - an in-memory table: numbers are never dates
    mapping, duplicates, unknown, wrong_units = resolve_columns(df.columns)
    if set(header) != set(df.columns):   # projected: the column-level warnings still see every column
        _, _, unknown, wrong_units = resolve_columns(header)
    canon = {v: k for k, v in mapping.items()}                 # canonical -> file column name
    ids = _text(df[canon["patient_id"]]) if "patient_id" in canon else np.full(len(df), None, dtype=object)
    col = _Collector(rows, ids, canon)
    col.problems.extend(load_problems)
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
    for name in header:
        if _CONTROL.search(str(name)):
            col.add("CONTROL_CHARACTER", None, None, str(name), message="a column name holds a control character")
    for c in df.columns:
        for i in _control_rows(df[c]):
            col.add("CONTROL_CHARACTER", i, mapping.get(c, c), df[c].iloc[i],
                    message="a control character (shown escaped) in a text cell")
    if len(df) == 0:
        col.add("EMPTY_TABLE")
    day_only = not any(d in canon for d in DATE_FIELDS) and any(d.replace("_date", "_day") in canon
                                                                 for d in DATE_FIELDS)
    required = ["patient_id"] + ([] if day_only else ["infusion_date"])
    for r in required:
        if r not in canon:
            col.add("MISSING_COLUMN", None, r, message=f"required column {r!r} is missing")
    if "last_contact_date" not in canon and "last_contact_day" not in canon:
        col.add("MISSING_COLUMN", None, "last_contact_date",
                message="required column 'last_contact_date' (or 'last_contact_day') is missing")
    n = len(df)
    out_columns = {"patient_id": ids}
    if "patient_id" in canon:
        _check_ids(ids, col, df[canon["patient_id"]])
    # dates -> days since infusion
    distinct = {d: _distinct(df[canon[d]]) for d in DATE_FIELDS
                if d in canon and not pd.api.types.is_datetime64_any_dtype(df[canon[d]])}
    evidence = order_counts(v for _, values in distinct.values() for v in values if isinstance(v, str))
    order = decide_order(*evidence)
    floor = np.datetime64(date_floor, "D")
    max_days = float(max_follow_up_years) * 365.25

    def missing(name):                   # a canonical column's missing cells, reusing the dates' distinct values
        if name in distinct:
            codes, values = distinct[name]
            return np.array([_is_missing(v) for v in values], bool)[codes]
        return _missing_mask(df[canon[name]])

    dates = {}
    for d in DATE_FIELDS:
        if d not in canon:
            continue
        epoch = epoch_of(canon[d])
        if d in distinct:                # each distinct value parsed once, then spread to its rows
            codes, values = distinct[d]
            parsed_values, issues = parse_dates(values, order=order, epoch=epoch, evidence=evidence)
            parsed = parsed_values[codes]
            found = {k: (code, msg) for k, code, msg in issues}
            for i in _rows_of(codes, found):
                code, msg = found[codes[i]]
                col.add(code, i, d, values[codes[i]], message=msg)
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
    if "infusion_date" in dates:
        inf = dates["infusion_date"]
        for i in np.flatnonzero(np.isnat(inf) & missing("infusion_date")):
            col.add("MISSING_VALUE", i, "infusion_date")
        out_columns["infusion_date"] = pd.to_datetime(inf)
    else:
        inf = np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
        out_columns["infusion_date"] = pd.Series(pd.NaT, index=range(n), dtype="datetime64[ns]")
    cutoff_date = None
    if cutoff is not None:
        cutoff_date = np.datetime64(cutoff, "D")
    pairwise = {}           # for the order checks: days from infusion, or from 1970 where only dates tell
    origin = np.datetime64("1970-01-01", "D")
    # in a row without a usable infusion date, dates are placed from 1970 and *_day values cannot be
    # placed next to them (unless the table gives no dates at all)
    dated = any(d in dates for d in DATE_FIELDS[1:])
    no_infusion = np.isnat(inf)
    for d in DATE_FIELDS[1:]:
        day = d.replace("_date", "_day")
        values = np.full(n, np.nan)
        if day in canon:
            values = _numbers(df[canon[day]], day, col)      # negative days: DATE_BEFORE_INFUSION, below
        if d in dates:
            if day in canon:
                col.add("DAY_AND_DATE", None, d, message=f"both {canon[d]!r} and {canon[day]!r} are given; "
                        "the date is used")
            with np.errstate(invalid="ignore"):
                values = (dates[d] - inf).astype("timedelta64[D]").astype(float)
            values[np.isnat(dates[d]) | np.isnat(inf)] = np.nan
        with np.errstate(invalid="ignore"):
            long = values > max_days
        for i in np.flatnonzero(long):
            col.add("IMPLAUSIBLE_DATE", i, d if d in dates else day, f"day {values[i]:g}",
                    message=f"{values[i] / 365.25:,.0f} years after the infusion, more than the plausible "
                            f"{max_follow_up_years:g} years of follow-up",
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
    if cutoff_date is not None:   # the --cutoff option overrides the file's column
        with np.errstate(invalid="ignore"):
            cd = (cutoff_date - inf).astype("timedelta64[D]").astype(float)
        cd[np.isnat(inf)] = np.nan
        out_columns["data_cutoff_day"] = cd
    if "last_contact_date" in canon or "last_contact_day" in canon:
        src = "last_contact_date" if "last_contact_date" in canon else "last_contact_day"
        for i in np.flatnonzero(np.isnan(out_columns["last_contact_day"]) & missing(src)):
            col.add("MISSING_VALUE", i, src)
    # disease, toxicity, baseline
    for name in ("best_response", "mrd_negative", "relapse_cd19", "sex"):
        out_columns[name] = _codes(df[canon[name]], name, col) if name in canon else np.full(n, None, dtype=object)
    for name in ("extramedullary", "crs_death", "ph_positive", "prior_allo_hct", "prior_blinatumomab",
                 "prior_inotuzumab"):
        if name in canon:
            codes = _codes(df[canon[name]], name, col)
            flag = pd.array(codes == "yes", dtype="boolean")
            flag[pd.isna(codes)] = pd.NA
            out_columns[name] = flag
        else:
            out_columns[name] = pd.array([None] * n, dtype="boolean")
    for name in ("marrow_blasts_pct", "age", "dose_cells_per_kg"):
        out_columns[name] = _numbers(df[canon[name]], name, col) if name in canon else np.full(n, np.nan)
    for name in ("crs_grade", "neurotox_grade", "prior_lines"):
        vals = _numbers(df[canon[name]], name, col, integer=True) if name in canon else np.full(n, np.nan)
        out_columns[name] = pd.array(vals, dtype="Float64").astype("Int64")
    for name in ("crs_scale", "neurotox_scale", "conditioning", "centre"):
        out_columns[name] = _text(df[canon[name]]) if name in canon else np.full(n, None, dtype=object)
    out = pd.DataFrame(index=range(n))
    for name in ("patient_id", "infusion_date", *[d.replace("_date", "_day") for d in DATE_FIELDS[1:]],
                 *[c for c in out_columns if c not in ("patient_id", "infusion_date") and not c.endswith("_day")]):
        v = out_columns.pop(name)       # popped: pandas copies it, and the original is freed now
        out[name] = v.to_numpy() if isinstance(v, pd.Series) else v      # a fixed few: inserted one by one
    # extra columns are kept as read (usable as covariates): any number of them, so joined at once
    # (inserting them one by one copies the frame each time: quadratic in the number of columns)
    extras = [c for c in df.columns if c not in mapping and c not in out.columns]
    if len(extras) <= 64:
        for c in extras:
            out[c] = df[c].to_numpy()
    else:
        out = pd.concat([out, pd.DataFrame({c: df[c].to_numpy() for c in extras}, index=out.index)], axis=1)
    given = {}
    for d in DATE_FIELDS[1:]:
        day = d.replace("_date", "_day")
        src = d if d in canon else day if day in canon else None
        given[day] = ~missing(src) if src else np.zeros(n, bool)
    _consistency(out, col, cutoff_date is not None or "data_cutoff_date" in canon or "data_cutoff_day" in canon,
                 given, pairwise)
    thr = float(burden_threshold)
    blasts, emd = out["marrow_blasts_pct"].to_numpy(float), out["extramedullary"]
    emd_true = emd.fillna(False).to_numpy(bool)
    emd_known = emd.notna().to_numpy()
    high = emd_true | (blasts >= thr)
    low = (blasts < thr) & emd_known & ~emd_true
    out["burden"] = np.where(high, "high", np.where(low, "low", None))
    out.loc[~high & ~low, "burden"] = None
    cut = None
    if cutoff_date is not None:
        cut = str(cutoff_date)
    elif "data_cutoff_date" in dates:
        ok = dates["data_cutoff_date"][~np.isnat(dates["data_cutoff_date"])]
        cut = str(ok.max()) if ok.size else None
    return col.problems, out, cut


def _consistency(out, col: _Collector, has_cutoff: bool, given: dict, pairwise: dict):
    """Order and contradiction checks.  Rules about a value being absent use ``given`` (was anything
    written in the file?), so a date that could not be read does not also count as missing.  The
    order of two events is checked on ``pairwise`` times, which also place the dates of a row whose
    infusion date is missing or unreadable (so those checks still run)."""
    g = lambda c: out[c].to_numpy(float)  # noqa: E731
    last, death, resp, rel, hct = g("last_contact_day"), g("death_day"), g("response_day"), g("relapse_day"), \
        g("allo_hct_day")
    p_last, p_death, p_resp, p_rel, p_hct = (g(c) if pairwise[c] is None else pairwise[c]
                                             for c in ("last_contact_day", "death_day", "response_day", "relapse_day",
                                                       "allo_hct_day"))
    with np.errstate(invalid="ignore"):
        for name, v in (("last_contact_day", last), ("death_day", death), ("response_day", resp),
                        ("relapse_day", rel), ("allo_hct_day", hct)):
            for i in np.flatnonzero(v < 0):
                col.add("DATE_BEFORE_INFUSION", i, _date_name(name, col), f"day {v[i]:g}")
        for i in np.flatnonzero(p_rel < p_resp):
            col.add("RELAPSE_BEFORE_RESPONSE", i, _date_name("relapse_day", col), f"day {rel[i]:g} < {resp[i]:g}"
                    if not np.isnan(rel[i]) else f"{p_resp[i] - p_rel[i]:g} days before the response")
        for name, v in (("response_day", p_resp), ("relapse_day", p_rel), ("allo_hct_day", p_hct)):
            for i in np.flatnonzero(v > p_last):
                col.add("EVENT_AFTER_LAST_CONTACT", i, _date_name(name, col),
                        f"day {out[name].iloc[i]:g} > last contact {last[i]:g}" if not np.isnan(last[i]) else
                        f"{v[i] - p_last[i]:g} days after the last contact")
        for i in np.flatnonzero(p_last > p_death):
            col.add("CONTACT_AFTER_DEATH", i, _date_name("last_contact_day", col),
                    f"last contact day {last[i]:g} > death day {death[i]:g}" if not np.isnan(last[i]) else
                    f"last contact {p_last[i] - p_death[i]:g} days after death")
        for i in np.flatnonzero(p_death > p_last):
            col.add("DEATH_AFTER_LAST_CONTACT", i, _date_name("death_day", col), f"day {death[i]:g}"
                    if not np.isnan(death[i]) else f"{p_death[i] - p_last[i]:g} days after the last contact")
        late = death > last
        out.loc[late, "last_contact_day"] = death[late]
    cr = out["best_response"].isin(["CR", "CRi"]).to_numpy()
    for i in np.flatnonzero(cr & given["relapse_day"] & ~given["response_day"]):
        col.add("CR_RELAPSE_NO_RESPONSE_DATE", i, _date_name("response_day", col))
    responded = out["best_response"].isin(["CR", "CRi", "PR"]).to_numpy()
    known = out["best_response"].notna().to_numpy()
    for i in np.flatnonzero(~responded & known & ~np.isnan(p_rel)):
        col.add("RELAPSE_WITHOUT_RESPONSE", i, "best_response", out["best_response"].iloc[i])
    crs_death = out["crs_death"].fillna(False).to_numpy(bool)
    crs_death_known_no = (out["crs_death"] == False).fillna(False).to_numpy(bool)  # noqa: E712
    grade = out["crs_grade"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    for i in np.flatnonzero((crs_death & (grade != 5) & ~np.isnan(grade)) | (crs_death_known_no & (grade == 5))):
        col.add("CRS_DEATH_GRADE", i, "crs_death", f"crs_death={'yes' if crs_death[i] else 'no'}, grade {grade[i]:g}")
    for i in np.flatnonzero(crs_death & ~given["death_day"]):       # a death date written but unreadable: not this
        col.add("CRS_DEATH_NO_DEATH", i, "crs_death", "yes")
    cd19 = out["relapse_cd19"].isin(["positive", "negative"]).to_numpy()
    for i in np.flatnonzero(cd19 & ~given["relapse_day"]):
        col.add("CD19_WITHOUT_RELAPSE", i, "relapse_cd19", out["relapse_cd19"].iloc[i])
    cutoff = g("data_cutoff_day")
    with np.errstate(invalid="ignore"):
        for i in np.flatnonzero(cutoff < 0):
            col.add("CUTOFF_BEFORE_INFUSION", i, _date_name("data_cutoff_day", col), f"day {cutoff[i]:g}")
        after = np.zeros(len(out), bool)
        for v in (death, resp, rel, hct, last):
            after |= v > cutoff
    if after.any():
        col.add("AFTER_CUTOFF", None, "data_cutoff_date",
                message=f"{int(after.sum())} patient(s) have an event or contact after the data cut-off: "
                        "later events are ignored and they are censored at the cut-off")
    if not has_cutoff:
        col.add("NO_CUTOFF", None, "data_cutoff_date")


def _date_name(day_name, col: _Collector):
    """The file's column for a *_day quantity: its *_date column if given, else the *_day column."""
    date = day_name.replace("_day", "_date")
    return date if date in col.names else day_name


DEFAULT_DATE_FLOOR = "1990-01-01"     # an earlier date is IMPLAUSIBLE_DATE (CAR T cells: infused since 2010)
DEFAULT_MAX_FOLLOW_UP_YEARS = 50.0    # a longer time from infusion is IMPLAUSIBLE_DATE


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
    if "synthetic" in data.columns and data["synthetic"].astype(str).str.lower().eq("yes").all():
        synthetic = True
    warnings = tuple(p for p in problems if p.severity == "warning")
    return Cohort(data, source, sha, float(burden_threshold), cut, synthetic, warnings)
