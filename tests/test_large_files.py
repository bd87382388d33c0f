"""Registry-scale reading (issue 8): the fast paths must give exactly what the careful paths give.

* CSV: pyarrow's reader is used only when it yields the careful line-by-line reader's table; on
  every corpus file and on random CSV text, it either declines or agrees cell for cell.
* Validation applies each rule once per distinct value, and typed numeric columns and plain ASCII
  text are checked on whole arrays: compared here with the per-cell rules on arbitrary values.
* The same damaged registry as typed Parquet and as CSV text gives the same problems.
* Column projection reads only the model's columns but still warns about every file column.
"""

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ltfu.cohort import load, load_cohort, validate
from ltfu.cohort.load import _read_csv_careful, _read_csv_fast
from ltfu.cohort.parse import _Collector, _is_missing, _number, _numbers, _text
from ltfu.cohort.problems import PROBLEM_CODES, truncate
from ltfu.cohort.schema import FIELD_BY_NAME, is_model_column
from ltfu.cohort.validate import to_cohort
from ltfu.demo import demo_path
from ltfu.simulate import simulate

pytestmark = pytest.mark.slow

CORPUS = Path(__file__).parent / "bad_inputs"
MANIFEST = json.loads((CORPUS / "manifest.json").read_text())
SETTINGS = settings(max_examples=150, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def _as_cells(df):
    return [[None if (v is None or v is pd.NA) else str(v) for v in row] for row in df.astype(object).values.tolist()]


def _same_table(path: Path):
    """None if the fast reader declines; else asserts it equals the careful reader and returns True."""
    blob = path.read_bytes()
    fast = _read_csv_fast(blob, path, None)
    if fast is None:
        return None
    df_fast, rows_fast, problems_fast, header = fast
    df_slow, rows_slow, problems_slow = _read_csv_careful(blob, path)
    assert [p.to_dict() for p in problems_fast] == [p.to_dict() for p in problems_slow], path.name
    assert list(df_fast.columns) == list(df_slow.columns) == list(header), path.name
    assert _as_cells(df_fast) == _as_cells(df_slow), path.name
    assert list(rows_fast) == list(rows_slow), path.name
    return True


def test_fast_csv_reader_agrees_or_declines_on_every_corpus_file():
    texts = [c for c in MANIFEST if Path(c["file"]).suffix in (".csv", ".tsv", ".txt")
             and (CORPUS / "files" / c["file"]).exists()]
    taken = {c["file"]: _same_table(CORPUS / "files" / c["file"]) for c in texts}
    declined = {f for f, t in taken.items() if t is None}
    # the files whose reading problems only the careful reader can place must be declined
    for c in texts:
        if {"UNCLOSED_QUOTE", "REPEATED_HEADER", "LATIN1"} & set(c["codes"]):
            assert c["file"] in declined, c["file"]
    assert len(taken) - len(declined) >= 10, "the fast path should be taken on ordinary files"
    # short and long rows are numbered and reported by the fast path itself
    ragged = [c["file"] for c in texts if c["codes"] == ["ROW_LENGTH"] or set(c["codes"]) == {"ROW_LENGTH"}]
    assert ragged and all(taken[f] for f in ragged), ragged


def test_fast_csv_reader_takes_the_demo_cohort(tmp_path):
    assert _same_table(demo_path()) is True


_CELL = st.text(alphabet=list('ab1.,;" \t\r\n#\xa0\u2003\x1fé-'), max_size=6)


_PREAMBLE = st.lists(st.sampled_from(["# a comment", "", "   ", "\xa0", "#\x0cx", "\x0c", "# \u2028 x",
                                      "\ufeff# c", "\t#c"]), max_size=3)


@SETTINGS
@given(rows=st.lists(st.lists(_CELL, min_size=2, max_size=4), max_size=6),
       quote=st.booleans(), crlf=st.booleans(), preamble=_PREAMBLE, bom=st.booleans(),
       header=st.sampled_from(["patient_id,age,sex", '"patient_id","age","sex"', "patient_id;age;sex",
                               "\ufeffpatient_id,age,sex", "patient_id,age,\x0csex"]))
def test_fast_csv_reader_agrees_or_declines_on_random_text(tmp_path, rows, quote, crlf, preamble, bom, header):
    nl = "\r\n" if crlf else "\n"
    def cell(c):
        return '"' + c.replace('"', '""') + '"' if quote else c
    text = "".join(p + nl for p in preamble) + header + nl
    text += "".join(",".join(cell(c) for c in r) + nl for r in rows)
    path = tmp_path / "random.csv"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    try:
        _same_table(path)
    except Exception as exc:            # the careful reader may refuse the file: then fast must decline
        if type(exc).__name__ != "LoadError":
            raise
        assert _read_csv_fast(path.read_bytes(), path, None) is None


_TEXT = st.one_of(st.none(), st.text(max_size=8),
                  st.sampled_from(["", " ", "NA", " na ", "N/A", "nan", "NULL", "none", ".", " . ", "P-001",
                                   "\xa0P1\xa0", "P1\x1f", "\u2003", "ﬀ", "x y"]))


@SETTINGS
@given(st.lists(_TEXT, max_size=30))
def test_text_column_rule_equals_the_per_cell_rule(values):
    series = pd.Series(values, dtype="string[pyarrow]")
    want = [None if _is_missing(v) else str(v).strip() for v in series.astype(object).tolist()]
    assert _text(series).tolist() == want


_ID = st.one_of(st.none(), st.text(st.sampled_from(list("aZz09 -_\t\x7f\xe9~!")), max_size=6),
                st.sampled_from(["", " ", "P1", "p1", "P 1", " P1", "P1 ", "R0000001", "r0000001", "~!"]))


@SETTINGS
@given(st.lists(_ID, max_size=30))
def test_arrow_character_classes_agree_with_the_expressions_they_replace(values):
    """``_plain_ascii`` (Arrow's printable/ASCII classes) marks the cells ``_PLAIN_ASCII``'s regular
    expression matches, and ``_case_variants_possible`` says no exactly when every id is ASCII and
    the column lacks lower-case letters or upper-case ones (found by regular expressions here)."""
    import re

    from ltfu.cohort.parse import _PLAIN_ASCII, _case_variants_possible, _plain_ascii

    series = pd.Series(values, dtype="string[pyarrow]")
    want = [v is not None and re.fullmatch(_PLAIN_ASCII, v) is not None for v in values]
    assert _plain_ascii(series).tolist() == want
    texts = [v for v in values if v is not None]
    no_variants = all(v.isascii() for v in texts) and (
        not any(re.search("[a-z]", v) for v in texts) or not any(re.search("[A-Z]", v) for v in texts))
    assert _case_variants_possible(series, np.array(values, dtype=object)) is (not no_variants)


def test_text_rule_on_large_columns_whichever_way_the_sample_decides():
    """From 8,192 cells ``_text`` chooses its way from a sample of the column: columns built so
    that the sample sees mostly distinct texts where the column has few, and the reverse, still
    give the per-cell rule's answers."""
    from ltfu.cohort.parse import _mostly_distinct

    n = 20_000
    step = n // 4096
    messy = [f" P-{i} " for i in range(n)]
    sampled_distinct = [messy[i] if i % step == 0 else "N/A" for i in range(n)]
    sampled_repeated = ["\xa0dup\xa0" if i % step == 0 else messy[i] for i in range(n)]
    for values, sample_says in ((sampled_distinct, True), (sampled_repeated, False), (messy, True)):
        series = pd.Series(values, dtype="string[pyarrow]")
        assert _mostly_distinct(series) is sample_says
        assert _text(series).tolist() == [None if _is_missing(v) else v.strip() for v in values]


_FLOAT = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10, 200).map(float),
                   st.sampled_from([0.0, -0.0, 2.5, 5.0, 5.5, 120.0, 120.5, 1e300]))


@SETTINGS
@given(st.lists(_FLOAT, max_size=30), st.sampled_from(["crs_grade", "age", "marrow_blasts_pct", "prior_lines"]))
def test_typed_number_column_equals_the_per_cell_rule(values, name):
    integer = FIELD_BY_NAME[name].type == "integer"
    rows = np.arange(1, len(values) + 1)
    typed = _Collector(rows, [None] * len(values), {})
    got = _numbers(pd.Series(values, dtype=float), name, typed, integer=integer)
    want = [_number(v, FIELD_BY_NAME[name], integer) for v in values]
    np.testing.assert_array_equal(got, np.array([x for x, _ in want], float))
    expected = [(i + 1, p[0], truncate(p[1]), p[2] or PROBLEM_CODES[p[0]][1])
                for i, (_, p) in enumerate(want) if p is not None]
    assert [(q.row, q.code, q.value, q.message) for q in typed.problems] == expected


def _damaged_registry():
    df = simulate(400, seed=11)
    df.loc[3, "crs_grade"] = 7                                   # OUT_OF_RANGE
    df.loc[5, "age"] = 130.0                                     # OUT_OF_RANGE
    df.loc[8, "death_date"] = df.loc[8, "infusion_date"] - pd.Timedelta(days=3)   # DATE_BEFORE_INFUSION
    df.loc[13, "patient_id"] = df.loc[12, "patient_id"]          # DUPLICATE_ID (two rows)
    df.loc[21, "infusion_date"] = pd.NaT                         # MISSING_VALUE
    df.loc[34, "best_response"] = "CR?"                          # BAD_CODE
    df.loc[55, "marrow_blasts_pct"] = 100.5                      # OUT_OF_RANGE
    return df


def _key(problems, first_row):
    return sorted((p.code, None if p.row is None else p.row - first_row, p.patient_id, p.field) for p in problems)


def test_typed_parquet_and_csv_text_give_the_same_problems(tmp_path):
    df = _damaged_registry()
    df.to_parquet(tmp_path / "reg.parquet", index=False)
    df.to_csv(tmp_path / "reg.csv", index=False, date_format="%Y-%m-%d")
    from_parquet = validate(load(tmp_path / "reg.parquet"), today="2026-11-24")
    from_csv = validate(load(tmp_path / "reg.csv"), today="2026-11-24")
    assert _key(from_parquet, 1) == _key(from_csv, 2)
    codes = {p.code for p in from_csv}
    assert {"OUT_OF_RANGE", "DATE_BEFORE_INFUSION", "DUPLICATE_ID", "MISSING_VALUE", "BAD_CODE"} <= codes
    # and the careful reader agrees with the fast one on this file
    assert _same_table(tmp_path / "reg.csv") is True


def test_projection_reads_only_model_columns_but_warns_about_all(tmp_path):
    df = simulate(50, seed=2)
    df["lab_value_extra"] = np.arange(50.0)
    df["relapse_dat"] = "x"                                     # a misspelt field: UNKNOWN_COLUMN
    for suffix in ("csv", "parquet"):
        path = tmp_path / f"wide.{suffix}"
        (df.to_csv(path, index=False) if suffix == "csv" else df.to_parquet(path, index=False))
        full = load(path)
        projected = load(path, columns=is_model_column)
        assert "lab_value_extra" in full.data.columns and "lab_value_extra" not in projected.data.columns
        assert "relapse_dat" not in projected.data.columns
        assert set(projected.header) == set(df.columns)
        assert [c for c in full.data.columns if is_model_column(c)] == list(projected.data.columns)
        warned = {p.field for p in validate(projected, today="2026-11-24") if p.code == "UNKNOWN_COLUMN"}
        assert "relapse_dat" in warned
        cohort = load_cohort(path)
        extras = [c for c in df.columns if not is_model_column(c)]
        assert {"lab_value_extra", "relapse_dat", "product", "indication"} <= set(extras)
        everything = to_cohort(full).data.drop(columns=extras)
        pd.testing.assert_frame_equal(cohort.data, everything)


@pytest.mark.parametrize("text, delim, malformed", [
    ('"a","b",c\n', ",", False),
    ('"a""b",x,y\r\n', ",", False),          # "" is a quote inside a quoted field
    ('"",x,""\n', ",", False),
    ('"a,b",x,y', ",", False),               # a delimiter inside quotes
    ('"a"b,x,y\n', ",", True),               # text after the closing quote
    ('";",""\n', ";", True),                 # the same with the delimiter inside the quotes
    ('a"b,x,y\n', ",", True),                # a quote inside an unquoted field
    ('"a\nb",x,y\n', ",", True),             # a quoted line break
    ('"a" ,x,y\n', ",", True),
])
def test_quoting_that_only_the_careful_reader_may_read(text, delim, malformed):
    from ltfu.cohort.load import _malformed_quoting

    assert _malformed_quoting(text.encode(), 0, delim) is malformed


def test_fully_quoted_export_takes_the_fast_path(tmp_path):
    import csv

    df = simulate(300, seed=5)
    path = tmp_path / "quoted.csv"
    df.to_csv(path, index=False, quoting=csv.QUOTE_NONNUMERIC, date_format="%Y-%m-%d")   # as R's write.csv
    assert path.read_text().startswith('"patient_id"')
    assert _same_table(path) is True


def test_repeated_texts_share_one_object_per_value(tmp_path):
    """A registry's text columns of few values (centre, grading scale, derived burden) hold one
    string object per distinct value, not one per row (60 MB per column at 1e6 patients)."""
    from ltfu.cohort import load_cohort
    from ltfu.simulate import write_registry

    cohort = load_cohort(write_registry(tmp_path / "reg.parquet", 3000, seed=3))
    d = cohort.data
    for col in ("centre", "crs_scale", "conditioning", "burden", "best_response"):
        values = d[col].to_numpy()
        distinct = {v for v in values if v is not None}
        assert len({id(v) for v in values if v is not None}) == len(distinct), col
    assert len({id(v) for v in d["patient_id"]}) == len(d)          # ids stay as they are


def test_integer_fields_as_int64_equal_pandas_own_conversion():
    """The fast Int64 construction equals pandas' Float64 -> Int64 route, missing values included;
    values that are not whole (never, after _numbers flagged them) still take pandas' route."""
    from ltfu.cohort.parse import _as_int64

    v = np.array([0.0, 3.0, np.nan, -2.0, 5.0, np.nan, 2.0 ** 40])
    got = _as_int64(v)
    want = pd.array(v, dtype="Float64").astype("Int64")
    assert str(got.dtype) == "Int64"
    assert got.tolist() == want.tolist() and (pd.isna(got) == pd.isna(want)).all()
    odd = np.array([1.5, 2.0, np.nan])
    try:
        want_odd = pd.array(odd, dtype="Float64").astype("Int64").tolist()
    except (TypeError, ValueError) as exc:
        with pytest.raises(type(exc)):
            _as_int64(odd)
    else:
        assert _as_int64(odd).tolist() == want_odd


@pytest.mark.parametrize("values, dtype", [
    ([0, 3, 5, 1, 4], "int64"),
    ([2, 2, 2], "int8"),
    ([0, 6, 1], "int64"),                 # above crs_grade's range: problems, general route
    ([-1, 2], "int32"),                   # below it
    ([1, 2], "uint64"),
    ([], "int64"),
    ([1, 2, 3], "float64"),               # floats: the general route
])
def test_integer_columns_without_gaps_parse_as_the_general_route(values, dtype):
    """A numpy integer column parses to the Int64 array, and the problems, of the route through
    floats (``_numbers`` then ``_as_int64``), whichever of the two ways parse_field takes."""
    from ltfu.cohort.parse import _as_int64, _Collector, _numbers, parse_field
    from ltfu.cohort.schema import FIELD_BY_NAME

    field = FIELD_BY_NAME["crs_grade"]
    series = pd.Series(np.array(values, dtype=dtype))
    rows, ids = np.arange(2, len(values) + 2), np.array([f"P{i}" for i in range(len(values))], dtype=object)
    got_col, want_col = _Collector(rows, ids, {}), _Collector(rows, ids, {})
    got = parse_field(series, field, got_col)
    want = _as_int64(_numbers(series, field.name, want_col, integer=True, field=field))
    assert str(got.dtype) == "Int64"
    assert got.tolist() == want.tolist() and (pd.isna(got) == pd.isna(want)).all()
    assert [(p.code, p.row, p.value) for p in got_col.problems] == \
        [(p.code, p.row, p.value) for p in want_col.problems]
    assert bool(got_col.problems) == (dtype != "uint64" and any(v < 0 or v > 5 for v in values))


def test_yes_no_fields_are_the_codes_of_their_cells():
    """A yes/no column parses, row by row, to True where its cell's code is "yes", False where
    "no", and NA where it is missing or unreadable (that one with its BAD_CODE problem): the
    codes (``_codes``, an object per row) compared cell by cell, as the booleans were made before
    they were decided once per distinct value."""
    from ltfu.cohort.parse import _codes, _Collector, parse_field
    from ltfu.cohort.schema import FIELD_BY_NAME

    field = FIELD_BY_NAME["ph_positive"]
    cells = ["yes", "No", " Y ", None, "maybe", "n", "", "NA", "TRUE", "false", "yes", np.nan, "1", "0"]
    for series in (pd.Series(cells, dtype=object), pd.Series([c if isinstance(c, str) else None for c in cells],
                                                             dtype="string[pyarrow]")):
        rows, ids = np.arange(2, len(cells) + 2), np.array([f"P{i}" for i in range(len(cells))], dtype=object)
        got_col, want_col = _Collector(rows, ids, {}), _Collector(rows, ids, {})
        got = parse_field(series, field, got_col)
        codes = _codes(series, field.name, want_col, field=field)
        assert isinstance(got, pd.arrays.BooleanArray)
        assert got.tolist() == [pd.NA if c is None else c == "yes" for c in codes]
        assert [(p.code, p.row) for p in got_col.problems] == [(p.code, p.row) for p in want_col.problems] \
            == [("BAD_CODE", 6)]
        assert got.tolist()[:4] == [True, False, True, pd.NA]


@pytest.mark.skipif(not (sys.platform.startswith("linux") and platform.machine() == "x86_64"),
                    reason="jemalloc is chosen only where pyarrow's wheels include it")
def test_the_program_makes_jemalloc_arrows_only_allocator_unless_the_user_chose():
    """``ltfu`` (console) sets ARROW_DEFAULT_MEMORY_POOL to jemalloc before pyarrow is imported, so
    that the Parquet reader's buffers and pyarrow's own share one allocator; a user's choice stays;
    once pyarrow is imported the function changes nothing (Arrow has read the variable by then);
    the Python API (main, the library) leaves the allocator alone."""
    from ltfu.demo import demo_path

    show = "import pyarrow as pa; print(pa.default_memory_pool().backend_name)"
    program = f"import sys; from ltfu import cli; sys.argv = ['ltfu', 'validate', {str(demo_path())!r}]; " \
              f"code = cli.{{}}(); {show}"
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    default = subprocess.run([sys.executable, "-c", show], capture_output=True, text=True, env=env).stdout.strip()
    assert default != "jemalloc"                          # the wheels' default (mimalloc): the test can fail
    cases = ((program.format("console"), {}, "jemalloc"),
             (program.format("console"), {"ARROW_DEFAULT_MEMORY_POOL": "system"}, "system"),
             (program.format("main"), {}, default),
             ("import pyarrow, os; from ltfu.machine import choose_arrow_allocator; choose_arrow_allocator(); "
              "print(os.environ.get('ARROW_DEFAULT_MEMORY_POOL'))", {}, "None"))
    for code, extra, expected in cases:
        p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**env, **extra},
                           timeout=120)
        assert p.stdout.splitlines()[-1] == expected, (code, extra, p.stdout, p.stderr)
        assert "Unsupported backend" not in p.stderr

