"""Vectorised resampling: bootstrap confidence intervals and permutation p-values.

All replicates are computed in one pass: the data are sorted once, each replicate is a row of
case weights (bootstrap: multinomial counts; permutation: a shuffled group indicator), and the
Kaplan-Meier or log-rank quantities of every replicate come from the same cumulative sums over
the distinct times (a B x T matrix).  Memory is O(B x n); callers choose ``batch`` to bound it.

These are resampling summaries that no peer library computes in this vectorised form, so they are
written here; each replicate's statistic is the ordinary one (checked against ``kaplan_meier`` and
``logrank`` replicate by replicate in the tests).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ltfu.errors import InvalidInputError
from ltfu.stats._common import Result, check_conf_level, check_groups, check_time_event
from ltfu.stats.counting import merge_close_times, stable_order
from ltfu.stats.km import _findq, survival_from_counts


@dataclass(frozen=True, repr=False)
class BootstrapResult(Result):
    """Percentile bootstrap: ``estimate`` on the data, ``lower``/``upper`` percentile limits,
    ``std_err`` the bootstrap standard deviation, ``replicates`` the B replicate values (nan where a
    replicate's curve does not reach the quantity, e.g. the median not reached)."""

    estimate: float
    lower: float
    upper: float
    std_err: float
    n_boot: int
    n_undefined: int
    conf_level: float
    replicates: np.ndarray

    def to_dict(self) -> dict:
        from ltfu.stats._common import _json_float

        return {"estimate": _json_float(self.estimate), "lower": _json_float(self.lower),
                "upper": _json_float(self.upper), "std_err": _json_float(self.std_err),
                "n_boot": self.n_boot, "n_undefined": self.n_undefined, "conf_level": self.conf_level}


@dataclass(frozen=True, repr=False)
class PermutationResult(Result):
    statistic: float
    p_value: float
    n_perm: int

    def to_dict(self) -> dict:
        return {"statistic": float(self.statistic), "p_value": float(self.p_value), "n_perm": self.n_perm}


def _count(value, name: str) -> int:
    """A count argument (n_boot, n_perm, batch): an integer >= 1 (bool is not a count)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InvalidInputError(f"{name}: must be a positive integer, got {value!r}")
    return int(value)


def _rng(seed):
    """The random generator for ``seed``: None, an integer >= 0, or a numpy SeedSequence, BitGenerator
    or Generator; anything else is refused (numpy would raise its own error, or accept a float)."""
    if seed is None or isinstance(seed, (np.random.SeedSequence, np.random.BitGenerator, np.random.Generator)):
        return np.random.default_rng(seed)
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InvalidInputError(f"seed: must be None or an integer >= 0, got {seed!r}")
    return np.random.default_rng(int(seed))


def _distinct(time):
    """Sort once: order, distinct times (after R's time merging) and the index of each sorted
    row's distinct time."""
    time, _ = merge_close_times(time)
    order = stable_order(time)
    uniq, inv = np.unique(time[order], return_inverse=True)
    return order, uniq, inv.reshape(-1)


def _sum_by_time(w_sorted, inv, n_times):
    """Row-wise sums of ``w_sorted`` (B x n, columns in time order) over tied times -> B x T."""
    starts = np.flatnonzero(np.r_[True, inv[1:] != inv[:-1]])
    return np.add.reduceat(w_sorted, starts, axis=1) if w_sorted.shape[1] else np.zeros((w_sorted.shape[0], n_times))


def _km_matrix(weights, event_sorted, inv, n_times):
    """Kaplan-Meier survival after each distinct time, for every row of case weights (B x T), with
    the Kaplan-Meier arithmetic of ``kaplan_meier``; also the weight at each time (B x T)."""
    d = _sum_by_time(weights * event_sorted, inv, n_times)
    c = _sum_by_time(weights, inv, n_times)
    at_risk = np.cumsum(c[:, ::-1], axis=1)[:, ::-1]
    surv, _ = survival_from_counts(at_risk, d)
    return surv, c


def _quantile_rows(surv, c, uniq, p):
    """R's quantile rule (``km._findq``, the one implementation) for each row's curve, read on the
    times that carry weight in that row: the resampled data's own times."""
    out = np.empty(surv.shape[0])
    for i in range(surv.shape[0]):
        present = c[i] > 0
        out[i] = _findq(uniq[present], surv[i, present], p)
    return out


def _percentile(reps, conf_level):
    ok = reps[np.isfinite(reps)]
    if ok.size == 0:
        return np.nan, np.nan, np.nan
    a = (1 - conf_level) / 2
    lo, hi = np.quantile(ok, [a, 1 - a])
    return float(lo), float(hi), float(np.std(ok, ddof=1)) if ok.size > 1 else np.nan


def bootstrap_median(time, event, *, n_boot: int = 1000, conf_level: float = 0.95, p: float = 0.5,
                     seed=None, batch: int = 2000) -> BootstrapResult:
    """Percentile bootstrap CI of the Kaplan-Meier quantile ``p`` (default the median).

    Replicates whose curve does not reach the quantile are ``nan`` and counted in ``n_undefined``;
    the percentile limits use the defined replicates (state this when reporting).
    """
    t, e, _ = check_time_event(time, event)
    conf_level = check_conf_level(conf_level)
    n_boot, batch = _count(n_boot, "n_boot"), _count(batch, "batch")
    if not (isinstance(p, (int, float, np.floating, np.integer)) and not isinstance(p, bool) and 0 < p < 1):
        raise InvalidInputError(f"p: must be in (0, 1), got {p!r}")
    rng = _rng(seed)
    order, uniq, inv = _distinct(t)
    ev = e[order].astype(float)
    n = t.size
    surv, c = _km_matrix(np.ones((1, n)), ev, inv, uniq.size)
    estimate = float(_quantile_rows(surv, c, uniq, p)[0])
    reps = np.empty(n_boot)
    for start in range(0, n_boot, batch):
        b = min(batch, n_boot - start)
        w = rng.multinomial(n, np.full(n, 1.0 / n), size=b).astype(float)  # case counts, sorted order
        surv, c = _km_matrix(w, ev, inv, uniq.size)
        reps[start:start + b] = _quantile_rows(surv, c, uniq, p)
    lo, hi, se = _percentile(reps, conf_level)
    return BootstrapResult(estimate, lo, hi, se, n_boot, int(np.isnan(reps).sum()), conf_level, reps)


def bootstrap_survival_difference(time, event, group, *, at: float, n_boot: int = 1000,
                                  conf_level: float = 0.95, seed=None) -> BootstrapResult:
    """Bootstrap CI of S_2(at) - S_1(at), groups in sorted order, resampling within each group."""
    t, e, _ = check_time_event(time, event)
    conf_level = check_conf_level(conf_level)
    levels, codes = check_groups(group, t.size)
    if levels.size != 2:
        raise InvalidInputError(f"group: needs exactly 2 groups, got {levels.size}")
    n_boot = _count(n_boot, "n_boot")
    if isinstance(at, bool) or not isinstance(at, (int, float, np.integer, np.floating)) or not np.isfinite(at):
        raise InvalidInputError(f"at: must be a finite time, got {at!r}")
    rng = _rng(seed)
    est = np.zeros(2)
    reps = np.zeros((2, n_boot))
    for k in range(2):
        tk, ek = t[codes == k], e[codes == k]
        order, uniq, inv = _distinct(tk)
        ev = ek[order].astype(float)
        idx = np.searchsorted(uniq, at, side="right") - 1
        surv, _ = _km_matrix(np.ones((1, tk.size)), ev, inv, uniq.size)
        est[k] = 1.0 if idx < 0 else surv[0, idx]
        w = rng.multinomial(tk.size, np.full(tk.size, 1.0 / tk.size), size=n_boot).astype(float)
        surv, _ = _km_matrix(w, ev, inv, uniq.size)
        reps[k] = 1.0 if idx < 0 else surv[:, idx]
    diff = reps[1] - reps[0]
    lo, hi, se = _percentile(diff, conf_level)
    return BootstrapResult(float(est[1] - est[0]), lo, hi, se, n_boot, 0, conf_level, diff)


def permutation_logrank(time, event, group, *, n_perm: int = 10000, seed=None,
                        batch: int = 2000) -> PermutationResult:
    """Two-group log-rank statistic and its permutation p-value (group labels shuffled).

    p = (1 + #{permuted statistic >= observed}) / (1 + n_perm), the usual unbiased estimate.
    """
    t, e, _ = check_time_event(time, event)
    levels, codes = check_groups(group, t.size)
    if levels.size != 2:
        raise InvalidInputError(f"group: needs exactly 2 groups, got {levels.size}")
    n_perm, batch = _count(n_perm, "n_perm"), _count(batch, "batch")
    rng = _rng(seed)
    order, uniq, inv = _distinct(t)
    ev = e[order].astype(float)
    g = (codes[order] == 1).astype(float)
    d = _sum_by_time(ev[None, :], inv, uniq.size)[0]
    c = _sum_by_time(np.ones((1, t.size)), inv, uniq.size)[0]
    n_risk = np.cumsum(c[::-1])[::-1]

    def stat(gmat):
        d1 = _sum_by_time(gmat * ev, inv, uniq.size)
        n1 = np.cumsum(_sum_by_time(gmat, inv, uniq.size)[:, ::-1], axis=1)[:, ::-1]
        with np.errstate(divide="ignore", invalid="ignore"):
            expected = np.where(n_risk > 0, d * n1 / n_risk, 0.0)
            var = np.where(n_risk > 1, d * (n1 / n_risk) * (1 - n1 / n_risk) * (n_risk - d) / (n_risk - 1), 0.0)
        return (d1 - expected).sum(axis=1) ** 2 / var.sum(axis=1)

    observed = float(stat(g[None, :])[0])
    count = 0
    for start in range(0, n_perm, batch):
        b = min(batch, n_perm - start)
        perm = np.argsort(rng.random((b, t.size)), axis=1)
        count += int((stat(g[perm]) >= observed - 1e-12).sum())
    return PermutationResult(observed, (1 + count) / (1 + n_perm), n_perm)
