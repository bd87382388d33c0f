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
from scipy.stats import chi2

from ltfu.errors import InvalidInputError
from ltfu.stats._common import TestResult, _json_float, check_groups, check_time_event


@dataclass(frozen=True)
class LogRank:
    """Result of ``logrank``: groups in sorted order; observed/expected are weighted when rho != 0."""

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


def _stratum_sums(t, e, codes, k, rho):
    """O, E (length k) and V (k x k) of one stratum, vectorised over its distinct times."""
    from ltfu.stats.km import _km_arrays, distinct_times, use_counting

    if use_counting(t):
        # heavily tied times: code them once and count every group in one pass
        uniq, idx = distinct_times(t, method="count")
        cell = idx * k + codes
        nt = uniq.size
        count = np.bincount(cell, minlength=nt * k).reshape(nt, k).astype(float)
        dead = np.bincount(cell, weights=e, minlength=nt * k).reshape(nt, k)
    else:
        # one plain sort per group (the packed-key sort of the Kaplan-Meier), then counts on the union
        present = [j for j in range(k) if np.any(codes == j)]     # a group may be absent from a stratum
        per_group = {j: _km_arrays(t[codes == j], e[codes == j], None, method="sort") for j in present}
        uniq = np.unique(np.concatenate([g[0] for g in per_group.values()]))
        nt = uniq.size
        count = np.zeros((nt, k))
        dead = np.zeros((nt, k))
        for j, (u, _risk, ev, cens) in per_group.items():
            pos = np.searchsorted(uniq, u)
            count[pos, j] = ev + cens
            dead[pos, j] = ev
    n_k = np.cumsum(count[::-1], axis=0)[::-1]          # at risk per group at each time
    n = n_k.sum(axis=1)
    d = dead.sum(axis=1)
    has = d > 0
    n_k, dead, n, d = n_k[has], dead[has], n[has], d[has]
    if rho != 0:
        surv_after = np.cumprod(1.0 - d / n)
        w = np.r_[1.0, surv_after[:-1]] ** rho           # S(t-)^rho, pooled KM of the stratum
    else:
        w = np.ones(d.size)
    frac = n_k / n[:, None]
    obs = (w[:, None] * dead).sum(axis=0)
    exp = (w[:, None] * d[:, None] * frac).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(n > 1, w ** 2 * d * (n - d) / (n - 1), 0.0)
    # V = sum_t factor_t (diag(frac_t) - frac_t frac_t')
    var = np.diag((factor[:, None] * frac).sum(axis=0)) - (frac * factor[:, None]).T @ frac
    return obs, exp, var


def _collect(time, event, group, strata, rho):
    t, e, _ = check_time_event(time, event)
    levels, codes = check_groups(group, t.size)
    if not np.isfinite(rho) or rho < 0:
        raise InvalidInputError(f"rho: must be a finite number >= 0, got {rho!r}")
    k = levels.size
    obs, exp, var = np.zeros(k), np.zeros(k), np.zeros((k, k))
    if strata is None:
        o, x, v = _stratum_sums(t, e.astype(float), codes, k, rho)
        obs, exp, var = o, x, v
    else:
        _, scodes = check_groups(strata, t.size, "strata")
        for s in np.unique(scodes):
            m = scodes == s
            o, x, v = _stratum_sums(t[m], e[m].astype(float), codes[m], k, rho)
            obs += o
            exp += x
            var += v
    return levels, codes, obs, exp, var


def logrank(time, event, group, *, strata=None, rho: float = 0.0) -> LogRank:
    """k-sample log-rank (rho = 0) or Fleming-Harrington G^rho test, optionally stratified."""
    levels, codes, obs, exp, var = _collect(time, event, group, strata, rho)
    if levels.size < 2:
        raise InvalidInputError("group: needs at least 2 groups")
    keep = exp > 0
    if keep.sum() < 2:
        stat, df = 0.0, 0
    else:
        diff = (obs - exp)[keep][1:]
        vv = var[np.ix_(keep, keep)][1:, 1:]
        sol = np.linalg.lstsq(vv, diff, rcond=None)[0] if np.linalg.matrix_rank(vv) < vv.shape[0] \
            else np.linalg.solve(vv, diff)
        stat, df = float(sol @ diff), int(keep.sum() - 1)
    p = float(chi2.sf(stat, df)) if df > 0 else np.nan
    return LogRank(stat, df, p, obs, exp, var, tuple(levels.tolist()), np.bincount(codes, minlength=levels.size),
                   float(rho))


def logrank_trend(time, event, group, *, scores=None, strata=None, rho: float = 0.0) -> TestResult:
    """Test for trend across ordered groups: (c'(O - E))^2 / (c' V c) on 1 df.

    ``scores`` default to the sorted group levels when they are numeric, else 1..k.
    """
    levels, _, obs, exp, var = _collect(time, event, group, strata, rho)
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
    return TestResult(stat, 1.0, float(chi2.sf(stat, 1)))
