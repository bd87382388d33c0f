"""Hostile inputs to the engine functions (found by a bad-input hunt, 2026-11-26): each engine
either gives the numpy engine's answer or an ltfu error naming the problem, never a raw traceback
and never a number the data do not support."""

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from ltfu.errors import ConvergenceError, InvalidInputError
from ltfu.stats.engines import cox_from, cumulative_incidence_from, kaplan_meier_from, logrank_from

ENGINES = ("numpy", "duckdb")


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(1)
    n = 40
    return np.round(rng.exponential(5, n), 1), rng.integers(0, 2, n), rng.normal(size=n)


@pytest.mark.parametrize("engine", ENGINES)
def test_cox_with_a_term_that_orders_the_event_times_is_refused_not_fitted(data, engine):
    """x = t: the likelihood is monotone (the coefficient runs to -infinity).  DuckDB's sums used to
    reach an infinite information, whose Newton step of 0 looked like convergence: coefficient -14.8
    with variance -0.0, standard error 0 and p = 1.6e-28."""
    t, e, _ = data
    with pytest.raises(ConvergenceError, match="monotone"):
        cox_from(pd.DataFrame({"t": t, "e": e, "x": t}), time="t", event="e", covariates=["x"], engine=engine)


def test_newton_never_returns_a_variance_that_is_not_positive():
    """The Newton loop's own guard, whoever computes the pieces: a step whose information is not
    finite is halved (as a fall of the likelihood is), and an estimate whose inverse information is
    not positive is refused."""
    from ltfu.stats.coxmodel import _newton

    calls = []

    def pieces(b):                     # log-likelihood -10 - (b - 1)^2; its first step's sums overflow
        calls.append(float(b[0]))
        if len(calls) == 1:
            return -1.0, np.array([0.0]), np.array([[-np.inf]])
        return -10 - (b[0] - 1) ** 2, np.array([-2 * (b[0] - 1)]), np.array([[2.0]])

    start = (-12.25, np.array([3.0]), np.array([[2.0]]))          # at b = -0.5
    beta, ll, var, _ = _newton(pieces, np.array([-0.5]), start, ("x",), eps=1e-9, max_iter=30)
    assert calls[:2] == [1.0, 0.25]                                # the overflowing step was halved
    assert beta[0] == pytest.approx(1.0) and ll == pytest.approx(-10.0) and var[0, 0] == pytest.approx(0.5)

    def flat(b):                        # the information is 0 everywhere: no variance
        return -1.0 - 1e-3 * b[0], np.array([-1e-3]), np.array([[1e-300]])

    with pytest.raises(ConvergenceError):
        _newton(flat, np.array([0.0]), flat(np.array([0.0])), ("x",), eps=1e-9, max_iter=5)

    # an indefinite information (eigenvalues 1 and -1/3) whose inverse has a positive diagonal
    info = np.linalg.inv(np.array([[1.0, 2.0], [2.0, 1.0]]))

    def indefinite(b):
        return -1.0, np.zeros(2), info

    with pytest.raises(ConvergenceError, match="not positive definite"):
        _newton(indefinite, np.zeros(2), indefinite(np.zeros(2)), ("x", "z"), eps=1e-9, max_iter=5)


def test_duckdb_refuses_a_masked_array_as_numpy_does():
    """np.asarray drops a mask: DuckDB read the masked 99 as a time."""
    d = {"t": np.ma.masked_array([1.0, 2.0, 3.0, 99.0], mask=[0, 0, 0, 1]), "e": np.array([1, 1, 0, 1])}
    for engine in ENGINES:
        with pytest.raises(InvalidInputError, match="masked"):
            kaplan_meier_from(d, time="t", event="e", engine=engine)


def test_duckdb_refuses_repeated_column_names_and_names_that_differ_only_in_case(data):
    t, e, _ = data
    dup = pd.DataFrame(np.c_[t, e, t * 100], columns=["t", "e", "t"])
    with pytest.raises(InvalidInputError, match="twice"):
        kaplan_meier_from(dup, time="t", event="e", engine="duckdb")
    both = pd.DataFrame({"t": t, "T": t * 2, "e": e})
    with pytest.raises(InvalidInputError, match="differ only in case"):
        kaplan_meier_from(both, time="T", event="e", engine="duckdb")
    # numpy tells them apart: the curve of T is that of t on a doubled scale
    km = kaplan_meier_from(both, time="T", event="e", engine="numpy")["all"]
    assert np.array_equal(km.time, kaplan_meier_from(both, time="t", event="e", engine="numpy")["all"].time * 2)


def test_a_list_column_is_not_a_number():
    """INTEGER[] began with INTEGER: it passed the type check and failed inside DuckDB."""
    rel = duckdb.sql("select [range::int] as t, (range % 2)::int as e from range(5)")
    with pytest.raises(InvalidInputError, match=r"INTEGER\[\]"):
        kaplan_meier_from(rel, time="t", event="e", engine="duckdb")
    rel = duckdb.sql("select range::double + 1 as t, (range % 2)::int as e, [range::double] as x from range(9)")
    with pytest.raises(InvalidInputError, match="covariates"):
        cox_from(rel, time="t", event="e", covariates=["x"], engine="duckdb")


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("values", [[b"a", b"b"], [bytearray([0]), bytearray([1])], [[0], [1]], [{"a": 0}, {"a": 1}]],
                         ids=["bytes", "bytearray", "list", "struct"])
def test_groups_that_cannot_be_labels_are_refused(data, engine, values):
    """Bytes too: DuckDB gives them back as bytearray, so the engines could not agree on them."""
    t, e, _ = data
    g = [values[i % 2] for i in range(t.size)]
    if engine == "duckdb" and isinstance(values[0], bytearray):
        g = [bytes(v) for v in g]          # Arrow's binary; DuckDB gives it back as bytearray
    with pytest.raises(InvalidInputError, match="text, numbers or booleans"):
        kaplan_meier_from(pa.table({"t": t, "e": e, "g": g}), time="t", event="e", by="g", engine=engine)
    if isinstance(values[0], bytes):
        with pytest.raises(InvalidInputError, match="text, numbers or booleans"):
            kaplan_meier_from(pd.DataFrame({"t": t, "e": e, "g": g}), time="t", event="e", by="g", engine=engine)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_number_and_a_text_with_the_same_text_are_not_merged_into_one_group(data, engine):
    """1 and "1" in one column: grouping by text (numpy's rule for mixed types, DuckDB's VARCHAR)
    made them one group of 4 patients, silently."""
    t, e, _ = data
    df = pd.DataFrame({"t": t[:8], "e": e[:8], "g": np.array([1, "1", 2, "2"] * 2, dtype=object)})
    with pytest.raises(InvalidInputError, match="same text"):
        kaplan_meier_from(df, time="t", event="e", by="g", engine=engine)
    # texts and numbers that do not collide still group as text, in both engines alike
    ok = df.assign(g=np.array([1, "a", 2, "b"] * 2, dtype=object))
    fits = kaplan_meier_from(ok, time="t", event="e", by="g", engine=engine)
    assert sorted(fits) == ["1", "2", "a", "b"] and all(f.n == 2 for f in fits.values())


def test_minus_zero_and_zero_are_one_group_labelled_zero():
    """Which sign survived depended on which value each engine met first."""
    df = pd.DataFrame({"t": [1.0, 2, 3, 4, 5, 6], "s": [1, 0, 1, 1, 0, 1], "g": [-0.0, 0.0, 1.5, 1.5, -0.0, 1.5]})
    for engine in ENGINES:
        ci = cumulative_incidence_from(df, time="t", status="s", by="g", engine=engine)
        assert ci.groups == (0.0, 1.5) and np.signbit(ci.groups[0]) == np.False_
        assert ci.n == (3, 3)
        lr = logrank_from(df, time="t", event="s", by="g", engine=engine)
        assert not np.signbit(lr.groups[0])


@pytest.mark.parametrize("engine", ENGINES)
def test_cox_bad_covariates_and_init_get_ltfu_errors(data, engine):
    t, e, x = data
    df = pd.DataFrame({"t": t, "e": e, "x": x})
    with pytest.raises(InvalidInputError, match="too large"):
        cox_from(df.assign(x=x * 1e200), time="t", event="e", covariates=["x"], engine=engine)
    for init in ([0, 0], [[0.1], [-0.1]], [np.nan], "a"):
        with pytest.raises(InvalidInputError, match="init"):
            cox_from(df, time="t", event="e", covariates=["x"], init=init, engine=engine)
    assert cox_from(df, time="t", event="e", covariates=["x"], init=0.1, engine=engine).coef[0] == pytest.approx(
        cox_from(df, time="t", event="e", covariates=["x"], engine=engine).coef[0], rel=1e-8)
    with pytest.raises(InvalidInputError, match="more than once"):
        cox_from(df, time="t", event="e", covariates=["x", "x"], engine=engine)
    with pytest.raises(InvalidInputError, match="missing"):
        cox_from(df.assign(x=np.r_[np.nan, x[1:]]), time="t", event="e", covariates=["x"], engine=engine)


def test_cox_with_a_covariate_far_from_zero_agrees_across_engines(data):
    """An integer covariate near 2**40: SUM(x x') - n mean mean' cancelled every digit, so DuckDB
    called the one term collinear; the groups' co-moments keep them.  The coefficient is that of the
    same covariate shifted to 0..n-1 (a shift changes no Cox coefficient)."""
    t, e, _ = data
    x = np.arange(t.size, dtype=np.int64)
    near = [cox_from(pd.DataFrame({"t": t, "e": e, "x": x + 2 ** 40}), time="t", event="e", covariates=["x"],
                     engine=engine) for engine in ENGINES]
    shifted = cox_from(pd.DataFrame({"t": t, "e": e, "x": x}), time="t", event="e", covariates=["x"], engine="numpy")
    for fit in near:
        assert fit.coef[0] == pytest.approx(shifted.coef[0], rel=1e-9)
        assert fit.se[0] == pytest.approx(shifted.se[0], rel=1e-9)
