"""Counting apart from arithmetic for the report's count-based sections (Table 1, response).

A ``Tally`` is how many patients of each of the report's groups (all, low burden, high burden)
hold each distinct known value of a column, and how many have none.  Every number of those
sections (counts, percentages, medians and ranges, Fisher's and Pearson's tests, the Wilcoxon
rank-sum test) is arithmetic on tallies, so whoever counts them gives the same numbers bit for bit:
numpy on the cohort in memory (``tally_frame``), or DuckDB on a prepared table of any size
(``tally_relation``; ``ltfu.registry``), which returns one row per (group, value).

Values are Python objects (str, bool, int, float) in either engine; their order is not meaningful
(the sections sort them).  NaN is not a value: it is counted as missing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

# a patient's group code: 0 low burden, 1 high burden, 2 burden unknown
_BURDEN_CODE = {"low": 0, "high": 1}


@dataclass(frozen=True)
class Tally:
    """``counts[g, j]``: patients of group g (0 all, 1 low burden, 2 high burden, the order of
    ``ltfu.analysis.common.GROUPS``) whose value is ``values[j]``; ``missing[g]``: those without one."""

    values: tuple
    counts: np.ndarray
    missing: np.ndarray

    @property
    def n(self) -> np.ndarray:
        """Patients per group, with or without a value."""
        return self.counts.sum(axis=1) + self.missing

    def known(self, j_mask=None) -> np.ndarray:
        """Patients per group whose value is among ``j_mask`` (all known values by default)."""
        return self.counts.sum(axis=1) if j_mask is None else self.counts[:, np.asarray(j_mask, bool)].sum(axis=1)


def _is_nan(v) -> bool:
    return isinstance(v, float) and v != v


def _assemble(values: list, by_burden: np.ndarray) -> Tally:
    """A Tally from per-burden-code counts (3 x (k + 1), the last column the missing), the NaN
    values moved to the missing."""
    nan = [j for j, v in enumerate(values) if _is_nan(v)]
    if nan:
        by_burden = by_burden.copy()
        by_burden[:, -1] += by_burden[:, nan].sum(axis=1)
        keep = [j for j in range(len(values)) if j not in set(nan)]
        values = [values[j] for j in keep]
        by_burden = by_burden[:, [*keep, by_burden.shape[1] - 1]]
    low, high, _ = by_burden
    everyone = by_burden.sum(axis=0)
    counts = np.stack([everyone[:-1], low[:-1], high[:-1]]).astype(np.int64)
    missing = np.array([everyone[-1], low[-1], high[-1]], dtype=np.int64)
    return Tally(tuple(values), counts, missing)


def burden_codes(burden) -> np.ndarray:
    """Each patient's group code (0 low, 1 high, 2 unknown) from the burden column."""
    b = np.asarray(burden, dtype=object)
    return np.where(b == "low", 0, np.where(b == "high", 1, 2)).astype(np.int64)


def tally_frame(series: pd.Series, codes: np.ndarray, among: np.ndarray | None = None) -> Tally:
    """The tally of a cohort column (numpy): each row's value code by pandas' factorisation, the
    counts by one bincount over (group, value).  ``codes``: ``burden_codes`` of the same rows;
    ``among``: only the rows where it is True."""
    if among is not None:
        series, codes = series[np.asarray(among, bool)], codes[np.asarray(among, bool)]
    value_codes, uniques = pd.factorize(series, use_na_sentinel=True)
    k = len(uniques)
    flat = codes * (k + 1) + np.where(value_codes >= 0, value_codes, k)
    by_burden = np.bincount(flat, minlength=3 * (k + 1)).reshape(3, k + 1)
    values = uniques.tolist() if hasattr(uniques, "tolist") else list(uniques)
    return _assemble(values, by_burden)


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def tally_relation(relation, column: str, among: tuple[str, tuple] | None = None) -> Tally:
    """The tally of ``column`` of a DuckDB relation with a ``burden`` column (a prepared table):
    one GROUP BY.  ``among``: (a column, its values) the rows must have."""
    group = "CASE burden WHEN 'low' THEN 0 WHEN 'high' THEN 1 ELSE 2 END"
    where = ""
    if among is not None:
        name, allowed = among
        listed = ", ".join("'" + str(v).replace("'", "''") + "'" for v in allowed)
        where = f" WHERE {_quoted(name)} IN ({listed})"
    rows = relation.query("t", f"SELECT {group} AS g, {_quoted(column)} AS v, count(*) AS n FROM t{where} "
                               "GROUP BY ALL").fetchall()
    index: dict = {}
    for _, v, _ in rows:
        if v is not None and v not in index:
            index[v] = len(index)
    k = len(index)
    by_burden = np.zeros((3, k + 1), dtype=np.int64)
    for g, v, n in rows:
        by_burden[int(g), k if v is None else index[v]] += int(n)
    return _assemble(list(index), by_burden)
