"""Exact proportions and association tests, as R's binom.test, prop.test, fisher.test, wilcox.test.

- ``binomial_ci``: Clopper-Pearson ("exact", R binom.test) and Wilson score intervals ("wilson" =
  prop.test(correct=FALSE), "wilson-cc" = prop.test(correct=TRUE)), from scipy.
- ``fisher_exact``: 2 x 2 through scipy (p-value, conditional maximum-likelihood odds ratio and its
  exact interval).  R computes the odds ratio and its limits with ``uniroot`` at its default
  tolerance, so R's values are only precise to about 1e-4 relative; ltfu's solve the defining
  equations to machine precision (tests/test_exact.py) and agree with R to R's precision.  r x c:
  the exact p-value of R's fisher.test (the tables with the observed margins no more probable than the
  observed one, R's tolerance), by a network algorithm written here (_fisher_rxc; scipy's r x c test is
  a Monte Carlo permutation test).  It answered all 846 random tables (up to 7 x 7) that R answers with
  its default workspace, agreeing to 1e-8 (the slowest ~1.5 s; R took up to 3.4 s), except nine 6 x 7
  and 7 x 7 tables on which R's FEXACT is not exact (its p-value is too small; R's own simulation sides
  with ltfu, tests/test_fisher_rxc.py).  It also answers many tables R refuses ("FEXACT error 6/7"):
  random tables without strong structure were all answered up to n = 10,000 for 2 x 3, 1,000 for
  2 x 5, 300 for 2 x 8 and 3 x 3 and 3 x 4, 100 for 4 x 4, 60 for 4 x 5, 50 for 5 x 5, 5 x 6 and
  6 x 6, 40 for 7 x 7, and some at 1.2 to 2 times those sizes (strongly associated tables are the
  hardest).  Beyond, InvalidInputError suggests the chi-square test or a Monte Carlo p-value; of 89
  such tables all were also refused by R, 94% within 3 s, the slowest after 12.5 s (2 busy cores).
- ``wilcoxon_ranksum``: R's W and p (exact without ties when both samples are under 50, else the
  normal approximation with continuity and tie corrections), from scipy's Mann-Whitney U.
  ``wilcoxon_ranksum_counts``: the same test from how many observations of each sample hold each
  distinct value (what an engine's GROUP BY returns): scipy takes only the observations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special, stats

from ltfu.errors import InvalidInputError
from ltfu.stats._common import Estimate, Result, _json_float, as_float_array, check_choice, check_conf_level, z_quantile
from ltfu.stats.fisher_rxc import _fisher_rxc


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
    elif method == "exact":
        lo, hi = _clopper_pearson(x, n, conf_level)
    else:
        ci = stats.binomtest(x, n).proportion_ci(confidence_level=conf_level, method=method)
        lo, hi = ci.low, ci.high
    return Estimate(x / n, float(lo), float(hi), conf_level)


def _clopper_pearson(x, n, conf_level):
    """The exact limits as R's binom.test computes them, beta quantiles (qbeta): the inverse of the
    regularised incomplete beta function, scipy.special.betaincinv, within 1e-11 of R's (9e-12 at 3
    of 1,000,000, where scipy's incomplete beta is itself 1e-12 off; 4e-16 on the small goldens).
    scipy's own binomtest(...).proportion_ci(method="exact") finds the limits by a root search: 8e-8
    off relatively at 3 of 1,000,000 and about 8 ms a call at registry counts (tests/test_exact.py)."""
    alpha = (1 - conf_level) / 2
    lo = 0.0 if x == 0 else float(special.betaincinv(x, n - x + 1, alpha))
    hi = 1.0 if x == n else float(special.betaincinv(x + 1, n - x, 1 - alpha))
    return lo, hi


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


def check_table(table, *, whole: bool = True) -> np.ndarray:
    """A contingency table of at least 2 x 2 with non-negative counts (whole numbers unless
    ``whole`` is False, as chisq.test accepts): int64 when whole, else float."""
    try:
        t = np.asarray(table, dtype=float)
    except (TypeError, ValueError):
        raise InvalidInputError("table: must be a 2-D table of counts") from None
    if t.ndim != 2 or min(t.shape) < 2:
        raise InvalidInputError(f"table: needs at least 2 rows and 2 columns, got shape {t.shape}")
    if not whole:
        if np.isnan(t).any() or (t < 0).any():
            raise InvalidInputError("table: counts must be non-negative")
        return t
    if np.isnan(t).any() or (t < 0).any() or not np.all(t == np.round(t)):
        raise InvalidInputError("table: counts must be non-negative whole numbers")
    return t.astype(np.int64)


def fisher_exact(table, *, alternative: str = "two-sided", conf_level: float = 0.95,
                 odds_ratio: bool = True) -> FisherResult:
    """Fisher's exact test; for 2 x 2 also the conditional MLE odds ratio and its exact CI
    (``odds_ratio=False`` skips them when only the p-value is wanted).  ``alternative`` also accepts R's
    spelling ``"two.sided"``; larger tables are two-sided only (exact, see _fisher_rxc)."""
    t = check_table(table)
    if alternative == "two.sided":
        alternative = "two-sided"
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
    distinct = np.unique(np.r_[a, b]).size
    ties = distinct < a.size + b.size
    use_exact = (a.size < 50 and b.size < 50) if exact is None else bool(exact)
    if use_exact and not ties:
        res = stats.mannwhitneyu(a, b, alternative=alternative, method="exact")
        method = "exact"
    else:
        res = stats.mannwhitneyu(a, b, alternative=alternative, method="asymptotic", use_continuity=correct)
        method = "normal approximation" + (" with continuity correction" if correct else "")
    # every observation equal: the tie-corrected variance is 0 and there is no test (R: NaN; scipy: 1)
    p = float("nan") if distinct == 1 and a.size + b.size > 1 else float(res.pvalue)
    return WilcoxonResult(float(res.statistic), p, method)


def wilcoxon_ranksum_counts(values, x_counts, y_counts) -> WilcoxonResult:
    """``wilcoxon_ranksum(x, y)`` (two-sided, continuity-corrected) from ``x_counts[j]`` and
    ``y_counts[j]``, the observations of x and of y equal to ``values[j]`` (distinct values).

    Written here because scipy's Mann-Whitney U takes the observations themselves, which a registry
    counted by an engine does not hold.  Without ties and with both samples under 50 the observations
    are rebuilt (at most 98) and given to ``wilcoxon_ranksum``.  Otherwise scipy's normal
    approximation on the counts: midranks per distinct value, R1 = sum of x's ranks, W = U1 = R1 -
    n1(n1 + 1)/2, z = (max(U1, U2) - n1 n2 / 2 - 0.5) / sd with the tie correction
    sum(t^3 - t) over the distinct values, p = 2 Phi(-z) clipped to [0, 1].  Ranks are multiples of
    one half, so R1 and W are exact (below 2**52) and equal scipy's; the tie sum is exact while below
    2**53 (up to about 1e6 observations), beyond which its rounding depends on the order of addition
    (relative 1e-16).  Every observation equal: p is NaN, as R's (``wilcoxon_ranksum`` too)."""
    v = np.asarray(values, dtype=float)
    a = np.asarray(x_counts, dtype=np.int64)
    b = np.asarray(y_counts, dtype=np.int64)
    if v.ndim != 1 or a.shape != v.shape or b.shape != v.shape or (a < 0).any() or (b < 0).any():
        raise InvalidInputError("values, x_counts and y_counts: one count of each sample per distinct value")
    if np.isnan(v).any() or np.unique(v).size != v.size:
        raise InvalidInputError("values: distinct numbers, without NaN")
    order = np.argsort(v, kind="stable")
    v, a, b = v[order], a[order], b[order]
    t = a + b
    keep = t > 0
    v, a, b, t = v[keep], a[keep], b[keep], t[keep]
    n1, n2 = int(a.sum()), int(b.sum())
    if n1 == 0 or n2 == 0:
        raise InvalidInputError("x and y: each needs at least one observation")
    ties = bool((t > 1).any())
    if not ties and n1 < 50 and n2 < 50:
        return wilcoxon_ranksum(np.repeat(v, a), np.repeat(v, b))
    midrank = np.cumsum(t) - (t - 1) / 2.0
    r1 = float(np.sum(a * midrank))
    u1 = r1 - n1 * (n1 + 1) / 2
    u2 = n1 * n2 - u1
    n = n1 + n2
    tf = t.astype(float)
    tie_term = float(np.sum(tf ** 3 - tf))
    sd = np.sqrt(n1 * n2 / 12 * ((n + 1) - tie_term / (n * (n - 1))))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (max(u1, u2) - n1 * n2 / 2 - 0.5) / sd
    # every observation equal (one distinct value): no variance, no test (R: NaN)
    p = float("nan") if v.size == 1 else float(np.clip(2 * special.ndtr(-z), 0.0, 1.0))
    return WilcoxonResult(float(u1), p, "normal approximation with continuity correction")
