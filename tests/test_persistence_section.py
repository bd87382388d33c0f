"""The report's "Persistence and immune reconstitution" section on the synthetic demonstration study:
its cells are R's numbers (tests/reference/persistence.json, from survfit and cuminc on the rows
ltfu derives), NE where R gives NA, no per-patient rows in results.json, and its figures drawn."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

from ltfu import plot
from ltfu.demo import load_demo_study

HERE = Path(__file__).parent
R = json.loads((HERE / "reference" / "persistence.json").read_text())["demo"]


@pytest.fixture(scope="module")
def results(demo_study_results):
    return demo_study_results


def _table(results, name):
    return next(t for t in results.tables if t.name == name)


def _row(table, label):
    return next(r for r in table.rows if r[0] == label)


def _pct(x):
    return f"{100 * x:.0f}"


def test_aplasia_table_is_rs_survfit(results):
    t = _table(results, "b_cell_aplasia")
    km = R["aplasia_km"]["overall"]["table"]
    row = _row(t, "All patients")
    for col, day in zip(row[4:], (90, 180, 270, 365, 730)):
        i = np.searchsorted(km["time"], day, side="right") - 1
        if day > max(km["time"]):
            assert col == "NE"                         # beyond the last follow-up: no number
        else:
            assert col.startswith(_pct(km["survival"][i]) + " ("), (day, col)
    lr = results.numbers["persistence"]["aplasia"]["logrank"]["statistic"]
    assert lr == pytest.approx(R["logrank"], rel=1e-9)


def test_recovery_table_is_rs_cuminc(results):
    t = _table(results, "b_cell_recovery")
    curve = next(c for c in R["recovery_cif"]["overall"]["curves"] if c["cause"] == 1)
    row = _row(t, "All patients")
    for col, est in zip(row[6:], curve["estimate"]):
        assert col == "NE" if est is None else col.startswith(_pct(est) + " (")


def test_turnbull_is_ne_past_the_last_observation(results):
    from ltfu import persistence

    t = _table(results, "car_persistence")
    fit = persistence.car_persistence(load_demo_study()).turnbull["overall"]
    cells = _row(t, "All patients")[7:]
    assert [c == "NE" for c in cells] == [d > fit.max_time for d in (90, 180, 270, 365, 730)]
    assert "NE" in cells and cells[0] != "NE"


def test_no_patient_rows_or_ids_in_results(results):
    text = json.dumps(results.numbers["persistence"])
    assert "DEMO-0" not in text and '"patients": [' not in text


def test_the_section_and_its_figures(results):
    section = next(s for s in results.sections if s.id == "persistence")
    assert set(section.tables) >= {"b_cell_aplasia", "b_cell_recovery", "rfs_by_b_cell_recovery", "igg_by_visit",
                                   "hypogammaglobulinaemia", "count_recovery", "icaht", "car_persistence"}
    assert set(section.figures) == {"b_cell_aplasia", "b_cell_recovery", "igg_trajectories"}
    icaht = _table(results, "icaht")
    early_all = [int(r[1].split(" ")[0]) for r in icaht.rows]
    assert sum(early_all) == 53                         # every patient graded or not evaluable, once


def test_trajectories_draws_every_patient_once():
    pts = [(np.array([28.0, 90, 180]), np.array([3.0, 4, 5])), (np.array([28.0, 365]), np.array([2.0, 6]))]
    fig = plot.trajectories([("A", pts, (np.array([28.0, 90]), np.array([2.5, 4]), np.array([2, 4.0]),
                                         np.array([3.0, 4]))), ("B", pts[:1], None)], threshold=4.0)
    gids = [ln.get_gid() for ax in fig.axes for ln in ax.lines]
    assert sorted(g for g in gids if g.startswith("patient-")) == ["patient-0-0", "patient-0-1", "patient-1-0"]
    assert "median-0" in gids and "median-1" not in gids
    assert sum(g.startswith("threshold-") for g in gids) == 2
    assert math.isclose(fig.axes[0].lines[0].get_xdata()[1], 90 / 30.4375)
