"""A Parquet table validated in row batches (ltfu.cohort.stream) lists exactly the problems of the
whole-table validation, whatever the batch size: planted problems of every kind, some spanning
batches (duplicate ids, case variants, the day/month order of the dates, events after the
cut-off), compared as multisets of problems."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from ltfu.cohort.load import load
from ltfu.cohort.raw import Limits
from ltfu.cohort.stream import too_large, validate_parquet
from ltfu.cohort.validate import check, validate

DEMO = Path(__file__).resolve().parents[1] / "src" / "ltfu" / "demo" / "park2018_synthetic.csv"
TODAY = dt.date(2026, 11, 26)


def _demo_text() -> pd.DataFrame:
    return pd.read_csv(DEMO, comment="#", dtype=str, keep_default_na=False)


def _key(p):
    return (p.code, p.severity, p.row, p.patient_id, p.field, p.value, p.message, p.fix)


def _same(path, batch_rows, **options):
    whole = validate(load(path), today=TODAY, **options)
    batched = validate_parquet(path, batch_rows=batch_rows, today=TODAY, **options)
    assert Counter(map(_key, batched.problems)) == Counter(map(_key, whole))
    assert batched.rows == len(load(path).data)
    # listed table-level first, then by row
    rows = [p.row for p in batched.problems]
    assert rows == sorted(rows, key=lambda r: (r is not None, r or 0))
    return whole


def _planted(tmp_path) -> Path:
    df = _demo_text()
    df["notes"] = "ok"                                          # an unknown column
    ids = df["patient_id"].tolist()
    ids[40] = ids[3]                                            # a duplicate id across batches
    ids[50] = ids[5].lower()                                    # a case variant across batches
    ids[44] = "\uff24EMO-009"                                   # full-width D: the same id as row 10
    ids[45] = "NA"                                              # a missing id
    ids[46] = ids[20] + " "                                     # the same once stripped
    df["patient_id"] = ids
    # dates written day/month: one value proves day-first (batch 1), ambiguous ones elsewhere
    for r in (2, 30, 51):
        d = dt.date.fromisoformat(df.at[r, "infusion_date"])
        df.at[r, "infusion_date"] = f"{d.day:02d}/{d.month:02d}/{d.year}"
    df.at[2, "infusion_date"] = "25/03/2015"
    df.at[7, "death_date"] = "2015-02-30"                       # not a calendar date
    df.at[8, "last_contact_date"] = "2031-01-01"                # future
    df.at[9, "response_date"] = "1985-06-01"                    # before the floor
    df.at[11, "age"] = "abc"
    df.at[12, "marrow_blasts_pct"] = "140"
    df.at[13, "best_response"] = "CRX"
    df.at[14, "crs_grade"] = "2.5"
    df.at[15, "conditioning"] = "Flu\x1bCy"                      # a control character
    df.at[16, "centre"] = "x" * 10_001                           # a cell too long
    for r in (17, 35):                                          # contacts after the cut-off
        df.at[r, "data_cutoff_date"] = str(dt.date.fromisoformat(df.at[r, "infusion_date"]) + dt.timedelta(1))
    df.at[18, "crs_death"] = "yes"
    df.at[19, "relapse_cd19"] = "positive"
    df.at[19, "relapse_date"] = ""
    df.at[21, "last_contact_date"] = ""
    path = tmp_path / "planted.parquet"
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path)
    return path


@pytest.mark.parametrize("batch_rows", [1, 2, 7, 16, 1000])
def test_planted_problems_in_batches_equal_the_whole_table(tmp_path, batch_rows):
    whole = _same(_planted(tmp_path), batch_rows)
    codes = {p.code for p in whole}
    assert {"DUPLICATE_ID", "ID_CASE_VARIANT", "MISSING_VALUE", "BAD_DATE", "FUTURE_DATE", "IMPLAUSIBLE_DATE",
            "BAD_NUMBER", "OUT_OF_RANGE", "BAD_CODE", "CONTROL_CHARACTER", "CELL_TOO_LONG", "AFTER_CUTOFF",
            "UNKNOWN_COLUMN", "CD19_WITHOUT_RELAPSE"} <= codes
    assert sum(p.code == "DUPLICATE_ID" for p in whole) == 6       # three pairs, once stripped and normalised
    after = [p for p in whole if p.code == "AFTER_CUTOFF"]
    assert len(after) == 1 and after[0].message.startswith("2 patient(s)")


def test_day_month_order_is_decided_over_the_whole_file(tmp_path):
    """The only value proving day-first is in the first row: later batches' ambiguous dates are read
    day-first (no AMBIGUOUS_DATE), as in the whole table; without it, each is AMBIGUOUS_DATE."""
    df = _demo_text().head(12).copy()
    df["infusion_date"] = ["13/01/2015", *[f"0{m}/0{m + 1}/2015" for m in range(1, 10)], "05/06/2015",
                           "06/05/2015"]
    df["data_cutoff_date"] = "2024-01-01"
    df["last_contact_date"] = "2020-01-01"
    for c in ("death_date", "response_date", "relapse_date", "allo_hct_date"):
        df[c] = ""
    path = tmp_path / "dmy.parquet"
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path)
    whole = _same(path, 3)
    assert not [p for p in whole if p.code == "AMBIGUOUS_DATE"]
    _, data, _ = check(load(path), today=TODAY)
    assert data["infusion_date"].iloc[10] == pd.Timestamp("2015-06-05")
    df.loc[0, "infusion_date"] = "01/02/2015"
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path)
    whole = _same(path, 3)
    assert sum(p.code == "AMBIGUOUS_DATE" for p in whole) == 11


def test_typed_parquet_and_day_columns(tmp_path):
    """Dates as Parquet dates, numbers as numbers, *_day columns beside dates (DAY_AND_DATE once),
    no cut-off (NO_CUTOFF once)."""
    df = _demo_text()
    typed = pd.DataFrame({"patient_id": df["patient_id"],
                          "infusion_date": pd.to_datetime(df["infusion_date"]).dt.date,
                          "last_contact_date": pd.to_datetime(df["last_contact_date"]).dt.date,
                          "death_day": np.where(df["death_date"] != "", 30.0, np.nan),
                          "death_date": pd.to_datetime(df["death_date"].replace("", None)).dt.date,
                          "age": pd.to_numeric(df["age"]).astype(float),
                          "best_response": df["best_response"]})
    typed.loc[4, "age"] = -3.0
    typed.loc[6, "age"] = np.inf
    path = tmp_path / "typed.parquet"
    pq.write_table(pa.Table.from_pandas(typed, preserve_index=False), path)
    whole = _same(path, 5)
    assert sum(p.code == "DAY_AND_DATE" for p in whole) == 1
    assert sum(p.code == "NO_CUTOFF" for p in whole) == 1


def test_cutoff_option_and_empty_file(tmp_path):
    path = _planted(tmp_path)
    _same(path, 4, cutoff="2016-01-01")
    assert validate_parquet(path, batch_rows=4, cutoff="2016-01-01").cutoff == "2016-01-01"
    empty = tmp_path / "empty.parquet"
    pq.write_table(pa.Table.from_pandas(_demo_text().head(0), preserve_index=False), empty)
    checked = validate_parquet(empty, batch_rows=4, today=TODAY)
    assert checked.rows == 0 and [p.code for p in checked.problems if p.code == "EMPTY_TABLE"] == ["EMPTY_TABLE"]


def test_the_cli_validates_a_file_beyond_the_cell_limit_in_batches(tmp_path, monkeypatch):
    """A file beyond max_cells is refused by the loader (the report) but listed by ``ltfu validate``."""
    from ltfu.cli import app
    from ltfu.errors import LoadError

    path = _planted(tmp_path)
    small = Limits(max_cells=500)
    with pytest.raises(LoadError, match="max_cells"):
        load(path, limits=small)
    assert too_large(path, small) and not too_large(path)
    assert too_large(path, Limits(max_unpacked_bytes=1000))        # the loader's other Parquet limit
    monkeypatch.setattr("ltfu.cohort.raw.LIMITS", small)
    monkeypatch.setattr("ltfu.cohort.stream.BATCH_CELLS", 300)
    result = CliRunner().invoke(app, ["validate", str(path), "--format", "json"])
    assert result.exit_code == 1, result.output
    import json

    listed = json.loads(result.output)
    whole = validate(load(path))
    assert Counter(p["code"] for p in listed) == Counter(p.code for p in whole)


def test_repeated_column_names(tmp_path):
    """A repeated name (and one repeated once stripped) read by position, as the loader renames them."""
    df = _demo_text()
    table = pa.Table.from_pandas(df, preserve_index=False)
    table = table.append_column("age", table.column("age")).append_column(" patient_id", table.column("patient_id"))
    table = table.set_column(0, "patient_id", pa.array(["A", "A", *df["patient_id"].tolist()[2:]]))
    path = tmp_path / "repeated.parquet"
    pq.write_table(table, path)
    whole = _same(path, 5)
    assert Counter(p.code for p in whole) == {"DUPLICATE_COLUMN": 2, "DUPLICATE_ID": 2}


def test_integer_and_boolean_columns_with_a_missing_value_in_one_batch(tmp_path):
    """pandas reads an integer column with a missing value as floats (1003.0), a batch without one
    as integers (1003): a duplicate id across such batches went unfound (a review of the change).
    Written by pyarrow directly, with and without column statistics."""
    df = _demo_text()
    columns = {c: pa.array(df[c].tolist(), pa.string()) for c in df.columns}
    ids = list(range(1000, 1000 + len(df)))
    ids[2] = None                                               # missing, in the first batch only
    ids[45] = ids[3]                                            # row 4's id again, in a later batch
    columns["patient_id"] = pa.array(ids, pa.int64())
    grade = [int(g) for g in df["crs_grade"]]
    grade[7], grade[30] = None, 9                               # out of range in a batch without a gap
    columns["crs_grade"] = pa.array(grade, pa.int64())
    emd = [v == "yes" for v in df["extramedullary"]]
    emd[1] = None
    columns["extramedullary"] = pa.array(emd, pa.bool_())
    for statistics in (True, False):
        path = tmp_path / f"typed_{statistics}.parquet"
        pq.write_table(pa.table(columns), path, write_statistics=statistics)
        whole = _same(path, 10)
        assert [p.row for p in whole if p.code == "DUPLICATE_ID"] == [4, 46]
        assert [p.value for p in whole if p.code == "OUT_OF_RANGE"] == ["9.0"]


def _arrow_demo():
    return pa.Table.from_pandas(_demo_text(), preserve_index=False)


def test_files_a_hunt_found_the_two_readings_disagreed_on(tmp_path):
    """pandas nullable Int64 columns, an index column stored by pandas before other columns, a
    struct column before integer ids, integer ids beyond 2**53 with a gap, two ids longer than a
    cell may be that share their first characters, a zero-row file with a repeated column."""
    df = _demo_text()
    n = len(df)
    files = {}
    typed = df.copy()
    typed["patient_id"] = pd.array([1, *range(2, n), 1], dtype="Int64")
    typed["age"] = pd.array([None if k == 9 else 200 if k == 44 else 40 for k in range(n)], dtype="Int64")
    files["int64_nullable"] = pa.Table.from_pandas(typed, preserve_index=False)
    indexed = pa.Table.from_pandas(df.drop(columns=["patient_id"]).set_index("centre"), preserve_index=True)
    files["index_first"] = indexed.append_column("patient_id", pa.array(df["patient_id"]))
    nested = _arrow_demo().drop_columns(["patient_id"])
    nested = nested.add_column(0, "extra", pa.array([{"a": k} for k in range(n)]))
    ids = list(range(n))
    ids[2], ids[45] = None, ids[3]
    files["struct_then_ids"] = nested.append_column("patient_id", pa.array(ids, pa.int64()))
    big = [2 ** 60 + 2 * k for k in range(n)]
    big[5], big[40] = None, 2 ** 60 + 1                         # the same float as 2**60 (row 1)
    files["big_ids"] = _arrow_demo().set_column(0, "patient_id", pa.array(big, pa.int64()))
    long_ids = df["patient_id"].tolist()
    long_ids[3], long_ids[40] = "P" * 10_001 + "A", "P" * 10_001 + "B"
    files["long_ids"] = _arrow_demo().set_column(0, "patient_id", pa.array(long_ids))
    for name, table in files.items():
        path = tmp_path / f"{name}.parquet"
        pq.write_table(table, path)
        for batch_rows in (5, 17):
            _same(path, batch_rows)
    empty = _arrow_demo().slice(0, 0)
    empty = empty.append_column("age", empty.column("age"))
    pq.write_table(empty, tmp_path / "empty.parquet")
    checked = validate_parquet(tmp_path / "empty.parquet", batch_rows=3, today=TODAY)
    assert {"EMPTY_TABLE", "DUPLICATE_COLUMN"} <= {p.code for p in checked.problems}


def test_a_zoned_timestamp_of_year_one_is_a_problem_not_a_crash(tmp_path):
    """pandas crashed the interpreter (SIGSEGV) listing a zoned timestamp of year 1: both readings
    now take the local wall time, and the date is IMPLAUSIBLE_DATE."""
    import datetime

    table = _arrow_demo()
    values = [datetime.datetime(1, 1, 2) if k == 3 else None for k in range(table.num_rows)]
    table = table.set_column(table.column_names.index("death_date"), "death_date",
                             pa.array(values, pa.timestamp("us", tz="Europe/Paris")))
    path = tmp_path / "zoned.parquet"
    pq.write_table(table, path)
    whole = _same(path, 5)
    assert [(p.code, p.row) for p in whole if p.field == "death_date"] == [("IMPLAUSIBLE_DATE", 4)]


def test_names_that_are_one_once_stripped_are_read_as_the_loader_reads_them(tmp_path):
    """' patient_id' and 'patient_id': the loader keeps the first; a projection by stripped name kept
    the last, so duplicate ids were lost (a review)."""
    df = _demo_text()
    ids = df["patient_id"].tolist()
    ids[10] = ids[2]
    table = _arrow_demo().rename_columns([" patient_id", *_arrow_demo().column_names[1:]])
    table = table.set_column(0, " patient_id", pa.array(ids)).append_column("patient_id", pa.array(df["patient_id"]))
    path = tmp_path / "stripped.parquet"
    pq.write_table(table, path)
    whole = _same(path, 7)
    assert [p.row for p in whole if p.code == "DUPLICATE_ID"] == [3, 11]


def test_zoned_dates_with_pandas_metadata_are_their_wall_dates(tmp_path):
    """A pandas-written file of New York dates at local midnight loads as those dates, in both
    readings (converting the zone in Arrow first read them a day early: a review)."""
    from ltfu.cohort.validate import check

    df = _demo_text()
    zoned = df.assign(infusion_date=pd.to_datetime(df["infusion_date"]).dt.tz_localize("America/New_York"),
                      last_contact_date=pd.to_datetime(df["last_contact_date"]).dt.tz_localize("America/New_York"))
    path = tmp_path / "zoned_ny.parquet"
    zoned.to_parquet(path, index=False)
    _same(path, 9)
    _, data, _ = check(load(path), today=TODAY)
    assert data["infusion_date"].dt.strftime("%Y-%m-%d").tolist() == df["infusion_date"].tolist()


@pytest.mark.parametrize("batch_rows", [3, 1000])
def test_two_workers_find_what_one_finds_in_the_same_order(tmp_path, batch_rows):
    """Pass 2 on two processes, each validating whole row groups (here of 10 rows): the problems of
    the serial pass, in its order, and the whole table's."""
    df = pq.read_table(_planted(tmp_path)).to_pandas()
    path = tmp_path / "groups.parquet"
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path, row_group_size=10)
    assert pq.ParquetFile(path).metadata.num_row_groups == 6
    serial = validate_parquet(path, batch_rows=batch_rows, today=TODAY, workers=1)
    parallel = validate_parquet(path, batch_rows=batch_rows, today=TODAY, workers=2)
    assert list(map(_key, parallel.problems)) == list(map(_key, serial.problems))
    assert (parallel.rows, parallel.cutoff) == (serial.rows, serial.cutoff)
    whole = validate(load(path), today=TODAY)
    assert Counter(map(_key, parallel.problems)) == Counter(map(_key, whole))
    assert any(p.code == "AFTER_CUTOFF" and p.message.startswith("2 patient(s)") for p in parallel.problems)


def test_a_prepared_table_from_two_workers_is_the_serial_one(tmp_path, monkeypatch):
    """The prepared table's rows (converted in the workers, written in the file's order) and its
    metadata are those of the serial preparation."""
    from ltfu.cohort import stream
    from ltfu.registry import prepare
    from ltfu.simulate import simulate

    df = simulate(500, seed=4)
    path = tmp_path / "r.parquet"
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path, row_group_size=90)
    serial = prepare(path, tmp_path / "serial.parquet")
    monkeypatch.setattr(stream, "PARALLEL_MIN_ROWS", 1)
    monkeypatch.setattr(stream, "_in_workers", _counting(stream._in_workers))
    assert prepare(path, tmp_path / "library.parquet").rows == 500 and _counting.calls == 0   # serial unless asked
    parallel = prepare(path, tmp_path / "parallel.parquet", batch_rows=40, workers=None)
    assert _counting.calls == 1
    a, b = pq.read_table(serial.path), pq.read_table(parallel.path)
    assert a.equals(b) and a.num_rows == 500
    meta = lambda p: {k: v for k, v in json.loads(pq.read_metadata(p).metadata[b"ltfu"]).items()
                      if k != "prepared_on"}
    assert meta(serial.path) == meta(parallel.path)


def _counting(function):
    def counted(*args, **kwargs):
        _counting.calls += 1
        return function(*args, **kwargs)

    _counting.calls = 0
    return counted


def test_the_workers_are_stopped_when_the_sink_fails(tmp_path):
    """(A review's test.) A sink's write failing on the second batch (a full disk): validate_parquet
    raises, and no worker is left running while the caller still holds the exception (a notebook
    keeps the last traceback; the workers would wait on their queues, a row group each in memory)."""
    import multiprocessing
    import time

    from ltfu.simulate import simulate

    path = tmp_path / "r.parquet"
    pq.write_table(pa.Table.from_pandas(simulate(3000, seed=4), preserve_index=False), path, row_group_size=500)
    calls = []

    def write(converted):
        calls.append(converted)
        if len(calls) == 2:
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full") as held:
        validate_parquet(path, batch_rows=50, workers=2, sink=(len, write))
    time.sleep(0.5)
    left = multiprocessing.active_children()
    for proc in left:                          # not left behind the test either
        proc.terminate()
        proc.join()
    assert held.value is not None and left == []


def test_a_worker_that_dies_is_said_with_its_exit_code(tmp_path, monkeypatch):
    """A worker killed (here: it exits at once, code 3) is a clear load error naming how it ended,
    not a hang and not a complaint about the file."""
    from ltfu.cohort import stream
    from ltfu.errors import LoadError
    from ltfu.simulate import simulate

    path = tmp_path / "r.parquet"
    pq.write_table(pa.Table.from_pandas(simulate(400, seed=2), preserve_index=False), path, row_group_size=100)
    monkeypatch.setattr(stream, "_worker", _exit_at_once)
    with pytest.raises(LoadError, match=r"worker process stopped \(exit code 3\)"):
        validate_parquet(path, batch_rows=50, workers=2)


def _exit_at_once(*args):
    import os

    os._exit(3)


def test_without_worker_processes_the_pass_runs_in_one(tmp_path, monkeypatch):
    """A system that cannot start the workers (no shared-memory semaphores, a sandbox): the pass
    runs in one process with the same problems, not an error about the file."""
    import multiprocessing

    class NoProcesses:
        def Queue(self, maxsize=0):
            raise OSError(38, "Function not implemented")

    df = pq.read_table(_planted(tmp_path)).to_pandas()
    path = tmp_path / "groups.parquet"
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path, row_group_size=10)
    serial = validate_parquet(path, batch_rows=7, today=TODAY, workers=1)
    monkeypatch.setattr(multiprocessing, "get_context", lambda method=None: NoProcesses())
    fallback = validate_parquet(path, batch_rows=7, today=TODAY, workers=2)
    assert list(map(_key, fallback.problems)) == list(map(_key, serial.problems)) and serial.problems
