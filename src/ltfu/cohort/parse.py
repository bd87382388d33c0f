"""Parsing a column of a raw table by the type its schema declares, collecting problems.

Every rule here is a function of one cell's value, applied once per distinct value (a registry
column has a few thousand) and spread back to the rows; the answers are those of a loop over every
cell (tests compare them).  The patient table's validation (``ltfu.cohort.validate``) and the
study tables' (``ltfu.study.validate``) both parse through ``parse_field``: a new field is one line
of a schema.
"""

from __future__ import annotations

import re
import unicodedata

import numpy as np
import pandas as pd

from ltfu.cohort.dates import parse_dates
from ltfu.cohort.problems import _CONTROL, CONTROL_CHARACTERS, PROBLEM_CODES, Problem, truncate
from ltfu.cohort.schema import FIELD_BY_NAME, NONE_IS_A_VALUE

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
_MISSING_BUT_NONE = tuple(t for t in _MISSING_TOKENS if t != "NONE")   # schema.NONE_IS_A_VALUE
_NUM = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


class _Collector:
    """Collects the problems of one table: ``add`` turns a row index into the file's row number and
    the patient's id, and a canonical field into the column as the file names it."""

    def __init__(self, rows, ids, names, table=None):
        self.rows, self.ids, self.names, self.table = rows, ids, names, table
        self.problems = []
        self.cells: dict = {}       # a date field -> its column as read (``add_dated`` shows the cell)

    def add_missing(self, idx, field, written=None, message=None):
        """MISSING_VALUE at row ``idx``; a cell that is not blank but a missing-value token (NA,
        NaN, NULL, ., None) is shown, with a message saying it reads as missing."""
        if isinstance(written, str) and written.strip():
            text = message or PROBLEM_CODES["MISSING_VALUE"][1]
            self.add("MISSING_VALUE", idx, field, written, message=f"{text} ({written.strip()!r} reads as missing)")
        else:
            self.add("MISSING_VALUE", idx, field, message=message)

    def add_dated(self, code, idx, field, computed: str):
        """A problem of a rule on times from infusion: its value is the cell as the file writes it
        when ``field`` is a date column (``cells``), the computed time (``computed``, e.g. "day -36")
        added to the message; otherwise the computed time is the value."""
        raw = self.cells.get(field)
        if raw is None:
            self.add(code, idx, field, computed)
            return
        self.add(code, idx, field, _as_written(raw.iloc[idx]), message=f"{PROBLEM_CODES[code][1]} ({computed})")

    def add(self, code, idx=None, field=None, value=None, message=None, fix=None, severity=None):
        sev, meaning, todo = PROBLEM_CODES[code]
        row = None if idx is None else int(self.rows[idx])
        pid = None if idx is None else self.ids[idx]
        col = self.names.get(field, field)
        self.problems.append(Problem(code, severity or sev, row, pid, col, value,
                                     message or meaning, fix or todo, table=self.table))

    @staticmethod
    def make(code, *, field=None, value=None, message=None, fix=None, row=None, patient_id=None):
        """A Problem that belongs to no row of a collector (a whole column, a whole dataset)."""
        sev, meaning, todo = PROBLEM_CODES[code]
        return Problem(code, sev, row, patient_id, field, value, message or meaning, fix or todo)


def _as_written(v) -> str:
    """A date cell as the file shows it: text as is, a date (or a midnight timestamp) as YYYY-MM-DD."""
    import datetime as dt

    if isinstance(v, dt.datetime):
        return v.date().isoformat() if v.time() == dt.time(0) else v.isoformat(sep=" ")
    if isinstance(v, dt.date):
        return v.isoformat()
    return str(v)


def _is_missing(v, tokens=_MISSING_TOKENS) -> bool:
    if v is None or v is pd.NaT or v is pd.NA:
        return True
    if isinstance(v, float) and np.isnan(v):
        return True
    return isinstance(v, str) and v.strip().upper() in tokens


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


def _dates_of_distinct(codes, values, field: str, col, *, order, epoch, evidence) -> np.ndarray:
    """A date column given as its distinct ``values`` and each row's index among them (``codes``):
    each distinct value parsed once, its problems added to ``col`` for every row that holds it
    (named ``field``); returns the parsed date of every row."""
    parsed_values, issues = parse_dates(values, order=order, epoch=epoch, evidence=evidence)
    found = {k: (code, msg) for k, code, msg in issues}
    for i in _rows_of(codes, found):
        code, msg = found[codes[i]]
        col.add(code, i, field, values[codes[i]], message=msg)
    return parsed_values[codes]


def _typed_not_text(series) -> bool:
    """A column of numbers, booleans or dates (numpy or pandas nullable): none of its cells is text,
    so a cell is missing exactly where pandas says NA (the missing-value words apply to text only)."""
    dtype = series.dtype
    if pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype):
        return False
    return bool(pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)
                or pd.api.types.is_datetime64_any_dtype(dtype))


def _missing_mask(series):
    if _typed_not_text(series):          # no value to look at one by one (a date column: 0.1 s per 1e5 rows)
        return series.isna().to_numpy()
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


def _codes(series, name, col: _Collector, *, field=None, synonyms=None, categorical=False):
    """The canonical code of each cell (None if missing or unreadable, with BAD_CODE) as objects,
    or with ``categorical`` as a pandas Categorical (``_categorical``).  ``field``: the Field
    (default: the patient table's ``name``); ``synonyms``: spellings -> code."""
    mapped, codes = _distinct_codes(series, name, col, field, synonyms)
    return _categorical(mapped, codes) if categorical else np.array(mapped, dtype=object)[codes]


def _categorical(labels, codes) -> pd.Categorical:
    """The rows' texts as a pandas Categorical: ``labels`` (one per distinct raw value, None where
    missing) taken by ``codes`` (each row's index among them), built from the codes, without an
    object per row.  The categories are the distinct texts sorted, as ``astype("category")`` orders
    them; missing is NaN.  A text column of a million patients is then 1 MB of codes where the
    objects' pointers were 8 MB, kept for the whole analysis and shared by its workers."""
    texts = sorted({v for v in labels if v is not None})
    at = {v: i for i, v in enumerate(texts)}
    lookup = np.array([-1 if v is None else at[v] for v in labels], dtype=np.int64)
    return pd.Categorical.from_codes(lookup[np.asarray(codes, dtype=np.int64)],
                                     categories=pd.Index(texts, dtype=object))


def _distinct_codes(series, name, col: _Collector, field=None, synonyms=None):
    """``(canonical code of each distinct value, each row's index among them)``: ``_codes``'s
    answer before it is spread to the rows, with its BAD_CODE problems added to ``col``."""
    f = field or FIELD_BY_NAME[name]
    table = synonyms or _SYNONYMS.get(name) or (_SYNONYMS["yesno"] if f.type == "yesno" else None)
    allowed = {a.lower(): a for a in f.allowed}
    codes, values = _distinct(series)
    mapped = [_code(v, table, allowed) for v in values]
    bad = {k for k, (v, m) in enumerate(zip(values, mapped)) if m is None and not _is_missing(v)}
    for i in _rows_of(codes, bad):
        col.add("BAD_CODE", i, name, values[codes[i]], message=f"allowed: {', '.join(f.allowed)}")
    return mapped, codes


_PLAIN_ASCII = r"[!-~]([ -~]*[!-~])?"    # printable ASCII, no space at either end


def _text(series, tokens=_MISSING_TOKENS, *, categorical=False):
    """Each cell stripped, None where missing (the rule of ``_is_missing`` with these ``tokens``); with
    ``categorical`` a pandas Categorical of them (``_categorical``), else objects."""
    if not categorical and isinstance(series.dtype, pd.StringDtype) and _mostly_distinct(series):
        # Patient ids are all distinct, so the per-distinct-value loop would visit every row.  A cell
        # of printable ASCII without surrounding spaces is its own stripped form and is missing only
        # if it is one of the tokens: decided for the whole column at once; only the others go
        # through the per-value rule (tests compare both on arbitrary text).
        plain = _plain_ascii(series)
        out = series.to_numpy(dtype=object, na_value=None)
        out[plain & series.str.upper().isin(tokens).to_numpy(bool)] = None
        rest = np.flatnonzero(~plain)
        out[rest] = [None if _is_missing(v, tokens) else str(v).strip() for v in out[rest]] if rest.size else []
        return out
    # few distinct texts (centre, grading scale ...): each stripped once, its rows sharing the one
    # string object (a string per row cost 60 MB per column at 1e6 patients), or its code
    codes, values = _distinct(series)
    stripped = [None if _is_missing(v, tokens) else str(v).strip() for v in values]
    return _categorical(stripped, codes) if categorical else np.array(stripped, dtype=object)[codes]


def _arrow_text(series):
    """A pandas text column's Arrow data as one chunked array, or None when it is not held in Arrow
    (the checks below then take their slower or more cautious way)."""
    import pyarrow as pa

    try:
        return pa.chunked_array(series.array._pa_array)
    except (AttributeError, TypeError, pa.ArrowException):
        return None


def _plain_ascii(series) -> np.ndarray:
    """Whether each cell is printable ASCII without a space at either end (``_PLAIN_ASCII``; False
    where missing).  On an Arrow text column by Arrow's character classes (printable, ASCII, not
    empty, no space first or last: 40 ms at 1e6 ids, the regular expression 135 ms); else by the
    expression."""
    import pyarrow.compute as pc

    arr = _arrow_text(series)
    if arr is None:
        return series.str.fullmatch(_PLAIN_ASCII).fillna(False).to_numpy(bool)
    plain = pc.and_(pc.and_(pc.string_is_ascii(arr), pc.ascii_is_printable(arr)),
                    pc.and_(pc.greater(pc.binary_length(arr), 0),
                            pc.invert(pc.or_(pc.starts_with(arr, " "), pc.ends_with(arr, " ")))))
    return pc.fill_null(plain, False).to_numpy(zero_copy_only=False).astype(bool, copy=False)


def _mostly_distinct(series) -> bool:
    """Whether more than half of a column's cells are distinct texts, judged on every
    (n // 4,096)-th cell: 4,096 to 8,191 of them, all of a column under 8,192.  It only chooses
    which of ``_text``'s two ways computes the column, whose answers are the same: counting the
    distinct values of a million patient ids cost 0.3 s, as much as checking them for duplicates."""
    step = max(1, len(series) // 4096)
    sample = series.iloc[::step]
    return bool(sample.nunique(dropna=True) > len(sample) // 2)


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
    chunked = _arrow_text(series)
    if chunked is None:
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
    joined = _joined(keys.tolist())
    if joined.isascii() and joined.isprintable():      # every id printable ASCII: one C-speed pass
        return keys
    for i, v in enumerate(keys):
        if v is not None and not (v.isascii() and v.isprintable()):
            k = "".join(ch for ch in unicodedata.normalize("NFKC", v) if unicodedata.category(ch) != "Cf").strip()
            keys[i] = k or v
    return keys


def _case_variants_possible(raw, ids) -> bool:
    """False when no two ids can differ only by case: every id ASCII and the column without lower-case
    letters, or without upper-case ones (a registry's R0000001 ...); decided on the arrow column."""
    import pyarrow.compute as pc

    if raw is not None and isinstance(raw.dtype, pd.StringDtype):
        arr = _arrow_text(raw)
        if arr is None:
            return True
        if pc.all(pc.string_is_ascii(arr)).as_py() not in (True, None):
            return True
        # every id ASCII: upper-casing leaves an id as it is exactly when it has no lower-case
        # letter (two passes of ascii_upper/lower: 25 ms at 1e6 ids, a regex search 230 ms)
        no_lower = pc.all(pc.equal(pc.ascii_upper(arr), arr)).as_py() in (True, None)
        no_upper = pc.all(pc.equal(pc.ascii_lower(arr), arr)).as_py() in (True, None)
        return not (no_lower or no_upper)
    joined = _joined(list(ids))
    return not joined.isascii() or (joined.lower() != joined and joined.upper() != joined)


def _all_plain(raw, ids) -> bool:
    """Whether every id is printable ASCII (its own normalised key); on the arrow column when there is one."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if raw is not None and isinstance(raw.dtype, pd.StringDtype):
        arr = _arrow_text(raw)
        try:
            if arr is not None:
                return pc.all(pc.and_(pc.string_is_ascii(arr), pc.ascii_is_printable(arr))).as_py() in (True, None)
        except pa.ArrowException:
            pass
    joined = _joined(list(ids))
    return joined.isascii() and joined.isprintable()


def _check_ids(ids, col: _Collector, raw=None, duplicate=(None, None)):
    """MISSING_VALUE, DUPLICATE_ID (on the normalised ids, ``_id_keys``) and ID_CASE_VARIANT.
    ``raw``: the column as read, which lets a registry of plain ids skip the per-id work;
    ``duplicate``: the (message, fix) of an id written twice alike, in another table's words (None:
    the patient table's)."""
    s = pd.Series(ids, dtype=object)
    missing = s.isna().to_numpy()
    for i in np.flatnonzero(missing):
        col.add_missing(i, "patient_id", None if raw is None else raw.iloc[i])
    keys = s if _all_plain(raw, ids) else pd.Series(_id_keys(ids), dtype=object)
    # ids are distinct as a rule: pandas' hash-table unique says so in half the time of
    # duplicated(keep=False) (0.25 against 0.5 s at 1e6 ids), which then runs only when one repeats
    if not missing.any() and keys.is_unique:
        dup = np.zeros(len(keys), dtype=bool)
    else:
        dup = (keys.notna() & keys.duplicated(keep=False)).to_numpy()
    if dup.any():
        rows = np.flatnonzero(dup)
        first = pd.Series(rows).groupby(keys.iloc[rows].to_numpy()).transform("min").to_numpy()
        for i, f in zip(rows, first):
            if ids[i] != ids[f] and i != f:
                col.add("DUPLICATE_ID", i, "patient_id", ids[i],
                        message=f"the same id as row {col.rows[f]} ({truncate(ids[f])}) once invisible characters "
                                "and full-width forms are ignored", fix=duplicate[1])
            else:
                col.add("DUPLICATE_ID", i, "patient_id", ids[i], message=duplicate[0], fix=duplicate[1])
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


def _as_int64(values: np.ndarray):
    """Floats holding whole numbers (nan = missing) as a pandas Int64 array, built from the values
    and their mask (pandas' Float64 -> Int64 route checks every value in Python objects: 0.4 s per
    column at 1e6 rows); anything else takes that route, which raises on a non-whole value."""
    mask = np.isnan(values)
    filled = np.where(mask, 0.0, values)
    if np.all(np.abs(filled) < 2.0 ** 53) and np.array_equal(np.floor(filled), filled):
        return pd.arrays.IntegerArray(filled.astype(np.int64), mask)
    return pd.array(values, dtype="Float64").astype("Int64")


def _plain_integers(series, field):
    """A column of numpy integers (Parquet, SAS), none missing, every one within the field's range
    and below 2**53 in magnitude, as the Int64 array the general route (``_numbers``, then
    ``_as_int64``, through floats) makes of it, without its passes over the floats (30 ms a column
    at 1e6 patients); None for any other column, which takes that route and says its problems."""
    if series.dtype.kind not in "iu" or not isinstance(series.dtype, np.dtype):
        return None
    x = series.to_numpy()
    if x.size == 0:
        return None
    lo, hi = int(x.min()), int(x.max())
    if max(-lo, hi) >= 2 ** 53 or (field.low is not None and lo < field.low) \
            or (field.high is not None and hi > field.high):
        return None
    return pd.arrays.IntegerArray(x.astype(np.int64), np.zeros(x.size, np.bool_))


def parse_field(series, field, col: _Collector, *, synonyms=None, categorical=False):
    """A raw column parsed by its field's declared type (``Field.type``):

    * ``code``: the canonical code (``synonyms`` or the field's allowed values, case-insensitive),
      None if missing, BAD_CODE otherwise; an object array (with ``categorical``, and for ``text``,
      a pandas Categorical, missing NaN: the patient table's);
    * ``yesno``: a pandas boolean array (yes/no and their synonyms; NA if missing);
    * ``number`` / ``integer``: floats (nan = missing), BAD_NUMBER / OUT_OF_RANGE; integers as Int64;
    * ``text`` / ``id``: stripped text, None if missing.
    Dates are parsed by the caller (their order is decided over every date column of a table)."""
    if field.type == "code":
        return _codes(series, field.name, col, field=field, synonyms=synonyms, categorical=categorical)
    if field.type == "yesno":
        # each distinct value's code is "yes", "no" or None (missing or unreadable): decided once
        # per distinct value and spread to the rows as booleans (comparing a million objects twice
        # cost 60 ms a column at 1e6 patients)
        mapped, codes = _distinct_codes(series, field.name, col, field, synonyms)
        yes = np.array([m == "yes" for m in mapped], dtype=np.bool_)
        missing = np.array([m is None for m in mapped], dtype=np.bool_)
        return pd.arrays.BooleanArray(yes[codes], missing[codes])
    if field.type in ("number", "day"):
        return _numbers(series, field.name, col, field=field)
    if field.type == "integer":
        whole = _plain_integers(series, field)
        if whole is not None:
            return whole
        return _as_int64(_numbers(series, field.name, col, integer=True, field=field))
    if field.type in ("text", "id"):
        return _text(series, _MISSING_BUT_NONE if field.name in NONE_IS_A_VALUE else _MISSING_TOKENS,
                     categorical=categorical and field.type == "text")
    raise ValueError(f"no parser for the field type {field.type!r}")
