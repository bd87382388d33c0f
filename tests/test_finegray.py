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
