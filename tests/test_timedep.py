"""Time-dependent exposure against R on survival::jasa (tests/reference/timedep.R)."""

import numpy as np
import pytest

from golden import arr, assert_close, golden
from ltfu.errors import InvalidInputError
from ltfu.stats import landmark, mantel_byar, simon_makuch, split_at_event

G = golden("timedep")
DEMO = golden("demo_landmark")
T, E, X = arr(G["time"]), arr(G["event"]), arr(G["exposure"])


def test_split_rows_follow_the_rules():
    s = split_at_event(T, E, X)
    assert s.n_rows == G["n_rows"]
    ref = G["split"]
    np.testing.assert_array_equal(s.id + 1, ref["id"])
    for field in ("entry", "exit", "event", "exposed"):
        np.testing.assert_allclose(getattr(s, field), ref[field], err_msg=field)


def test_split_by_hand():
    """Patient 0: exposed at 5, dies at 10 -> (0,5] unexposed no event, (5,10] exposed event.
    Patient 1: exposed at 7 = its event day -> one row (0,7], unexposed, event (event first).
    Patient 2: exposed at 0 -> one row (0,4] exposed. Patient 3: never exposed."""
    s = split_at_event([10, 7, 4, 6], [1, 1, 0, 1], [5, 7, 0, np.nan])
    assert s.id.tolist() == [0, 0, 1, 2, 3]
    assert s.entry.tolist() == [0, 5, 0, 0, 0]
    assert s.exit.tolist() == [5, 10, 7, 4, 6]
    assert s.event.tolist() == [0, 1, 1, 0, 1]
    assert s.exposed.tolist() == [0, 1, 0, 1, 0]


def test_mantel_byar_is_the_cox_score_test():
    mb = mantel_byar(T, E, X)
    assert_close([mb.statistic, np.log(mb.hazard_ratio)], [G["score"], G["coef"][0] if isinstance(G["coef"], list)
                                                            else G["coef"]])
    assert_close([mb.hr_lower, mb.hr_upper], G["hr_ci"], rtol=1e-5)


def test_simon_makuch_curves_equal_survfit_counting_process():
    sm = simon_makuch(T, E, X)
    for km, ref in ((sm.unexposed, G["unexposed"]), (sm.exposed, G["exposed"])):
        for field in ("time", "n_risk", "survival", "ci_lower", "ci_upper"):
            assert_close(getattr(km, field), ref[field], what=field)


def test_landmark_analysis():
    ref = G["landmark"]
    lm = landmark(T, E, X, landmark=ref["day"])
    assert lm.n == ref["n"] and lm.n_exposed == ref["n_exposed"]
    assert_close(lm.test.statistic, ref["chisq"])


@pytest.mark.parametrize("conf_type, conf_level", [("log", 0.95), ("log-log", 0.95), ("plain", 0.95), ("log", 0.90)])
def test_the_reports_landmark_medians_follow_its_confidence_options(conf_type, conf_level):
    """The report's allo-HCT landmark (day 100) on the demonstration cohort: each group's median and
    limits equal R's survfit with the same conf.type and conf.int (tests/reference/demo_landmark.R,
    which derives the endpoints from the raw table in R).  They were log-log at 95% whatever the
    options: an audit of the report against R found it."""
    from ltfu.analysis import AnalysisOptions, analyse
    from ltfu.demo import load_demo_study

    numbers = analyse(load_demo_study().cohort, AnalysisOptions(conf_type=conf_type, conf_level=conf_level)).numbers
    for endpoint in ("efs", "os"):
        got, want = numbers["survival"]["allo_hct"][endpoint]["landmark"], DEMO[endpoint]
        assert (got["landmark_days"], got["n"], got["n_exposed"]) == (DEMO["landmark_days"], want["n"],
                                                                      want["n_exposed"])
        for arm in ("exposed", "unexposed"):
            median, ref = got[f"median_{arm}_months_from_landmark"], want[f"{conf_type}_{conf_level:g}"][arm]
            for field in ("value", "lower", "upper"):
                if ref[field] is None:
                    assert median[field] is None, (endpoint, arm, field)
                else:
                    assert median[field] == pytest.approx(ref[field], rel=1e-12), (endpoint, arm, field)


def test_invalid():
    with pytest.raises(InvalidInputError, match="exposure_time"):
        split_at_event([1, 2], [1, 0], [1])
    with pytest.raises(InvalidInputError, match="landmark"):
        landmark([1, 2], [1, 0], [np.nan, 1], landmark=-1)


def test_simon_makuch_counts_patients_in_each_state():
    """Issue 12: the 'after allo-HCT' state has nobody at month 0 unless someone is transplanted at
    day 0; counts by hand: entry < t <= exit in each state."""
    t = np.array([10, 20, 30, 40, 50, 60.0])
    e = np.array([1, 0, 1, 1, 0, 1])
    x = np.array([np.nan, 5, 15, np.nan, np.nan, 25])
    sm = simon_makuch(t, e, x)
    unexposed, exposed = sm.n_at_risk([0, 5, 6, 16, 26, 45])
    assert unexposed.tolist() == [6, 6, 5, 3, 2, 1]       # patients 1-6; 2 leaves at 5, 3 at 15, 6 at 25
    assert exposed.tolist() == [0, 0, 1, 2, 2, 1]          # nobody at 0: the state starts at day 5
    assert sm.first_exposure == 5.0
    # the Kaplan-Meier's own n_risk at month 0 (R's next-recorded-time rule) is not a state count
    assert sm.exposed.at([0.0]).n_risk[0] == 2


@pytest.mark.parametrize("seed", range(20))
def test_simon_makuch_state_counts_equal_the_definition(seed):
    """The counts kept compactly (distinct times, cumulative counts) equal a direct count of the
    counting-process rows in each state, entry < t <= exit (at t <= 0: entry <= 0), on ties,
    day-0 transplants and times between, at and beyond the recorded ones."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 60))
    t = rng.integers(1, 30, n).astype(float)
    e = rng.integers(0, 2, n)
    x = np.where(rng.random(n) < 0.5, rng.integers(0, 35, n).astype(float), np.nan)
    x[0], x[1] = 0.0, np.nan                          # both states are never empty
    t[1] = max(t[1], 2.0)
    sm = simon_makuch(t, e, x)
    grid = np.unique(np.concatenate([[-1.0, 0.0, 0.5, 100.0], np.arange(0, 35, 0.5)]))
    rows = split_at_event(t, e, x)
    kept = rows.exit > rows.entry
    for state, got in enumerate(sm.n_at_risk(grid)):
        m = kept & (rows.exposed == state)
        en, ex = rows.entry[m], rows.exit[m]
        want = [int((en <= 0).sum()) if g <= 0 else int(((en < g) & (g <= ex)).sum()) for g in grid]
        assert got.tolist() == want
        assert sm.counts_in(bool(state)).at(grid).n_risk.tolist() == want


def test_mantel_byar_counts_patients_and_the_exposed_by_hand():
    """Six patients; exposed during follow-up: patient 0 (at day 5), patient 2 (from day 0) and
    patient 4 (at day 2); patient 1's exposure on its event day comes after the event, 3 and 5 never."""
    mb = mantel_byar([10, 7, 4, 6, 8, 9], [1, 1, 0, 1, 1, 0], [5, 7, 0, np.nan, 2, np.nan])
    assert (mb.n, mb.n_exposed) == (6, 3)
