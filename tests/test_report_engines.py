"""`ltfu report --engine`: the survival sections counted by DuckDB (or Spark) give the report numpy
gives, byte for byte in results.json; `auto` picks DuckDB only for a Parquet file too large for
memory."""

from __future__ import annotations

import shutil

import pytest

from ltfu import defaults
from ltfu.analysis import AnalysisOptions, analyse
from ltfu.analysis.engine import Counter, parquet_estimate, resolve
from ltfu.cli import app
from ltfu.errors import InvalidInputError

typer_testing = pytest.importorskip("typer.testing")


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    path = tmp_path_factory.mktemp("report_engines") / "registry.parquet"
    res = typer_testing.CliRunner().invoke(app, ["simulate", "--patients", "800", "--seed", "3", "--out", str(path)])
    assert res.exit_code == 0, res.output
    return path


def _report(registry, out, engine):
    res = typer_testing.CliRunner().invoke(app, ["report", str(registry), "--out", str(out), "--formats", "json",
                                                 "--engine", engine, "--quiet"])
    assert res.exit_code == 0, res.output
    return (out / "results.json").read_bytes()


def test_report_with_duckdb_equals_numpy_byte_for_byte(registry, tmp_path, monkeypatch):
    from ltfu.stats.engines import duckdb as ddb

    calls = []
    real = ddb.counts_spec
    monkeypatch.setattr(ddb, "counts_spec", lambda *a, **k: calls.append(1) or real(*a, **k))
    numpy_json = _report(registry, tmp_path / "numpy", "numpy")
    assert not calls
    duck_json = _report(registry, tmp_path / "duckdb", "duckdb")
    assert len(calls) >= 12            # KM (3 endpoints x 3 groups), log-rank (3), cumulative incidence (2)
    assert duck_json == numpy_json


def test_each_curve_is_counted_once_and_shared():
    c = Counter("numpy")
    a = c.kaplan_meier([1.0, 2.0, 3.0], [1, 0, 1], conf_type="log-log", conf_level=0.95, key=("os", "all"))
    b = c.kaplan_meier([9.0], [1], conf_type="log-log", conf_level=0.95, key=("os", "all"))
    assert a is b


def test_auto_picks_duckdb_only_for_a_parquet_file_too_large_for_memory(registry, tmp_path):
    size = parquet_estimate(registry)
    assert size and size > 0
    assert resolve("auto", registry, memory=int(size / defaults.AUTO_MEMORY_FRACTION) - 1) == "duckdb"
    assert resolve("auto", registry, memory=int(size / defaults.AUTO_MEMORY_FRACTION) * 2) == "numpy"
    csv = tmp_path / "r.csv"
    csv.write_text("patient_id\n1\n")
    assert resolve("auto", csv, memory=1) == "numpy"          # only Parquet is measured without reading it
    assert resolve("auto", None, memory=1) == "numpy"
    assert resolve("spark", registry) == "spark"
    with pytest.raises(InvalidInputError):
        resolve("polars", registry)
    with pytest.raises(InvalidInputError):
        AnalysisOptions(engine="polars")


def test_engine_is_not_among_the_recorded_options():
    assert "engine" not in AnalysisOptions(engine="duckdb").to_dict()


def _spark_ready() -> bool:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return False
    return shutil.which("java") is not None


@pytest.mark.spark
@pytest.mark.skipif(not _spark_ready(), reason="needs pyspark and Java (pip install 'ltfu[spark]'; a JRE)")
def test_report_sections_with_spark_equal_numpy(registry):
    from ltfu.cli_common import _load_study
    from ltfu.report.writer import _results_json

    study = _load_study(registry, False, None, defaults.BURDEN_THRESHOLD, None)
    want = _results_json(analyse(study, AnalysisOptions(engine="numpy")))
    assert _results_json(analyse(study, AnalysisOptions(engine="spark"))) == want
