"""Log-rank, Fleming-Harrington and trend tests against R survdiff (tests/reference/km_logrank.R)."""

import numpy as np
import pytest

from golden import arr, assert_close, golden
from ltfu.errors import InvalidInputError
from ltfu.stats import logrank, logrank_trend

CASES = {c["name"]: c for c in golden("km_logrank")["logrank"]}


def _args(case):
    strata = None if case.get("strata") is None else np.asarray(case["strata"])
    return arr(case["time"]), arr(case["event"]), np.asarray(case["group"]), strata


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_r_survdiff(name):
    case = CASES[name]
    t, e, g, s = _args(case)
    lr = logrank(t, e, g, strata=s, rho=case["rho"])
    assert [str(x) for x in lr.groups] == case["groups"]
    assert_close(lr.statistic, case["statistic"], what="chisq")
    assert lr.df == case["df"]
    assert_close(lr.p_value, case["p_value"], what="p")
    assert_close(lr.observed, case["observed"], what="observed")
    assert_close(lr.expected, case["expected"], what="expected")
    k = len(case["groups"])
    assert_close(lr.variance.ravel(), np.asarray(case["variance"], float).reshape(k, k).ravel(), atol=1e-10,
                 what="variance")


def test_trend_matches_scores_on_r_variance():
    case = CASES["lung_ecog_trend"]
    t, e, g, _ = _args(case)
    res = logrank_trend(t, e, g.astype(float), scores=case["trend"]["scores"])
    assert_close([res.statistic, res.p_value], [case["trend"]["statistic"], case["trend"]["p_value"]])
    # numeric levels are their own default scores
    assert logrank_trend(t, e, g.astype(float)).statistic == pytest.approx(res.statistic)


def test_two_patients_by_hand():
    """Group a dies at 1 (2 at risk, 1 in each group): O_a = 1, E_a = 1/2, V = 1*(1/2)(1/2)*(2-1)/(2-1)
    = 1/4, chi-square = (1/2)^2 / (1/4) = 1."""
    lr = logrank([1, 2], [1, 0], ["a", "b"])
    assert lr.statistic == pytest.approx(1.0)
    assert lr.observed.tolist() == [1.0, 0.0]
    assert lr.expected.tolist() == [0.5, 0.5]


def test_group_absent_from_a_stratum():
    """Group c appears only in stratum 2: stratum 1 contributes to a and b only (checked against the
    sum of the two strata's separate tests' observed and expected counts)."""
    t = np.array([1, 2, 3, 4, 5, 6, 7, 8, 9.0])
    e = np.array([1, 1, 0, 1, 1, 1, 0, 1, 1])
    g = np.array(["a", "b", "a", "b", "a", "c", "b", "c", "a"])
    s = np.array([1, 1, 1, 1, 2, 2, 2, 2, 2])
    lr = logrank(t, e, g, strata=s)
    one = logrank(t[s == 1], e[s == 1], g[s == 1])
    two = logrank(t[s == 2], e[s == 2], g[s == 2])
    np.testing.assert_allclose(lr.observed, [one.observed[0] + two.observed[0], one.observed[1] + two.observed[1],
                                             two.observed[2]])
    np.testing.assert_allclose(lr.expected, [one.expected[0] + two.expected[0], one.expected[1] + two.expected[1],
                                             two.expected[2]])


def test_invalid():
    with pytest.raises(InvalidInputError, match="group"):
        logrank([1, 2, 3], [1, 0, 1], ["a", "a", "a"])
    with pytest.raises(InvalidInputError, match="rho"):
        logrank([1, 2, 3], [1, 0, 1], ["a", "b", "a"], rho=-1)
    with pytest.raises(InvalidInputError, match="group"):
        logrank([1, 2, 3], [1, 0, 1], ["a", "b"])
