"""Types and input checks shared by every estimator in ``ltfu.stats``.

Every public estimator calls these checkers first, so bad input fails the same way everywhere
(``InvalidInputError`` naming the argument), as scikit-survival's ``check_y_survival`` does.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy.special import ndtri

from ltfu.errors import InvalidInputError


def _short(v) -> str:
    """A field for a one-line repr: numbers to 4 significant digits, arrays by their length."""
    if isinstance(v, np.ndarray):
        if v.ndim > 1:
            return f"<{' x '.join(map(str, v.shape))} array>"
        return f"<{v.size} values>" if v.size > 4 else np.array2string(v, precision=4, separator=", ")
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.4g}"
    if isinstance(v, Result):
        return repr(v)
    if isinstance(v, (tuple, list)) and len(v) > 6:
        return f"<{len(v)} items>"
    return repr(v)


class Result:
    """What every result of ltfu.stats offers a notebook user: a one-line repr (no arrays dumped),
    ``to_frame()`` (a pandas DataFrame: one row per time, term, group or cause as ``_table_fields``
    names, else one row of the scalar fields) and an HTML table (``_repr_html_``).  Times are in the
    unit of the input (ltfu's own inputs: days); ``to_frame`` adds ``time_months`` beside a time."""

    _table_fields: tuple[str, ...] = ()
    _repr_fields: tuple[str, ...] | None = None        # the fields of the one-line repr (default: scalars)

    def _fields(self):
        return [f for f in getattr(self, "__dataclass_fields__", {}) if not f.startswith("_") and f != "model"]

    def _scalars(self) -> dict:
        out = {}
        for f in self._fields():
            v = getattr(self, f)
            if isinstance(v, Estimate):
                out.update({f"{f}_{k}": getattr(v, k) for k in ("value", "lower", "upper")})
            elif isinstance(v, TestResult):
                out.update({f"{f}_{k}": getattr(v, k) for k in ("statistic", "df", "p_value")})
            elif v is None or isinstance(v, (bool, int, float, str, np.integer, np.floating)):
                out[f] = v
        return out

    def __repr__(self) -> str:
        names = self._repr_fields if self._repr_fields is not None else [
            f for f in self._fields() if f not in self._table_fields]
        return f"{type(self).__name__}({', '.join(f'{f}={_short(getattr(self, f))}' for f in names)})"

    def to_frame(self):
        """A pandas DataFrame of the result (see the class's ``_table_fields``)."""
        import pandas as pd

        if not self._table_fields:
            return pd.DataFrame([self._scalars()])
        cols = {f: np.asarray(getattr(self, f)) for f in self._table_fields if getattr(self, f) is not None}
        frame = pd.DataFrame(cols)
        if "time" in frame.columns:
            from ltfu.defaults import DAYS_PER_MONTH

            frame.insert(list(frame.columns).index("time") + 1, "time_months", frame["time"] / DAYS_PER_MONTH)
        return frame

    def _repr_html_(self) -> str:
        from html import escape

        frame = self.to_frame()
        more = f"<p>first 20 of {len(frame)} rows; <code>.to_frame()</code> has them all</p>" if len(frame) > 20 else ""
        table = frame.head(20).to_html(index=False, float_format=lambda x: f"{x:.4g}")
        return f"<p><b>{escape(repr(self))}</b></p>{table}{more}"


@dataclass(frozen=True, repr=False)
class Estimate(Result):
    """A point estimate with its confidence limits (``nan`` where not estimable / not reached)."""

    value: float
    lower: float
    upper: float
    conf_level: float = 0.95

    def to_dict(self) -> dict:
        return {k: _json_float(v) for k, v in
                (("value", self.value), ("lower", self.lower), ("upper", self.upper),
                 ("conf_level", self.conf_level))}

    def scaled(self, divisor: float) -> Estimate:
        """The estimate and its limits divided by ``divisor`` (days -> months: 30.4375)."""
        return Estimate(self.value / divisor, self.lower / divisor, self.upper / divisor, self.conf_level)

    def __str__(self) -> str:
        f = lambda v: "NE" if not np.isfinite(v) else f"{v:.4g}"
        return f"{f(self.value)} ({100 * self.conf_level:g}% CI {f(self.lower)} to {f(self.upper)})"


@dataclass(frozen=True, repr=False)
class TestResult(Result):
    """A hypothesis test: statistic, degrees of freedom, p-value."""

    statistic: float
    df: float
    p_value: float

    def to_dict(self) -> dict:
        return {"statistic": _json_float(self.statistic), "df": _json_float(self.df),
                "p_value": _json_float(self.p_value)}


def json_float(x):
    """``nan``/``inf`` become ``None`` so that results are strict JSON."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


_json_float = json_float


def _is_missing(v) -> bool:
    """None, NaN, pandas NA or NaT (duck-typed: stats never imports pandas)."""
    return v is None or (isinstance(v, float) and v != v) or type(v).__name__ in ("NAType", "NaTType")


def _first_bad(values, name: str):
    """The InvalidInputError for the first element of ``values`` that is not a number."""
    flat = np.asarray(values, dtype=object).ravel()
    for i, v in enumerate(flat):
        if _is_missing(v):
            return InvalidInputError(f"{name}: missing value (NA) at index {i}; drop or impute it first")
        if isinstance(v, (str, bytes)):
            return InvalidInputError(f"{name}: text {str(v)[:40]!r} at index {i} where a number is needed")
        try:
            float(v)
        except (TypeError, ValueError):
            return InvalidInputError(f"{name}: {type(v).__name__} value at index {i} where a number is needed")
    return InvalidInputError(f"{name}: values must be numeric")


def as_float_array(x, name: str, *, allow_nan: bool = False) -> np.ndarray:
    """1-D float array; raises ``InvalidInputError`` naming ``name`` for anything else: text,
    missing values (pandas NA in nullable Int64/boolean columns, None, NaN unless allowed),
    infinite values, masked or complex arrays, other shapes, empty input."""
    if type(x) is np.ndarray and x.dtype.kind in "fiub" and x.ndim == 1 and x.size:
        # the common case (a plain numeric vector, as resampling passes thousands of times): one
        # finiteness test; anything unusual takes the checks below, which name the problem
        arr = np.asarray(x, dtype=float)
        if np.isfinite(arr).all():
            return arr
    _refuse_masked_or_complex(x, name)
    if getattr(getattr(x, "dtype", None), "kind", None) in ("M", "m"):
        raise InvalidInputError(f"{name}: dates or durations, not numbers; give the times as numbers (e.g. days "
                                "since infusion)")
    if hasattr(x, "to_numpy") and not hasattr(x, "columns"):         # pandas Series / extension array
        if getattr(x.dtype, "kind", "O") in "OSU" or str(x.dtype) in ("string", "category"):
            raise _first_bad(x.to_numpy(dtype=object), name)
        try:
            x = x.to_numpy(dtype=float, na_value=np.nan)
        except (TypeError, ValueError):
            raise _first_bad(x.to_numpy(dtype=object), name) from None
    raw = x if isinstance(x, np.ndarray) else np.asarray(x, dtype=object) if isinstance(x, (list, tuple)) else x
    if isinstance(raw, np.ndarray) and (raw.dtype.kind in "US" or (
            raw.dtype.kind == "O" and any(isinstance(v, (str, bytes)) or (_is_missing(v) and not isinstance(v, float))
                                          for v in raw.ravel()))):
        raise _first_bad(raw, name)          # "12" is text, not a number: say so rather than guess
    try:
        arr = np.asarray(x, dtype=float)
    except (TypeError, ValueError):
        raise _first_bad(x, name) from None
    if arr.ndim != 1:
        raise InvalidInputError(f"{name}: expected a 1-D array, got shape {arr.shape}")
    if arr.size == 0:
        raise InvalidInputError(f"{name}: empty input")
    if not allow_nan and np.isnan(arr).any():
        raise InvalidInputError(f"{name}: missing value (NaN) at index {int(np.flatnonzero(np.isnan(arr))[0])}; "
                                "drop or impute it first")
    if np.isinf(arr).any():
        raise InvalidInputError(f"{name}: infinite value at index {int(np.flatnonzero(np.isinf(arr))[0])}")
    return arr


def _refuse_masked_or_complex(x, name: str) -> None:
    """A masked array would lose its mask and a complex number its imaginary part in a float array."""
    if isinstance(x, np.ma.MaskedArray):
        raise InvalidInputError(f"{name}: masked arrays are not accepted (fill or drop the masked values first)")
    dtypes = getattr(x, "dtypes", None) if not hasattr(x, "dtype") else None     # a DataFrame
    if (any(getattr(d, "kind", "") == "c" for d in dtypes) if dtypes is not None else np.iscomplexobj(x)):
        raise InvalidInputError(f"{name}: complex values are not accepted")


class SurvivalInput(NamedTuple):
    time: np.ndarray            # float, non-negative, -0.0 made 0.0
    status: np.ndarray          # int8 0/1, or int64 codes when competing
    entry: np.ndarray | None    # float or None
    causes: tuple               # (1,), or the codes other than cencode when competing


def check_survival(time, status, *, entry=None, competing: bool = False, cencode: int = 0,
                   status_name: str = "event") -> SurvivalInput:
    """The one survival-input checker every estimator calls (as scikit-survival's
    ``check_y_survival``): non-negative finite times, equal lengths, entry strictly before exit,
    and status 0/1 (``competing=False``) or whole-number codes with ``cencode`` censored and every
    other code a cause (``competing=True``, cmprsk's convention).  Raises InvalidInputError naming
    the argument and the first offending index."""
    t = as_float_array(time, "time") + 0.0          # + 0.0 turns -0.0 into 0.0 (KM sorts bit patterns)
    if (t < 0).any():
        raise InvalidInputError(f"time: negative values (first at index {int(np.flatnonzero(t < 0)[0])})")
    if (not competing and entry is None and type(status) is np.ndarray and status.dtype.kind in "biu"
            and status.shape == t.shape and np.minimum.reduce(status) >= 0 and np.maximum.reduce(status) <= 1):
        return SurvivalInput(t, status.astype(np.int8), None, (1,))     # 0/1 integer codes: nothing to convert
    e = as_float_array(status, status_name)
    if e.shape != t.shape:
        raise InvalidInputError(f"{status_name}: length {e.size} differs from time length {t.size}")
    en = None
    if entry is not None:
        en = as_float_array(entry, "entry") + 0.0
        if en.shape != t.shape:
            raise InvalidInputError(f"entry: length {en.size} differs from time length {t.size}")
        if (en < 0).any():
            raise InvalidInputError("entry: negative values")
        if (en >= t).any():
            i = int(np.flatnonzero(en >= t)[0])
            raise InvalidInputError(f"entry: must be strictly less than time (index {i}: {en[i]} >= {t[i]})")
    if not competing:
        bad = (e != 0.0) & (e != 1.0)
        if bad.any():
            raise InvalidInputError(
                f"{status_name}: codes must be 0 (censored) or 1 (event); found {e[bad][0]!r} at index "
                f"{int(np.flatnonzero(bad)[0])}")
        return SurvivalInput(t, e.astype(np.int8), en, (1,))
    if not np.all(e == np.round(e)):
        raise InvalidInputError(f"{status_name}: codes must be whole numbers (the censoring code, then one per cause)")
    check_code_size(e, status_name)
    if isinstance(cencode, bool) or not isinstance(cencode, (int, np.integer)):
        raise InvalidInputError(f"cencode: must be a whole number, got {cencode!r}")
    codes = e.astype(np.int64)
    if cencode == 0 and (codes < 0).any():
        raise InvalidInputError(f"{status_name}: negative codes; 0 is censored and causes are positive (or give "
                                "cencode)")
    return SurvivalInput(t, codes, en, tuple(int(c) for c in np.unique(codes[codes != cencode])))


MAX_CODE = 2 ** 31          # status codes are small whole numbers; beyond this a code is a mistake


def check_code_size(codes, name: str) -> None:
    """Status codes within +-2**31 (a larger one overflows the integer codes, and is no cause)."""
    big = np.abs(codes) >= MAX_CODE
    if big.any():
        raise InvalidInputError(f"{name}: code {codes[big][0]:g} is too large for a status code (0 censored, then "
                                "one small whole number per cause)")


def check_time_event(time, event, *, entry=None, event_name: str = "event"):
    """``(time, event, entry)`` of ``check_survival`` for 0/1 status."""
    t, e, en, _ = check_survival(time, event, entry=entry, status_name=event_name)
    return t, e, en


def _factor_columns(name: str, values):
    """Treatment coding of one categorical column, as R's model.matrix: the first level (R's
    order: categories as given, else sorted; FALSE before TRUE) is the reference, and each other
    level gets a 0/1 column named column name + level ("sexM", "smokerTRUE")."""
    cats = getattr(getattr(values, "cat", None), "categories", None)
    obj = values.to_numpy(dtype=object) if hasattr(values, "to_numpy") else np.asarray(values, dtype=object)
    missing = [i for i, v in enumerate(obj) if _is_missing(v)]
    if missing:
        raise InvalidInputError(f"X: column {name!r} has a missing value at row {missing[0]} "
                                "(drop incomplete rows first)")
    if cats is not None:
        levels = [c for c in list(cats) if any(v == c for v in obj)]
    else:
        levels = sorted(set(obj.tolist()), key=lambda v: (str(type(v)), v))
    if len(levels) < 2:
        raise InvalidInputError(f"X: column {name!r} has a single level ({levels[0]!r}); it cannot be a covariate")
    label = lambda v: "TRUE" if v is True or v is np.True_ else "FALSE" if v is False or v is np.False_ \
        else str(v)
    terms = tuple(f"{name}{label(v)}" for v in levels[1:])
    cols = np.column_stack([np.array([o == v for o in obj], dtype=float) for v in levels[1:]])
    return terms, cols


def _is_categorical(col) -> bool:
    kind = getattr(col.dtype, "kind", "O")
    return kind in "ObSU" or str(col.dtype) in ("category", "string", "boolean") or hasattr(col, "cat")


def _float_block(X) -> np.ndarray | None:
    """A DataFrame's values when every column is float64, finite, and pandas holds them as one
    C-ordered block (``analysis.plan.covariates``'s frames): that block, read-only, not copied; the
    values and their layout are those the column-by-column path stacks.  None otherwise (that path
    then copies, and names a column with a missing or infinite value)."""
    if len(X) == 0 or len(X.columns) == 0 or any(dt != np.float64 for dt in X.dtypes):
        return None
    values = X.to_numpy(dtype=np.float64, copy=False)
    if not values.flags.c_contiguous or not np.isfinite(values).all():
        return None
    view = values.view()
    view.flags.writeable = False
    return view


def design_matrix(X, n: int | None = None, name: str = "X"):
    """(terms, 2-D float array) from an array, a Series or a DataFrame (duck-typed).

    A DataFrame's numeric columns are covariates named by their column; its text, boolean and
    categorical columns are factors with treatment coding (``_factor_columns``, R's names); a
    Series keeps its name.  A 1-D array is one covariate ("x1").  Checks shape, rows, missing and
    infinite values, naming the column."""
    if hasattr(X, "to_frame") and not hasattr(X, "columns"):          # a pandas Series
        X = X.to_frame(name=X.name if X.name is not None else "x1")
    _refuse_masked_or_complex(X, name)
    if hasattr(X, "columns"):
        if len(set(map(str, X.columns))) != len(X.columns):
            raise InvalidInputError(f"{name}: repeated column names")
        whole = _float_block(X)
        if whole is not None and (n is None or whole.shape[0] == n):
            return tuple(map(str, X.columns)), whole
        names: list[str] = []
        blocks: list[np.ndarray] = []
        for c in X.columns:
            col = X[c]
            if _is_categorical(col):
                t, b = _factor_columns(str(c), col)
            else:
                t, b = (str(c),), as_float_array(col, f"{name}: column {c!r}")[:, None]
            names.extend(t)
            blocks.append(b)
        terms = tuple(names)
        values = np.column_stack(blocks) if blocks else np.zeros((len(X), 0))
    else:
        try:
            values = np.asarray(X, dtype=float)
        except (TypeError, ValueError):
            raise _first_bad(X, name) from None
        if values.ndim == 1:
            values = values[:, None]
        terms = tuple(f"x{i + 1}" for i in range(values.shape[1])) if values.ndim == 2 else ()
    if values.ndim != 2 or values.shape[1] == 0:
        raise InvalidInputError(f"{name}: must be a 2-D array or DataFrame with at least one column")
    if n is not None and values.shape[0] != n:
        raise InvalidInputError(f"{name}: {values.shape[0]} rows but time has {n}")
    if not np.isfinite(values).all():
        raise InvalidInputError(f"{name}: contains NaN or infinite values (drop incomplete rows first)")
    return terms, values


def z_quantile(conf_level: float) -> float:
    """The two-sided normal quantile z_{1 - (1 - level)/2} (scipy's ndtri: a ufunc, without the
    per-call overhead of ``norm.ppf``, which dominated small fits)."""
    return float(ndtri(1 - (1 - conf_level) / 2))


def check_conf_level(conf_level: float) -> float:
    if not (isinstance(conf_level, (int, float)) and 0 < conf_level < 1):
        raise InvalidInputError(f"conf_level: must be strictly between 0 and 1, got {conf_level!r}")
    return float(conf_level)


def check_rho(rho) -> float:
    """The Fleming-Harrington / Gray weight exponent: a finite number >= 0."""
    if isinstance(rho, bool) or not isinstance(rho, (int, float, np.integer, np.floating)) \
            or not math.isfinite(rho) or rho < 0:
        raise InvalidInputError(f"rho: must be a finite number >= 0, got {rho!r}")
    return float(rho)


def check_choice(value, name: str, choices) -> str:
    if value not in choices:
        raise InvalidInputError(f"{name}: must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value


def check_groups(group, n: int, name: str = "group"):
    """Return (levels in sorted order, integer codes) for a grouping vector of length ``n``."""
    if hasattr(group, "to_numpy"):                     # pandas: nullable and categorical columns
        kind = getattr(group.dtype, "kind", "O")
        g = group.to_numpy(dtype=object) if kind not in "iufb" or str(group.dtype) in ("boolean",) \
            or getattr(group, "hasnans", False) else group.to_numpy()
    else:
        g = np.asarray(group)
    if g.ndim != 1 or g.shape[0] != n:
        raise InvalidInputError(f"{name}: length {g.size} differs from time length {n}")
    if g.dtype.kind == "f" and np.isnan(g).any():
        raise InvalidInputError(f"{name}: missing value (NaN) at index {int(np.flatnonzero(np.isnan(g))[0])}")
    if g.dtype.kind == "O":
        bad = [i for i, v in enumerate(g) if _is_missing(v)]
        if bad:
            raise InvalidInputError(f"{name}: missing value (NA) at index {bad[0]}; drop those rows or give "
                                    "the missing values a level of their own")
        kinds = {type(v) for v in g}
        if len(kinds) > 1 and not all(issubclass(k, (int, float, np.number)) and not issubclass(k, bool)
                                      for k in kinds):
            same = text_collision(g)
            if same is not None:
                raise InvalidInputError(f"{name}: {same[0]!r} and {same[1]!r} are different values with the same "
                                        "text, which would make one group; give the groups in one type")
            g = np.array([str(v) for v in g], dtype=object)     # mixed types: compare as text
    if (g.dtype.kind in "ib" or (g.dtype.kind == "u" and g.dtype.itemsize < 8)) and g.size:
        # small non-negative integer codes (the usual group coding): a count instead of a sort
        lo, hi = int(g.min()), int(g.max())
        if hi - lo < 4096:
            present = np.flatnonzero(np.bincount(g.astype(np.int64) - lo))
            lookup = np.zeros(hi - lo + 1, np.intp)
            lookup[present] = np.arange(present.size)
            return (present + lo).astype(g.dtype), lookup[g.astype(np.int64) - lo]
    if g.dtype.kind == "O" and g.size and all(type(v) is str for v in g[:: max(1, g.size // 64)]):
        with contextlib.suppress(TypeError, ValueError):   # text labels: fixed-width unicode sorts in C,
            g = g.astype(str)                              # Python objects do not (22 of 27 s at 1e7 rows)
    levels, codes = unique_labels(g, name)
    if levels.dtype.kind == "U":
        levels = levels.astype(object)        # labels stay Python strings, as they were given
    return levels, codes


def unique_labels(g: np.ndarray, name: str):
    """``np.unique(g, return_inverse=True)`` of group values, as every engine groups them: -0.0 and
    0.0 are one level labelled 0.0 (whichever comes first), and values that cannot be labels
    (``groupable``) or do not sort are an InvalidInputError naming ``name``."""
    if g.dtype.kind == "f":
        g = g + 0.0
    try:
        levels, codes = np.unique(g, return_inverse=True)
    except TypeError:                         # values that do not sort (dicts, mixed lists ...)
        levels = None
    if levels is None or not all(groupable(v) for v in levels.tolist()):
        sample = next((v for v in g.tolist() if not groupable(v)), g.tolist()[0])
        raise InvalidInputError(f"{name}: values of type {type(sample).__name__} cannot be groups; give text, "
                                "numbers or booleans")
    return levels, codes.reshape(-1)


def text_collision(values):
    """Two values of different kinds (a number and a text, a text and a boolean ...) whose text is
    the same, as 1 and "1", which grouping by text would merge; or None.  Numbers of any type are
    one kind (1 and np.int64(1) are the same number)."""
    def kind(v):
        return "number" if isinstance(v, (int, float, np.number)) and not isinstance(v, (bool, np.bool_)) \
            else type(v)

    seen: dict = {}
    for v in values:
        if _is_missing(v):
            continue
        first = seen.setdefault(str(v), v)
        if kind(first) != kind(v):
            return first, v
    return None


def groupable(v) -> bool:
    """A group label must be hashable (it keys the results), not a mutable container and not bytes
    (DuckDB gives bytes back as bytearray: the engines would disagree)."""
    if isinstance(v, (list, dict, set, np.ndarray, bytes, bytearray, memoryview)):
        return False
    try:
        hash(v)
    except TypeError:
        return False
    return True


def prefix_sums(a):
    """Row k: the sum of the first k rows of ``a`` (row 0 is zero), so that a sum over rows
    lo..hi-1 is ``prefix_sums(a)[hi] - prefix_sums(a)[lo]``."""
    return np.concatenate([np.zeros((1,) + a.shape[1:]), np.cumsum(a, axis=0)])


def check_frequency_weights(weights, n, name: str = "weights"):
    """Frequency weights (counts of identical rows, e.g. from a GROUP BY) as floats, or None when
    absent or all 1 (so that the unweighted arithmetic runs unchanged); InvalidInputError unless
    ``n`` finite whole numbers >= 1."""
    if weights is None:
        return None
    cw = as_float_array(weights, name)
    if cw.size != n:
        raise InvalidInputError(f"{name}: length {cw.size} differs from time length {n}")
    bad = (cw < 1) | (cw != np.floor(cw)) | (cw > 2.0 ** 53)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InvalidInputError(f"{name}: frequency weights must be whole numbers >= 1 (counts of identical rows; "
                                f"drop rows with count 0), got {float(cw[i])!r} at index {i}")
    if (cw == 1).all():
        return None
    return cw
