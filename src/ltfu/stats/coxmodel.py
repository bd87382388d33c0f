"""Cox proportional-hazards regression, as R ``survival::coxph`` (Efron or Breslow ties).

Counting-process input (entry, exit] gives time-dependent covariates and delayed entry; strata
give separate baseline hazards; ``weights`` are case weights; ``cluster`` gives the robust
(sandwich) variance from the score residuals summed within clusters, as ``coxph(..., cluster=)``,
with R's robust score test.  Newton-Raphson with step halving; converged when the relative change
in the log partial likelihood is at most ``eps`` (R: 1e-9).  Times closer than R's tolerance are
merged first (``timefix``, as coxph).

The model (``CoxModel``: data sorted once per stratum, the per-event-time structure) is apart from
the result (``CoxResult``), as statsmodels' PHReg/PHRegResults; ``cox_zph`` and the robust variance
use the model's public score pieces.  Hand-written because the peers are slow at scale or stop
early (lifelines' batch mode), and none gives R's robust variance for counting-process data.

The kernel (``CoxModel.score_pieces``), derived once.  At event time k with tied deaths D_k among
the risk set R_k = {entry < tau_k <= exit}, risk weights w_i = c_i exp(x_i'b) (c_i the case
weight), and sums S0 = sum_R w, S1 = sum_R w x, S2 = sum_R w x x', A0, A1, A2 the same sums over
D_k, Efron's l-th term (l = 0..d-1, f_l = l/d) replaces them by S0_l = S0 - f_l A0, S1_l, S2_l
alike (Breslow: f_l = 0).  With m_k the mean case weight of the deaths (R's ``wtave``):

    loglik = sum_D c_i x_i'b - sum_k m_k sum_l log S0_l
    U      = sum_D c_i x_i  - sum_k m_k sum_l S1_l / S0_l
    I      = sum_k m_k sum_l [S2_l / S0_l - S1_l S1_l' / S0_l^2]

Writing the per-time scalars c1 = m sum_l 1/S0_l, c2 = m sum_l f_l/S0_l, e0 = m sum_l 1/S0_l^2,
e1 = m sum_l f_l/S0_l^2, e2 = m sum_l f_l^2/S0_l^2 (the only place where the d tied deaths are
expanded), every sum over l collapses:

    sum_l S1_l/S0_l          = S1 c1 - A1 c2
    sum_l S2_l/S0_l          = S2 c1 - A2 c2
    sum_l S1_l S1_l'/S0_l^2  = S1 S1' e0 - S1 A1' e1 - A1 S1' e1 + A1 A1' e2

and S2 c1 summed over k is X' diag(w C1) X with C1_i the sum of c1 over the times at which row i
is at risk (a prefix-sum lookup per row), so no p x p matrix is ever built per time or per row.
Risk-set sums come from reverse cumulative sums over exits minus those over entries.  Score
residuals (R's coxscore, per row, then times c_i) are the same pieces distributed over the rows;
they sum to U exactly (tests/test_cox.py checks it).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from scipy.special import chdtrc
from scipy.stats import norm

from ltfu.errors import ConvergenceError, InvalidInputError
from ltfu.stats._common import (
    Result,
    TestResult,
    _json_float,
    as_float_array,
    check_choice,
    check_conf_level,
    check_frequency_weights,
    check_groups,
    check_time_event,
    design_matrix,
    prefix_sums,
    z_quantile,
)
from ltfu.stats.counting import _grid_codes, merge_close_times, stable_order

if TYPE_CHECKING:
    from ltfu.stats.engines.cox import CoxQueryModel

TOLER_CHOL = float(np.finfo(float).eps ** 0.75)     # R's coxph.control(toler.chol)


@dataclass(frozen=True, repr=False)
class CoxResult(Result):
    """A fitted Cox model. ``robust_se`` and ``robust_score_test`` only with ``cluster``; then the
    Wald test and the intervals use the robust variance, and its degrees of freedom are the rank
    of that variance (R's summary prints the number of coefficients instead)."""

    _table_fields = ("terms", "coef", "se", "robust_se", "hazard_ratio", "hr_lower", "hr_upper", "p_value")

    terms: tuple
    coef: np.ndarray
    se: np.ndarray
    robust_se: np.ndarray | None
    var: np.ndarray
    loglik: tuple
    score_test: TestResult
    wald_test: TestResult
    lr_test: TestResult
    hazard_ratio: np.ndarray
    hr_lower: np.ndarray
    hr_upper: np.ndarray
    p_value: np.ndarray
    n: int
    n_events: int
    iterations: int
    ties: str
    conf_level: float
    robust_score_test: TestResult | None = None
    model: CoxModel | CoxQueryModel | None = field(default=None, repr=False, compare=False)   # for cox_zph

    def __repr__(self) -> str:
        hr = ", ".join(f"{t} {h:.3g}" for t, h in zip(self.terms, self.hazard_ratio))
        return (f"CoxResult(n={self.n}, events={self.n_events}, hazard ratios: {hr}; LR test p="
                f"{self.lr_test.p_value:.3g}, ties={self.ties!r}; .to_frame() for the table)")

    def to_dict(self) -> dict:
        f = lambda a: None if a is None else [_json_float(v) for v in a]
        return {"terms": list(self.terms), "coef": f(self.coef), "se": f(self.se), "robust_se": f(self.robust_se),
                "hazard_ratio": f(self.hazard_ratio), "hr_lower": f(self.hr_lower), "hr_upper": f(self.hr_upper),
                "p_value": f(self.p_value), "loglik": [_json_float(v) for v in self.loglik],
                "score_test": self.score_test.to_dict(), "wald_test": self.wald_test.to_dict(),
                "lr_test": self.lr_test.to_dict(),
                "robust_score_test": None if self.robust_score_test is None else self.robust_score_test.to_dict(),
                "n": self.n, "n_events": self.n_events,
                "iterations": self.iterations, "ties": self.ties, "conf_level": self.conf_level}


class _Layout:
    """One stratum's rows sorted once by exit time, and the per-event-time structure: everything
    that depends on the times, events, entries and weights but not on the covariates or beta (so
    models of the same data with other covariates share it, and no Newton iteration sorts)."""

    def __init__(self, idx, entry, exit_, event, ties, case_w, multiplicity=False):
        idx = idx[stable_order(exit_[idx])]
        self.idx = idx
        self.exit, self.event = exit_[idx], event[idx]
        self.c = None if case_w is None else case_w[idx]
        # ``case_w`` as multiplicities (``_patterns``): row i stands for c_i identical rows, so a
        # death row for c_i deaths of unit weight (Efron's fractions run over the deaths)
        self.multiplicity = multiplicity
        self.has_entry = entry is not None
        self.entry = entry[idx] if self.has_entry else None
        if self.has_entry:
            self.order_entry = stable_order(self.entry)
            self.entry_sorted = self.entry[self.order_entry]
        dead = self.event == 1
        self.dead_rows = np.flatnonzero(dead)                  # in exit order, so tied deaths are adjacent
        cd = np.ones(self.dead_rows.size) if self.c is None else self.c[self.dead_rows]
        self.cd = cd
        dead_times = self.exit[self.dead_rows]
        first = np.r_[True, dead_times[1:] != dead_times[:-1]] if dead_times.size else np.zeros(0, bool)
        self.times = dead_times[first]
        self.dead_k = np.cumsum(first) - 1                      # event-time index of each death
        self.group_start = np.flatnonzero(first)
        if not multiplicity:
            self.d = np.diff(np.r_[self.group_start, dead_times.size]).astype(float)
            # m_k: the mean case weight of the deaths at each time (R's wtave; 1 without weights)
            self.m = (np.add.reduceat(cd, self.group_start) / self.d) if dead_times.size else np.zeros(0)
        else:
            # each death row's multiplicity counts that many deaths of unit weight
            self.d = np.add.reduceat(cd, self.group_start) if dead_times.size else np.zeros(0)
            self.m = np.ones(self.d.size)
        self.efron = ties == "efron"
        # risk sets {entry < tau <= exit}: first exit >= tau, first sorted entry >= tau
        self.pos_exit = np.searchsorted(self.exit, self.times, side="left")
        if self.has_entry:
            self.pos_entry = np.searchsorted(self.entry_sorted, self.times, side="left")
        # for each row: event-time indices k with entry < tau_k <= exit, as a half-open range.
        # Rows are sorted by exit, so the number of tau_k <= exit is a running count of the
        # positions where each event time's rows begin.
        # (32-bit below 2**31 rows; and no k_lo of zeros without delayed entry: every row is then at
        # risk from the first event time.  At 1e6 rows a layout was 16 MB bigger, for each layout a
        # Cox worker holds.)
        marks = np.zeros(self.exit.size, np.int8)
        marks[self.pos_exit] = 1
        self.k_hi = np.cumsum(marks, dtype=np.int32 if self.exit.size < 2**31 else np.int64)
        self.k_lo = np.searchsorted(self.times, self.entry, side="right") if self.has_entry else None


EFRON_BLOCK = 1 << 18    # tied deaths expanded at a time for Efron's terms (~20 MB of arrays)
SERIES_MIN_DEATHS = 64   # a time with more tied deaths than this ...
SERIES_MAX_SHARE = 0.5   # ... whose deaths carry at most this share of the risk set's weight: series
SERIES_TERMS = 24        # terms of the series at least: share**24 <= 1e-24 at a share of 0.1 ...
SERIES_TAIL = 2.0 ** -64  # ... and as many more as a larger share needs for share**terms below this


def _series_terms(q_max: float) -> int:
    """Terms of Efron's power series for shares up to ``q_max``: SERIES_TERMS, or the m with
    q_max**m <= SERIES_TAIL (5e-20; 64 terms at a share of 0.5), whichever is more.  The sums'
    remainders, q**(m+1) / (1 - q) and (m + 2) q**(m+1) / (1 - q)**2, then stay below 2e-17
    relative, a tenth of rounding."""
    if q_max <= 0:
        return SERIES_TERMS
    return max(SERIES_TERMS, int(np.ceil(np.log(SERIES_TAIL) / np.log(q_max))))


_POWER_MEANS: dict = {}      # (top, the distinct tied-death counts) -> their power means: a fit's strata
                             # keep their counts from one Newton step to the next


def _power_means(d, top):
    """``_faulhaber`` of ``d``, remembered for the last few sets of counts (each Newton step asks
    again for the same ones)."""
    values, inverse = np.unique(d, return_inverse=True)
    key = (top, values.tobytes())
    if key not in _POWER_MEANS:
        if len(_POWER_MEANS) >= 16:
            _POWER_MEANS.pop(next(iter(_POWER_MEANS)))
        _POWER_MEANS[key] = _faulhaber(values, top)
    return _POWER_MEANS[key][:, inverse.reshape(-1)]


def _faulhaber(d, top):
    """P[j, k] = sum_{l < d_k} (l / d_k)**j for j = 0..top (Faulhaber's formula with Bernoulli
    numbers, B_1 = -1/2: P_j = d/(j+1) sum_i C(j+1, i) B_i d**-i).  For d > SERIES_MIN_DEATHS the
    terms fall as d**-i, so the sum is accurate to rounding (checked against the direct sums)."""
    from scipy.special import bernoulli, comb

    B = bernoulli(top)
    inv = 1.0 / d
    P = np.empty((top + 1, d.size))
    for j in range(top + 1):
        acc = np.zeros(d.size)
        for i in range(j, -1, -1):                      # smallest terms first
            acc += comb(j + 1, i, exact=True) * B[i] * inv ** i
        P[j] = d / (j + 1) * acc
    return P


def efron_terms(s0, a0, d, efron: bool):
    """Per event time, with unit case weight: c1 = sum_l 1/S0_l, c2 = sum_l f_l/S0_l, e0, e1, e2 the
    same over S0_l**2 (times 1, f_l, f_l**2), and sum_l log S0_l, where S0_l = S0 - f_l A0 and
    f_l = l/d over the d tied deaths (Efron; Breslow: f = 0).

    One death (or Breslow): closed and exact.  Many tied deaths whose weight A0 is at most half
    of the risk set's S0 (a registry: thousands of deaths among millions at risk, or a quarter of
    them at one time, the non-responders' events on day 0): the exact power series in q = A0/S0,
    1/(1 - f q) = sum_m (f q)**m and its square and logarithm, whose sums over l are the power
    means ``_power_means`` (truncated where q**m is below rounding, ``_series_terms``): O(times),
    not O(deaths), per Newton step (a time of 237,000 tied deaths expanded cost 10 ms a step at 1e6
    patients).  Otherwise the d terms are expanded, in blocks of about EFRON_BLOCK deaths.
    tests/test_cox.py checks the series against the expansion up to the largest share."""
    K = s0.size
    c1, c2, e0, e1, e2, logs = (np.zeros(K) for _ in range(6))
    if np.any(s0 <= 0):
        raise ConvergenceError("the risk set is empty at an event time (check entry and exit times)")
    one = d == 1 if efron else np.ones(K, bool)
    c1[one] = d[one] / s0[one]
    e0[one] = d[one] / s0[one] ** 2
    logs[one] = d[one] * np.log(s0[one])
    with np.errstate(divide="ignore", invalid="ignore"):
        q = a0 / s0
    series = ~one & (d > SERIES_MIN_DEATHS) & (q <= SERIES_MAX_SHARE)
    if series.any():
        ks = np.flatnonzero(series)
        M = _series_terms(float(q[ks].max()))
        P = _power_means(d[ks], M + 2)
        qm = q[ks][None, :] ** np.arange(M + 1)[:, None]        # q**m, m = 0..M
        m1 = np.arange(1, M + 2)[:, None]                       # m + 1
        t0, t1, t2 = (P[j:j + M + 1] * qm for j in range(3))    # P_{j+m} q**m
        c1[ks], c2[ks] = t0.sum(axis=0) / s0[ks], t1.sum(axis=0) / s0[ks]
        s02 = s0[ks] ** 2
        e0[ks], e1[ks], e2[ks] = ((m1 * t).sum(axis=0) / s02 for t in (t0, t1, t2))
        logs[ks] = d[ks] * np.log(s0[ks]) - (t0[1:] / m1[:-1]).sum(axis=0)
    many = np.flatnonzero(~one & ~series)
    # blocks of event times holding about EFRON_BLOCK expanded deaths (at most that plus one time's)
    before = np.cumsum(d[many]) - d[many]
    block = (before // EFRON_BLOCK).astype(np.int64)
    bounds = np.r_[np.flatnonzero(np.r_[True, np.diff(block) > 0]), many.size] if many.size else np.zeros(1, int)
    for start, stop in itertools.pairwise(bounds):
        ks = many[start:stop]
        dk = d[ks].astype(np.int64)
        which = np.repeat(np.arange(ks.size), dk)
        first = np.r_[0, np.cumsum(dk)[:-1]]
        f = (np.arange(which.size) - first[which]) / dk[which]
        s0l = s0[ks][which] - f * a0[ks][which]
        if np.any(s0l <= 0):
            raise ConvergenceError("the risk set is empty at an event time (check entry and exit times)")
        inv = 1.0 / s0l
        inv2 = inv * inv
        red = lambda a, at=first: np.add.reduceat(a, at)
        c1[ks], c2[ks] = red(inv), red(f * inv)
        e0[ks], e1[ks], e2[ks] = red(inv2), red(f * inv2), red(f * f * inv2)
        logs[ks] = red(np.log(s0l))
    return c1, c2, e0, e1, e2, logs


def _digest(*arrays) -> bytes:
    """A content key for arrays (None included): shape, dtype and bytes.  SHA-256, which OpenSSL
    runs on the processor's SHA instructions: 6 ms a million doubles, where blake2b took 13 (the
    models of a 1e6-patient report hash their times and events about 120 times)."""
    import hashlib

    h = hashlib.sha256()
    for a in arrays:
        if a is None:
            h.update(b"none;")
            continue
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape};".encode())
        h.update(a.data)
    return h.digest()


GRAM_BLOCK = 1 << 16         # rows per block of centred_gram: a few MB of temporaries at any n


def centred_gram(X, means=None, v=None):
    """(X - means)' diag(v) (X - means), p x p, by blocks of rows, so that no n x p temporary is
    made (each was 40 MB at 1e6 rows and 5 terms).  ``means`` None: X as it is; ``v`` None: ones.
    Within a block the arithmetic is the whole-array one, so at n <= GRAM_BLOCK the result is
    bit-identical to it; beyond, the blocks' sums add in another order (rounding only)."""
    n, p = X.shape
    out = np.zeros((p, p))
    for lo in range(0, n, GRAM_BLOCK):
        xb = X[lo:lo + GRAM_BLOCK]
        if means is not None:
            xb = xb - means
        out += (xb if v is None else xb * v[lo:lo + GRAM_BLOCK, None]).T @ xb
    return out


def rows_sum(w, x, rows):
    """sum_i w_i x[rows[i]], the sum ``(w[:, None] * x[rows]).sum(axis=0)`` makes, bit for bit
    (numpy adds the rows of a C-ordered array of two or more columns one after the other along
    axis 0, so the running total is carried from block to block), by blocks of GRAM_BLOCK rows: no
    copy of the rows nor of their product is made (each 30 MB for the deaths of 1e6 rows and 5
    terms).  One column (a univariable model: 8 MB) is summed as it was, pairwise."""
    if x.shape[1] == 1:       # one column is contiguous: numpy sums it pairwise, so all of it at once
        return (w[:, None] * x[rows]).sum(axis=0)
    acc = np.zeros((1, x.shape[1]))
    for lo in range(0, rows.size, GRAM_BLOCK):
        part = w[lo:lo + GRAM_BLOCK, None] * x[rows[lo:lo + GRAM_BLOCK]]
        acc = np.concatenate([acc, part]).sum(axis=0, keepdims=True)
    return acc[0]


def _layouts(time, event, entry, strata_codes, weights, ties, cache, multiplicity=False) -> list:
    """The strata's layouts, from ``cache`` (a dict; see ``cox``) when the same data were laid out
    (not for row patterns, which depend on the covariates: nothing to share)."""
    def lay_out():
        n = time.size
        groups = [np.arange(n)] if strata_codes is None else \
            [np.flatnonzero(strata_codes == s) for s in np.unique(strata_codes)]
        return [_Layout(g, entry, time, event, ties, weights, multiplicity) for g in groups]

    return _shared(None if multiplicity else cache, "cox-layout", (time, event, entry, strata_codes, weights),
                   lay_out, also=(ties,))


def _shared(cache, tag: str, arrays, compute, *, also=()):
    """``compute()``, or its value for the same ``arrays`` (by content) and ``also`` (what else the
    value depends on) remembered in ``cache`` (a dict shared by the fits of one endpoint's models;
    None: not remembered) under ``tag``.  One value per tag is kept: the fits of one endpoint come
    together."""
    if cache is None:
        return compute()
    key = (tag, also, _digest(*arrays))
    hit = cache.get(key)
    if hit is None:
        for k in [k for k in cache if k[0] == tag]:
            del cache[k]
        hit = cache[key] = compute()
    return hit


PATTERN_MIN_ROWS = 5000      # fits on fewer rows never look for repeated rows
PATTERN_MAX_SHARE = 0.25     # ... and use them only when they cut the rows to a quarter or less


def _patterns(X, time, event, entry, strata_codes, cache=None):
    """Rows collapsed to their distinct (stratum, entry, exit, status, covariates) patterns:
    (one row of each pattern, each row's pattern, the patterns' counts), or None when the data do
    not repeat enough (``PATTERN_*``) or a column has no exact codes.  A registry's univariable
    model of a yes/no covariate on whole days: a few thousand patterns for a million rows.  The
    fit on the patterns with their multiplicities is the fit on the rows (tested to 1e-12).
    ``cache`` (``cox``'s): the codes of the strata, times, events and entries, which the models of
    one endpoint share, are made once for them (30 ms a fit at 1e6 rows)."""
    n = time.size
    if n < PATTERN_MIN_ROWS:
        return None
    first = [time, event.astype(float)] + ([] if entry is None else [entry])
    cols = first + [X[:, j] for j in range(X.shape[1])]
    start = (strata_codes.astype(np.int64), int(strata_codes.max()) + 1) if strata_codes is not None \
        else (np.zeros(n, np.int64), 1)
    if not _may_have_patterns(cols, start[1], 16 * n):
        return None
    base = _shared(cache, "cox-pattern-base", (time, event, entry, strata_codes),
                   lambda: _pattern_key(first, *start, more=X.shape[1] > 0))
    if base is False:
        return None
    got = _pattern_key(cols[len(first):], *base, more=False)
    if got is False:
        return None
    key, span = got
    counts = np.bincount(key, minlength=span)    # up to 16 n slots (128 MB at 1e6 rows) ...
    used = np.flatnonzero(counts)
    if used.size > PATTERN_MAX_SHARE * n:
        return None
    mult = counts[used].astype(float)
    counts[used] = np.arange(used.size)           # ... reused as each slot's pattern number
    inverse = counts[key]
    del counts
    rep = np.empty(used.size, np.int64)
    rep[inverse] = np.arange(n)               # any row of a pattern: its rows are identical
    return rep, inverse, mult


def _pattern_key(cols, key, span, *, more: bool):
    """``(key, span)``: ``key`` (codes below ``span``) refined by each column's exact codes, or
    False when a column has none, the span would pass 16 n, or the patterns are already too many
    (see below; ``more``: columns will follow these)."""
    n = key.size
    for j, col in enumerate(cols):
        # exact codes over the column's own range (whole days, a 0.1 grid ...: counting._grid_codes)
        got = _grid_codes(col, origin=float(col.min()), limit=16 * n)
        if got is None or span * got[1].size > 16 * n:
            return False
        key, span = key * got[1].size + got[0], span * got[1].size
        if PATTERN_MAX_SHARE * n < span <= n and (more or j < len(cols) - 1) and \
                np.count_nonzero(np.bincount(key, minlength=span)) > PATTERN_MAX_SHARE * n:
            # the columns so far already have too many patterns, and each further column can only
            # split them: rejected now, counted over at most n slots (a multivariable model with
            # age in years at 1e6 rows: 0.06 s, where the whole key's 7e6 slots took 0.2 s)
            return False
    return key, span


def _may_have_patterns(cols, span: int, limit: int) -> bool:
    """False when ``_patterns`` would find a column without exact codes (a continuous covariate:
    age in days, a laboratory value) or the codes' combined span above ``limit``, decided from an
    evenly spaced sample of 4,096 rows per column and the column's own minimum, so that the
    million-row codes (four scales tried per column) are not made only to be dropped.  Exact, not
    a guess: a sample has exact codes at the column's scale or a smaller one, within the column's
    range, so its span is at most the column's (``_grid_codes``, same origin); over the limit on
    the samples is over it on the columns (tested)."""
    step = max(1, cols[0].size // 4096)
    for col in cols:
        got = _grid_codes(col[::step], origin=float(col.min()), limit=limit)
        if got is None:
            return False                # a column without exact codes, or too wide: so is the column
        span *= got[1].size
        if span > limit:
            return False
    return True


class _Stratum(_Layout):
    """A layout with the covariates of one model gathered in its row order."""

    def __init__(self, layout: _Layout, X, means):   # the layout's fields are shared, not recomputed
        vars(self).update(vars(layout))
        self.x = X[layout.idx]
        self.x -= means                                         # centred, as R, for numerical stability
        # the sum over deaths of c_i x_i, once; the deaths' rows are gathered only where a call needs
        # them all (the residuals), not kept (30 MB at 1e6 rows)
        self.xd_sum = rows_sum(layout.cd, self.x, layout.dead_rows)

    def risk_sums(self, ww):
        """Sums over the risk sets {entry < tau <= exit} at the K event times of the rows of ``ww``
        (one value or a row of values per row: K or K x columns)."""
        def rev(a):
            s = np.cumsum(a[::-1], axis=0)[::-1]
            return np.concatenate([s, np.zeros((1,) + s.shape[1:])])

        def from_exit(a):
            # rows from pos_exit[k] on: the sums between consecutive event times (one pass over the
            # rows), then a reverse cumulative sum over the K event times only
            if self.pos_exit.size == 0:
                return np.zeros((0,) + a.shape[1:])
            seg = np.add.reduceat(a, self.pos_exit, axis=0)
            return np.cumsum(seg[::-1], axis=0)[::-1]

        s = from_exit(ww)
        if self.has_entry:
            s = s - rev(ww[self.order_entry])[self.pos_entry]
        return s

    def cumulate(self, per_time):
        """For each row, the sum of ``per_time`` over the event times at which it is at risk."""
        c = prefix_sums(per_time)
        # without delayed entry the ranges start at 0, whose prefix sum is 0: x - 0.0 is x, bit for bit
        return c[self.k_hi] if self.k_lo is None else c[self.k_hi] - c[self.k_lo]


class CoxModel:
    """The data of a Cox model, prepared once: centred design, strata sorted by exit time, the
    event-time structure, case weights.  ``score_pieces`` and ``score_residuals`` are the kernel
    (derivation in the module docstring); ``cox`` fits, ``cox_zph`` tests."""

    def __init__(self, terms, X, time, event, entry, strata_codes, weights, ties, cache=None, counts=None,
                 gram=None):
        """``gram``: the centred cross-products ``cox`` already made (about the means used here:
        without case weights), whose diagonal is not computed again."""
        self.terms, self.ties = terms, ties
        self.n_rows, self.p = X.shape
        self.counts = counts
        if counts is not None:
            # rows given with their multiplicities (cox(counts=)): the moments of the repeated rows
            self.means = (counts @ X) / counts.sum()
            sq = np.diag(gram) if gram is not None else np.diag(centred_gram(X, self.means, counts))
            self.centred_sq_mean = sq / counts.sum()
        else:
            self.means = X.mean(axis=0) if weights is None else (weights @ X) / weights.sum()
            sq = np.diag(gram) if gram is not None and weights is None else np.diag(centred_gram(X, self.means))
            self.centred_sq_mean = sq / self.n_rows
        self.time, self.event, self.entry, self.weights = time, event, entry, weights
        if counts is not None:
            found = (np.arange(self.n_rows), np.arange(self.n_rows), counts)
        else:
            found = None if weights is not None else _patterns(X, time, event, entry, strata_codes, cache)
        if found is None:
            self.rep = self.inverse = None
            layouts = _layouts(time, event, entry, strata_codes, weights, ties, cache)
        else:
            self.rep, self.inverse, mult = found
            r = self.rep
            layouts = _layouts(time[r], event[r], None if entry is None else entry[r],
                               None if strata_codes is None else strata_codes[r], mult, ties, cache, True)
            X = X[r]
        # the strata keep the centred rows in their own order; no whole centred copy is made
        self.strata = [_Stratum(lay, X, self.means) for lay in layouts]

    def layout_rows(self, a):
        """A per-row array as the strata's layouts index it (one row per pattern when collapsed)."""
        return a if self.rep is None else a[self.rep]

    def score_pieces(self, beta, *, time_weights=None):
        """Log partial likelihood, score U and information I at beta.

        ``time_weights`` (one array per stratum, a weight h_k per event time) gives instead
        sum_k h_k U_k and sum_k h_k I_k, the pieces of cox.zph's score test."""
        return self.score_pieces_many(beta, [time_weights])[0]

    def score_pieces_many(self, beta, weightings) -> list:
        """``score_pieces(beta, time_weights=w)`` for each ``w`` of ``weightings`` (None: unweighted),
        from one pass over each stratum's risk sets at beta: cox.zph asks for three at the same beta,
        which share the linear predictors, the risk-set sums and Efron's terms, the costly part at
        registry scale.  Each result is that of ``score_pieces`` alone, bit for bit."""
        p = self.p
        out = [[0.0, np.zeros(p), np.zeros((p, p))] for _ in weightings]
        for si, st in enumerate(self.strata):
            sums = self._stratum_sums(st, beta)
            for acc, weights in zip(out, weightings):
                h = None if weights is None else weights[si]
                loglik_s, U_s, I_s, _ = self._stratum_moments(st, sums, h, want_resid=False)
                acc[0] += loglik_s
                acc[1] += U_s
                acc[2] += I_s
        return [tuple(acc) for acc in out]

    def score_residuals(self, beta):
        """Per-row score residuals (R ``residuals(fit, type="score", weighted=TRUE)``), rows in the
        original order; they sum to U."""
        n_rows = self.n_rows if self.rep is None else self.rep.size
        resid = np.zeros((n_rows, self.p))
        for st in self.strata:
            *_, r = self._stratum_moments(st, self._stratum_sums(st, beta), None, want_resid=True)
            resid[st.idx] = r
        return resid if self.inverse is None else resid[self.inverse]      # identical rows, same residual

    def _stratum_sums(self, st: _Stratum, beta):
        """What a stratum's pieces at beta share whatever the time weights: the risk weights, the
        risk-set sums S of [w, w x] at the event times, the deaths' sums A, and Efron's terms."""
        x, p = st.x, self.p
        eta = x @ beta
        shift = eta.max() if eta.size else 0.0
        ew = np.exp(eta - shift)                                   # S0 is scaled by exp(-shift)
        w = ew if st.c is None else st.c * ew
        dr, gs = st.dead_rows, st.group_start                     # per death row
        # the risk-set sums S of [w, w x] at the event times and the deaths' sums A, one column at a
        # time: an n x (p + 1) array of [w, w x] was 48 MB at 1e6 rows and 5 terms, its deaths' rows
        # 36 MB more; by columns the sums are the same, bit for bit (reduceat adds each segment in
        # row order either way)
        s = np.empty((st.pos_exit.size, p + 1))
        a = np.empty((gs.size, p + 1))
        for j in range(p + 1):
            col = w if j == 0 else w * x[:, j - 1]
            s[:, j] = st.risk_sums(col)
            if gs.size:
                a[:, j] = np.add.reduceat(col[dr], gs)
        # Efron's sums over the tied deaths (S0_l = S0 - f A0, f = l/d), per event time
        return beta, shift, ew, w, s, a, efron_terms(s[:, 0], a[:, 0], st.d, st.efron)

    def _stratum_moments(self, st: _Stratum, sums, h, *, want_resid):
        x = st.x
        beta, shift, ew, w, s, a, (c1, c2, e0, e1, e2, logs) = sums
        dr, k = st.dead_rows, st.dead_k
        wd = w[dr]
        s1, a1 = s[:, 1:], a[:, 1:]
        mk = st.m if h is None else st.m * h
        c1, c2, e0, e1, e2 = c1 * mk, c2 * mk, e0 * mk, e1 * mk, e2 * mk   # m sum_l 1/S0_l ...
        # log S0 = log s0l + shift; the deaths' log terms carry the mean case weight m_k
        loglik = float(st.xd_sum @ beta - (st.m * (logs + st.d * shift)).sum()) if h is None else 0.0
        sum_means = s1 * c1[:, None] - a1 * c2[:, None]           # m sum_l S1_l / S0_l (times h_k)
        if h is None:
            U = st.xd_sum - sum_means.sum(axis=0)
        else:
            U = rows_sum(h[k] * st.cd, x, dr) - sum_means.sum(axis=0)
        C1 = st.cumulate(c1)
        v = w * C1                                                 # sum_k S2_k c1_k = X' diag(v) X ...
        if c2.any():                                               # ... minus, Efron only, the deaths'
            v[dr] -= wd * c2[k]                                    # sum_k A2_k c2_k (a death row once)
        I = centred_gram(x, None, v)
        I -= (s1 * e0[:, None]).T @ s1
        I += (s1 * e1[:, None]).T @ a1 + (a1 * e1[:, None]).T @ s1
        I -= (a1 * e2[:, None]).T @ a1
        resid = None
        if want_resid:
            # per row (unweighted, then times the case weight): the death term minus the risk terms
            M = st.cumulate(s1 * e0[:, None] - a1 * e1[:, None])   # m sum_k sum_l xbar_l / S0_l
            r = -(ew[:, None] * (x * C1[:, None] - M))
            g = s1 * e1[:, None] - a1 * e2[:, None]                # m sum_l f xbar_l / S0_l
            with np.errstate(invalid="ignore", divide="ignore"):
                mean_xbar = sum_means / (st.m * st.d)[:, None]     # (1/d) sum_l xbar_l
            xd = x[dr]
            r[dr] += xd - mean_xbar[k]
            r[dr] += ew[dr][:, None] * (xd * c2[k][:, None] - g[k])
            resid = r if st.c is None or st.multiplicity else r * st.c[:, None]
        return loglik, U, I, resid


def _gchol_quadratic(V, b, toler=TOLER_CHOL):
    """``(b' V^- b, rank)`` with R's generalised Cholesky (survival's cholesky2/chsolve2, used by
    coxph.wtest): a pivot below ``toler`` times the largest diagonal is taken as zero and its
    column dropped, so a rank-deficient V gives the test on the leading independent terms."""
    V = np.array(V, dtype=float)
    n = V.shape[0]
    eps = max(float(np.max(np.diag(V), initial=0.0)), 0.0)
    eps = toler if eps == 0 else eps * toler
    L = np.zeros((n, n))
    D = np.zeros(n)
    A = V.copy()
    rank = 0
    for i in range(n):
        pivot = A[i, i]
        if not np.isfinite(pivot) or pivot < eps:
            continue
        rank += 1
        D[i] = pivot
        for j in range(i + 1, n):
            temp = A[j, i] / pivot
            L[j, i] = temp
            A[j, j] -= temp * temp * pivot
            for kk in range(j + 1, n):
                A[kk, j] -= temp * A[kk, i]
    y = np.array(b, dtype=float)
    for i in range(n):                       # F y = b (unit lower triangle)
        y[i] -= y[:i] @ L[i, :i]
    for i in range(n - 1, -1, -1):           # D F' z = y
        if D[i] == 0:
            y[i] = 0.0
        else:
            y[i] = y[i] / D[i] - y[i + 1:] @ L[i + 1:, i]
    return float(y @ np.asarray(b, float)), rank


def cox(X, time, event, *, entry=None, strata=None, cluster=None, weights=None, counts=None, ties: str = "efron",
        conf_level: float = 0.95, init=None, max_iter: int = 30, eps: float = 1e-9,
        timefix: bool = True, cache: dict | None = None) -> CoxResult:
    """Fit a Cox model; see the module docstring. Raises ConvergenceError naming the problem term.

    ``weights`` are case weights; as R's coxph, non-integer weights make the reported variance the
    robust one (each row its own cluster) unless ``cluster`` is given; ``se`` stays the model-based
    standard error (R's ``naive.var``).  ``cache``: a dict passed to successive fits of the same
    times, events, entries, strata and weights with other covariates (univariable and multivariable
    models): the sorted risk-set layout is made once and found again by the content of those
    arrays (the fits are the same as without it).

    ``counts``: frequency weights, whole numbers >= 1: row i stands for counts[i] identical rows,
    and the fit is the fit on the rows repeated (to rounding; n and the events are counted with
    them).  Unlike integer case weights (``weights``, R's), Efron's correction then treats tied
    deaths of one row as that many deaths, as replicated rows do.  They exist so that a registry's
    model with few distinct (time, status, covariates) cells is fitted from a GROUP BY of them
    (``ltfu.registry``).  Not with ``weights`` or ``cluster``; ``cox_zph`` needs the rows."""
    t, e, en = check_time_event(time, event, entry=entry)
    t, en = _shared(cache, "cox-merged-times", (t, en), lambda: merge_close_times(t, en, timefix=timefix),
                    also=(timefix,))
    terms, Xv = design_matrix(X, t.size)
    check_choice(ties, "ties", ("efron", "breslow"))
    conf_level = check_conf_level(conf_level)
    if not (isinstance(max_iter, (int, np.integer)) and not isinstance(max_iter, bool) and max_iter >= 1):
        raise InvalidInputError(f"max_iter: must be a positive whole number, got {max_iter!r}")
    n, p = Xv.shape
    freq = check_frequency_weights(counts, n, "counts")
    if counts is not None and (weights is not None or cluster is not None):
        raise InvalidInputError("counts: frequency weights do not combine with weights or cluster")
    cw = None
    if weights is not None:
        cw = as_float_array(weights, "weights")
        if cw.size != n:
            raise InvalidInputError(f"weights: length {cw.size} differs from time length {n}")
        if (cw <= 0).any():
            raise InvalidInputError("weights: case weights must be positive (drop rows with weight 0)")
    if cluster is None and cw is not None and np.any(cw != np.floor(cw)):
        cluster = np.arange(n)           # R: non-integer case weights make the variance robust
    if e.sum() == 0:
        raise ConvergenceError("no events: the Cox model cannot be fitted")
    const = [terms[j] for j in range(p) if np.ptp(Xv[:, j]) == 0]
    if const:
        raise ConvergenceError(f"singular design: {', '.join(const)} is constant")
    n_obs = n if freq is None else int(freq.sum())               # the rows, repeated by their counts
    n_events = int(e.sum()) if freq is None else int(freq[e == 1].sum())
    with np.errstate(over="ignore", invalid="ignore"):
        gram = centred_gram(Xv, Xv.mean(axis=0)) if freq is None else centred_gram(Xv, (freq @ Xv) / n_obs, freq)
    check_finite_gram(gram, terms)
    beta0 = check_init(init, terms)
    rank = np.linalg.matrix_rank(gram / n_obs)   # p x p: cheap at registry scale
    if rank < p:
        Xc = Xv - Xv.mean(axis=0)
        dependent = dependent_terms(terms, lambda cols: np.linalg.matrix_rank(Xc[:, cols]))
        raise ConvergenceError(f"singular design: {', '.join(dependent)} is a linear combination of the other "
                               "terms (collinear)")
    scodes = None if strata is None else check_groups(strata, n, "strata")[1]
    model = CoxModel(terms, Xv, t, e, en, scodes, cw, ties, cache, counts=freq, gram=gram)
    del Xv                                 # the model holds the centred rows in risk-set order
    beta = beta0.copy()
    ll0, U0, I0 = model.score_pieces(np.zeros(p))
    # At beta = 0 the information of a term is the sum over event times of its variance within the
    # risk set; (numerically) zero means the term never varies where it matters.  Decided against
    # its own scale, not by an exact zero that rounding may or may not produce.
    scale = (n_events if cw is None else cw[e == 1].sum()) * model.centred_sq_mean
    _check_varies(I0, scale, terms)
    score, _ = _gchol_quadratic(I0, U0)
    start = (ll0, U0, I0) if init is None else model.score_pieces(beta)
    beta, ll, var, it = _newton(model.score_pieces, beta, start, terms, eps=eps, max_iter=max_iter)
    se = np.sqrt(np.diag(var))
    robust = robust_score = None
    use_var = var
    if cluster is not None:
        _, ccodes = check_groups(cluster, n, "cluster")
        n_cl = int(ccodes.max()) + 1

        def collapse(a):
            out = np.zeros((n_cl, p))
            np.add.at(out, ccodes, a)
            return out

        dfbeta = collapse(model.score_residuals(beta) @ var)
        use_var = dfbeta.T @ dfbeta
        robust = np.sqrt(np.diag(use_var))
        start = beta0
        r0 = collapse(model.score_residuals(start))
        rs_stat, rs_rank = _gchol_quadratic(r0.T @ r0, r0.sum(axis=0))
        robust_score = TestResult(rs_stat, float(rs_rank), float(chdtrc(rs_rank, rs_stat)) if rs_rank else np.nan)
    z = z_quantile(conf_level)
    use_se = robust if robust is not None else se
    start = beta0
    wald, wald_rank = _gchol_quadratic(use_var, beta - start)
    if wald_rank == 0:
        wald = np.nan                     # a zero variance (R: NA): no test
    pv = 2 * norm.sf(np.abs(beta / use_se))
    return CoxResult(terms, beta, se, robust, var, (ll0, ll),
                     TestResult(score, float(p), float(chdtrc(p, score))),
                     TestResult(wald, float(wald_rank), float(chdtrc(wald_rank, wald)) if wald_rank else np.nan),
                     lr_test(ll0, ll, p),
                     np.exp(beta), np.exp(beta - z * use_se), np.exp(beta + z * use_se), pv,
                     n_obs, n_events, it, ties, conf_level, robust_score, model)


def lr_test(ll0, ll, p) -> TestResult:
    """The likelihood-ratio test 2 (ll - ll0) on p df.  The fit never lowers the likelihood, so a
    statistic below 0 by no more than rounding (a fit that did not move it: every death at one time)
    is 0, p = 1 (R prints the rounding, e.g. -4.5e-13, with no p-value); a larger negative one is
    left as it is, to be seen."""
    stat = 2.0 * (ll - ll0)
    if -1e-9 * max(1.0, abs(ll0)) <= stat < 0:
        stat = 0.0
    return TestResult(stat, float(p), float(chdtrc(p, stat)))


def check_finite_gram(gram, terms) -> None:
    """InvalidInputError naming the columns whose centred sum of squares overflows double precision."""
    if not np.isfinite(gram).all():
        big = [terms[j] for j in range(len(terms)) if not np.isfinite(gram[j, j])] or list(terms)
        raise InvalidInputError(f"X: column {', '.join(map(repr, big))} is too large in magnitude (its squares "
                                "overflow double precision); rescale it")


def check_init(init, terms) -> np.ndarray:
    """The starting coefficients: zeros, or ``init`` as p finite numbers in the terms' order."""
    p = len(terms)
    if init is None:
        return np.zeros(p)
    try:
        b = np.array(init, dtype=float)
    except (TypeError, ValueError):
        raise InvalidInputError(f"init: give {p} numbers, one per term, got {init!r}") from None
    b = b.reshape(1) if b.ndim == 0 else b
    if b.ndim != 1 or b.size != p or not np.isfinite(b).all():
        raise InvalidInputError(f"init: give {p} finite numbers, one per term ({', '.join(terms)}), got {init!r}")
    return b


def _check_varies(I0, scale, terms) -> None:
    """ConvergenceError naming the terms whose information at beta = 0 is (numerically) zero against
    their own ``scale``: they never vary within the risk sets at the event times."""
    flat = [terms[j] for j in range(len(terms)) if I0[j, j] <= 1e-10 * scale[j]]
    if flat:
        raise ConvergenceError(f"{', '.join(flat)} does not vary within the risk sets at the event times (e.g. every "
                               "patient with another value is censored before the first event), so its "
                               "coefficient cannot be estimated")


def _newton(pieces, beta, start, terms, *, eps: float, max_iter: int):
    """R's coxfit6 iteration from ``beta`` (whose log-likelihood, score and information are
    ``start``): Newton steps, step halving when the log-likelihood falls, convergence on its
    relative change; then R's check for a coefficient that would still move (monotone likelihood).
    ``pieces(beta)`` -> (loglik, U, I), from the rows (CoxModel) or from an engine's sums.
    Returns (beta, loglik, inverse of the information, iterations)."""
    p = len(terms)
    ll, U, I = start
    converged, it, halving = False, 0, 0
    new = beta + _solve(I, U, terms)
    left_fp = None                  # the last step whose sums left floating point, if any
    for it in range(1, max_iter + 1):  # noqa: B007 (the count is reported after the loop)
        with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
            ll_new, U_new, I_new = pieces(new)
        finite = bool(np.isfinite(ll_new) and np.isfinite(U_new).all() and np.isfinite(I_new).all())
        if finite and abs(1 - ll / ll_new) <= eps and halving == 0:
            beta, ll, U, I = new, ll_new, U_new, I_new
            converged = True
            break
        if not finite or ll_new < ll:                       # step halving, as R's coxfit6; a step whose
            if not finite:                                  # risk-set sums over- or underflow counts as
                left_fp = new                               # worse (an infinite information would give
            halving += 1                                    # a step of 0 that looks like convergence)
            new = (new + halving * beta) / (halving + 1)
            continue
        halving = 0
        beta, ll, U, I = new, ll_new, U_new, I_new
        new = beta + _solve(I, U, terms)
    if not converged:
        why = "" if left_fp is None else (
            f": the coefficients grow without bound (at {', '.join(f'{b:.3g}' for b in left_fp)} the likelihood's "
            f"sums leave floating point), a monotone likelihood, e.g. a term that orders the event times")
        raise ConvergenceError(f"the Cox model did not converge in {max_iter} iterations{why}")
    var = np.linalg.inv(I)
    if not (np.isfinite(var).all() and np.linalg.eigvalsh((var + var.T) / 2).min() > 0):
        flat = [terms[j] for j in range(p) if not (np.isfinite(var[j, j]) and var[j, j] > 0)] or list(terms)
        raise ConvergenceError(f"the information matrix is not positive definite at the estimate: the "
                               f"coefficient of {', '.join(flat)} cannot be estimated (a monotone likelihood)")
    infs = np.abs(U @ var) if it else np.zeros(p)
    tol_inf = np.sqrt(eps)
    # monotone likelihood (separation): R's check for a coefficient that would still move
    bad = [terms[j] for j in range(p) if (infs[j] > eps and infs[j] > tol_inf * abs(beta[j]))
           or not np.isfinite(beta[j])]
    if bad:
        raise ConvergenceError(f"the coefficient of {', '.join(bad)} may be infinite: the likelihood is monotone "
                               "(separation, e.g. no events in one group)")
    return beta, ll, var, it


def _solve(I, U, terms):
    try:
        return np.linalg.solve(I, U)
    except np.linalg.LinAlgError:
        raise ConvergenceError("singular information matrix: the terms "
                               f"{', '.join(terms)} cannot all be estimated") from None


def dependent_terms(terms, rank_of) -> list:
    """Names of the terms that are linear combinations of earlier ones: ``rank_of(columns)`` is the
    rank of those columns (of the rows, or of their centred cross-products: the same ranks)."""
    dep: list = []
    kept: list[int] = []
    for j in range(len(terms)):
        if rank_of(kept + [j]) < len(kept) + 1:
            dep.append(terms[j])
        else:
            kept.append(j)
    return dep

