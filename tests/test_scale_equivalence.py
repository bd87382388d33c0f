"""The array forms written for registry scale (issues 17 and 18) give what the per-row or
per-patient definitions give, to the bit: Gray's test's recursion on Python floats against its
array form, the consecutive-run and ICAHT-episode rules over all patients at once against the
one-patient functions, and the assessment value reader against the rules it merges."""

import math

import numpy as np
import pytest

from ltfu.cohort.parse import _id_keys, _is_missing
from ltfu.persistence.icaht import _episodes_all, _episodes_days
from ltfu.persistence.rules import _first_runs, _Flat, first_run
from ltfu.stats.competing import _crst_arrays, _crst_scalar
from ltfu.study.rules import _parse_number, _read_value


def _bits(a):
    return np.asarray(a, float).view(np.uint64)


@pytest.mark.parametrize("seed", range(40))
def test_gray_recursion_on_floats_equals_the_array_form(seed):
    rng = np.random.default_rng(seed)
    ng = int(rng.integers(2, 8))
    n = int(rng.integers(2, 400))
    y = np.sort(np.round(rng.exponential(10, n), int(rng.integers(0, 2))))
    m = rng.choice(3, n, p=rng.dirichlet([1, 1, 1]))
    g = rng.integers(0, ng, n)
    rho = float(rng.choice([0.0, 1.0, 0.5]))
    uniq, tidx = np.unique(y, return_inverse=True)
    counts = np.bincount((tidx * 3 + m) * ng + g, minlength=uniq.size * 3 * ng).reshape(uniq.size, 3, ng)
    try:
        fast = _crst_scalar(counts, rho)
    except ArithmeticError:            # the caller then uses the array form
        return
    with np.errstate(all="ignore"):
        slow = _crst_arrays(counts, rho)
    for a, b in zip(fast, slow):
        assert a.shape == b.shape
        assert np.array_equal(_bits(a), _bits(b))


def _patients(rng, n):
    """Random per-patient sorted days and values, as the _Flat of all of them."""
    rows, days, values = [], [], []
    for i in range(n):
        k = int(rng.integers(0, 9))
        d = np.sort(rng.choice(np.arange(0, 40, dtype=float), k, replace=False))
        rows.append(np.full(k, i))
        days.append(d)
        values.append(rng.choice([50.0, 100.0, 300.0, 500.0, 800.0, 2000.0], k))
    return _Flat(np.concatenate(rows).astype(np.int64), np.concatenate(days), np.concatenate(values))


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("k", [1, 2, 3])
def test_runs_of_all_patients_equal_first_run_per_patient(seed, k):
    rng = np.random.default_rng(seed)
    f = _patients(rng, 60)
    ok = f.value >= 500
    first, confirm = _first_runs(f, ok, k, 60)
    for i in range(60):
        m = f.row == i
        want = first_run(f.day[m], ok[m], k)
        got = (first[i], confirm[i])
        assert all((math.isnan(a) and math.isnan(b)) or a == b for a, b in zip(got, want)), (i, got, want)


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("how", ["cumulative", "longest"])
@pytest.mark.parametrize("threshold", [100.0, 500.0])
def test_episodes_of_all_patients_equal_the_one_patient_rule(seed, how, threshold):
    rng = np.random.default_rng(seed)
    f = _patients(rng, 60)
    window_end = rng.choice([30.0, 12.0, 25.0], 60)
    keep = f.day <= window_end[f.row]
    row, day, value = f.row[keep], f.day[keep], f.value[keep]
    got = _episodes_all(row, day, value, threshold, window_end, 3, how, 60)
    for i in range(60):
        m = row == i
        want = _episodes_days(day[m], value[m], threshold, window_end[i], 3, how) if m.any() else 0.0
        assert _bits(got[i]) == _bits(want), (i, got[i], want)


VALUES = [None, float("nan"), "", " ", "NA", "n/a", ".", "NaN", " nan ", "-nan", "1.5", " 2 ", "1e400", "-1", "abc",
          "positive", 3, 4.5, True, -0.0, float("inf"), "inf", "1_000", "\u00a012\u00a0", "0x10", np.str_("7"),
          np.float64(2.5)]


@pytest.mark.parametrize("v", VALUES, ids=repr)
def test_value_reader_merges_missing_and_number(v):
    missing, number = _read_value(v)
    assert missing == _is_missing(v)
    want = None if missing else _parse_number(v)
    assert (number is None) == (want is None)
    if number is not None:
        assert _bits(number) == _bits(want)


def test_plain_ascii_ids_are_their_own_keys_and_others_are_normalised():
    plain = np.array(["R0000001", "R 2", None, ""], dtype=object)
    assert list(_id_keys(plain)) == list(plain)
    mixed = np.array(["R0000001", "\uff32\uff11", "a\u200bb", None], dtype=object)
    assert list(_id_keys(mixed)) == ["R0000001", "R1", "ab", None]
