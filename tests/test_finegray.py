"""Fine-Gray regression against R cmprsk::crr (tests/reference/finegray.R)."""

import numpy as np
import pytest

from golden import arr, assert_close, golden
from ltfu.errors import ConvergenceError, InvalidInputError
from ltfu.stats import cumulative_incidence, fine_gray

CASES = golden("finegray")["cases"]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c['name']}-cause{c['cause']}")
def test_matches_crr(case):
    X = np.column_stack([arr(v) for v in case["X"]])
    r = fine_gray(X, arr(case["time"]), arr(case["status"]), cause=case["cause"])
    assert_close(r.coef, case["coef"], what="coef")
    assert_close(r.se, case["se"], rtol=1e-5, what="se (sandwich with censoring correction)")
    assert_close([r.loglik, r.loglik_null], [case["loglik"], case["loglik_null"]], what="loglik")
    t, pred = r.predict(np.asarray(case["newx"]))
    assert_close(t, case["pred_times"], what="times")
    for j in range(pred.shape[1]):
        assert_close(pred[:, j], case["pred"][j], what="predicted cumulative incidence")


def test_binary_covariate_without_effect_gives_shr_near_one_and_cif_agrees():
    """With no covariate effect the prediction at x = 0 is close to the Aalen-Johansen estimate."""
    case = next(c for c in CASES if c["name"] == "simulated" and c["cause"] == 1)
    t, s = arr(case["time"]), arr(case["status"]).astype(int)
    rng = np.random.default_rng(3)
    x = rng.integers(0, 2, t.size).astype(float)
    r = fine_gray(x, t, s)
    assert 0.5 < r.shr[0] < 2
    grid = np.array([5.0, 10.0, 20.0])
    aj = cumulative_incidence(t, s).at(grid, cause=1).estimate
    _, pred = r.predict([[x.mean()]], times=grid)
    np.testing.assert_allclose(pred[:, 0], aj, atol=0.05)


def test_a_term_constant_within_every_risk_set_is_a_clear_error():
    t = np.array([53.93, 34.78, 16.69, 5.0, 34.82, 76.0, 63.43, 98.85, 40.0])
    status = np.array([1, 1, 2, 0, 1, 1, 2, 1, 0])
    x = np.array([1.0, 1, 1, 0, 1, 1, 1, 1, 1])                # x = 0 only for a subject censored first
    with pytest.raises(ConvergenceError, match="x1 does not vary"):
        fine_gray(x, t, status)
    with pytest.raises(ConvergenceError, match="x1 does not vary"):
        fine_gray(np.ones(9), t, status)


def test_invalid():
    with pytest.raises(InvalidInputError, match="cause"):
        fine_gray([1.0, 0.0, 1.0], [1, 2, 3], [2, 0, 2], cause=1)
    with pytest.raises(InvalidInputError, match="status"):
        fine_gray([1.0, 0.0], [1, 2], [1, -1])


@pytest.mark.parametrize("seed", range(6))
def test_prefix_sum_variance_equals_crrvv_subject_by_subject(seed):
    """The O(n log n) middle term equals cmprsk's per-subject loops (tests/naive.py), on data with
    tied times across causes, censoring at failure times and several covariates."""
    import naive
    from ltfu.stats.finegray import _Data, _middle

    rng = np.random.default_rng(seed)
    n = 150
    t = np.sort(rng.integers(1, 25, n).astype(float))
    f = rng.choice([0, 1, 2], n, p=[0.3, 0.4, 0.3])
    X = np.column_stack([rng.normal(size=n), rng.integers(0, 2, n), rng.uniform(-1, 1, n)])
    data = _Data(t, f, X)
    beta = rng.normal(scale=0.3, size=3)
    want = naive.fine_gray_middle(data, beta)
    np.testing.assert_allclose(_middle(data, beta), want, rtol=1e-12, atol=1e-12 * np.abs(want).max())


# ------------------------------------------------------------------------------------------------
# frequency weights: a fit on counted rows equals the fit on the rows repeated

def _tied_data(seed, n=600, cencode=0, competing_in_high=True):
    """Heavy ties: integer times 1..30, a binary and a three-valued covariate, causes 1 and 2."""
    rng = np.random.default_rng(seed)
    high = rng.integers(0, 2, n).astype(float)
    z = rng.choice([-1.0, 0.5, 2.0], n)
    t = rng.integers(1, 31, n).astype(float)
    s = rng.choice([0, 1, 2], n, p=[0.3, 0.4, 0.3])
    if not competing_in_high:                     # the high group has no competing events
        s = np.where((high == 1) & (s == 2), 1, s)
    if cencode != 0:
        s = np.where(s == 0, cencode, s)
    return np.column_stack([high, z]), t, s


def _collapse(X, t, s, seed):
    """Distinct (x, t, status) rows with their counts, in a shuffled order."""
    rows, counts = np.unique(np.column_stack([X, t, s]), axis=0, return_counts=True)
    perm = np.random.default_rng(seed).permutation(len(rows))
    rows, counts = rows[perm], counts[perm]
    return rows[:, :X.shape[1]], rows[:, -2], rows[:, -1].astype(int), counts


def _assert_same_fit(got, want, rtol=1e-10):
    # coefficients near 0 are compared on the scale of their standard error
    np.testing.assert_allclose(got.coef, want.coef, rtol=rtol, atol=rtol * want.se.max())
    np.testing.assert_allclose(got.se, want.se, rtol=rtol)
    np.testing.assert_allclose(got.var, want.var, rtol=rtol, atol=rtol * np.abs(want.var).max())
    np.testing.assert_allclose([got.loglik, got.loglik_null], [want.loglik, want.loglik_null], rtol=rtol)
    np.testing.assert_allclose(got.p_value, want.p_value, rtol=1e-8, atol=1e-14)
    np.testing.assert_allclose(got.baseline_jumps, want.baseline_jumps, rtol=rtol)
    np.testing.assert_array_equal(got.failure_times, want.failure_times)
    assert (got.n, got.iterations, got.converged) == (want.n, want.iterations, want.converged)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("variant", ["cause1", "cause2", "no-competing-in-high", "cencode9-cause3"])
def test_counted_rows_fit_as_the_rows_repeated(seed, variant):
    """Collapsed rows with counts give the expanded fit (agreement seen: ~1e-13 relative or better)."""
    cause, cencode = (2, 0) if variant == "cause2" else (1, 0)
    X, t, s = _tied_data(seed, competing_in_high=variant != "no-competing-in-high",
                         cencode=9 if variant.startswith("cencode") else 0)
    if variant.startswith("cencode"):
        s = np.where(s == 2, 3, s)                  # causes 1 and 3, censored 9
        cause, cencode = 3, 9
    Xc, tc, sc, counts = _collapse(X, t, s, seed)
    assert counts.max() > 1
    want = fine_gray(X, t, s, cause=cause, cencode=cencode)
    got = fine_gray(Xc, tc, sc, cause=cause, cencode=cencode, weights=counts)
    _assert_same_fit(got, want)
    assert got.n == t.size


def test_weights_all_one_are_the_unweighted_fit_bit_for_bit():
    X, t, s = _tied_data(7)
    X = X + np.random.default_rng(7).normal(size=X.shape)      # inexact sums: rounding order would show
    a = fine_gray(X, t, s)
    b = fine_gray(X, t, s, weights=np.ones(t.size, dtype=int))
    for field in ("coef", "se", "var", "p_value", "baseline_jumps", "failure_times"):
        np.testing.assert_array_equal(getattr(b, field), getattr(a, field))
    assert (b.loglik, b.loglik_null, b.n, b.iterations) == (a.loglik, a.loglik_null, a.n, a.iterations)


def test_large_counts_against_explicit_expansion():
    """Counts up to 10,000 (about 300,000 subjects) against np.repeat of the rows."""
    rng = np.random.default_rng(11)
    X, t, s = _tied_data(11, n=60)
    counts = rng.integers(1, 10_001, t.size)
    got = fine_gray(X, t, s, weights=counts)
    want = fine_gray(np.repeat(X, counts, axis=0), np.repeat(t, counts), np.repeat(s, counts))
    _assert_same_fit(got, want)
    assert got.n == counts.sum()


@pytest.mark.parametrize("seed", range(3))
def test_weighted_middle_term_is_the_expanded_one(seed):
    """crr's V at an arbitrary beta (not only at the maximum): every sum over subjects in the G
    correction (a0, a1, censorings, at-risk counts) and the outer sum are weighted."""
    from ltfu.stats.finegray import _Data, _middle

    rng = np.random.default_rng(seed)
    n = 80
    t = np.sort(rng.integers(1, 15, n).astype(float))
    f = rng.choice([0, 1, 2], n, p=[0.3, 0.4, 0.3])
    X = np.column_stack([rng.normal(size=n), rng.integers(0, 2, n)])
    counts = rng.integers(1, 6, n)
    beta = rng.normal(scale=0.5, size=2)
    got = _middle(_Data(t, f, X, counts.astype(float)), beta)
    want = _middle(_Data(np.repeat(t, counts), np.repeat(f, counts), np.repeat(X, counts, axis=0)), beta)
    np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-12 * np.abs(want).max())


def test_weights_with_merged_near_ties():
    """timefix merges near-equal times of counted rows as of the expanded ones."""
    X, t, s = _tied_data(5, n=300)
    t = t + np.where(np.arange(t.size) % 3 == 0, 1e-10, 0.0)
    Xc, tc, sc, counts = _collapse(X, t, s, 5)
    _assert_same_fit(fine_gray(Xc, tc, sc, weights=counts), fine_gray(X, t, s))


def test_weighted_term_constant_within_risk_sets_is_still_an_error():
    t = np.array([53.93, 34.78, 16.69, 5.0, 34.82, 76.0, 63.43, 98.85, 40.0])
    status = np.array([1, 1, 2, 0, 1, 1, 2, 1, 0])
    x = np.array([1.0, 1, 1, 0, 1, 1, 1, 1, 1])
    with pytest.raises(ConvergenceError, match="x1 does not vary"):
        fine_gray(x, t, status, weights=[3, 1, 2, 50, 1, 1, 4, 1, 2])


@pytest.mark.parametrize("weights, message", [
    ([1, 2, 3], "length 3 differs from time length 4"),
    ([1, -2, 1, 1], "whole numbers >= 1.*-2.0 at index 1"),
    ([1, 0, 1, 1], "whole numbers >= 1.*drop rows with count 0"),
    ([1, 1.5, 1, 1], "whole numbers >= 1.*1.5 at index 1"),
    ([1, np.nan, 1, 1], "weights: missing value \\(NaN\\) at index 1"),
    ([1, np.inf, 1, 1], "weights: infinite value at index 1"),
    (["1", 1, 1, 1], "weights: text"),
])
def test_bad_weights(weights, message):
    with pytest.raises(InvalidInputError, match=message):
        fine_gray([0.0, 1.0, 0.0, 1.0], [1, 2, 3, 4], [1, 2, 1, 0], weights=weights)


def test_repeated_rows_are_fitted_as_counts_with_the_same_result(monkeypatch):
    """20,000 rows of a yes/no covariate on whole days: fine_gray fits the distinct rows with their
    counts (as cox does), and the fit equals the row-by-row one."""
    from ltfu.stats import coxmodel

    rng = np.random.default_rng(11)
    n = 20_000
    x = rng.integers(0, 2, n).astype(float)
    t = rng.integers(1, 400, n).astype(float)
    status = np.where(rng.random(n) < 0.3 + 0.2 * x, 1, rng.choice([0, 2], n, p=[0.6, 0.4]))   # an effect
    assert coxmodel._patterns(x[:, None], t, status.astype(float), None, None) is not None
    fast = fine_gray(x, t, status)
    monkeypatch.setattr(coxmodel, "PATTERN_MIN_ROWS", 10 ** 9)
    slow = fine_gray(x, t, status)
    assert fast.n == slow.n == n and fast.iterations == slow.iterations
    for field in ("coef", "se", "loglik", "loglik_null", "baseline_jumps"):
        np.testing.assert_allclose(getattr(fast, field), getattr(slow, field), rtol=1e-11, err_msg=field)
