"""The k-sample log-rank test and its Fleming-Harrington family, as R ``survival::survdiff``.

At each distinct event time (within a stratum) with d deaths among n at risk, n_k of them in
group k and weight w = S(t-)^rho (the pooled Kaplan-Meier just before t, within the stratum):
observed O_k += w d_k, expected E_k += w d n_k / n, and the variance
V_jk += w^2 d (n - d) / (n - 1) (n_j / n) (1[j = k] - n_k / n).
The statistic is (O - E)' V^- (O - E) over the groups with E > 0, dropping the first, with as many
degrees of freedom as those groups less one (R's rule).  The trend test for ordered groups uses
scores c: (c'(O - E))^2 / (c' V c) on 1 df.

Hand-written (vectorised over distinct times) because the peers either lack strata and rho
(lifelines) or the k-sample variance matrix R reports; equality with R is checked in the tests.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import chdtrc

from ltfu.errors import ConvergenceError, InvalidInputError
from ltfu.stats._common import Result, TestResult, _json_float, check_groups, check_rho, check_time_event
from ltfu.stats.counting import Counts, count, merge_close_times
from ltfu.stats.km import survival_from_counts


@dataclass(frozen=True, repr=False)
class LogRank(Result):
    """Result of ``logrank``: groups in sorted order; observed/expected are weighted when rho != 0."""

    _table_fields = ("groups", "n", "observed", "expected")
    _repr_fields = ("statistic", "df", "p_value", "groups", "rho")

    statistic: float
    df: int
    p_value: float
    observed: np.ndarray
    expected: np.ndarray
    variance: np.ndarray
    groups: tuple
    n: np.ndarray
    rho: float

    def to_dict(self) -> dict:
        return {"statistic": _json_float(self.statistic), "df": self.df, "p_value": _json_float(self.p_value),
                "groups": [str(g) for g in self.groups], "n": [int(v) for v in self.n],
                "observed": [float(v) for v in self.observed], "expected": [float(v) for v in self.expected],
                "rho": self.rho}


def _stratum_sums(counts: Counts, rho):
    """O, E (length k) and V (k x k) of one stratum from its counts table (times x groups)."""
    n_k = counts.n_risk                                 # at risk per group at each time
    dead = counts.n_event_any
    # pooled over the groups: whole numbers, so adding the columns one by one gives exactly the
    # bits of sum(axis=1), which is slow along a short axis
    n, d = n_k[:, 0].copy(), dead[:, 0].copy()
    for j in range(1, n_k.shape[1]):
        n += n_k[:, j]
        d += dead[:, j]
    has = np.flatnonzero(d > 0)
    n_k, dead, n, d = n_k.take(has, axis=0), dead.take(has, axis=0), n.take(has), d.take(has)
    frac = n_k / n[:, None]
    if rho != 0:
        surv_after, _ = survival_from_counts(n, d)
        w = np.r_[1.0, surv_after[:-1]] ** rho           # S(t-)^rho, pooled KM of the stratum
        obs = (w[:, None] * dead).sum(axis=0)
        exp = (w[:, None] * d[:, None] * frac).sum(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            factor = np.where(n > 1, w ** 2 * d * (n - d) / (n - 1), 0.0)
    else:
        # the log-rank test: every weight is 1.0, and multiplying by 1.0 is exact, so leaving the
        # weights out gives the same bits with three fewer passes
        obs = dead.sum(axis=0)
        exp = (d[:, None] * frac).sum(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            factor = np.where(n > 1, d * (n - d) / (n - 1), 0.0)
    # V = sum_t factor_t (diag(frac_t) - frac_t frac_t')
    weighted = frac * factor[:, None]
    var = np.diag(weighted.sum(axis=0)) - weighted.T @ frac
    return obs, exp, var


def _collect(time, event, group, strata, rho, timefix):
    t, e, _ = check_time_event(time, event)
    levels, codes = check_groups(group, t.size)
    rho = check_rho(rho)
    k = levels.size
    if strata is None:
        obs, exp, var = _stratum_sums(count(t, e, group=codes, n_groups=k, timefix=timefix), rho)
    else:
        t, _ = merge_close_times(t, timefix=timefix)     # R merges over all strata at once
        _, scodes = check_groups(strata, t.size, "strata")
        obs, exp, var = np.zeros(k), np.zeros(k), np.zeros((k, k))
        for s in np.unique(scodes):
            m = scodes == s
            o, x, v = _stratum_sums(count(t[m], e[m], group=codes[m], n_groups=k, timefix=False), rho)
            obs += o
            exp += x
            var += v
    return levels, codes, obs, exp, var


def _quadratic_form(diff, vv, what):
    """diff' V^-1 diff; a singular V is an error, as R's solve() stops (R: "system is exactly
    singular"), judged by rank with numpy's default tolerance rather than by an exact zero."""
    if vv.shape == (1, 1) and np.isfinite(vv[0, 0]):
        # two groups: the rank of [v] is 1 exactly when v != 0 (matrix_rank's tolerance, |v| eps,
        # is below |v|), without an SVD
        singular = vv[0, 0] == 0
    else:
        singular = bool(vv.size) and np.linalg.matrix_rank(vv) < vv.shape[0]
    if singular:
        raise ConvergenceError(f"{what}: the variance matrix is singular (rank {np.linalg.matrix_rank(vv)} of "
                               f"{vv.shape[0]}), e.g. groups that never share a risk set within a stratum; "
                               "R's survdiff stops here too. Combine groups or drop the strata.")
    return float(np.linalg.solve(vv, diff) @ diff)


def logrank(time, event, group, *, strata=None, rho: float = 0.0, timefix: bool = True) -> LogRank:
    """k-sample log-rank (rho = 0) or Fleming-Harrington G^rho test, optionally stratified.

    Raises ConvergenceError when the variance of the compared groups is singular (R stops too)."""
    levels, codes, obs, exp, var = _collect(time, event, group, strata, rho, timefix)
    return _logrank_result(tuple(levels.tolist()), np.bincount(codes, minlength=levels.size), obs, exp, var, rho)


def _logrank_result(groups: tuple, n, obs, exp, var, rho) -> LogRank:
    """The test from the summed O, E, V (hook shared with ltfu.stats.engines, which sums them from
    counts computed by a query engine)."""
    if len(groups) < 2:
        raise InvalidInputError("group: needs at least 2 groups")
    keep = exp > 0
    if keep.sum() < 2:
        stat, df = 0.0, 0
    else:
        diff = (obs - exp)[keep][1:]
        vv = var[keep][:, keep][1:, 1:]
        stat, df = _quadratic_form(diff, vv, "logrank"), int(keep.sum() - 1)
    p = float(chdtrc(df, stat)) if df > 0 else np.nan
    return LogRank(stat, df, p, obs, exp, var, groups, n, float(rho))


def logrank_trend(time, event, group, *, scores=None, strata=None, rho: float = 0.0,
                  timefix: bool = True) -> TestResult:
    """Test for trend across ordered groups: (c'(O - E))^2 / (c' V c) on 1 df.

    ``scores`` default to the sorted group levels when they are numeric, else 1..k.
    """
    levels, _, obs, exp, var = _collect(time, event, group, strata, rho, timefix)
    if levels.size < 2:
        raise InvalidInputError("group: needs at least 2 groups")
    if scores is None:
        c = levels.astype(float) if np.issubdtype(levels.dtype, np.number) else np.arange(1, levels.size + 1.0)
    else:
        c = np.asarray(scores, dtype=float)
        if c.shape != (levels.size,):
            raise InvalidInputError(f"scores: need one score per group ({levels.size}), got {c.size}")
    u = float(c @ (obs - exp))
    v = float(c @ var @ c)
    if v <= 0:
        raise InvalidInputError("group: the trend test has zero variance (no events or one group at risk)")
    stat = u * u / v
    return TestResult(stat, 1.0, float(chdtrc(1, stat)))
