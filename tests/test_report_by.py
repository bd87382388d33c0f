"""`ltfu report --by COLUMN`: event-free and overall survival across a baseline column, counted
in one scan per endpoint by the report's engine, the same numbers whichever engine counts."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ltfu import endpoints as ep
from ltfu.analysis import AnalysisOptions, analyse
from ltfu.cli import app
from ltfu.cohort import load_cohort
from ltfu.errors import InvalidInputError
from ltfu.simulate import simulate
from ltfu.stats import kaplan_meier, logrank

typer_testing = pytest.importorskip("typer.testing")


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """2,000 simulated patients over 60 centres (some of one or two patients), some without a sex."""
    df = simulate(2000, seed=21)
    df.loc[df.index % 97 == 0, "sex"] = None
    path = tmp_path_factory.mktemp("report_by") / "registry.csv"
    df.to_csv(path, index=False, date_format="%Y-%m-%d")
    return path


def _results(path, out, *args):
    res = typer_testing.CliRunner().invoke(app, ["report", str(path), "--out", str(out), "--formats", "json",
                                                 "--quiet", *args])
    assert res.exit_code == 0, res.output
    return json.loads((out / "results.json").read_text())


def test_by_burden_equals_the_burden_rows_computed_per_group(demo_study_results):
    """The demo's by-burden comparison against the survival table's own per-burden Kaplan-Meier and
    log-rank (computed group by group: an independent path; whole days, so no merging differs)."""
    from ltfu.cli_common import _load_study
    from ltfu.cli_study import report_input

    study = report_input(None, True, None, None, 5.0, None, deidentify=False, load_study=_load_study)
    res = analyse(study, AnalysisOptions(by="burden"))
    survival = res.numbers["survival"]
    for key in ("efs", "os"):
        got = survival["by"][key]
        assert got["n_missing"] == 0
        for level in ("low", "high"):
            assert got["levels"][level] == survival[key][f"{level}_burden"]
        assert got["logrank"] == survival[key]["logrank_burden"]


def test_centres_counted_by_duckdb_equal_numpy_and_the_array_functions(registry, tmp_path):
    a = _results(registry, tmp_path / "numpy", "--by", "centre", "--engine", "numpy")
    b = _results(registry, tmp_path / "duckdb", "--by", "centre", "--engine", "duckdb")
    assert a == b
    by = a["survival"]["by"]
    assert by["column"] == "centre" and a["meta"]["options"]["by"] == "centre"
    # one centre against kaplan_meier on its own rows (whole days: no merging across centres)
    cohort = load_cohort(registry)
    os_ = ep.overall_survival(cohort)
    centre = cohort.data.set_index("patient_id").loc[np.asarray(os_.patient_id), "centre"].to_numpy()
    levels = by["os"]["levels"]
    assert len(levels) == len(set(centre)) >= 50 and sum(v["n"] for v in levels.values()) == os_.n
    level = sorted(levels)[7]
    km = kaplan_meier(os_.time[centre == level], os_.status[centre == level])
    assert levels[level]["n"] == km.n and levels[level]["events"] == int(km.n_event.sum())
    assert levels[level]["median_months"] == pytest.approx(km.median.value / 30.4375, rel=1e-12, nan_ok=True) \
        or (levels[level]["median_months"] is None and np.isnan(km.median.value))
    lr = logrank(os_.time, os_.status, centre.astype(str))
    assert by["os"]["logrank"]["statistic"] == pytest.approx(lr.statistic, rel=1e-12)
    assert by["os"]["logrank"]["df"] == len(levels) - 1


def test_patients_without_a_value_are_counted_not_dropped(registry, tmp_path):
    got = _results(registry, tmp_path / "sex", "--by", "sex")
    efs = got["survival"]["by"]["efs"]
    missing = 2000 // 97 + 1                         # rows 0, 97, 194, ...
    assert efs["n_missing"] == missing
    assert sum(v["n"] for v in efs["levels"].values()) + missing == got["survival"]["efs"]["all"]["n"]
    assert set(efs["levels"]) == {"F", "M"}


@pytest.mark.parametrize(("args", "message"), [
    (["--by", "best_response"], "baseline column"),
    (["--by", "centre", "--deidentify"], "withhold the centre"),
])
def test_refused_before_any_work(args, message, tmp_path):
    res = typer_testing.CliRunner().invoke(app, ["report", "--demo", "--out", str(tmp_path / "r"), *args])
    assert res.exit_code == 2 and message in res.output
    assert not (tmp_path / "r").exists()


def test_the_option_is_checked_in_the_api_too():
    with pytest.raises(InvalidInputError, match="baseline"):
        AnalysisOptions(by="death_day")
    assert "by" not in AnalysisOptions().to_dict()          # a report without --by reads as before
