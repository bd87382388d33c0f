"""Reading the golden JSON written by the R scripts in tests/reference, and comparing to it."""

import json
from functools import cache
from pathlib import Path

import numpy as np

REF = Path(__file__).parent / "reference"


@cache
def golden(name: str) -> dict:
    return json.loads((REF / f"{name}.json").read_text())


def arr(values) -> np.ndarray:
    """JSON list (null = R's NA/NaN) -> float array with nan; a scalar becomes a 1-element array."""
    if values is None:
        return np.array([np.nan])
    if not isinstance(values, list):
        values = [values]
    return np.array([np.nan if v is None or v in ("NA", "NaN") else v for v in values], dtype=float)


def assert_close(actual, expected, *, rtol=1e-6, atol=1e-12, what=""):
    """Relative 1e-6 agreement with R; nan (R's NA) must be nan in both.  JSON has no infinity, so
    R's Inf is stored as null: an infinite ltfu value is compared as null too."""
    a = np.atleast_1d(np.asarray(actual, dtype=float)).copy()
    a[np.isinf(a)] = np.nan
    e = arr(expected) if not isinstance(expected, np.ndarray) else np.atleast_1d(expected.astype(float))
    assert a.shape == e.shape, f"{what}: shape {a.shape} != R's {e.shape}"
    np.testing.assert_array_equal(np.isnan(a), np.isnan(e), err_msg=f"{what}: NA pattern differs from R")
    ok = ~np.isnan(e)
    np.testing.assert_allclose(a[ok], e[ok], rtol=rtol, atol=atol, err_msg=what)
