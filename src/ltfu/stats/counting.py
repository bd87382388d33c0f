"""Counting: the per-time tables that Kaplan-Meier, log-rank, cumulative incidence and the
resampling estimators are computed from.

Every estimator here that reduces to counts is split in two: *counting* (this module: how many
subjects leave the risk set at each distinct time, how many of them by an event of each cause, how
many enter late) and *arithmetic from counts* (beside each estimator).  numpy counts arrays in
memory; another engine may produce the same ``Counts`` table, and the arithmetic is unchanged.

R's time merging.  survival's ``aeqSurv`` (the ``timefix`` option, on by default in survfit,
survdiff and coxph) treats two distinct times as one when they differ by at most
``sqrt(.Machine$double.eps)`` either absolutely or relative to the mean absolute distinct time
(pooled over entry and exit times): 0.1 + 0.2 and 0.3 are then one time, as they are to a reader.
A run of such times takes the value of its smallest member.  ltfu applies the same rule by default
wherever times are compared (``timefix=True``; pass ``False`` for the raw floating-point times).
Months computed from days are floating point, so this matters in practice.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ltfu.errors import InvalidInputError

TIMEFIX_TOL = float(np.sqrt(np.finfo(float).eps))   # all.equal's and aeqSurv's tolerance
COUNT_MIN_N = 50_000                                   # below this, one sort is as fast as anything


# ------------------------------------------------------------------------------------------------
# R's time merging

def merge_groups(u: np.ndarray, tol: float = TIMEFIX_TOL) -> np.ndarray | None:
    """For sorted distinct finite values ``u``, the merged-run index of each (aeqSurv's rule), or
    None when no two values merge.  ``u[first of run]`` is the value every member takes."""
    if u.size < 2:
        return None
    dy = u[1:] - u[:-1]
    # x -> x / scale is monotone in floating point too, so the smallest gap decides whether any
    # gap is tied: one reduction instead of three comparisons over every gap when nothing merges.
    # The scale (mean |u|) is at most max |u| = |u[0]| or |u[-1]|; a gap above twice the tolerance
    # relative to that bound is clear of it whatever the rounding of the mean.
    smallest = float(np.minimum.reduce(dy))
    if smallest > tol and smallest > 2.0 * tol * max(abs(float(u[0])), abs(float(u[-1]))):
        return None
    scale = float(np.abs(u).sum()) / u.size           # np.mean's arithmetic, without its overhead
    if smallest > tol and (scale <= 0 or smallest / scale > tol):
        return None
    tied = (dy <= tol) | (dy / scale <= tol) if scale > 0 else dy <= tol
    return np.cumsum(np.r_[True, ~tied]) - 1


def merge_pooled(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    """The arrays with R's time merging (``merge_groups``) applied to their finite values pooled:
    each chain of near-equal times becomes its first value.  The arrays themselves, unchanged and
    not copied, when nothing merges."""
    pooled = arrays[0] if len(arrays) == 1 else np.concatenate(arrays)
    u = np.unique(pooled[np.isfinite(pooled)])
    g = merge_groups(u)
    if g is None:
        return arrays
    cuts = u[np.r_[True, np.diff(g) > 0]]

    def remap(x):
        out = x.copy()
        ok = np.isfinite(x)
        out[ok] = cuts[g[np.searchsorted(u, x[ok])]]
        return out

    return tuple(remap(x) for x in arrays)


def check_timefix(timefix) -> bool:
    """``timefix`` is True or False (a text such as "no" would read as True)."""
    if not isinstance(timefix, (bool, np.bool_)):
        raise InvalidInputError(f"timefix: must be True or False, got {timefix!r}")
    return bool(timefix)


def merge_close_times(time: np.ndarray, entry: np.ndarray | None = None, *, timefix: bool = True):
    """``(time, entry)`` with R's time merging applied to both (pooled, as aeqSurv does).

    Raises InvalidInputError when merging makes an interval (entry, time] empty, as R stops
    ("aeqSurv exception, an interval has effective length 0").  For estimators that sort anyway
    (Cox, Fine-Gray, time-dependent splitting); the counting below merges on distinct times only.
    """
    if not check_timefix(timefix):
        return time, entry
    if entry is None:
        return merge_pooled(time)[0], None
    t2, e2 = merge_pooled(time, entry)
    if t2 is time:
        return time, entry
    bad = (e2 >= t2) & (entry < time)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InvalidInputError(f"entry: after R's time merging the interval ({entry[i]!r}, {time[i]!r}] at index {i} "
                                "has length 0; the two times differ by less than the merging tolerance "
                                "(pass timefix=False to keep raw times)")
    return t2, e2


# ------------------------------------------------------------------------------------------------
# distinct times: sort, or count on an exact integer grid

def _heavily_tied(t) -> bool:
    """Whether distinct times are few (registry times in days or rounded months), judged on an
    evenly spaced sample of about 8,000 values."""
    sample = t[:: max(1, t.size // 8192)]
    return np.unique(sample).size < 0.25 * sample.size


def use_counting(t) -> bool:
    """Whether to try counting ``t`` on an integer grid instead of sorting: large and heavily tied."""
    return t.size >= COUNT_MIN_N and _heavily_tied(t)


def _grid_codes(t, *, origin: float = 0.0, limit: int | None = None):
    """``(codes, value_of)``: integer codes for ``t`` >= ``origin`` that order exactly as the
    distinct values, and the value each code stands for; or None.

    (t - origin) * scale is rounded for scale 1, 10, 100, 1000 (days, rounded months ...).  Rounding
    never reverses an order, so if no two different values share a code (checked exactly on ``t``
    itself: one value per code) the codes order like the values.  Accepted only while the codes
    span at most ``limit`` (default 8 n + 1024), which is checked before any integer conversion.
    """
    limit = 8 * t.size + 1024 if limit is None else limit
    for scale in (1.0, 10.0, 100.0, 1000.0):
        top = (float(t.max()) - origin) * scale
        if not top < limit:
            return None                     # larger scales only spread the codes further
        scaled = t - origin if origin else t
        codes = np.rint(scaled * scale if scale != 1.0 else scaled).astype(np.int64)
        top_code = int(codes.max())
        if scale == 1.0 and not origin and top_code < 2 ** 53 and np.array_equal(codes, t):
            # whole numbers (days): each code is its own value, so one comparison answers (what the
            # general check below finds too, in three passes over the rows); a zero keeps the sign
            # the rows give it there (the last row's, as the assignment below would)
            value_of = np.arange(top_code + 1, dtype=float)
            zero = np.flatnonzero(codes == 0)
            if zero.size:
                value_of[0] = t[zero[-1]]
            return codes, value_of
        value_of = np.zeros(top_code + 1)
        value_of[codes] = t
        if np.array_equal(value_of[codes], t):
            return codes, value_of
    return None


_SMALL = 2048


def _grid_likely(t) -> bool:
    """Between a few thousand rows and ``COUNT_MIN_N``: whether times look like whole days or
    rounded months (an evenly spaced sample of 256 has integer codes), so that counting is worth
    trying; at 10,000 rows it is three times faster than np.unique's argsort."""
    return _SMALL < t.size < COUNT_MIN_N and _grid_codes(t[:: t.size // 256]) is not None


def stable_order(a) -> np.ndarray:
    """``np.argsort(a, kind="stable")``, the same permutation: by numpy's radix sort of 16-bit codes
    where ``a`` has exact ones (``_grid_codes``: whole days, rounded months; six times faster at 1e6
    rows), else by numpy's merge sort."""
    a = np.asarray(a)
    if a.size > _SMALL and a.dtype.kind == "f" and np.isfinite(a).all() and a.min() >= 0:
        grid = _grid_codes(a)
        if grid is not None and grid[1].size <= 1 << 16:
            return np.argsort(grid[0].astype(np.uint16), kind="stable")
    return np.argsort(a, kind="stable")


def distinct_times(t, *, method: str | None = None):
    """``(uniq, inverse)`` as ``np.unique(t, return_inverse=True)`` (no merging).

    "count": heavily tied times (registry days, rounded months) are mapped to exact integer codes
    (``_grid_codes``) and counted with bincount, O(n + range), several times faster than sorting
    every row; if no such codes exist it falls back to "sort", which is np.unique.  By default
    counting is tried for large inputs with few distinct times; tests force both ways and require
    identical results.  (numpy only: stats never imports pandas.)
    """
    if method is None:
        method = "count" if use_counting(t) or _grid_likely(t) else "sort"
    grid = _grid_codes(t) if method == "count" and t.size else None
    if grid is None:
        if t.size <= _SMALL:
            # a plain sort and a binary search: the same arrays as np.unique's argsort for finite
            # times, without its overhead on small inputs (most trials; the binary search loses
            # beyond a few thousand rows)
            uniq = np.unique(t)
            return uniq, np.searchsorted(uniq, t)
        uniq, inverse = np.unique(t, return_inverse=True)
        return uniq, inverse.reshape(-1)
    codes, value_of = grid
    present = np.flatnonzero(np.bincount(codes))
    rank = np.zeros(value_of.size, np.intp)
    rank[present] = np.arange(present.size)
    return value_of[present], rank[codes]


# ------------------------------------------------------------------------------------------------
# the counts table

@dataclass(frozen=True)
class Counts:
    """Per distinct exit time (rows) and group (columns): subjects leaving the risk set and, among
    them, events of each cause; plus the delayed entries.  The risk set at t is {entry < t <= exit}.

    ``n_exit`` (T, G) everyone leaving at the time (events of any cause and censorings);
    ``n_event`` (T, G, K) events of cause ``causes[k]``; ``entry_time`` (E,) and ``n_entry`` (E, G)
    the distinct entry times and entries (None without delayed entry).  Counts are floats holding
    whole numbers (exact up to 2**53), or case weights for the bootstrap.
    """

    time: np.ndarray
    n_exit: np.ndarray
    n_event: np.ndarray
    causes: tuple
    entry_time: np.ndarray | None = None
    n_entry: np.ndarray | None = None

    @property
    def n_risk(self) -> np.ndarray:
        """(T, G): at risk just before each time, entry < t <= exit."""
        risk = self.n_exit[::-1].cumsum(axis=0)[::-1]
        if self.entry_time is not None and self.n_entry is not None:
            # entries at or after t have not entered yet at t
            later = np.cumsum(self.n_entry[::-1], axis=0)[::-1]
            later = np.vstack([later, np.zeros((1, later.shape[1]))])
            risk = risk - later[np.searchsorted(self.entry_time, self.time, side="left")]
        return risk

    @property
    def n_event_any(self) -> np.ndarray:
        """(T, G): events of any cause."""
        if self.n_event.shape[2] == 1:
            return self.n_event[:, :, 0].copy()      # the same numbers as the sum, without a reduction
        return self.n_event.sum(axis=2)


def _sorted_counts(t, e):
    """One group, status 0/1: distinct times, leavers and events from one plain sort.

    Times are non-negative, so their float64 bit patterns order like the numbers; shifting them
    left one bit and putting the event in the freed bit gives a single uint64 key whose plain sort
    (much faster than an argsort) carries the events along."""
    one = np.uint64(1)
    key = t.view(np.uint64) << one
    key |= e.astype(np.uint64)
    key.sort()
    ts = (key >> one).view(np.float64)
    new = np.empty(ts.size, bool)
    new[0] = True
    np.not_equal(ts[1:], ts[:-1], out=new[1:])
    starts = new.nonzero()[0]
    ends = np.empty_like(starts)
    ends[:-1] = starts[1:]
    ends[-1] = ts.size
    # leavers per run from the run bounds, events as integer sums of the event bits (whole numbers:
    # the same floats as summing them as floats)
    total = np.subtract(ends, starts, dtype=np.float64)
    events = np.add.reduceat(key & one, starts).astype(np.float64)
    return ts[starts], total, events


def count(time, status, *, group=None, n_groups: int = 1, causes=(1,), entry=None, timefix: bool = True,
          method: str | None = None) -> Counts:
    """The counts table of checked arrays: non-negative float ``time``, integer ``status`` (0 =
    censored, else a cause in ``causes``), ``group`` integer codes 0..n_groups-1 (or None),
    ``entry`` (or None).  ``method`` "sort"/"count" forces a counting path (tests); both give the
    same table bit for bit."""
    causes = (1,) if type(causes) is tuple and causes == (1,) else tuple(int(c) for c in causes)
    timefix = check_timefix(timefix)
    if entry is not None and timefix:
        time, entry = merge_close_times(time, entry)
        timefix = False                          # merged on the pooled entry and exit times
    forced = method
    if method is None:
        method = "count" if use_counting(time) else "sort"
    one_group = group is None or n_groups == 1
    if method == "sort" and causes == (1,) and time.size and (one_group or time.size >= COUNT_MIN_N):
        # status 0/1: packed-key sorts (one per group), faster than np.unique's argsort at scale
        uniq, n_exit, n_event = _sorted_by_group(time, status, group, n_groups)
    else:
        uniq, inv = distinct_times(time, method=None if forced is None and method == "sort" else method)
        T, G, K = uniq.size, n_groups, len(causes)
        cell = inv if group is None else inv * G + group
        n_exit = np.bincount(cell, minlength=T * G).reshape(T, G).astype(float)
        n_event = np.zeros((T, G, K))
        for k, c in enumerate(causes):
            n_event[:, :, k] = np.bincount(cell, weights=(status == c).astype(float),
                                           minlength=T * G).reshape(T, G)
    if timefix:
        uniq, n_exit, n_event = _merge_rows(uniq, n_exit, n_event)
    entry_time = n_entry = None
    if entry is not None:
        entry_time, einv = np.unique(entry, return_inverse=True)
        ecell = einv.reshape(-1) if group is None else einv.reshape(-1) * n_groups + group
        n_entry = np.bincount(ecell, minlength=entry_time.size * n_groups).reshape(
            entry_time.size, n_groups).astype(float)
    return Counts(uniq, n_exit, n_event, causes, entry_time, n_entry)


def _sorted_by_group(time, status, group, n_groups):
    """Status 0/1: one packed-key sort per group, counts placed on the union of the groups' times."""
    if group is None or n_groups == 1:
        uniq, total, events = _sorted_counts(time, status)
        return uniq, total[:, None], events[:, None, None]
    per_group = {j: _sorted_counts(time[group == j], status[group == j]) for j in range(n_groups)
                 if np.any(group == j)}
    uniq = np.unique(np.concatenate([g[0] for g in per_group.values()]))
    n_exit = np.zeros((uniq.size, n_groups))
    n_event = np.zeros((uniq.size, n_groups, 1))
    for j, (u, total, events) in per_group.items():
        pos = np.searchsorted(uniq, u)
        n_exit[pos, j] = total
        n_event[pos, j, 0] = events
    return uniq, n_exit, n_event


def _merge_rows(uniq, n_exit, n_event):
    """R's time merging on the distinct times of a counts table: runs of close times become one
    row carrying the run's first (smallest) time and the sums of its counts."""
    g = merge_groups(uniq)
    if g is None:
        return uniq, n_exit, n_event
    starts = np.flatnonzero(np.r_[True, np.diff(g) > 0])
    return (uniq[starts], np.add.reduceat(n_exit, starts, axis=0), np.add.reduceat(n_event, starts, axis=0))
