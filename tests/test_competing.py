"""Cumulative incidence and Gray's test against R cmprsk::cuminc (tests/reference/competing.R)."""

import numpy as np
import pytest

from golden import arr, assert_close, golden
from ltfu.errors import InvalidInputError
from ltfu.stats import cumulative_incidence, gray_test, kaplan_meier

CASES = {c["name"]: c for c in golden("competing")["cases"]}


def _data(case):
    return arr(case["time"]), arr(case["status"]).astype(int), np.asarray(case["group"])


@pytest.mark.parametrize("name", sorted(CASES))
def test_estimates_and_variances_equal_cuminc_timepoints(name):
    case = CASES[name]
    t, s, g = _data(case)
    res = cumulative_incidence(t, s, group=g)
    for curve in case["curves"]:
        group, cause = curve["key"].rsplit(" ", 1)
        if int(cause) not in res.causes:
            continue
        at = res.at(arr(case["times"]), cause=int(cause), group=group)
        assert_close(at.estimate, curve["est"], what=f"{curve['key']} est")
        assert_close(at.variance, curve["var"], atol=1e-14, what=f"{curve['key']} var")
    whole = cumulative_incidence(t, s)
    for curve in case["overall"]:
        cause = int(curve["key"].rsplit(" ", 1)[1])
        at = whole.at(arr(case["times"]), cause=cause)
        assert_close(at.estimate, curve["est"], what="overall est")
        assert_close(at.variance, curve["var"], atol=1e-14, what="overall var")


@pytest.mark.parametrize("name", sorted(CASES))
def test_aalen_johansen_equals_survfit_multistate(name):
    case = CASES[name]
    t, s, _ = _data(case)
    res = cumulative_incidence(t, s)
    for k in (1, 2):
        assert_close(res.at(arr(case["aj_times"]), cause=k).estimate, case["aj"][k - 1], what=f"cause {k}")


@pytest.mark.parametrize("name", sorted(CASES))
def test_gray_test_equals_cuminc(name):
    case = CASES[name]
    t, s, g = _data(case)
    strata = np.asarray(case["stratum"]) if case.get("stratum") else None
    gt = gray_test(t, s, g, strata=strata)
    tests = case["tests"]
    assert [str(c) for c in gt.causes] == tests["cause"]
    assert_close(gt.statistic, tests["stat"], what="Gray statistic")
    assert_close(gt.p_value, tests["p"], what="Gray p")
    assert gt.df.tolist() == arr(tests["df"]).astype(int).tolist()


def test_event_free_plus_incidences_is_one_and_limits_bracket():
    case = CASES["simulated"]
    t, s, g = _data(case)
    res = cumulative_incidence(t, s, group=g)
    for grp in res.groups:
        grid = np.linspace(0, t[g == grp].max(), 50)
        total = sum(res.at(grid, cause=k, group=grp).estimate for k in res.causes)
        np.testing.assert_allclose(total + res.event_free(grid, group=grp), 1.0, rtol=1e-12)
        at = res.at(grid, cause=1, group=grp)
        ok = np.isfinite(at.lower)
        assert np.all(at.lower[ok] <= at.estimate[ok]) and np.all(at.estimate[ok] <= at.upper[ok])


def test_one_cause_is_one_minus_kaplan_meier():
    t = np.array([1, 2, 2, 3, 5, 8, 8, 9.0])
    e = np.array([1, 0, 1, 1, 0, 1, 1, 0])
    cif = cumulative_incidence(t, e).at(t, cause=1).estimate
    np.testing.assert_allclose(cif, 1 - kaplan_meier(t, e).at(t).survival)


def test_naive_one_minus_km_overstates_relapse():
    """Treating the competing death as censoring (1 - KM) overstates the incidence of relapse."""
    case = CASES["mgus2"]
    t, s, _ = _data(case)
    grid = np.array([120.0, 240.0])
    aj = cumulative_incidence(t, s).at(grid, cause=1).estimate
    naive = 1 - kaplan_meier(t, (s == 1).astype(int)).at(grid).survival
    assert np.all(naive > aj)


def test_invalid():
    with pytest.raises(InvalidInputError, match="status"):
        cumulative_incidence([1, 2], [1, -1])
    with pytest.raises(InvalidInputError, match="status"):
        cumulative_incidence([1, 2], [1, 0.5])
    with pytest.raises(InvalidInputError, match="group"):
        gray_test([1, 2, 3], [1, 2, 1], ["a", "a", "a"])
