"""Types and input checks shared by every estimator in ``ltfu.stats``.

Every public estimator calls these checkers first, so bad input fails the same way everywhere
(``InvalidInputError`` naming the argument), as scikit-survival's ``check_y_survival`` does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ltfu.errors import InvalidInputError


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its confidence limits (``nan`` where not estimable / not reached)."""

    value: float
    lower: float
    upper: float
    conf_level: float = 0.95

    def to_dict(self) -> dict:
        return {k: _json_float(v) for k, v in
                (("value", self.value), ("lower", self.lower), ("upper", self.upper),
                 ("conf_level", self.conf_level))}


@dataclass(frozen=True)
class TestResult:
    """A hypothesis test: statistic, degrees of freedom, p-value."""

    statistic: float
    df: float
    p_value: float

    def to_dict(self) -> dict:
        return {"statistic": _json_float(self.statistic), "df": _json_float(self.df),
                "p_value": _json_float(self.p_value)}


def _json_float(x):
    """``nan``/``inf`` become ``None`` so that results are strict JSON."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def as_float_array(x, name: str, *, allow_nan: bool = False) -> np.ndarray:
    """1-D float array; raises ``InvalidInputError`` naming ``name`` for anything else."""
    _refuse_masked_or_complex(x, name)
    try:
        arr = np.asarray(x, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{name}: values must be numeric ({exc})") from None
    if arr.ndim != 1:
        raise InvalidInputError(f"{name}: expected a 1-D array, got shape {arr.shape}")
    if arr.size == 0:
        raise InvalidInputError(f"{name}: empty input")
    if not allow_nan and np.isnan(arr).any():
        raise InvalidInputError(f"{name}: contains NaN (at index {int(np.flatnonzero(np.isnan(arr))[0])})")
    if np.isinf(arr).any():
        raise InvalidInputError(f"{name}: contains infinite values")
    return arr


def _refuse_masked_or_complex(x, name: str) -> None:
    """A masked array would lose its mask and a complex number its imaginary part in a float array."""
    if isinstance(x, np.ma.MaskedArray):
        raise InvalidInputError(f"{name}: masked arrays are not accepted (fill or drop the masked values first)")
    dtypes = getattr(x, "dtypes", None) if not hasattr(x, "dtype") else None     # a DataFrame
    if (any(getattr(d, "kind", "") == "c" for d in dtypes) if dtypes is not None else np.iscomplexobj(x)):
        raise InvalidInputError(f"{name}: complex values are not accepted")


def check_time_event(time, event, *, entry=None, event_name: str = "event"):
    """Validate survival input: non-negative finite times, 0/1 events, equal lengths.

    Returns ``(time, event, entry)`` as float, int8 and float (or ``None``) arrays.
    """
    t = as_float_array(time, "time") + 0.0          # + 0.0 turns -0.0 into 0.0 (KM sorts bit patterns)
    if (t < 0).any():
        raise InvalidInputError(f"time: negative values (first at index {int(np.flatnonzero(t < 0)[0])})")
    e = as_float_array(event, event_name)
    if e.shape != t.shape:
        raise InvalidInputError(f"{event_name}: length {e.size} differs from time length {t.size}")
    bad = ~np.isin(e, (0.0, 1.0))
    if bad.any():
        raise InvalidInputError(
            f"{event_name}: codes must be 0 (censored) or 1 (event); found {e[bad][0]!r} at index "
            f"{int(np.flatnonzero(bad)[0])}")
    en = None
    if entry is not None:
        en = as_float_array(entry, "entry")
        if en.shape != t.shape:
            raise InvalidInputError(f"entry: length {en.size} differs from time length {t.size}")
        if (en < 0).any():
            raise InvalidInputError("entry: negative values")
        if (en >= t).any():
            i = int(np.flatnonzero(en >= t)[0])
            raise InvalidInputError(f"entry: must be strictly less than time (index {i}: {en[i]} >= {t[i]})")
    return t, e.astype(np.int8), en


def design_matrix(X, n: int | None = None, name: str = "X"):
    """(terms, 2-D float array) from an array or DataFrame (duck-typed: its ``columns`` become the
    terms, else x1, x2, ...); a 1-D array is one covariate.  Checks shape, rows and finiteness."""
    _refuse_masked_or_complex(X, name)
    if hasattr(X, "columns"):
        terms = tuple(str(c) for c in X.columns)
        values = np.asarray(X, dtype=float)
    else:
        try:
            values = np.asarray(X, dtype=float)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"{name}: values must be numeric ({exc})") from None
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


def check_conf_level(conf_level: float) -> float:
    if not (isinstance(conf_level, (int, float)) and 0 < conf_level < 1):
        raise InvalidInputError(f"conf_level: must be strictly between 0 and 1, got {conf_level!r}")
    return float(conf_level)


def check_choice(value, name: str, choices) -> str:
    if value not in choices:
        raise InvalidInputError(f"{name}: must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value


def check_groups(group, n: int, name: str = "group"):
    """Return (levels in sorted order, integer codes) for a grouping vector of length ``n``."""
    g = np.asarray(group)
    if g.ndim != 1 or g.shape[0] != n:
        raise InvalidInputError(f"{name}: length {g.size} differs from time length {n}")
    if g.dtype.kind == "f" and np.isnan(g).any():
        raise InvalidInputError(f"{name}: contains NaN")
    if g.dtype.kind == "O" and any(v is None for v in g):
        raise InvalidInputError(f"{name}: contains missing values")
    if (g.dtype.kind in "ib" or (g.dtype.kind == "u" and g.dtype.itemsize < 8)) and g.size:
        # small non-negative integer codes (the usual group coding): a count instead of a sort
        lo, hi = int(g.min()), int(g.max())
        if hi - lo < 4096:
            present = np.flatnonzero(np.bincount((g.astype(np.int64) - lo)))
            lookup = np.zeros(hi - lo + 1, np.intp)
            lookup[present] = np.arange(present.size)
            return (present + lo).astype(g.dtype), lookup[g.astype(np.int64) - lo]
    levels, codes = np.unique(g, return_inverse=True)
    return levels, codes


def prefix_sums(a):
    """Row k: the sum of the first k rows of ``a`` (row 0 is zero), so that a sum over rows
    lo..hi-1 is ``prefix_sums(a)[hi] - prefix_sums(a)[lo]``."""
    return np.concatenate([np.zeros((1,) + a.shape[1:]), np.cumsum(a, axis=0)])
