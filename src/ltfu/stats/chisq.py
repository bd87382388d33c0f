"""Pearson's chi-square test of a contingency table, as R's ``chisq.test`` (scipy computes it).

``correct`` is Yates' continuity correction, applied (as R) to 2 x 2 tables only; R's default is
``correct=TRUE``, ltfu's is False because the report uses this test only for large samples, where
Fisher's exact test is replaced and the correction is negligible.
"""

from __future__ import annotations

from scipy.stats import chi2_contingency

from ltfu.errors import InvalidInputError
from ltfu.stats._common import TestResult
from ltfu.stats.exact import check_table


def chisq_test(table, *, correct: bool = False) -> TestResult:
    """Statistic, degrees of freedom and p-value of the test of independence."""
    t = check_table(table, whole=False)
    if (t.sum(axis=0) == 0).any() or (t.sum(axis=1) == 0).any():
        raise InvalidInputError("table: a row or column with no counts (drop it first)")
    res = chi2_contingency(t, correction=bool(correct) and t.shape == (2, 2))
    return TestResult(float(res.statistic), float(res.dof), float(res.pvalue))
