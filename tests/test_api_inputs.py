"""Issue 12 (5): the Python API fails clearly on what a pandas user hands it, and takes R's
spellings (issue 14): nullable columns, NA, text, factors coded as R's model.matrix."""

import numpy as np
import pandas as pd
import pytest

from ltfu.errors import InvalidInputError
from ltfu.stats import cox, cumulative_incidence, fine_gray, gray_test, kaplan_meier, logistic, logrank, rmst

T = np.array([5, 3, 8, 2, 9, 4, 7, 6, 1, 10.0])
E = np.array([1, 1, 0, 1, 1, 0, 1, 1, 1, 0])
NULLABLE_INT = pd.Series(pd.array([1, None, 2, 3, 4, 5, 6, 7, 8, 9], dtype="Int64"), name="x")
NULLABLE_BOOL = pd.Series(pd.array([True, None, False, True, False, True, False, True, False, True],
                                   dtype="boolean"), name="flag")


@pytest.mark.parametrize("call, argument", [
    (lambda: kaplan_meier(NULLABLE_INT, E), "time"),
    (lambda: kaplan_meier(T, NULLABLE_BOOL), "event"),
    (lambda: kaplan_meier(["1", "2"], [1, 0]), "time"),
    (lambda: kaplan_meier([1.0, np.inf], [1, 0]), "time"),
    (lambda: kaplan_meier([1.0, 2.0], [1, 0, 1]), "event"),
    (lambda: logrank(T, E, pd.Series(["a", "b", None, "a", "b", "a", "b", "a", "b", "a"])), "group"),
    (lambda: logrank(T, E, pd.Series(pd.array([1, 2, None, 1, 2, 1, 2, 1, 2, 1], dtype="Int64"))), "group"),
    (lambda: cox(NULLABLE_INT, T, E), "X"),
    (lambda: cox(NULLABLE_BOOL.to_frame(), T, E), "X"),
    (lambda: cox(np.ones(10), T, E, weights=[1] * 9), "weights"),
    (lambda: logistic(pd.DataFrame({"a": ["x", "y"] * 5}), [0, 1] * 4 + [0, None]), "y"),
    (lambda: cumulative_incidence(T, pd.Series(pd.array([1, 2, None, 0, 1, 2, 0, 1, 2, 0], dtype="Int64"))),
     "status"),
    (lambda: rmst(T, E, tau="5"), "tau"),
])
def test_bad_input_names_the_argument(call, argument):
    with pytest.raises(InvalidInputError, match=rf"^\[INVALID_INPUT\] {argument}"):
        call()


def test_dataframe_factors_are_treatment_coded_with_r_names():
    """model.matrix(~ sex + emd + age): sexM, emdTRUE, age; the coefficients equal those of the
    hand-made 0/1 columns."""
    df = pd.DataFrame({"sex": ["F", "M", "M", "F", "M", "F", "M", "F", "M", "F"],
                       "emd": pd.array([True, False, True, False, True, True, False, False, True, False],
                                       dtype="boolean"),
                       "age": [40, 50, 60, 45, 55, 65, 70, 35, 30, 52]})
    fit = cox(df, T, E)
    assert fit.terms == ("sexM", "emdTRUE", "age")
    manual = np.column_stack([(df["sex"] == "M").astype(float), df["emd"].astype(float), df["age"]])
    np.testing.assert_allclose(fit.coef, cox(manual, T, E).coef, rtol=1e-12)
    ordered = df.assign(sex=pd.Categorical(df["sex"], categories=["M", "F"]))
    assert cox(ordered, T, E).terms[0] == "sexF"          # a categorical's own order sets the reference
    assert cox(df["age"], T, E).terms == ("age",)          # a Series keeps its name
    fg = fine_gray(df[["sex"]], T, E * np.array([1, 2] * 5))
    assert fg.terms == ("sexM",)


def test_r_spellings_cencode_and_failcode():
    """cmprsk's cencode and failcode: a status of 9 coded as censored is not 'cause 9'."""
    s = np.array([1, 2, 9, 1, 1, 9, 2, 1, 1, 9])
    ci = cumulative_incidence(T, s, cencode=9)
    assert ci.causes == (1, 2)
    recoded = np.where(s == 9, 0, s)
    ref = cumulative_incidence(T, recoded)
    np.testing.assert_array_equal(ci.at([5.0], cause=1).estimate, ref.at([5.0], cause=1).estimate)
    assert cumulative_incidence(T, s).causes == (1, 2, 9)   # without it, 9 is a cause (cmprsk too)
    X = np.array([0, 1] * 5, float)
    a = fine_gray(X, T, s, failcode=2, cencode=9)
    b = fine_gray(X, T, recoded, cause=2)
    np.testing.assert_allclose(a.coef, b.coef, rtol=1e-12)
    with pytest.raises(InvalidInputError, match="cause and failcode"):
        fine_gray(X, T, s, cause=1, failcode=2, cencode=9)
    g = np.array([0, 1] * 5)
    np.testing.assert_allclose(gray_test(T, s, g, cencode=9).statistic, gray_test(T, recoded, g).statistic)
