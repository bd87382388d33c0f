"""Logistic regression: ML against R glm (tests/reference/logistic.R); Firth against its closed form
for a 2 x 2 table and against the equations that define it (R's logistf is not packaged for Debian,
so no R golden is available for Firth)."""

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2

from golden import arr, assert_close, golden
from ltfu.errors import ConvergenceError, InvalidInputError
from ltfu.stats import logistic
from ltfu.stats.logreg import _firth_fit, _penalised

G = golden("logistic")
X = np.column_stack([arr(v) for v in G["X"]])
Y = arr(G["y"])


def test_ml_matches_r_glm():
    r = logistic(X, Y, method="ml")
    assert r.method == "ml" and not r.separation
    assert_close(r.coef, G["coef"], what="coef")
    assert_close(r.se, G["se"], rtol=1e-5, what="se")
    assert_close(r.p_value, G["p"], rtol=1e-5, what="p")
    assert_close([r.intercept], [G["intercept"]])
    assert_close(r.or_lower, G["or_lower"], rtol=1e-5)
    assert_close(r.or_upper, G["or_upper"], rtol=1e-5)
    assert logistic(X, Y).method == "ml"          # auto keeps ML when there is no separation


def _table_data(a, b, c, d):
    """x = 1: a events, b non-events; x = 0: c events, d non-events."""
    x = np.r_[np.ones(a + b), np.zeros(c + d)]
    y = np.r_[np.ones(a), np.zeros(b), np.ones(c), np.zeros(d)]
    return x, y


def test_firth_on_a_2x2_table_adds_one_half_to_each_cell():
    """For the saturated 2 x 2 model, Firth's estimate is the log odds ratio of the table with 1/2 added
    to every cell: here log((7.5 * 4.5) / (0.5 * 10.5)) even though one cell is empty (separation)."""
    x, y = _table_data(7, 0, 4, 10)
    r = logistic(x, y)
    assert r.method == "firth" and r.separation
    assert r.coef[0] == pytest.approx(np.log((7.5 * 10.5) / (0.5 * 4.5)), rel=1e-8)
    assert np.isfinite(r.or_upper[0]) and r.or_lower[0] > 1


def test_firth_solves_its_score_equations_and_profile_limits():
    x, y = _table_data(9, 1, 5, 20)
    Xd = np.column_stack([np.ones(x.size), x])
    r = logistic(x, y, method="firth")
    beta = np.r_[r.intercept, r.coef]
    pl, score, _ = _penalised(beta, Xd, y)
    np.testing.assert_allclose(score, 0, atol=1e-7)
    crit = chi2.ppf(0.95, 1)
    for limit in (np.log(r.or_lower[0]), np.log(r.or_upper[0])):
        _, pl_b, _, _ = _firth_fit(Xd, y, fixed=(1, limit), start=beta)
        assert 2 * (pl - pl_b) == pytest.approx(crit, abs=1e-6)
    _, pl0, _, _ = _firth_fit(Xd, y, fixed=(1, 0.0), start=beta)
    assert r.p_value[0] == pytest.approx(chi2.sf(2 * (pl - pl0), 1), rel=1e-9)


def test_ml_refuses_separated_data():
    x, y = _table_data(7, 0, 4, 10)
    with pytest.raises(ConvergenceError, match="separation"):
        logistic(x, y, method="ml")


def test_invalid():
    with pytest.raises(InvalidInputError, match="y"):
        logistic([1.0, 2.0, 3.0], [0, 1, 2])
    with pytest.raises(InvalidInputError, match="y"):
        logistic([1.0, 2.0], [1, 1])
    with pytest.raises(ConvergenceError, match="singular"):
        logistic(np.column_stack([X[:, 0], X[:, 0]]), Y)


def test_separation_check_on_distinct_rows_gives_the_same_answer():
    """Above 1,000 rows the LP's constraints are the distinct rows (identical rows are one
    constraint): a registry-sized design repeated from a small one is judged as the small one."""
    import numpy as np

    from ltfu.stats.logreg import separated

    rng = np.random.default_rng(7)
    x = rng.integers(0, 4, 40).astype(float)
    for y in ((x >= 2).astype(float), (rng.random(40) < 0.4).astype(float)):   # separated, then not
        X = np.column_stack([np.ones(40), x])
        big = np.repeat(X, 60, axis=0), np.repeat(y, 60)
        assert separated(*big) == separated(X, y)
    assert separated(np.repeat(np.column_stack([np.ones(40), x]), 60, axis=0), np.repeat((x >= 2).astype(float), 60))


def _row_by_row(monkeypatch, *args, **kw):
    import ltfu.stats.logreg as lr

    monkeypatch.setattr(lr, "GROUP_MIN", 10**9)
    try:
        return logistic(*args, **kw)
    finally:
        monkeypatch.undo()


@pytest.mark.parametrize("kind", ["ml", "firth"])
def test_grouped_fit_equals_the_row_by_row_fit(monkeypatch, kind):
    """Above GROUP_MIN rows the fit runs on distinct design rows with counts; the row-by-row fit
    (grouping switched off) is the reference: the same estimates, errors, limits and p-values."""
    import pandas as pd

    rng = np.random.default_rng(11)
    n = 1500 if kind == "firth" else 200_000     # ML: a deviance in the 1e5s (an absolute test fails)
    burden = rng.integers(0, 2, n).astype(float)
    age = rng.integers(20, 76, n).astype(float)
    if kind == "ml":
        y = (rng.random(n) < 1 / (1 + np.exp(-(-2 + 0.8 * burden + 0.02 * (age - 50))))).astype(float)
    else:                            # quasi-complete separation: no event among low-burden patients
        y = ((burden == 1) & (rng.random(n) < 0.3)).astype(float)
    X = pd.DataFrame({"burden": burden, "age": age})
    grouped, rows = logistic(X, y), _row_by_row(monkeypatch, X, y)
    assert grouped.method == rows.method == kind and grouped.separation == rows.separation == (kind == "firth")
    assert (grouped.n, grouped.n_events) == (rows.n, rows.n_events) == (n, int(y.sum()))
    tol = 1e-7 if kind == "ml" else 1e-6
    for field in ("coef", "se", "p_value", "or_lower", "or_upper"):
        np.testing.assert_allclose(getattr(grouped, field), getattr(rows, field), rtol=tol, err_msg=field)
    assert grouped.intercept == pytest.approx(rows.intercept, rel=tol)


def test_grouped_singular_and_collinear_designs_are_refused_as_row_by_row():
    rng = np.random.default_rng(3)
    x = rng.integers(0, 3, 2000).astype(float)
    y = (rng.random(2000) < 0.3).astype(float)
    with pytest.raises(ConvergenceError, match="singular"):
        logistic(np.column_stack([x, 2 * x]), y)


def test_the_fit_from_covariate_patterns_is_the_fit_on_the_rows():
    """logistic_counts (what an engine's GROUP BY returns) against logistic on the rows, with ML and
    with Firth (quasi-separation), below and above GROUP_MIN, patterns in a shuffled order."""
    from ltfu.stats import logistic_counts

    rng = np.random.default_rng(26)
    methods = set()
    for trial in range(24):
        n = int(rng.choice([40, 300, 1200, 4000]))
        X = pd.DataFrame({"a": rng.integers(0, 2, n).astype(float), "b": np.round(rng.normal(size=n) * 2) / 2})
        y = (rng.random(n) < 1 / (1 + np.exp(1 - 0.8 * X["a"] - 0.3 * X["b"]))).astype(int)
        if trial % 6 == 0:
            y = np.where(X["a"].to_numpy() > 0, 1, y)           # every a = 1 has the outcome: Firth
        g = (pd.DataFrame({"a": X["a"], "b": X["b"], "y": y}).groupby(["a", "b"])
             .agg(k=("y", "size"), e=("y", "sum")).reset_index().sample(frac=1, random_state=trial))
        got, want = logistic_counts(g[["a", "b"]], g["k"], g["e"]), logistic(X, y)
        assert (got.terms, got.method, got.n, got.n_events) == (want.terms, want.method, want.n, want.n_events)
        for f in ("coef", "se", "p_value", "or_lower", "or_upper"):
            np.testing.assert_allclose(getattr(got, f), getattr(want, f), rtol=1e-9, err_msg=f)
        methods.add(got.method)
    assert methods == {"ml", "firth"}
    for k, e in (([2, 0], [1, 0]), ([2, 3], [1, 4]), ([2, 3], [-1, 1]), ([1.5, 2], [1, 1])):
        with pytest.raises(InvalidInputError):
            logistic_counts(pd.DataFrame({"a": [0.0, 1.0]}), k, e)
