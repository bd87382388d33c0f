"""Endpoint derivation on a hand-made cohort; every expected time and status is worked out by hand in
the table below (days from infusion; the cut-off is day 400 for everyone)."""

import pandas as pd
import pytest

from ltfu import endpoints as ep
from ltfu.cohort.validate import to_cohort

#  id  best  resp  relapse  hct   death  last   what happens
#  A   CR    28    -        -     -      500    alive in remission; censored at the cut-off (400)
#  B   CR    30    200      -     300    300    relapse at 200, dies at 300
#  C   CRi   27    -        90    150    150    transplant at 90, dies in remission at 150
#  D   PD    29    -        -     60     60     non-responder, dies at 60
#  E   NE    -     -        -     10     10     early death before assessment
#  F   CR    28    450      -     -      480    relapse after the cut-off (ignored): censored at 400
#  G   CR    25    120      100   -      350    transplant at 100, relapse at 120, alive
TABLE = pd.DataFrame({
    "patient_id": list("ABCDEFG"),
    "best_response": ["CR", "CR", "CRi", "PD", "NE", "CR", "CR"],
    "response_day": [28, 30, 27, 29, None, 28, 25],
    "relapse_day": [None, 200, None, None, None, 450, 120],
    "allo_hct_day": [None, None, 90, None, None, None, 100],
    "death_day": [None, 300, 150, 60, 10, None, None],
    "last_contact_day": [500, 300, 150, 60, 10, 480, 350],
    "data_cutoff_day": [400] * 7,
})


@pytest.fixture(scope="module")
def cohort():
    return to_cohort(TABLE)


def test_overall_survival(cohort):
    e = ep.overall_survival(cohort)
    assert e.time.tolist() == [400, 300, 150, 60, 10, 400, 350]
    assert e.status.tolist() == [0, 1, 1, 1, 1, 0, 0]


def test_event_free_survival_day0_rule(cohort):
    e = ep.event_free_survival(cohort)
    # D (PD) and E (NE) fail at day 0; B relapses at 200; C dies at 150; G relapses at 120
    assert e.time.tolist() == [400, 200, 150, 0, 0, 400, 120]
    assert e.status.tolist() == [0, 1, 1, 1, 1, 0, 1]


def test_event_free_survival_assessment_rule(cohort):
    e = ep.event_free_survival(cohort, nonresponder="assessment")
    # D fails at its assessment (day 29); E was never assessed: day 0
    assert e.time.tolist() == [400, 200, 150, 29, 0, 400, 120]


def test_event_free_survival_censored_at_transplant(cohort):
    e = ep.event_free_survival(cohort, censor_at_hct=True)
    # C censored at its transplant (90) before death; G censored at 100 before relapse
    assert e.time.tolist() == [400, 200, 90, 0, 0, 400, 100]
    assert e.status.tolist() == [0, 1, 0, 1, 1, 0, 0]


def test_relapse_free_survival_from_response(cohort):
    e = ep.relapse_free_survival(cohort)
    assert e.patient_id.tolist() == list("ABCFG")
    assert e.time.tolist() == [372, 170, 123, 372, 95]        # from each response date
    assert e.status.tolist() == [0, 1, 1, 0, 1]


def test_relapse_with_competing_death(cohort):
    e = ep.relapse_competing(cohort)
    assert e.patient_id.tolist() == list("ABCFG")
    assert e.status.tolist() == [0, 1, 2, 0, 1]               # C: death in remission (cause 2)
    assert e.time.tolist() == [372, 170, 123, 372, 95]
    e0 = ep.relapse_competing(cohort, origin="infusion")
    assert e0.time.tolist() == [400, 200, 150, 400, 120]


def test_time_to_transplant(cohort):
    e = ep.time_to_allo_hct(cohort)
    assert e.patient_id.tolist() == list("ABCFG")
    assert e.status.tolist() == [0, 2, 1, 0, 1]               # B relapsed first (competing)
    assert e.time.tolist() == [400, 200, 90, 400, 100]


def test_follow_up(cohort):
    e = ep.follow_up(cohort)
    assert e.time.tolist() == [400, 300, 150, 60, 10, 400, 350]
    assert e.status.tolist() == [0, 1, 1, 1, 1, 0, 0]


def test_endpoint_summary_has_no_patient_rows(cohort):
    d = ep.overall_survival(cohort).to_dict()
    assert d["n"] == 7 and d["events"] == {"1": 4}
    assert "A" not in str(d)


def test_plan_gathers_by_the_endpoints_rows_as_by_their_ids():
    """Endpoint.rows lets the plan gather cohort columns by position; the frame equals the one
    looked up by id (rows dropped), and rows that are not this cohort's are not used."""
    import dataclasses

    import numpy as np

    from ltfu.analysis import AnalysisOptions
    from ltfu.analysis.plan import Plan
    from ltfu.demo import load_demo

    cohort = load_demo()
    plan = Plan.build(cohort, AnalysisOptions())
    columns = ["age", "burden", "best_response", "allo_hct_day"]
    for e in (plan.os, plan.rfs, plan.relapse):
        assert e.rows is not None and int(e.rows.sum()) == e.n
        by_rows = plan.aligned_frame(e, columns)
        by_ids = Plan.build(cohort, AnalysisOptions()).aligned_frame(dataclasses.replace(e, rows=None), columns)
        pd.testing.assert_frame_equal(by_rows, by_ids)
    # rows pointing at other patients (another cohort's mask) fall back to the ids
    wrong = dataclasses.replace(plan.rfs, rows=np.roll(plan.rfs.rows, 1))
    assert plan._own_rows(wrong) is None
    fresh = Plan.build(cohort, AnalysisOptions())
    pd.testing.assert_frame_equal(fresh.aligned_frame(wrong, columns), plan.aligned_frame(plan.rfs, columns))


def test_endpoints_share_the_cohorts_ids_and_the_plan_still_checks_other_ids():
    """A validated cohort's ids (all text) are the endpoints' ids as they are, one array for all
    (not a copy each); an endpoint whose ids are another array, even a reversed view of the same
    memory, is still compared id by id before its rows are used."""
    import dataclasses

    import numpy as np

    from ltfu.analysis import AnalysisOptions
    from ltfu.analysis.plan import Plan
    from ltfu.demo import load_demo

    cohort = load_demo()
    plan = Plan.build(cohort, AnalysisOptions())
    assert np.shares_memory(plan.os.patient_id, plan.efs.patient_id)
    assert plan.os.patient_id.tolist() == cohort.data["patient_id"].tolist()
    assert plan._own_rows(plan.os) is not None
    for other in (plan.os.patient_id[::-1], plan.os.patient_id[::-1].copy()):
        assert plan._own_rows(dataclasses.replace(plan.os, patient_id=other)) is None
    same = dataclasses.replace(plan.os, patient_id=plan.os.patient_id.copy())     # equal ids, compared
    assert np.array_equal(plan._own_rows(same), np.arange(cohort.n))


def test_endpoint_positions_are_narrow_and_one_array_for_every_row():
    """The endpoints' rows in the cohort, kept for the whole analysis: the endpoints of every
    patient (event-free and overall survival, follow-up) share one array, each subset's is its
    own; 32-bit, read only, and the positions np.flatnonzero gives."""
    import numpy as np

    from ltfu.analysis import AnalysisOptions
    from ltfu.analysis.plan import Plan
    from ltfu.demo import load_demo

    cohort = load_demo()
    plan = Plan.build(cohort, AnalysisOptions())
    plan.share()
    every = [plan._positions(e) for e in (plan.efs, plan.os, plan.follow_up)]
    assert every[0] is every[1] is every[2]
    for e in (plan.efs, plan.os, plan.rfs, plan.relapse, plan.follow_up):
        pos = plan._positions(e)
        assert pos.dtype == np.int32 and not pos.flags.writeable
        assert np.array_equal(pos, np.flatnonzero(e.rows))
    assert plan.rfs.n < cohort.n and plan._positions(plan.rfs) is not every[0]
    # the columns gathered through them are those of int64 positions
    got = plan.aligned_frame(plan.rfs, ["age", "burden"])
    want = cohort.data[["age", "burden"]].iloc[np.flatnonzero(plan.rfs.rows).astype(np.int64)].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want)
