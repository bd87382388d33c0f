"""Invariants of the statistics (issue 7), checked on random small data with hypothesis, and the
fast estimators cross-checked against the naive loop implementations in tests/naive.py."""

import contextlib
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import naive
from ltfu.errors import ConvergenceError
from ltfu.stats import binomial_ci, cox, cumulative_incidence, kaplan_meier, logrank

SETTINGS = settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def survival_data(draw, min_size=2, max_size=30, tied=True, groups=False):
    n = draw(st.integers(min_size, max_size))
    if tied:
        t = draw(st.lists(st.integers(1, 12), min_size=n, max_size=n))
    else:
        t = draw(st.lists(st.floats(0.1, 100, allow_nan=False), min_size=n, max_size=n, unique=True))
    e = draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
    out = [np.asarray(t, float), np.asarray(e, int)]
    if groups:
        g = draw(st.lists(st.integers(0, 1), min_size=n, max_size=n).filter(lambda v: 0 < sum(v) < len(v)))
        out.append(np.asarray(g, int))
    return out


@SETTINGS
@given(survival_data())
def test_km_matches_naive_and_is_a_survival_curve(data):
    t, e = data
    km = kaplan_meier(t, e)
    ref = naive.km(t.tolist(), e.tolist())
    assert km.time.tolist() == [r["time"] for r in ref]
    assert km.n_risk.tolist() == [r["n_risk"] for r in ref]
    assert km.n_event.tolist() == [r["n_event"] for r in ref]
    assert km.n_censor.tolist() == [r["n_censor"] for r in ref]
    np.testing.assert_allclose(km.survival, [r["survival"] for r in ref], rtol=1e-12, atol=1e-15)
    assert np.all(np.diff(km.survival) <= 1e-15)
    assert np.all((km.survival >= 0) & (km.survival <= 1))
    ok = np.isfinite(km.ci_lower) & np.isfinite(km.ci_upper)
    assert np.all(km.ci_lower[ok] <= km.survival[ok] + 1e-12)
    assert np.all(km.survival[ok] <= km.ci_upper[ok] + 1e-12)


@SETTINGS
@given(survival_data(), st.randoms(use_true_random=False), st.sampled_from([1 / 7, 30.4375, 24.0]))
def test_km_invariant_to_row_order_and_time_unit(data, rnd, scale):
    t, e = data
    perm = list(range(t.size))
    rnd.shuffle(perm)
    a, b = kaplan_meier(t, e), kaplan_meier(t[perm], e[perm])
    np.testing.assert_array_equal(a.survival, b.survival)
    c = kaplan_meier(t * scale, e)
    np.testing.assert_allclose(c.survival, a.survival, rtol=1e-12)
    np.testing.assert_allclose(c.time, a.time * scale, rtol=1e-12)
    if math.isfinite(a.median.value):
        assert c.median.value == pytest.approx(a.median.value * scale, rel=1e-12)


@SETTINGS
@given(survival_data(min_size=4, groups=True))
def test_logrank_matches_naive_and_is_invariant_to_relabelling(data):
    t, e, g = data
    if e.sum() == 0:
        return
    ref = naive.logrank2(t.tolist(), e.tolist(), g.tolist())
    if math.isnan(ref):
        # no variance: R's survdiff stops (a singular matrix, so does ltfu), or has fewer than two
        # groups with expected deaths (then R and ltfu give 0 on 0 df)
        with contextlib.suppress(ConvergenceError):
            assert logrank(t, e, g).df == 0
        return
    lr = logrank(t, e, g)
    assert lr.statistic == pytest.approx(ref, rel=1e-9, abs=1e-12)
    relabelled = logrank(t, e, np.where(g == 1, "b", "a"))
    swapped = logrank(t, e, 1 - g)
    assert relabelled.statistic == pytest.approx(lr.statistic, rel=1e-12, abs=1e-14)
    assert swapped.statistic == pytest.approx(lr.statistic, rel=1e-12, abs=1e-14)


@SETTINGS
@given(survival_data(min_size=8, tied=False, groups=True))
def test_cox_score_test_equals_logrank_for_one_binary_covariate(data):
    """Without tied times the Cox score test at beta = 0 is exactly the log-rank statistic."""
    t, e, g = data
    if e.sum() < 2:
        return
    # exact times: hypothesis may draw 99.99999999999999 beside 100, which R's time merging ties
    try:
        lr = logrank(t, e, g, timefix=False)
    except ConvergenceError:              # zero variance (every death when all at risk die)
        return
    try:
        fit = cox(g.astype(float), t, e, timefix=False)
    except Exception:  # separation etc.: the score test is still defined but the fit is not
        return
    assert fit.score_test.statistic == pytest.approx(lr.statistic, rel=1e-8)


@SETTINGS
@given(survival_data(min_size=10, max_size=25), st.floats(-50, 50), st.sampled_from(["efron", "breslow"]))
def test_cox_invariant_to_shifting_a_covariate_and_maximises_the_naive_likelihood(data, shift, ties):
    t, e = data
    if e.sum() < 3:
        return
    rng = np.random.default_rng(int(t.sum()) + int(e.sum()))
    x = np.column_stack([rng.normal(size=t.size), rng.integers(0, 2, t.size)]).astype(float)
    if np.ptp(x[:, 1]) == 0:
        return
    try:
        a = cox(x, t, e, ties=ties)
    except Exception:
        return
    b = cox(x + np.array([shift, 0.0]), t, e, ties=ties)
    np.testing.assert_allclose(b.coef, a.coef, rtol=1e-6, atol=1e-8)
    ll = naive.cox_loglik(a.coef.tolist(), x.tolist(), t.tolist(), e.tolist(), ties=ties)
    assert a.loglik[1] == pytest.approx(ll, rel=1e-9, abs=1e-9)
    # the fitted beta is a maximum: small moves do not increase the naive likelihood
    for k in range(2):
        for h in (1e-4, -1e-4):
            beta = a.coef.copy()
            beta[k] += h
            assert naive.cox_loglik(beta.tolist(), x.tolist(), t.tolist(), e.tolist(), ties=ties) <= ll + 1e-9


@SETTINGS
@given(st.integers(2, 30).flatmap(lambda n: st.tuples(
    st.lists(st.integers(1, 10), min_size=n, max_size=n),
    st.lists(st.integers(0, 2), min_size=n, max_size=n))))
def test_cumulative_incidence_sums_to_one_and_matches_naive(data):
    t, s = np.asarray(data[0], float), np.asarray(data[1], int)
    if not (s > 0).any():
        return
    res = cumulative_incidence(t, s)
    grid = np.unique(t)
    total = np.zeros(grid.size)
    for k in sorted(set(s[s > 0].tolist())):
        est = res.at(grid, cause=k).estimate
        ref = naive.aalen_johansen(t.tolist(), s.tolist(), k)
        np.testing.assert_allclose(est, [r[1] for r in ref], rtol=1e-10, atol=1e-14)
        total += est
    surv = [r[2] for r in naive.aalen_johansen(t.tolist(), s.tolist(), 1)]
    np.testing.assert_allclose(total + np.asarray(surv), 1.0, rtol=1e-10)


@SETTINGS
@given(survival_data(min_size=2))
def test_cumulative_incidence_without_competing_events_is_one_minus_km(data):
    t, e = data
    if e.sum() == 0:
        return
    grid = np.unique(t)
    cif = cumulative_incidence(t, e).at(grid, cause=1).estimate
    np.testing.assert_allclose(cif, 1 - kaplan_meier(t, e).at(grid).survival, rtol=1e-10, atol=1e-14)


@SETTINGS
@given(st.integers(1, 200).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))),
       st.sampled_from(["exact", "wilson"]), st.sampled_from([0.8, 0.9, 0.95, 0.99]))
def test_binomial_interval_contains_the_observed_proportion(xn, method, level):
    x, n = xn
    e = binomial_ci(x, n, method=method, conf_level=level)
    assert e.value == pytest.approx(x / n)
    assert 0.0 <= e.lower <= x / n + 1e-12 <= e.upper + 2e-12 <= 1.0 + 3e-12


@SETTINGS
@given(survival_data(groups=True), st.booleans())
def test_grid_counting_equals_sort_counting(data, with_strata):
    """Registry-sized, heavily tied inputs are counted on an integer grid instead of sorted (km,
    logrank, cif): forced on small data here, both ways must give identical arrays and statistics."""
    import ltfu.stats.counting as counting
    from ltfu.stats.counting import count

    t, e, g = data
    for groups in (None, g):
        by_sort = count(t, e, group=groups, n_groups=2 if groups is not None else 1, method="sort")
        by_count = count(t, e, group=groups, n_groups=2 if groups is not None else 1, method="count")
        for name in ("time", "n_exit", "n_event", "n_risk"):
            np.testing.assert_array_equal(getattr(by_sort, name), getattr(by_count, name))
    strata = (np.arange(t.size) % 2) if with_strata else None
    saved = counting.COUNT_MIN_N, counting._heavily_tied
    counting._heavily_tied = lambda t: True

    def run():
        try:
            lr = logrank(t, e, g, strata=strata)
        except ConvergenceError:
            lr = None
        return lr, kaplan_meier(t, e), cumulative_incidence(t, e * (1 + g))
    try:
        counting.COUNT_MIN_N = 10**12                      # never count
        want, want_km, want_cif = run()
        counting.COUNT_MIN_N = 0                           # count whenever times are tied
        got, got_km, got_cif = run()
    finally:
        counting.COUNT_MIN_N, counting._heavily_tied = saved
    assert (got is None) == (want is None)
    if want is not None:
        np.testing.assert_array_equal(got.variance, want.variance)
        np.testing.assert_array_equal(got.expected, want.expected)
        assert got.statistic == want.statistic or (np.isnan(got.statistic) and np.isnan(want.statistic))
    np.testing.assert_array_equal(got_km.survival, want_km.survival)
    np.testing.assert_array_equal(got_km.n_risk, want_km.n_risk)
    assert got_cif.causes == want_cif.causes
    for key, curve in want_cif._curves.items():
        np.testing.assert_array_equal(got_cif._curves[key].estimate, curve.estimate)
        np.testing.assert_array_equal(got_cif._curves[key].variance, curve.variance)


@SETTINGS
@given(st.lists(st.integers(-5, 5), min_size=1, max_size=40), st.sampled_from(["int64", "int8", "uint16", "bool"]))
def test_integer_group_codes_equal_numpy_unique(values, dtype):
    from ltfu.stats._common import check_groups

    g = np.abs(np.asarray(values)) % 2 if dtype == "bool" else np.asarray(values)
    g = (np.abs(g) if dtype == "uint16" else g).astype(dtype)
    levels, codes = check_groups(g, g.size)
    want_levels, want_codes = np.unique(g, return_inverse=True)
    np.testing.assert_array_equal(levels, want_levels)
    np.testing.assert_array_equal(codes, want_codes)
    assert levels.dtype == want_levels.dtype


@SETTINGS
@given(st.lists(st.one_of(st.integers(0, 400).map(float), st.integers(0, 4000).map(lambda v: v / 10),
                          st.sampled_from([0.3, 0.1 + 0.2, 1e-9, 2.5, 1e7, 0.0]),
                          st.floats(0, 1000, allow_nan=False)), min_size=1, max_size=60))
def test_grid_codes_give_numpy_unique_exactly(values):
    """Counting on an integer grid must never merge two different floats (0.3 and 0.1 + 0.2) nor
    reorder them: whatever codes it finds, the answer is np.unique's, bit for bit."""
    from ltfu.stats.counting import distinct_times

    t = np.asarray(values, float)
    want_u, want_inv = np.unique(t, return_inverse=True)
    got_u, got_inv = distinct_times(t, method="count")
    np.testing.assert_array_equal(got_u, want_u)
    np.testing.assert_array_equal(got_inv, want_inv.reshape(-1))


def test_grid_codes_shortcut_for_whole_numbers_is_the_general_rule():
    """counting._grid_codes answers whole numbers (days) from origin 0 with one comparison: its
    codes, range and the value of every code used (the sign of a zero included) are those of the
    general one-value-per-code check, written out here, on random days with -0.0, tenths, a stray
    fraction and continuous times."""
    import numpy as np

    from ltfu.stats.counting import _grid_codes

    def general(t, origin=0.0):
        limit = 8 * t.size + 1024
        for scale in (1.0, 10.0, 100.0, 1000.0):
            if not (float(t.max()) - origin) * scale < limit:
                return None
            codes = np.rint((t - origin) * scale).astype(np.int64)
            value_of = np.zeros(int(codes.max()) + 1)
            value_of[codes] = t
            if np.array_equal(value_of[codes], t):
                return codes, value_of
        return None

    rng = np.random.default_rng(11)
    for k in range(1000):
        n = int(rng.integers(1, 300))
        t = [rng.integers(0, 50, n).astype(float), rng.integers(0, 5, n).astype(float),
             rng.integers(0, 500, n) / 10.0, np.r_[rng.integers(0, 9, n).astype(float), 0.4],
             rng.random(n) * 10][k % 5]
        if k % 5 == 1:
            t[rng.random(n) < 0.3] = -0.0
        for origin in (0.0, float(t.min())):
            got, want = _grid_codes(t, origin=origin), general(t, origin)
            assert (got is None) == (want is None)
            if got is not None:
                used = np.unique(got[0])
                np.testing.assert_array_equal(got[0], want[0])
                assert got[1].size == want[1].size
                np.testing.assert_array_equal(got[1][used], want[1][used])
                np.testing.assert_array_equal(np.signbit(got[1][used]), np.signbit(want[1][used]))
