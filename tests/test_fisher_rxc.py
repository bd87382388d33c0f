"""Fisher's exact test on r x c tables (ltfu.stats.fisher_rxc, a network algorithm) against R's
fisher.test (tests/reference/fisher_rxc.R), against plain enumeration of every table, and, where R's
FEXACT is not exact, against R's own Monte Carlo p-value."""

import math
import time

import numpy as np
import pytest

from golden import assert_close, golden
from ltfu.errors import InvalidInputError
from ltfu.stats import fisher_exact, fisher_rxc

G = golden("fisher_rxc")
EXAMPLE = [[8, 9, 8, 5], [5, 2, 6, 6], [9, 5, 4, 3]]


def enumerate_p(table, tol=fisher_rxc.RXC_TOL):
    """The old way, kept as an independent check: list every table with the margins of ``table`` (plain
    recursion over columns and over the cells of each column), add up P(table) = prod R! prod C! /
    (N! prod n!) over those with log P <= log P(observed) + tol, with math.lgamma and math.fsum."""
    rows = [sum(r) for r in table]
    cols = [sum(c) for c in zip(*table)]
    lfac = [math.lgamma(k + 1) for k in range(sum(rows) + 1)]
    const = sum(lfac[v] for v in rows) + sum(lfac[v] for v in cols) - lfac[sum(rows)]
    limit = -sum(lfac[x] for r in table for x in r) + tol
    terms = []

    def splits(total, caps):
        if len(caps) == 1:
            if total <= caps[0]:
                yield (total,)
            return
        for x in range(min(total, caps[0]) + 1):
            if total - x <= sum(caps[1:]):
                for rest in splits(total - x, caps[1:]):
                    yield (x,) + rest

    def fill(j, remaining, w):
        if j == len(cols) - 1:
            w -= sum(lfac[x] for x in remaining)
            if w <= limit:
                terms.append(math.exp(const + w))
            return
        for col in splits(cols[j], remaining):
            fill(j + 1, [a - b for a, b in zip(remaining, col)], w - sum(lfac[x] for x in col))

    fill(0, rows, 0.0)
    return math.fsum(terms)


def _small_tables(count, seed):
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < count:
        r, c = rng.integers(2, 6, size=2)
        n = int(rng.integers(2, 15 if r * c <= 12 else 11))
        prob = rng.random(r * c) ** rng.choice([0.5, 1.0, 3.0])
        t = rng.multinomial(n, prob / prob.sum()).reshape(r, c)
        if (r, c) != (2, 2):
            out.append(t.tolist())
    return out


# --- against R --------------------------------------------------------------------------------

class _Recording(fisher_rxc._Network):
    """The network of the last test run, to read its work counter."""
    last = None

    def p_value(self):
        _Recording.last = self
        return super().p_value()


@pytest.mark.parametrize("case", G["cases"], ids=[c["note"] for c in G["cases"]])
def test_matches_r_quickly(case, monkeypatch):
    """R's FEXACT merges past probabilities within 3.5e-7 and sums in single passes, so it is itself
    exact to about 1e-9 here; the agreement asked for is 1e-6, met at 1e-8.  Speed: the work (arcs, their
    cells, passed-on past values) is deterministic and stays below a fifth of the limit for every golden
    table (about 3 million steps at most, half a second); the clock allows for a loaded machine."""
    monkeypatch.setattr(fisher_rxc, "_Network", _Recording)
    _Recording.last = None
    start = time.perf_counter()
    p = fisher_exact(case["table"]).p_value
    elapsed = time.perf_counter() - start
    assert_close(p, case["p_value"], rtol=1e-8, atol=0, what=case["note"])
    assert (_Recording.last.work if _Recording.last else 0) < fisher_rxc.MAX_WORK / 5
    assert elapsed < 2.0


@pytest.mark.parametrize("case", G["beyond_default_workspace"],
                         ids=[c["note"] for c in G["beyond_default_workspace"]])
def test_tables_r_refuses_by_default_agree_with_r_given_more_workspace(case):
    assert "FEXACT error" in case["default_workspace"]          # R with its default workspace stops
    assert_close(fisher_exact(case["table"]).p_value, case["p_value"], rtol=1e-8, atol=0, what=case["note"])


@pytest.mark.parametrize("case", G["fexact_wrong"], ids=[c["note"] for c in G["fexact_wrong"]])
def test_where_r_fexact_is_not_exact_r_own_simulation_sides_with_ltfu(case):
    """On these tables R's fisher.test returns too small a p-value (5 times too small on the first), with
    any workspace; R's own Monte Carlo p (simulate.p.value, B = 1e6) is 15 to 300 standard errors away
    from it and within a few of ltfu's exact value."""
    sim, b = case["simulated"], case["B"]
    se = math.sqrt(sim * (1 - sim) / b)
    assert abs(case["fexact"] - sim) > 10 * se and abs(case["fexact_workspace_2e7"] - sim) > 10 * se
    assert abs(fisher_exact(case["table"]).p_value - sim) < 4 * se


def test_example_that_used_to_be_refused():
    """R: fisher.test(matrix(c(8,9,8,5, 5,2,6,6, 9,5,4,3), nrow=3, byrow=TRUE))$p.value = 0.50392997203232948;
    about 1e7 tables share its margins (the old limit was 2e6)."""
    start = time.perf_counter()
    p = fisher_exact(EXAMPLE).p_value
    assert time.perf_counter() - start < 5
    assert p == pytest.approx(0.50392997203232948, rel=1e-9)


def test_golden_file_covers_what_the_brief_asks():
    shapes = [np.shape(c["table"]) for c in G["cases"]]
    assert len(shapes) >= 60
    assert any(r == 2 and c >= 3 for r, c in shapes) and any(c == 2 and r >= 3 for r, c in shapes)
    assert any(min(np.sum(c["table"], axis=0).min(), np.sum(c["table"], axis=1).min()) == 0 for c in G["cases"])
    assert any(s == (5, 6) for s in shapes)
    assert any(s == (2, 3) and np.sum(c["table"]) > 1000 for s, c in zip(shapes, G["cases"]))


# --- against enumeration ----------------------------------------------------------------------

@pytest.mark.parametrize("table", _small_tables(120, 2024), ids=lambda t: f"{len(t)}x{len(t[0])}:{t}")
def test_matches_enumeration(table):
    want = enumerate_p(table)
    assert fisher_exact(table).p_value == pytest.approx(want, rel=1e-12, abs=0)


@pytest.mark.parametrize("table", [
    [[2, 0, 0], [0, 2, 0], [0, 0, 2]],                       # permutation ties
    [[1, 1, 1], [1, 1, 1], [1, 1, 1]],                       # all tables tie or are more probable
    [[3, 0, 0, 0], [0, 3, 0, 0], [0, 0, 3, 0], [0, 0, 0, 3]],
    [[2, 1, 0], [1, 2, 0], [0, 0, 3]],
    [[4, 4], [4, 4], [0, 8]],
])
def test_ties_with_the_observed_table_count(table):
    """Tables exactly as probable as the observed one count (R's tolerance); dropping the tolerance
    changes the answer, so these tables test it."""
    got = fisher_exact(table).p_value
    assert got == pytest.approx(enumerate_p(table), rel=1e-12)
    assert got > enumerate_p(table, tol=-1e-9) or got == 1.0


def test_permuting_and_transposing_change_nothing():
    t = np.array([[6, 1, 3, 0, 2], [1, 5, 0, 4, 1], [2, 2, 6, 1, 0], [0, 3, 1, 2, 7]])
    p = fisher_exact(t).p_value
    rng = np.random.default_rng(5)
    for _ in range(2):
        u = t[rng.permutation(4)][:, rng.permutation(5)]
        assert fisher_exact(u).p_value == pytest.approx(p, rel=1e-12)
        assert fisher_exact(u.T).p_value == pytest.approx(p, rel=1e-12)


def test_tiny_p_values_keep_their_relative_precision():
    """A strongly associated table: p ~ 1e-44 (golden), and a stronger one against enumeration."""
    t = [[9, 0, 0], [0, 8, 1], [0, 0, 9]]
    want = enumerate_p(t)
    assert want < 1e-9
    assert fisher_exact(t).p_value == pytest.approx(want, rel=1e-12)


# --- limits, work and speed -------------------------------------------------------------------

def test_beyond_reach_is_refused_quickly_with_advice():
    """An 8 x 8 table with n = 400: far beyond R's default workspace and beyond the exact test here."""
    rng = np.random.default_rng(3)
    t = rng.multinomial(400, np.full(64, 1 / 64)).reshape(8, 8)
    start = time.perf_counter()
    with pytest.raises(InvalidInputError, match=r"chi-square.*simulate\.p\.value"):
        fisher_exact(t)
    assert time.perf_counter() - start < 5


def test_the_work_limit_is_enforced(monkeypatch):
    monkeypatch.setattr(fisher_rxc, "MAX_WORK", 1000)
    with pytest.raises(InvalidInputError, match="beyond the exact test's reach"):
        fisher_exact(EXAMPLE)


def test_registry_sized_two_by_three_is_answered():
    """ltfu used to refuse this 2 x 3 table (n = 13,400) outright; R needs 100 times its default workspace
    (golden above); the network keeps one node per row-1 total and answers in well under a second."""
    start = time.perf_counter()
    p = fisher_exact([[3000, 2500, 1200], [2800, 2600, 1300]]).p_value
    assert time.perf_counter() - start < 5
    assert p == pytest.approx(0.00162327626977493, rel=1e-8)


# --- interface --------------------------------------------------------------------------------

def test_r_spelling_of_two_sided():
    for table in ([[3, 1], [1, 5]], EXAMPLE):
        a = fisher_exact(table, alternative="two.sided")
        b = fisher_exact(table, alternative="two-sided")
        assert a.p_value == b.p_value and a.alternative == b.alternative == "two-sided"
    with pytest.raises(InvalidInputError, match="alternative"):
        fisher_exact(EXAMPLE, alternative="two_sided")
    with pytest.raises(InvalidInputError, match="alternative"):
        fisher_exact(EXAMPLE, alternative="less")


def test_degenerate_tables():
    assert fisher_exact([[1, 2, 3], [0, 0, 0], [0, 0, 0]]).p_value == 1.0      # R: 1
    with pytest.raises(InvalidInputError, match="zero"):                        # R: FEXACT error 3
        fisher_exact(np.zeros((3, 3), int))
    r = fisher_exact(EXAMPLE)
    assert r.odds_ratio is None and r.conf_int is None and r.table.shape == (3, 4)
