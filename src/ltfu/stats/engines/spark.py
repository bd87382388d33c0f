"""Counts from a Spark DataFrame (``pip install ltfu[spark]``; needs Java).

The query is the same SQL as DuckDB's (``_sql.aggregate_sql``), run by ``spark.sql`` with the
DataFrame as its source; the cluster aggregates, and only the per-(keys, time, status) rows are
collected to the driver.  Spark's COUNT is an exact LongType, so the counts, and everything
computed from them, equal DuckDB's and numpy's.
"""

from __future__ import annotations

import numpy as np

from ltfu.errors import InvalidInputError
from ltfu.stats.engines._counts import Aggregates, Spec, TableCounts, assemble, column, make_spec
from ltfu.stats.engines._sql import NUMERIC_SPARK, aggregate_sql, check_columns, quote_spark, runs_sql


def _is_spark_frame(source) -> bool:
    mod = type(source).__module__
    return mod.startswith("pyspark.sql") and type(source).__name__ == "DataFrame"


class SparkEngine:
    """The ``Engine`` of ``_counts``, over one Spark DataFrame."""

    def __init__(self, df):
        if not _is_spark_frame(df):
            raise InvalidInputError(f"source: engine='spark' needs a Spark DataFrame, got {type(df).__name__}")
        self.df = df
        self.spark = df.sparkSession

    source_name = "{src}"
    quote = staticmethod(quote_spark)
    numeric_types = NUMERIC_SPARK

    def query(self, sql: str):
        return self.spark.sql(sql, src=self.df).collect()

    def columns(self) -> dict:
        return dict(self.df.dtypes)

    def fetch(self, sql: str) -> dict:
        """The result's columns as lists (None where NULL)."""
        rows = self.query(sql)
        names = self.spark.sql(sql, src=self.df).columns if not rows else list(rows[0].asDict())
        return {name: [r[name] for r in rows] for name in names}

    def aggregate(self, spec: Spec) -> Aggregates:
        check_columns(spec, dict(self.df.dtypes), NUMERIC_SPARK, "DataFrame")
        rows = self.query(aggregate_sql(spec, "{src}", quote_spark))
        names = [f"k{i}" for i in range(len(spec.keys))]
        cols = {name: [r[name] for r in rows] for name in [*names, "t", "e", "n"]}
        if spec.entry is None:
            return Aggregates([column(cols[k], numeric=False) for k in names], column(cols["t"], numeric=True)[0],
                              column(cols["e"], numeric=True)[0], np.array(cols["n"], np.int64))
        is_exit = [r["is_exit"] == 1 for r in rows]
        ex_rows = [r for r, x in zip(rows, is_exit) if x]
        en_rows = [r for r, x in zip(rows, is_exit) if not x]
        get = lambda rs, name: [r[name] for r in rs]
        return Aggregates([column(get(ex_rows, k), numeric=False) for k in names],
                          column(get(ex_rows, "t"), numeric=True)[0], column(get(ex_rows, "e"), numeric=True)[0],
                          np.array(get(ex_rows, "n"), np.int64),
                          [column(get(en_rows, k), numeric=False) for k in names],
                          column(get(en_rows, "en"), numeric=True)[0], np.array(get(en_rows, "n"), np.int64),
                          np.array(get(en_rows, "bad"), np.int64))

    def rows_in_runs(self, spec: Spec, lo, hi) -> int:
        return int(self.query(runs_sql(spec, "{src}", quote_spark, lo, hi))[0]["bad"])


def counts_spec(df, spec: Spec) -> TableCounts:
    engine = SparkEngine(df)
    return assemble(engine.aggregate(spec), spec, engine)


def counts(df, *, time: str, event: str, entry: str | None = None, group=None, strata=None, causes=None,
           cencode: int = 0, timefix: bool = True) -> TableCounts:
    """The counts tables of a Spark DataFrame (``ltfu.stats.engines.counts``)."""
    spec = make_spec(time=time, event=event, entry=entry, group=group, strata=strata, causes=causes,
                     cencode=cencode, timefix=timefix)
    return counts_spec(df, spec)


def read_columns(df, names) -> dict:
    """The named columns collected to the driver as numpy arrays (engine="numpy" on a Spark frame)."""
    missing = [n for n in names if n not in df.columns]
    if missing:
        raise InvalidInputError(f"no column {missing[0]!r} in the DataFrame")
    rows = df.select(*dict.fromkeys(names)).collect()
    out = {}
    for name in names:
        vals = [r[name] for r in rows]
        if any(v is None for v in vals):
            numeric = all(isinstance(v, (int, float)) for v in vals if v is not None)
            out[name] = np.array([np.nan if v is None else v for v in vals], float) if numeric \
                else np.array(vals, dtype=object)
        else:
            out[name] = np.array(vals)
    return out
