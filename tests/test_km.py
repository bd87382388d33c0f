"""Kaplan-Meier, quantiles, median follow-up and RMST against R survival (tests/reference/km_logrank.R)."""

import numpy as np
import pytest

from golden import arr, assert_close, golden
from ltfu.errors import InvalidInputError
from ltfu.stats import kaplan_meier, median_follow_up, rmst, rmst_difference

G = golden("km_logrank")
CASES = {c["name"]: c for c in G["km"]}


def _fit(case, conf_type):
    entry = None if case.get("entry") is None else arr(case["entry"])
    return kaplan_meier(arr(case["time"]), arr(case["event"]), entry=entry, conf_type=conf_type)


@pytest.mark.parametrize("conf_type", ["log", "log-log", "plain"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_table_matches_r_summary_censored(name, conf_type):
    case = CASES[name]
    ref = case["by_conf_type"][conf_type]
    km = _fit(case, conf_type)
    for field in ("time", "n_risk", "n_event", "n_censor", "survival", "std_err", "ci_lower", "ci_upper"):
        assert_close(getattr(km, field), ref["table"][field], what=f"{name} {conf_type} {field}")


@pytest.mark.parametrize("conf_type", ["log", "log-log", "plain"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_quantiles_match_r(name, conf_type):
    case = CASES[name]
    q = case["by_conf_type"][conf_type]["quantile"]
    km = _fit(case, conf_type)
    for i, p in enumerate(q["p"]):
        est = km.quantile(p)
        assert_close([est.value, est.lower, est.upper],
                     [arr(q["value"])[i], arr(q["lower"])[i], arr(q["upper"])[i]],
                     what=f"{name} {conf_type} quantile {p}")


@pytest.mark.parametrize("conf_type", ["log", "log-log", "plain"])
@pytest.mark.parametrize("name", sorted(n for n, c in CASES.items() if "at" in c["by_conf_type"]["log"]))
def test_at_times_matches_r_summary_times(name, conf_type):
    case = CASES[name]
    ref = case["by_conf_type"][conf_type]["at"]
    fit = _fit(case, conf_type)
    at = fit.at(arr(ref["time"]), extend=True)            # the golden is summary(fit, times=, extend=TRUE)
    for field in ("survival", "std_err", "ci_lower", "ci_upper", "n_risk"):
        assert_close(getattr(at, field), ref[field], what=f"{name} {conf_type} at {field}")
    # without extend, a time after the last observation is beyond follow-up: no estimate (R drops it)
    plain = fit.at(arr(ref["time"]))
    beyond = arr(ref["time"]) > fit.time[-1]
    for field in ("survival", "std_err", "ci_lower", "ci_upper"):
        assert np.isnan(getattr(plain, field)[beyond]).all(), f"{name}: {field} past the last time must be NE"
        assert_close(getattr(plain, field)[~beyond], arr(ref[field])[~beyond], what=f"{name} {field}")
    np.testing.assert_array_equal(plain.n_risk, at.n_risk)


@pytest.mark.parametrize("name", sorted(n for n, c in CASES.items() if c.get("rmst")))
def test_rmst_matches_r_rmean(name):
    case = CASES[name]
    for ref in case["rmst"]:
        r = rmst(arr(case["time"]), arr(case["event"]), tau=ref["tau"])
        assert_close([r.estimate, r.std_err], [ref["estimate"], ref["std_err"]], what=f"{name} rmst {ref['tau']}")


def test_median_follow_up_is_r_reverse_km():
    ref = G["follow_up"]
    fu = median_follow_up(arr(ref["time"]), arr(ref["death"]))
    assert_close([fu.reverse_km.value, fu.reverse_km.lower, fu.reverse_km.upper],
                 [ref["median"], ref["lower"], ref["upper"]])
    assert fu.simple_median == pytest.approx(ref["simple_median"])


def test_five_patients_by_hand():
    """Times 2, 3+, 4, 4, 6 (+ = censored).
    t=2: n=5, d=1, S = 4/5 = 0.8;  Greenwood sum = 1/(5*4) = 0.05, SE(S) = 0.8*sqrt(0.05) = 0.178885
    t=3: n=4, censored, S = 0.8
    t=4: n=3, d=2, S = 0.8 * 1/3 = 0.266667; sum = 0.05 + 2/(3*1) = 0.716667, SE = 0.266667*sqrt(.716667) = 0.225748
    t=6: n=1, d=1, S = 0; SE undefined (nan, as R)
    Median: first time S <= 0.5 is 4.  RMST to 5: 2*1 + 2*0.8 + 1*0.266667 = 3.866667."""
    km = kaplan_meier([2, 3, 4, 4, 6], [1, 0, 1, 1, 1], conf_type="log")
    np.testing.assert_array_equal(km.time, [2, 3, 4, 6])
    np.testing.assert_array_equal(km.n_risk, [5, 4, 3, 1])
    np.testing.assert_array_equal(km.n_event, [1, 0, 2, 1])
    np.testing.assert_allclose(km.survival, [0.8, 0.8, 0.8 / 3, 0.0])
    np.testing.assert_allclose(km.std_err[:3], [0.178885438, 0.178885438, 0.225748], rtol=1e-5)
    assert np.isnan(km.std_err[3])
    assert km.median.value == 4.0
    assert rmst([2, 3, 4, 4, 6], [1, 0, 1, 1, 1], tau=5).estimate == pytest.approx(2 + 1.6 + 0.8 / 3)


def test_rmst_difference_is_the_difference_of_independent_groups():
    case = CASES["aml"]
    t, e = arr(case["time"]), arr(case["event"])
    g = np.arange(t.size) % 2
    d = rmst_difference(t, e, g, tau=40)
    a, b = rmst(t[g == 0], e[g == 0], tau=40), rmst(t[g == 1], e[g == 1], tau=40)
    assert d.difference == pytest.approx(b.estimate - a.estimate)
    assert d.std_err == pytest.approx(np.hypot(a.std_err, b.std_err))
    assert d.lower < d.difference < d.upper


def test_lifelines_median_lacks_r_midpoint_rule_ltfu_follows_r():
    """Where S is flat exactly at 0.5 (times 3 to 6), R's median is the midpoint 4.5; lifelines
    and statsmodels return 6 (the first time S < 0.5). ltfu returns R's 4.5."""
    lifelines = pytest.importorskip("lifelines")
    case = CASES["flat_at_half"]
    t, e = arr(case["time"]), arr(case["event"])
    r_median = arr(case["by_conf_type"]["log-log"]["quantile"]["value"])[1]
    assert r_median == 4.5
    assert kaplan_meier(t, e).median.value == r_median
    assert lifelines.KaplanMeierFitter().fit(t, e).median_survival_time_ == 6.0
    from statsmodels.duration.survfunc import SurvfuncRight

    assert SurvfuncRight(t, e).quantile(0.5) == 6.0


def test_negative_zero_is_day_zero():
    """-0.0 has its sign bit set; the one-sort KM must still treat it as time 0."""
    km = kaplan_meier(np.array([1.0, -0.0, 2.0, 0.0]), [1, 1, 0, 0])
    assert km.time.tolist() == [0.0, 1.0, 2.0]
    assert km.n_event.tolist() == [1, 1, 0] and km.n_risk.tolist() == [4, 2, 1]


@pytest.mark.parametrize("kwargs, match", [
    (dict(time=[1, -2], event=[1, 0]), "time"),
    (dict(time=[1, np.nan], event=[1, 0]), "time"),
    (dict(time=[1, 2], event=[1, 2]), "event"),
    (dict(time=[1, 2, 3], event=[1, 0]), "event"),
    (dict(time=[], event=[]), "time"),
    (dict(time=[1, 2], event=[1, 0], conf_type="logit"), "conf_type"),
    (dict(time=[1, 2], event=[1, 0], conf_level=95), "conf_level"),
    (dict(time=[1, 2], event=[1, 0], entry=[0, 3]), "entry"),
])
def test_invalid_input_names_the_argument(kwargs, match):
    with pytest.raises(InvalidInputError, match=match):
        kaplan_meier(**kwargs)


def test_monotone_quantile_path_equals_r_general_rule():
    """The fast path for curves that never rise gives the general findq's answer bit for bit,
    knife edges (a curve flat exactly at 1 - p, ending at it) included."""
    from ltfu.stats.km import _findq_general, _findq_monotone

    rng = np.random.default_rng(3)
    for _ in range(400):
        n = int(rng.integers(1, 25))
        t = np.cumsum(rng.integers(1, 4, n)).astype(float)
        e = rng.integers(0, 2, n)
        surv = kaplan_meier(t, e).survival
        x, y = np.r_[0.0, kaplan_meier(t, e).time], np.r_[0.0, 1.0 - surv]
        for p in (0.25, 0.5, 0.75, 1 - surv[-1], float(y[len(y) // 2])):
            if not 0 < p < 1:
                continue
            a, b = _findq_monotone(x, y, p), _findq_general(x, y, p)
            assert (np.isnan(a) and np.isnan(b)) or a == b, (t, e, p)


def test_quantile_without_sorting_equals_r_dedup_rule():
    """Confidence limits (NaN where S is 0 or 1, not monotone) take ``_findq_general``, which finds
    the first point at or above p without deduplicating; R's rule (drop repeated values, then the
    stable sort, then the end check: ``_findq_dedup``) gives the same answer bit for bit,
    values within the tolerance of p included."""
    from ltfu.stats.km import _TOL, _findq_dedup, _findq_general

    rng = np.random.default_rng(5)
    values = np.array([np.nan, 0.0, 0.1, 0.25, 0.25 + _TOL / 3, 0.5 - _TOL / 2, 0.5, 0.5 + 2 * _TOL, 0.75, 1.0])
    for _ in range(3000):
        n = int(rng.integers(1, 15))
        x = np.r_[0.0, np.cumsum(rng.integers(1, 4, n)).astype(float)]
        y = np.r_[0.0, rng.choice(values, n)]
        for p in (0.25, 0.5, 0.75, 0.1):
            a, b = _findq_general(x, y, p), _findq_dedup(x, y, p)
            assert np.float64(a).view(np.int64) == np.float64(b).view(np.int64), (x, y, p)


def test_stable_order_is_numpys_stable_argsort():
    """The radix path (exact 16-bit codes) gives np.argsort(kind="stable")'s permutation, ties in
    row order, -0.0 with 0.0; data without such codes take numpy's own sort."""
    from ltfu.stats.counting import stable_order

    rng = np.random.default_rng(5)
    cases = [rng.integers(0, 3000, 50_000).astype(float),                 # whole days
             np.round(rng.integers(0, 900, 50_000) / 10, 1),             # months to 0.1
             np.where(rng.random(10_000) < 0.5, -0.0, rng.integers(0, 5, 10_000).astype(float)),
             rng.random(10_000) * 100,                                     # no grid
             rng.integers(0, 100_000, 10_000).astype(float),               # codes beyond 16 bits
             np.r_[rng.integers(0, 10, 5000).astype(float), -1.0]]        # negative
    for a in cases:
        np.testing.assert_array_equal(stable_order(a), np.argsort(a, kind="stable"))
