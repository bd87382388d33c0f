"""The simulated registry (ltfu.simulate): the same patients for the same seed, whichever way they
are built (pandas for the API, Arrow for ``ltfu simulate``), and the same as before the Arrow path
existed."""

import hashlib

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ltfu.simulate import _Ids, simulate, simulate_table, write_registry

# sha256 of simulate(n, seed).to_csv(index=False) computed with the implementation of commit
# 97a0e8f, which built every text column as numpy strings then pandas objects (the values a
# benchmark or a snapshot made from a seed must keep)
BEFORE = {(300, 5): "221ea06453833d2565a136fe6e7d1721e229a74cc159876e03b1578c5a403f15",
          (1, 1): "1d391619676abe3b45555f45485c38259a909a4b9a7c960b49621d9872e7d2ca",
          (5000, 9): "f86c13c3e7189fa1033f810ba178b55a4e0514871eaf5e86eb329d45dd0a93ba"}


@pytest.mark.parametrize(("n", "seed"), sorted(BEFORE))
def test_the_same_patients_as_before_for_the_same_seed(n, seed):
    csv = simulate(n, seed=seed).to_csv(index=False)
    assert hashlib.sha256(csv.encode()).hexdigest() == BEFORE[(n, seed)]


@pytest.mark.parametrize(("n", "seed"), [(1, 1), (2, 3), (37, 4), (3000, 8)])
def test_the_arrow_table_holds_the_pandas_frame(n, seed):
    built = simulate_table(n, seed=seed)
    via_pandas = pa.Table.from_pandas(simulate(n, seed=seed), preserve_index=False).replace_schema_metadata()
    # pandas types a column of None alone as null (no patient relapsed); Arrow keeps it text
    untyped = [f.name for f in via_pandas.schema if f.type == pa.null()]
    assert set(untyped) <= {"relapse_cd19"}
    if n > 10:
        assert untyped == []            # someone relapsed: pandas typed the column as text too
    assert [f for f in built.schema if f.name not in untyped] == [f for f in via_pandas.schema if f.name not in untyped]
    assert built.equals(via_pandas.cast(built.schema))
    assert built.num_rows == n


def test_written_parquet_reads_back_as_the_simulated_patients(tmp_path):
    path = write_registry(tmp_path / "r.parquet", 800, seed=6)
    got = pq.read_table(path)
    assert b"SYNTHETIC" in got.schema.metadata[b"ltfu"]
    expect = pa.Table.from_pandas(simulate(800, seed=6), preserve_index=False)
    # Parquet stores the day-precision dates in milliseconds: the same instants
    assert got.replace_schema_metadata().equals(expect.replace_schema_metadata().cast(got.schema.remove_metadata()))


def test_text_columns_share_their_label_objects():
    df = simulate(2000, seed=2)
    for col in ("best_response", "sex", "centre", "prior_allo_hct", "relapse_cd19"):
        values = df[col].dropna().to_numpy()
        assert len({id(v) for v in values}) == len(set(values)), col


def test_identifiers_agree_both_ways_and_keep_seven_digits():
    ids = _Ids(12)
    assert list(ids.to_numpy()) == ids.to_arrow().to_pylist()
    assert ids.to_arrow()[11].as_py() == "R0000012"
