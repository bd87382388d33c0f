"""Exact proportions and association tests, as R's binom.test, prop.test, fisher.test, wilcox.test.

- ``binomial_ci``: Clopper-Pearson ("exact", R binom.test) and Wilson score intervals ("wilson" =
  prop.test(correct=FALSE), "wilson-cc" = prop.test(correct=TRUE)), from scipy.
- ``fisher_exact``: 2 x 2 through scipy (p-value, conditional maximum-likelihood odds ratio and its
  exact interval).  R computes the odds ratio and its limits with ``uniroot`` at its default
  tolerance, so R's values are only precise to about 1e-4 relative; ltfu's solve the defining
  equations to machine precision (tests/test_exact.py) and agree with R to R's precision; r x c by exact enumeration of every table with the observed
  margins, summing the probabilities of those no more probable than the observed one (R's rule,
  relative tolerance 1e-7).  Hand-written because scipy's r x c test is a Monte Carlo permutation
  test, not R's exact p-value.
- ``wilcoxon_ranksum``: R's W and p (exact without ties when both samples are under 50, else the
  normal approximation with continuity and tie corrections), from scipy's Mann-Whitney U.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats
from scipy.special import gammaln

from ltfu.errors import InvalidInputError
from ltfu.stats._common import Estimate, Result, _json_float, as_float_array, check_choice, check_conf_level, z_quantile

MAX_TABLES = 2_000_000


def binomial_ci(x, n, *, method: str = "exact", conf_level: float = 0.95) -> Estimate:
    """Proportion x/n with its confidence interval (exact Clopper-Pearson by default)."""
    check_choice(method, "method", ("exact", "wilson", "wilson-cc"))
    conf_level = check_conf_level(conf_level)
    for name, v in (("x", x), ("n", n)):
        if isinstance(v, bool) or not float(v).is_integer():
            raise InvalidInputError(f"{name}: must be a whole number, got {v!r}")
    x, n = int(x), int(n)
    if n < 1:
        raise InvalidInputError(f"n: must be at least 1, got {n}")
    if not 0 <= x <= n:
        raise InvalidInputError(f"x: must be between 0 and n={n}, got {x}")
    if method == "wilson-cc":
        lo, hi = _wilson_cc(x, n, conf_level)
    else:
        ci = stats.binomtest(x, n).proportion_ci(confidence_level=conf_level, method=method)
        lo, hi = ci.low, ci.high
    return Estimate(x / n, float(lo), float(hi), conf_level)


def _wilson_cc(x, n, conf_level):
    """Wilson score interval with continuity correction, as R prop.test(x, n, correct=TRUE): the
    correction is min(0.5, |x - n/2|) (R measures it against the default null p = 0.5)."""
    z = z_quantile(conf_level)
    est = x / n
    yates = min(0.5, abs(x - n * 0.5))
    z22n = z * z / (2 * n)

    def bound(sign):
        pc = est + sign * yates / n
        if sign > 0 and pc >= 1:
            return 1.0
        if sign < 0 and pc <= 0:
            return 0.0
        return (pc + z22n + sign * z * np.sqrt(pc * (1 - pc) / n + z22n / (2 * n))) / (1 + 2 * z22n)

    return bound(-1), bound(1)


@dataclass(frozen=True, repr=False)
class FisherResult(Result):
    p_value: float
    odds_ratio: float | None
    conf_int: Estimate | None
    table: np.ndarray
    alternative: str

    def to_dict(self) -> dict:
        return {"p_value": _json_float(self.p_value), "odds_ratio": _json_float(self.odds_ratio),
                "conf_int": None if self.conf_int is None else self.conf_int.to_dict(),
                "table": self.table.tolist(), "alternative": self.alternative}


def _check_table(table) -> np.ndarray:
    try:
        t = np.asarray(table, dtype=float)
    except (TypeError, ValueError):
        raise InvalidInputError("table: must be a 2-D table of counts") from None
    if t.ndim != 2 or min(t.shape) < 2:
        raise InvalidInputError(f"table: needs at least 2 rows and 2 columns, got shape {t.shape}")
    if np.isnan(t).any() or (t < 0).any() or not np.all(t == np.round(t)):
        raise InvalidInputError("table: counts must be non-negative whole numbers")
    return t.astype(np.int64)


def fisher_exact(table, *, alternative: str = "two-sided", conf_level: float = 0.95,
                 odds_ratio: bool = True) -> FisherResult:
    """Fisher's exact test; for 2 x 2 also the conditional MLE odds ratio and its exact CI
    (``odds_ratio=False`` skips them when only the p-value is wanted)."""
    t = _check_table(table)
    check_choice(alternative, "alternative", ("two-sided", "less", "greater"))
    conf_level = check_conf_level(conf_level)
    if t.shape == (2, 2):
        p = stats.fisher_exact(t, alternative=alternative).pvalue
        if not odds_ratio:
            return FisherResult(float(p), None, None, t, alternative)
        res = stats.contingency.odds_ratio(t, kind="conditional")
        ci = res.confidence_interval(confidence_level=conf_level, alternative=alternative)
        return FisherResult(float(p), float(res.statistic), Estimate(float(res.statistic), float(ci.low),
                                                                         float(ci.high), conf_level),
                            t, alternative)
    if alternative != "two-sided":
        raise InvalidInputError("alternative: only 'two-sided' for tables larger than 2 x 2")
    return FisherResult(_fisher_rxc(t), None, None, t, alternative)


def _fisher_rxc(t: np.ndarray) -> float:
    """Exact two-sided p-value: sum of P(table) over tables with the observed margins and
    P(table) <= P(observed) (1 + 1e-7), P = prod r_i! prod c_j! / (N! prod n_ij!)."""
    t = t[t.sum(axis=1) > 0][:, t.sum(axis=0) > 0]
    if min(t.shape) < 2:
        return 1.0
    if t.shape[0] > t.shape[1]:
        t = t.T
    rows, cols = t.sum(axis=1), t.sum(axis=0)
    n = int(t.sum())
    bound = 1.0                       # tables to visit, at most: choices for each free column
    for c in cols[:-1]:
        bound *= float(np.prod(np.minimum(rows[:-1], c) + 1))
    if bound > MAX_TABLES:
        raise InvalidInputError(f"table: up to {bound:.2g} tables share its margins, too many for the exact test "
                                f"(limit {MAX_TABLES:,}); use a chi-square test at this sample size")
    const = gammaln(rows + 1).sum() + gammaln(cols + 1).sum() - gammaln(n + 1)
    obs = const - gammaln(t + 1).sum()
    limit = obs + np.log1p(1e-7)
    lf = gammaln(np.arange(n + 2) + 1.0)          # log k!
    total = 0.0
    count = 0
    ncol = cols.size

    def columns(j, remaining, logp):
        nonlocal total, count
        if j == ncol - 1:            # the last column is forced by the remaining row totals
            lp = logp - lf[remaining].sum()
            count += 1
            if lp <= limit:
                total += np.exp(lp - obs)
            return
        for cell in _compositions(int(cols[j]), remaining):
            columns(j + 1, remaining - cell, logp - lf[cell].sum())

    columns(0, rows.copy(), const)
    return float(min(1.0, total * np.exp(obs)))


def _compositions(total, caps):
    """Every vector of non-negative integers with sum ``total`` and entries <= ``caps``."""
    k = caps.size
    out = np.zeros(k, dtype=np.int64)
    suffix = np.r_[np.cumsum(caps[::-1])[::-1], 0]

    def rec(i, left):
        if i == k - 1:
            if left <= caps[i]:
                out[i] = left
                yield out.copy()
            return
        lo = max(0, left - suffix[i + 1])
        for v in range(lo, min(caps[i], left) + 1):
            out[i] = v
            yield from rec(i + 1, left - v)

    if total <= suffix[0]:
        yield from rec(0, total)


@dataclass(frozen=True, repr=False)
class WilcoxonResult(Result):
    statistic: float
    p_value: float
    method: str

    def to_dict(self) -> dict:
        return {"statistic": _json_float(self.statistic), "p_value": _json_float(self.p_value),
                "method": self.method}


def wilcoxon_ranksum(x, y, *, alternative: str = "two-sided", exact: bool | None = None,
                     correct: bool = True) -> WilcoxonResult:
    """Wilcoxon rank-sum test: W = sum of ranks of x - n_x(n_x + 1)/2, p as R wilcox.test."""
    a = as_float_array(x, "x")
    b = as_float_array(y, "y")
    check_choice(alternative, "alternative", ("two-sided", "less", "greater"))
    ties = np.unique(np.r_[a, b]).size < a.size + b.size
    use_exact = (a.size < 50 and b.size < 50) if exact is None else bool(exact)
    if use_exact and not ties:
        res = stats.mannwhitneyu(a, b, alternative=alternative, method="exact")
        method = "exact"
    else:
        res = stats.mannwhitneyu(a, b, alternative=alternative, method="asymptotic", use_continuity=correct)
        method = "normal approximation" + (" with continuity correction" if correct else "")
    return WilcoxonResult(float(res.statistic), float(res.pvalue), method)
