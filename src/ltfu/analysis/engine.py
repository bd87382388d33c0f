"""Who counts the survival sections' risk sets: numpy in memory, DuckDB or Spark (``--engine``).

The sections ask a ``Counter`` for Kaplan-Meier curves, log-rank tests and cumulative incidences;
with ``numpy`` it calls ``ltfu.stats`` on the arrays, with ``duckdb`` or ``spark`` it hands the
endpoint's columns to ``ltfu.stats.engines`` (``kaplan_meier_from`` ...), which count per distinct
time in the engine and do ltfu's unchanged arithmetic on the counts.  Counts are exact integers in
every engine and ties are grouped as numpy groups them, so every number of the report is the same
bit for bit (tests/test_engines.py, tests/test_report_engines.py).  Each Kaplan-Meier curve is
counted once per analysis and shared by the sections that show it (``Counter.kaplan_meier``).

``resolve(engine, path)``: ``auto`` becomes ``duckdb`` for a Parquet input whose estimated size in
memory (rows x columns x ``AUTO_BYTES_PER_CELL``, 80, from the file's metadata, nothing read) exceeds
``AUTO_MEMORY_FRACTION`` of the memory available now, else ``numpy``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ltfu import defaults, stats
from ltfu.errors import InvalidInputError
from ltfu.machine import available_memory


def parquet_estimate(path) -> int | None:
    """Estimated bytes the table of a Parquet file takes in memory once loaded (None: not Parquet)."""
    p = Path(path)
    if p.suffix.lower() != ".parquet" or not p.is_file():
        return None
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(p).metadata
    except Exception:              # not readable as Parquet: the loader will say why
        return None
    return int(meta.num_rows) * int(meta.num_columns) * defaults.AUTO_BYTES_PER_CELL


def resolve(engine: str, path=None, *, memory: int | None = None) -> str:
    """The engine to use for ``path``: ``engine`` itself unless it is ``auto`` (module docstring)."""
    if engine not in defaults.ENGINES:
        raise InvalidInputError(f"engine: must be one of {', '.join(defaults.ENGINES)}; got {engine!r}")
    if engine != "auto":
        return engine
    size = None if path is None else parquet_estimate(path)
    memory = available_memory() if memory is None else memory
    if size is not None and memory and size > defaults.AUTO_MEMORY_FRACTION * memory:
        return "duckdb"
    return "numpy"


def _spark_session():
    """The active Spark session, or one from ``SparkSession.builder`` (which reads spark.master
    from the environment: spark-submit, ``PYSPARK_SUBMIT_ARGS``, spark-defaults.conf)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as err:
        raise InvalidInputError("--engine spark needs PySpark and Java: pip install 'ltfu[spark]'") from err
    return SparkSession.getActiveSession() or SparkSession.builder.appName("ltfu").getOrCreate()


class Counter:
    """The survival estimators of one analysis, computed by ``engine`` ("auto" means numpy here:
    the data are already in memory)."""

    def __init__(self, engine: str = "numpy"):
        self.engine = "numpy" if engine == "auto" else engine
        if self.engine not in ("numpy", "duckdb", "spark"):
            raise InvalidInputError(f"engine: must be one of {', '.join(defaults.ENGINES)}; got {engine!r}")
        self._km: dict = {}
        self._con: Any = None
        self.shared: dict = {}            # other things computed once per analysis (Plan.aligned)

    def _source(self, columns: dict):
        """The columns as a table the engine scans (DuckDB reads the Arrow buffers in place)."""
        import pyarrow as pa

        table = pa.table({k: np.asarray(v) for k, v in columns.items()})
        if self.engine == "duckdb":
            if self._con is None:
                import duckdb

                self._con = duckdb.connect()
            return self._con.from_arrow(table)
        return _spark_session().createDataFrame(table.to_pandas())

    def kaplan_meier(self, time, event, *, conf_type: str, conf_level: float, key=None):
        """``stats.kaplan_meier(time, event)``; with ``key`` counted once and shared."""
        if key is not None and key in self._km:
            return self._km[key]
        if self.engine == "numpy":
            km = stats.kaplan_meier(time, event, conf_type=conf_type, conf_level=conf_level)
        else:
            from ltfu.stats.engines import kaplan_meier_from

            km = kaplan_meier_from(self._source({"t": np.asarray(time, float), "e": np.asarray(event)}),
                                   time="t", event="e", engine=self.engine, conf_type=conf_type,
                                   conf_level=conf_level)["all"]
        if key is not None:
            self._km[key] = km
        return km

    def kaplan_meier_by(self, time, event, group, *, conf_type: str, conf_level: float) -> dict:
        """``{level: KaplanMeier}`` of every level of ``group`` from one count (one scan with an
        engine), R's time merging pooled over the levels as ``survfit(Surv(...) ~ group)``."""
        from ltfu.stats.engines import kaplan_meier_from

        cols = {"t": np.asarray(time, float), "e": np.asarray(event), "g": np.asarray(group)}
        source = cols if self.engine == "numpy" else self._source(cols)
        return kaplan_meier_from(source, time="t", event="e", by="g", engine=self.engine, conf_type=conf_type,
                                 conf_level=conf_level)

    def logrank(self, time, event, group):
        if self.engine == "numpy":
            return stats.logrank(time, event, group)
        from ltfu.stats.engines import logrank_from

        return logrank_from(self._source({"t": np.asarray(time, float), "e": np.asarray(event),
                                          "g": np.asarray(group)}), time="t", event="e", by="g",
                            engine=self.engine)

    def median_follow_up(self, time, death, *, conf_type: str, conf_level: float):
        if self.engine == "numpy":
            return stats.median_follow_up(time, death, conf_type=conf_type, conf_level=conf_level)
        from ltfu.stats.engines import median_follow_up_from

        return median_follow_up_from(self._source({"t": np.asarray(time, float), "d": np.asarray(death)}),
                                     time="t", death="d", engine=self.engine, conf_type=conf_type,
                                     conf_level=conf_level)["all"]

    def gray_test(self, time, status, group):
        if self.engine == "numpy":
            return stats.gray_test(time, status, group)
        from ltfu.stats.engines import gray_test_from

        return gray_test_from(self._source({"t": np.asarray(time, float), "s": np.asarray(status),
                                            "g": np.asarray(group)}), time="t", status="s", by="g",
                              engine=self.engine)

    def cumulative_incidence(self, time, status, *, group=None, conf_level: float):
        if self.engine == "numpy":
            return stats.cumulative_incidence(time, status, group=group, conf_level=conf_level)
        from ltfu.stats.engines import cumulative_incidence_from

        cols = {"t": np.asarray(time, float), "s": np.asarray(status)}
        if group is not None:
            cols["g"] = np.asarray(group)
        return cumulative_incidence_from(self._source(cols), time="t", status="s",
                                         by=None if group is None else "g", conf_level=conf_level,
                                         engine=self.engine)
