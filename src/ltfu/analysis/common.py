"""Helpers every section of the analysis shares: JSON-safe numbers, display strings, group masks,
proportions with their intervals, and the association test of a table."""

from __future__ import annotations

import math

import numpy as np

from ltfu import stats
from ltfu.defaults import DAYS_PER_MONTH, EXACT_MAX_N
from ltfu.errors import InvalidInputError
from ltfu.formatting import format_p
from ltfu.stats._common import json_float as num

GROUPS = (("all", "All patients"), ("low_burden", "Low burden"), ("high_burden", "High burden"))


def warning_line(p, *, deidentify: bool = False) -> str:
    """A validation warning as a report lists it: its code, table and field, and its message (not
    when de-identified: the message may quote a cell); never its row, id or value."""
    where = ": ".join(str(x) for x in (p.table, p.field) if x)
    head = f"{p.code} ({where})" if where else p.code
    return head if deidentify else f"{head}: {p.message}"
COMPARED = ("low_burden", "high_burden")

__all__ = [
    "COMPARED",
    "EXACT_MAX_N",
    "GROUPS",
    "assoc_test",
    "fmt",
    "fmt_ci",
    "fmt_p",
    "fmt_prop",
    "group_masks",
    "months",
    "num",
    "proportion",
    "warning_line",
]


def months(days):
    return None if days is None or not math.isfinite(days) else days / DAYS_PER_MONTH


def fmt(x, digits=1, missing="NR"):
    """``x`` with ``digits`` decimals; from 1e6 up three significant digits (1.9e+17), since a
    fixed-point print of such a number (a near-degenerate model's limit) would show noise digits."""
    if x is None or not math.isfinite(float(x)):
        return missing
    return f"{float(x):.3g}" if abs(float(x)) >= 1e6 else f"{float(x):.{digits}f}"


def fmt_p(p):
    """The report's one p-value style (ltfu.formatting.format_p: two significant digits, "<0.001");
    "-" where there is no test."""
    if p is None or not math.isfinite(p):
        return "-"
    return format_p(p)


def fmt_ci(est, lower, upper, digits=1, scale=1.0, missing="NR"):
    def s(v):
        return None if v is None or not math.isfinite(v) else v * scale
    return (f"{fmt(s(est), digits, missing)} ({fmt(s(lower), digits, missing)} to "
            f"{fmt(s(upper), digits, missing)})")


def fmt_prop(d):
    if not d["N"]:
        return "-"
    return (f"{d['n']}/{d['N']} ({100 * d['estimate']:.0f}%; {100 * d['lower']:.0f} to "
            f"{100 * d['upper']:.0f})")


BURDEN_LEVELS = ("high", "low")     # the burden groups' labels in sorted order


def burden_codes(high) -> np.ndarray:
    """The rows of a high-against-low comparison as group codes in their labels' sorted order (0
    high, 1 low: ``BURDEN_LEVELS``).  The log-rank and Gray tests number groups by their sorted
    levels, so the codes give the test the labels give, without a million texts made fixed-width
    and sorted (0.15 s a test at 1e6 patients)."""
    return np.where(high, 0, 1).astype(np.int8)


def group_masks(burden):
    """The report's groups: all patients, low and high disease burden."""
    burden = np.asarray(burden, dtype=object)
    return {"all": np.ones(burden.shape[0], bool),
            "low_burden": burden == "low", "high_burden": burden == "high"}


def proportion(n, N, opts):
    if N == 0:
        return {"n": 0, "N": 0, "estimate": None, "lower": None, "upper": None}
    e = stats.binomial_ci(int(n), int(N), method=opts.proportion_ci, conf_level=opts.conf_level)
    return {"n": int(n), "N": int(N), "estimate": num(e.value), "lower": num(e.lower), "upper": num(e.upper)}


def assoc_test(table):
    """(p, test name) of the association in a groups x categories table: Fisher's exact test, or
    Pearson's chi-square (no continuity correction) above EXACT_MAX_N patients or where the exact
    test is out of reach; (None, None) when fewer than two rows or columns have counts."""
    table = np.asarray(table, dtype=int)
    table = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]
    if table.ndim != 2 or min(table.shape) < 2:
        return None, None
    if table.sum() <= EXACT_MAX_N:
        try:
            return num(stats.fisher_exact(table, odds_ratio=False).p_value), "Fisher exact"
        except InvalidInputError:
            pass
    return num(stats.chisq_test(table).p_value), "Pearson chi-square"
