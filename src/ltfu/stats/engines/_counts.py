"""Engine-independent half of the engines: from the rows an aggregation query returns (one per
key, distinct time and status; one per key and distinct entry time) to ``Counts`` tables that are
identical, array for array, to the ones ``ltfu.stats.counting.count`` builds from numpy arrays.

An engine (DuckDB, Spark) supplies two things (``Engine``):

- ``aggregate(spec)``: per (group and strata columns, exit time, status) the number of rows, and,
  with delayed entry, per (group and strata columns, entry time) the number of rows and how many
  of them have entry >= exit (invalid).  Exact integers (SQL COUNT, BIGINT); times as DOUBLE with
  -0.0 made 0.0.  O(distinct times x keys) rows, never the registry's rows.
- ``rows_in_runs(spec, lo, hi)``: how many rows have lo_r <= entry < exit <= hi_r for one of the
  given runs of merged times; asked only when R's time merging could make an interval empty.

Everything else happens here, in numpy, on those small tables: the input checks of
``check_survival`` (as counts of offending rows: a query has no row order, so no row index), the
group levels in numpy's sorted order, R's time merging (``merge_groups`` on the distinct times,
pooled over exit and entry times and over every group and stratum, as ltfu's numpy path pools
them), and the counts summed within merged runs.  Counts are whole numbers held as float64, as
``count`` holds them (sums of whole numbers below 2**53 are exact in any order), so the
estimators' arithmetic sees the same numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ltfu.errors import InvalidInputError
from ltfu.stats._common import check_code_size
from ltfu.stats.counting import Counts, check_timefix, merge_groups

# a group or stratum column of dates, refused alike by every engine
DATE_KEYS = ("{what}: a column of dates or durations; group by a category (e.g. the year as text) rather than "
             "by dates")

# ------------------------------------------------------------------------------------------------
# what to count

@dataclass(frozen=True)
class Spec:
    """Column names and options of one counting request.

    ``causes``: None for a 0/1 event; "auto" for status codes with every code other than
    ``cencode`` a cause (cmprsk's convention, as ``check_survival(competing=True)``); or a tuple
    of the cause codes (any other code than these and ``cencode`` is then an error)."""

    time: str
    event: str
    entry: str | None = None
    group: tuple = ()
    strata: tuple = ()
    causes: tuple | str | None = None
    cencode: int = 0
    timefix: bool = True

    @property
    def keys(self) -> tuple:
        return self.group + self.strata

    @property
    def competing(self) -> bool:
        return self.causes is not None


def _names(value, what: str) -> tuple:
    if value is None:
        return ()
    names = (value,) if isinstance(value, str) else tuple(value)
    if not all(isinstance(v, str) and v for v in names):
        raise InvalidInputError(f"{what}: give column names (text), got {value!r}")
    return names


def make_spec(*, time, event, entry=None, group=None, strata=None, causes=None, cencode: int = 0,
              timefix: bool = True) -> Spec:
    """A checked ``Spec`` (column names as text; ``group``/``strata`` one name or several)."""
    for name, v in (("time", time), ("event", event)):
        if not isinstance(v, str) or not v:
            raise InvalidInputError(f"{name}: give the column name (text), got {v!r}")
    if entry is not None and (not isinstance(entry, str) or not entry):
        raise InvalidInputError(f"entry: give the column name (text) or None, got {entry!r}")
    if causes is not None and causes != "auto":
        try:
            causes = tuple(int(c) for c in causes)
        except (TypeError, ValueError):
            raise InvalidInputError(f"causes: None, 'auto' or whole-number codes, got {causes!r}") from None
        if not causes or len(set(causes)) != len(causes) or cencode in causes:
            raise InvalidInputError(f"causes: distinct codes other than the censoring code {cencode}, got {causes!r}")
    if isinstance(cencode, bool) or not isinstance(cencode, (int, np.integer)):
        raise InvalidInputError(f"cencode: must be a whole number, got {cencode!r}")
    return Spec(time, event, entry, _names(group, "group"), _names(strata, "strata"), causes, int(cencode),
                check_timefix(timefix))


# ------------------------------------------------------------------------------------------------
# what an engine returns

@dataclass
class Aggregates:
    """The aggregation query's rows, as numpy columns.

    ``*_keys``: one ``(values, missing)`` pair per key column (group columns, then strata columns);
    times and statuses are float64 with NaN where the source had NULL (or NaN); ``*_n`` and
    ``entry_bad`` are int64 row counts."""

    exit_keys: list
    exit_time: np.ndarray
    exit_status: np.ndarray
    exit_n: np.ndarray
    entry_keys: list | None = None
    entry_time: np.ndarray | None = None
    entry_n: np.ndarray | None = None
    entry_bad: np.ndarray | None = None


class Engine(Protocol):
    def aggregate(self, spec: Spec) -> Aggregates: ...

    def rows_in_runs(self, spec: Spec, lo: np.ndarray, hi: np.ndarray) -> int: ...


def column(values, *, numeric: bool) -> tuple[np.ndarray, np.ndarray]:
    """``(values, missing)`` of a fetched column (a numpy or masked array, or a list with None).
    Numeric columns come back as float64 with NaN where missing."""
    if isinstance(values, np.ma.MaskedArray):
        missing = np.ma.getmaskarray(values)
        data = np.ma.getdata(values)
    elif isinstance(values, list):                 # collected rows (Spark): None is missing
        missing = np.array([v is None for v in values], dtype=bool)
        data = np.array(values, dtype=object) if missing.any() or not values else np.array(values)
        if data.dtype.kind in "OUS" and numeric:
            data = np.array([np.nan if v is None else v for v in values], dtype=float)
    else:
        data = np.asarray(values)
        # a NULL may come back as None or, in an object column (DuckDB's ENUM), as a float NaN
        missing = np.array([v is None or (isinstance(v, float) and v != v) for v in data.tolist()], dtype=bool) \
            if data.dtype == object else np.zeros(data.shape, bool)
    if numeric:
        out = np.where(missing, np.nan, data).astype(np.float64) if missing.any() else data.astype(np.float64)
        return out, missing | np.isnan(out)
    if data.dtype.kind == "f":
        missing = missing | np.isnan(data)
    if data.dtype == object and missing.any():
        data = data.copy()
    return data, missing


# ------------------------------------------------------------------------------------------------
# the result: counts per stratum, groups as columns

@dataclass(frozen=True)
class TableCounts:
    """Counts of a source: for each stratum (``None`` without strata) a ``Counts`` table whose
    columns are ``groups`` (sorted as numpy sorts them; a tuple per group for several columns;
    ``("all",)`` without groups); ``n`` rows per group."""

    groups: tuple
    strata: tuple
    n: np.ndarray
    causes: tuple
    tables: dict

    def table(self, stratum=None) -> Counts:
        if stratum not in self.tables:
            raise InvalidInputError(f"stratum: {stratum!r} is not one of {tuple(self.tables)}")
        return self.tables[stratum]

    def group(self, level, stratum=None) -> Counts:
        """The one-group table of ``level``: its own distinct exit and entry times only, as
        ``count`` builds it from that group's rows."""
        if level not in self.groups:
            raise InvalidInputError(f"group: {level!r} is not one of {self.groups}")
        return one_group(self.table(stratum), self.groups.index(level))


def one_group(c: Counts, j: int) -> Counts:
    rows = c.n_exit[:, j] > 0
    entry_time = n_entry = None
    if c.entry_time is not None and c.n_entry is not None:
        er = c.n_entry[:, j] > 0
        entry_time, n_entry = c.entry_time[er], c.n_entry[er, j:j + 1]
    return Counts(c.time[rows], c.n_exit[rows, j:j + 1], c.n_event[rows, j:j + 1, :], c.causes, entry_time, n_entry)


# ------------------------------------------------------------------------------------------------
# group levels

def factorize(columns: Sequence[np.ndarray]) -> tuple[np.ndarray, list]:
    """Integer codes and sorted levels of the rows' keys over one or more columns: a scalar level
    for one column (np.unique's order, as ``check_groups``), a tuple for several (lexicographic)."""
    if not columns:
        raise ValueError("no key columns")
    from ltfu.stats._common import unique_labels

    codes, uniqs = [], []
    for col in columns:
        u, inv = unique_labels(col, "group or strata")
        codes.append(inv)
        uniqs.append(u)
    if len(columns) == 1:
        return codes[0], uniqs[0].tolist()
    combo = np.ravel_multi_index(codes, tuple(u.size for u in uniqs))
    present, inv = np.unique(combo, return_inverse=True)
    parts = np.unravel_index(present, tuple(u.size for u in uniqs))
    cols = [u[p].tolist() for u, p in zip(uniqs, parts)]
    return inv.reshape(-1), list(zip(*cols))


# ------------------------------------------------------------------------------------------------
# checks (check_survival's, on the aggregated rows)

def _rows(n, mask) -> int:
    return int(n[mask].sum())


def _check_times(x, n, role, column):
    name = f"{role} (column {column!r})"
    bad = np.isnan(x)
    if bad.any():
        raise InvalidInputError(f"{name}: missing value (NULL or NaN) in {_rows(n, bad)} rows; drop or impute them "
                                "first")
    if np.isinf(x).any():
        raise InvalidInputError(f"{name}: infinite value in {_rows(n, np.isinf(x))} rows")
    if (x < 0).any():
        raise InvalidInputError(f"{name}: negative values in {_rows(n, x < 0)} rows")


def _check_status(s, n, spec: Spec) -> tuple:
    name = f"{'status' if spec.competing else 'event'} (column {spec.event!r})"
    if np.isnan(s).any():
        raise InvalidInputError(f"{name}: missing value (NULL or NaN) in {_rows(n, np.isnan(s))} rows; drop or impute "
                                "them first")
    if np.isinf(s).any():
        raise InvalidInputError(f"{name}: infinite value in {_rows(n, np.isinf(s))} rows")
    if not spec.competing:
        bad = (s != 0.0) & (s != 1.0)
        if bad.any():
            raise InvalidInputError(f"{name}: codes must be 0 (censored) or 1 (event); found {s[bad][0]!r} in "
                                    f"{_rows(n, bad)} rows")
        return (1,)
    if not np.all(s == np.round(s)):
        raise InvalidInputError(f"{name}: codes must be whole numbers (the censoring code, then one per cause)")
    check_code_size(s, name)
    codes = s.astype(np.int64)
    if spec.cencode == 0 and (codes < 0).any():
        raise InvalidInputError(f"{name}: negative codes; 0 is censored and causes are positive (or give cencode)")
    found = tuple(int(c) for c in np.unique(codes[codes != spec.cencode]))
    if spec.causes == "auto":
        return found
    assert isinstance(spec.causes, tuple)
    extra = sorted(set(found) - set(spec.causes))
    if extra:
        raise InvalidInputError(f"{name}: code {extra[0]} is neither the censoring code {spec.cencode} nor one of the "
                                f"causes {spec.causes}")
    return spec.causes


def _check_keys(keys, n, spec: Spec):
    for name, (_, missing) in zip(spec.keys, keys):
        if missing.any():
            what = "group" if name in spec.group else "strata"
            raise InvalidInputError(f"{what}: column {name!r} has a missing value (NULL) in {_rows(n, missing)} rows; "
                                    "drop those rows or give the missing values a level of their own")


# ------------------------------------------------------------------------------------------------
# assembly

def _merge_map(u: np.ndarray):
    """For sorted distinct times ``u``: the merged value of each (R's time merging), the run
    index of each, and the runs' first positions; None when nothing merges."""
    g = merge_groups(u)
    if g is None:
        return None
    starts = np.flatnonzero(np.r_[True, np.diff(g) > 0])
    return u[starts][g], g, starts


def _empty_interval_check(engine: Engine, spec: Spec, u, g, starts, exit_u, entry_u):
    """R stops when merging makes an interval (entry, exit] empty (aeqSurv); that needs a row with
    entry and exit in one multi-member run, entry < exit.  The candidate runs (an entry value below
    an exit value inside the run) are found here; the engine counts the rows."""
    ends = np.r_[starts[1:], u.size]
    multi = np.flatnonzero(ends - starts > 1)
    if not multi.size:
        return
    is_exit = np.isin(u, exit_u)
    is_entry = np.isin(u, entry_u)
    lo, hi = [], []
    for r in multi:
        a, b = starts[r], ends[r]
        ex = np.flatnonzero(is_exit[a:b])
        en = np.flatnonzero(is_entry[a:b])
        if ex.size and en.size and en[0] < ex[-1]:
            lo.append(u[a])
            hi.append(u[b - 1])
    if lo:
        bad = engine.rows_in_runs(spec, np.array(lo), np.array(hi))
        if bad:
            raise InvalidInputError(f"entry: after R's time merging the interval (entry, time] has length 0 in {bad} "
                                    "rows; the two times differ by less than the merging tolerance (pass "
                                    "timefix=False to keep raw times)")


def _sum_cells(rows, cols, n_rows, n_cols, weights) -> np.ndarray:
    """(n_rows, n_cols) sums of integer ``weights`` as float64, as ``count`` holds them: bincount
    adds whole numbers below 2**53, so every sum is exact whatever the order."""
    out = np.bincount(rows * n_cols + cols, weights=np.asarray(weights, np.float64), minlength=n_rows * n_cols)
    return out.reshape(n_rows, n_cols)


def assemble(agg: Aggregates, spec: Spec, engine: Engine) -> TableCounts:
    """``TableCounts`` from an engine's aggregated rows (see the module docstring)."""
    n = np.asarray(agg.exit_n, np.int64)
    if n.size == 0 or n.sum() == 0:
        raise InvalidInputError("time: empty input (the source has no rows)")
    t = np.asarray(agg.exit_time, np.float64) + 0.0           # -0.0 is 0.0, as check_survival makes it
    _check_times(t, n, "time", spec.time)
    status = np.asarray(agg.exit_status, np.float64)
    causes = _check_status(status, n, spec)
    _check_keys(agg.exit_keys, n, spec)
    has_entry = spec.entry is not None
    if has_entry:
        en_n = np.asarray(agg.entry_n, np.int64)
        en = np.asarray(agg.entry_time, np.float64) + 0.0
        _check_times(en, en_n, "entry", spec.entry)
        bad = np.asarray(agg.entry_bad, np.int64)
        if bad.sum():
            raise InvalidInputError(f"entry (column {spec.entry!r}): must be strictly less than time ({int(bad.sum())} "
                                    "rows have entry >= time)")

    # keys: group codes and strata codes (entry rows are among the exit rows' keys)
    ng, ns = len(spec.group), len(spec.strata)
    n_exit_rows = t.size
    key_cols = [k[0] for k in agg.exit_keys]
    if has_entry:
        key_cols = [np.concatenate([a, b[0]]) for a, b in zip(key_cols, agg.entry_keys or ())]
    n_key_rows = n_exit_rows + (en.size if has_entry else 0)
    if ng:
        gcodes, glevels = factorize(key_cols[:ng])
    else:
        gcodes, glevels = np.zeros(n_key_rows, np.intp), ["all"]
    if ns:
        scodes, slevels = factorize(key_cols[ng:])
    else:
        scodes, slevels = np.zeros(gcodes.size, np.intp), [None]
    g_exit, g_entry = gcodes[:n_exit_rows], gcodes[n_exit_rows:]
    s_exit, s_entry = scodes[:n_exit_rows], scodes[n_exit_rows:]
    G = len(glevels)

    # R's time merging, pooled over exit and entry times and over every group and stratum
    exit_u = np.unique(t)
    entry_u = np.unique(en) if has_entry else None
    u = np.unique(np.concatenate([exit_u, entry_u])) if has_entry else exit_u
    merged = _merge_map(u) if spec.timefix else None
    if merged is not None:
        value, g, starts = merged
        if has_entry:
            _empty_interval_check(engine, spec, u, g, starts, exit_u, entry_u)
        t = value[np.searchsorted(u, t)]
        if has_entry:
            en = value[np.searchsorted(u, en)]

    tables = {}
    for si, level in enumerate(slevels):
        m = s_exit == si
        times, inv = np.unique(t[m], return_inverse=True)
        inv = inv.reshape(-1)
        gm, nm, sm = g_exit[m], n[m], status[m]
        n_exit = _sum_cells(inv, gm, times.size, G, nm)
        n_event = np.zeros((times.size, G, len(causes)))
        for k, c in enumerate(causes):
            n_event[:, :, k] = _sum_cells(inv, gm, times.size, G, np.where(sm == c, nm, 0))
        entry_time = n_entry = None
        if has_entry:
            me = s_entry == si
            entry_time, einv = np.unique(en[me], return_inverse=True)
            n_entry = _sum_cells(einv.reshape(-1), g_entry[me], entry_time.size, G, en_n[me])
        tables[level] = Counts(times, n_exit, n_event, tuple(causes), entry_time, n_entry)
    n_group = np.zeros(G, np.int64)
    np.add.at(n_group, g_exit, n)
    return TableCounts(tuple(glevels), tuple(slevels), n_group, tuple(causes), tables)
