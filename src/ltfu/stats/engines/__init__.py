"""Survival estimators from a query engine: the counts tables computed where the data live.

``kaplan_meier_from``, ``nelson_aalen_from``, ``median_follow_up_from``, ``logrank_from``,
``cumulative_incidence_from``, ``gray_test_from`` and ``cox_from`` take a
*source* (a Parquet path or glob, a DuckDB relation, a pandas or Polars DataFrame, a pyarrow
Table, a Spark DataFrame, or a mapping of column name to array) and the names of its columns;
the engine counts (``counts``: per distinct time, group and stratum, leavers, events by cause,
delayed entries) and ltfu's unchanged arithmetic (``km_from_counts``, ``_stratum_sums``,
``_one_group``) does the rest; Cox's per-iteration sums come from the engine the same way.
The engine only ever returns per-(group, time) rows, O(distinct times x groups), so a registry
larger than memory is analysed in the memory of its distinct times.

Engines.  ``engine="duckdb"`` (the default for files, relations and frames), ``"spark"`` (the
default for a Spark DataFrame; ``pip install ltfu[spark]``, needs Java) and ``"numpy"`` (reads the
columns into memory and calls today's array functions, ``kaplan_meier`` etc.; the default for a
mapping of arrays, or when the columns are given as arrays with ``source=None``).  The array API is
unchanged: ``kaplan_meier(time, event, ...)`` is exactly what it was.

Identical results.  COUNT is an exact integer in every engine and the counts are converted to
float64 once, as numpy's ``count`` holds them; ties are grouped as numpy groups them (exact float
equality, -0.0 equal to 0.0), and R's time merging is applied in numpy to the distinct times the
query returns (``merge_groups``), pooled over exit and entry times and over all groups and strata,
with the counts summed within merged runs.  The estimators therefore receive the same ``Counts``
arrays and every field of their results is bit-identical across engines (tests/test_engines.py).
With several ``by`` (or ``strata``) columns a group is the tuple of their values, sorted
lexicographically; with one column it is the value, sorted as numpy sorts it; without ``by`` the
one group is "all" (as ``cumulative_incidence``).  Groups of ``kaplan_meier_from`` share R's time
merging pooled over the groups, as ``survfit(Surv(...) ~ group)`` does.

Why SQL (and not narwhals or a dataframe API).  The counting is one GROUP BY: COUNT(*) per
(keys, time, status), plus, with delayed entry, per (keys, entry time), both from one scan with
GROUPING SETS.  That single statement runs unchanged in DuckDB and Spark SQL (only identifier
quoting differs), both engines stream Parquet and spill large aggregations, and SQL's COUNT is an
exact BIGINT with no float accumulation to reason about.  narwhals would give one Python API over
pandas/Polars/DuckDB/PySpark, but its lazy backends are these same SQL engines underneath, it has
no GROUPING SETS (two scans instead of one), it adds a dependency to every install, and the data
frames it would add (pandas, Polars) hold the rows in memory, which is what this package avoids;
in-memory frames are still accepted, scanned in place by DuckDB.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np

from ltfu.errors import InvalidInputError
from ltfu.stats._common import check_choice, check_conf_level, check_groups, check_rho, check_survival, check_time_event
from ltfu.stats.engines._counts import DATE_KEYS, Spec, TableCounts, make_spec

__all__ = ["ENGINES", "TableCounts", "counts", "cox_from", "cumulative_incidence_from", "gray_test_from",
           "kaplan_meier_from", "logrank_from", "median_follow_up_from", "nelson_aalen_from"]

ENGINES = ("duckdb", "spark", "numpy")


# ------------------------------------------------------------------------------------------------
# sources and engines

def _is_spark(source) -> bool:
    return type(source).__module__.startswith("pyspark.sql") and type(source).__name__ == "DataFrame"


def _engine_of(source, engine) -> str:
    if engine is None:
        return "spark" if _is_spark(source) else "numpy" if isinstance(source, Mapping) else "duckdb"
    return check_choice(engine, "engine", ENGINES)


def _names(value) -> tuple:
    return () if value is None else (value,) if isinstance(value, str) else tuple(value)


MULTI = ("by", "strata", "group", "covariates")        # roles that take one column or several
REQUIRED = ("time", "event", "status", "death")


def _from_arrays(source, **columns):
    """With ``source=None`` the columns are arrays: a mapping source with their roles as names.
    With a source, every role names a column (``by`` and ``strata`` one or several)."""
    for role in REQUIRED:
        if role in columns and columns[role] is None:
            raise InvalidInputError(f"{role}: required (the name of a column of the source, or an array)")
    if source is not None:
        for role, value in columns.items():
            ok = value is None or isinstance(value, str) or (
                role in MULTI and isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value))
            if not ok:
                several = " (or a list of names)" if role in MULTI else ""
                raise InvalidInputError(f"{role}: give the name of a column of the source{several}, not a "
                                        f"{type(value).__name__}")
        if isinstance(source, Mapping):
            _check_mapping(source)
        return source, columns
    data, names = {}, {}
    for role, value in columns.items():
        if value is None:
            names[role] = None
        elif isinstance(value, str):
            raise InvalidInputError(f"{role}: with source=None give arrays, not column names ({value!r})")
        elif role in MULTI and isinstance(value, (list, tuple)) and value and all(np.ndim(v) == 1 for v in value):
            raise InvalidInputError(f"{role}: with source=None give one array; for several columns give a source "
                                    "(a DataFrame or a mapping of arrays) and their names")
        else:
            data[role] = value
            names[role] = role
    _check_mapping(data)
    return data, names


def _check_mapping(source: Mapping) -> None:
    """A mapping of arrays: at least one, every one 1-D and of the same length."""
    if not source:
        raise InvalidInputError("source: no columns")
    lengths = {}
    for name, values in source.items():
        shape = np.shape(values)
        if len(shape) != 1:
            raise InvalidInputError(f"{name}: must be a 1-D array of values, got shape {shape}")
        lengths[name] = shape[0]
    if len(set(lengths.values())) > 1:
        raise InvalidInputError("source: the arrays differ in length (" + ", ".join(f"{k}: {v}" for k, v in
                                                                                   lengths.items()) + ")")


def _read(source, names, engine_connection):
    """The named columns as arrays, for engine="numpy"."""
    names = list(dict.fromkeys(n for n in names if n is not None))
    if isinstance(source, Mapping):
        missing = [n for n in names if n not in source]
        if missing:
            raise InvalidInputError(f"no column {missing[0]!r} in the source (columns: {', '.join(map(repr, source))})")
        return {n: source[n] for n in names}
    if type(source).__module__.split(".")[0] == "pandas" and hasattr(source, "columns"):
        missing = [n for n in names if n not in source.columns]
        if missing:
            raise InvalidInputError(f"no column {missing[0]!r} in the source")
        return {n: source[n] for n in names}
    if _is_spark(source):
        from ltfu.stats.engines import spark

        return spark.read_columns(source, names)
    from ltfu.stats.engines import duckdb

    return duckdb.read_columns(source, names, connection=engine_connection)


def _group_codes(columns, n: int, what: str):
    """(levels, codes) of one or more key columns, as the SQL engines order them."""
    for c in columns:
        if getattr(getattr(c, "dtype", None), "kind", None) in ("M", "m"):
            raise InvalidInputError(DATE_KEYS.format(what=what))
    checked = [check_groups(c, n, what) for c in columns]
    if len(checked) == 1:
        levels, codes = checked[0]
        return levels.tolist(), codes
    sizes = tuple(lv.size for lv, _ in checked)
    present, inv = np.unique(np.ravel_multi_index([c for _, c in checked], sizes), return_inverse=True)
    parts = np.unravel_index(present, sizes)
    return list(zip(*[lv[p].tolist() for (lv, _), p in zip(checked, parts)])), inv.reshape(-1)


def _k_samples(source, engine, **roles):
    """The common start of a k-sample test (log-rank, Gray's): (source, column names by role,
    engine, by columns, strata columns); ``by`` is required."""
    source, c = _from_arrays(source, **roles)
    by_cols, st_cols = _names(c["by"]), _names(c["strata"])
    if not by_cols:
        raise InvalidInputError("by: give the group column(s) to compare")
    return source, c, _engine_of(source, engine), by_cols, st_cols


def _read_k_samples(source, c, outcome: str, by_cols, st_cols, connection):
    """A k-sample test's columns read for numpy: (time, ``outcome``, group, strata codes, group
    levels); several ``by`` (or ``strata``) columns become one code per combination."""
    cols = _read(source, [c["time"], c[outcome], *by_cols, *st_cols], connection)
    n = len(np.asarray(cols[c["time"]]))
    levels, codes = _group_codes([cols[b] for b in by_cols], n, "group")
    strata_codes = _group_codes([cols[s] for s in st_cols], n, "strata")[1] if st_cols else None
    return cols[c["time"]], cols[c[outcome]], codes if len(by_cols) > 1 else cols[by_cols[0]], strata_codes, \
        tuple(levels)


def _numpy_counts(source, spec: Spec, connection) -> TableCounts:
    """``TableCounts`` by ltfu's numpy ``count`` on the columns read into memory."""
    from ltfu.stats.counting import count, merge_close_times

    cols = _read(source, [spec.time, spec.event, spec.entry, *spec.keys], connection)
    t, s, en, causes = check_survival(cols[spec.time], cols[spec.event], entry=cols.get(spec.entry),
                                      competing=spec.competing, cencode=spec.cencode, status_name=spec.event)
    if spec.competing and isinstance(spec.causes, tuple):
        extra = sorted(set(causes) - set(spec.causes))
        if extra:
            raise InvalidInputError(f"{spec.event}: code {extra[0]} is neither the censoring code {spec.cencode} nor "
                                    f"one of the causes {spec.causes}")
        causes = spec.causes
    glevels, gcodes = (_group_codes([cols[c] for c in spec.group], t.size, "group") if spec.group
                       else (["all"], np.zeros(t.size, np.intp)))
    slevels, scodes = (_group_codes([cols[c] for c in spec.strata], t.size, "strata") if spec.strata
                       else ([None], np.zeros(t.size, np.intp)))
    t, en = merge_close_times(t, en, timefix=spec.timefix)
    tables = {}
    for si, level in enumerate(slevels):
        m = scodes == si
        tables[level] = count(t[m], s[m], group=gcodes[m], n_groups=len(glevels), causes=causes,
                              entry=None if en is None else en[m], timefix=False)
    n = np.bincount(gcodes, minlength=len(glevels)).astype(np.int64)
    return TableCounts(tuple(glevels), tuple(slevels), n, tuple(causes), tables)


def _counts(source, spec: Spec, engine: str, connection) -> TableCounts:
    if engine == "duckdb":
        from ltfu.stats.engines import duckdb

        return duckdb.counts_spec(source, spec, connection=connection)
    if engine == "spark":
        from ltfu.stats.engines import spark

        return spark.counts_spec(source, spec)
    return _numpy_counts(source, spec, connection)


def counts(source=None, *, time, event, entry=None, group=None, strata=None, causes=None, cencode: int = 0,
           timefix: bool = True, engine: str | None = None, connection=None) -> TableCounts:
    """The counts tables of ``source``: per stratum a ``Counts`` with one column per group.

    ``event`` is 0/1 unless ``causes`` is given: "auto" (every code other than ``cencode`` is a
    cause) or the tuple of cause codes.  ``entry`` names the delayed-entry column (risk set
    entry < t <= exit).  ``group`` and ``strata``: one column name or several.  ``connection``: a
    DuckDB connection to read files with (default: a new in-memory one)."""
    source, c = _from_arrays(source, time=time, event=event, entry=entry, group=group, strata=strata)
    spec = make_spec(time=c["time"], event=c["event"], entry=c["entry"], group=c["group"], strata=c["strata"],
                     causes=causes, cencode=cencode, timefix=timefix)
    return _counts(source, spec, _engine_of(source, engine), connection)


# ------------------------------------------------------------------------------------------------
# estimators

def _curves(source, *, time, event, entry, by, engine, timefix, connection, fit, from_counts) -> dict:
    """``{group: curve}`` (``{"all": ...}`` without ``by``): ``fit(time, event, entry, timefix)`` on
    each group's rows in numpy (the times merged over the groups first, as R's survfit with groups),
    or ``from_counts(counts, n)`` on each group's table from an engine's one count."""
    from ltfu.stats.counting import merge_close_times

    source, c = _from_arrays(source, time=time, event=event, entry=entry, by=by)
    eng = _engine_of(source, engine)
    by_cols = _names(c["by"])
    if eng == "numpy":
        cols = _read(source, [c["time"], c["event"], c["entry"], *by_cols], connection)
        t, e, en = check_time_event(cols[c["time"]], cols[c["event"]], entry=cols.get(c["entry"]),
                                    event_name=c["event"])
        if not by_cols:
            return {"all": fit(t, e, en, timefix)}
        levels, codes = _group_codes([cols[b] for b in by_cols], t.size, "by")
        t, en = merge_close_times(t, en, timefix=timefix)
        return {lev: fit(t[codes == j], e[codes == j], None if en is None else en[codes == j], False)
                for j, lev in enumerate(levels)}
    spec = make_spec(time=c["time"], event=c["event"], entry=c["entry"], group=by_cols, timefix=timefix)
    tc = _counts(source, spec, eng, connection)
    return {lev: from_counts(tc.group(lev), int(tc.n[j])) for j, lev in enumerate(tc.groups)}


def kaplan_meier_from(source=None, *, time, event, entry=None, by=None, engine: str | None = None,
                      conf_type: str = "log-log", conf_level: float = 0.95, timefix: bool = True,
                      connection=None) -> dict:
    """``{group: KaplanMeier}`` of ``source`` (``{"all": ...}`` without ``by``); each equals
    ``kaplan_meier`` on that group's rows, with R's time merging pooled over the groups."""
    from ltfu.stats.km import CONF_TYPES, kaplan_meier, km_from_counts

    check_choice(conf_type, "conf_type", CONF_TYPES)
    conf_level = check_conf_level(conf_level)
    return _curves(source, time=time, event=event, entry=entry, by=by, engine=engine, timefix=timefix,
                   connection=connection,
                   fit=lambda t, e, en, tf: kaplan_meier(t, e, entry=en, conf_type=conf_type, conf_level=conf_level,
                                                         timefix=tf),
                   from_counts=lambda counts, n: km_from_counts(counts, conf_type=conf_type, conf_level=conf_level,
                                                                n=n))


def nelson_aalen_from(source=None, *, time, event, entry=None, by=None, engine: str | None = None,
                      timefix: bool = True, connection=None) -> dict:
    """``{group: NelsonAalen}`` of ``source`` (``{"all": ...}`` without ``by``); each equals
    ``nelson_aalen`` on that group's rows, with R's time merging pooled over the groups."""
    from ltfu.stats.km import na_from_counts, nelson_aalen

    return _curves(source, time=time, event=event, entry=entry, by=by, engine=engine, timefix=timefix,
                   connection=connection, fit=lambda t, e, en, tf: nelson_aalen(t, e, entry=en, timefix=tf),
                   from_counts=lambda counts, n: na_from_counts(counts, n=n))


def median_follow_up_from(source=None, *, time, death, by=None, conf_type: str = "log-log",
                          conf_level: float = 0.95, timefix: bool = True, engine: str | None = None,
                          connection=None) -> dict:
    """``{group: FollowUp}`` of ``source`` (``{"all": ...}`` without ``by``): each equals
    ``median_follow_up`` on that group's rows (the reverse Kaplan-Meier with R's time merging
    pooled over the groups; the simple median, min and max of the times as given)."""
    from ltfu.stats.counting import merge_close_times
    from ltfu.stats.km import CONF_TYPES, follow_up_from_counts, follow_up_of, kaplan_meier, median_follow_up

    check_choice(conf_type, "conf_type", CONF_TYPES)
    conf_level = check_conf_level(conf_level)
    source, c = _from_arrays(source, time=time, death=death, by=by)
    eng = _engine_of(source, engine)
    by_cols = _names(c["by"])
    if eng == "numpy":
        cols = _read(source, [c["time"], c["death"], *by_cols], connection)
        t, d, _ = check_time_event(cols[c["time"]], cols[c["death"]], event_name=c["death"])
        if not by_cols:
            return {"all": median_follow_up(t, d, conf_type=conf_type, conf_level=conf_level, timefix=timefix)}
        levels, codes = _group_codes([cols[b] for b in by_cols], t.size, "by")
        merged, _ = merge_close_times(t, timefix=timefix)
        out = {}
        for j, lev in enumerate(levels):
            m = codes == j
            km = kaplan_meier(merged[m], 1 - d[m], conf_type=conf_type, conf_level=conf_level, timefix=False)
            out[lev] = follow_up_of(km, t[m])           # the reverse curve on merged times, the rest as given
        return out
    spec = make_spec(time=c["time"], event=c["death"], group=by_cols, timefix=timefix)
    tc = _counts(source, spec, eng, connection)
    observed = _counts(source, dataclasses.replace(spec, timefix=False), eng, connection) if timefix else tc
    return {lev: follow_up_from_counts(tc.group(lev), observed.group(lev), conf_type=conf_type, conf_level=conf_level)
            for lev in tc.groups}


def logrank_from(source=None, *, time, event, by, strata=None, rho: float = 0.0, engine: str | None = None,
                 timefix: bool = True, connection=None):
    """``LogRank`` of ``source`` (``logrank``'s k-sample / Fleming-Harrington test, stratified by
    ``strata``); ``by``/``strata``: one column or several."""
    from ltfu.stats.survdiff import _logrank_result, _stratum_sums, logrank

    source, c, eng, by_cols, st_cols = _k_samples(source, engine, time=time, event=event, by=by, strata=strata)
    if eng == "numpy":
        t, e, group, strata_codes, levels = _read_k_samples(source, c, "event", by_cols, st_cols, connection)
        return dataclasses.replace(logrank(t, e, group, strata=strata_codes, rho=rho, timefix=timefix), groups=levels)
    rho = check_rho(rho)
    spec = make_spec(time=c["time"], event=c["event"], group=by_cols, strata=st_cols, timefix=timefix)
    tc = _counts(source, spec, eng, connection)
    k = len(tc.groups)
    obs, exp, var = np.zeros(k), np.zeros(k), np.zeros((k, k))
    if not st_cols:
        obs, exp, var = _stratum_sums(tc.table(None), rho)
    else:
        for level in tc.strata:                    # in sorted order, as logrank sums its strata
            o, x, v = _stratum_sums(tc.table(level), rho)
            obs += o
            exp += x
            var += v
    return _logrank_result(tc.groups, tc.n, obs, exp, var, rho)


def cumulative_incidence_from(source=None, *, time, status, by=None, cencode: int = 0, conf_level: float = 0.95,
                              timefix: bool = True, engine: str | None = None, connection=None):
    """``CumulativeIncidence`` of ``source``: ``status`` codes, ``cencode`` censored, every other
    code a cause (as ``cumulative_incidence``)."""
    from ltfu.stats.competing import CumulativeIncidence, _one_group, cumulative_incidence

    source, c = _from_arrays(source, time=time, status=status, by=by)
    eng = _engine_of(source, engine)
    by_cols = _names(c["by"])
    if eng == "numpy":
        cols = _read(source, [c["time"], c["status"], *by_cols], connection)
        n = len(np.asarray(cols[c["time"]]))
        if len(by_cols) <= 1:
            return cumulative_incidence(cols[c["time"]], cols[c["status"]],
                                        group=cols[by_cols[0]] if by_cols else None, cencode=cencode,
                                        conf_level=conf_level, timefix=timefix)
        levels, codes = _group_codes([cols[b] for b in by_cols], n, "group")
        res = cumulative_incidence(cols[c["time"]], cols[c["status"]], group=codes, cencode=cencode,
                                   conf_level=conf_level, timefix=timefix)
        relabel = dict(zip(res.groups, levels))
        return CumulativeIncidence(tuple(levels), res.causes, res.conf_level, res.n,
                                   {(relabel[g], k): v for (g, k), v in res._curves.items()},
                                   {relabel[g]: v for g, v in res._event_free.items()})
    conf_level = check_conf_level(conf_level)
    spec = make_spec(time=c["time"], event=c["status"], group=by_cols, causes="auto", cencode=cencode,
                     timefix=timefix)
    tc = _counts(source, spec, eng, connection)
    curves, free = {}, {}
    for level in tc.groups:
        uniq, s_after, cs = _one_group(tc.group(level))
        free[level] = (uniq, s_after)
        for k in tc.causes:
            curves[(level, k)] = cs[k]
    return CumulativeIncidence(tc.groups, tc.causes, conf_level, tuple(int(v) for v in tc.n), curves, free)


def gray_test_from(source=None, *, time, status, by, strata=None, rho: float = 0.0, cencode: int = 0,
                   timefix: bool = True, engine: str | None = None, connection=None):
    """``GrayTest`` of ``source`` (``gray_test``: for each cause, equal cumulative incidence across
    the ``by`` groups, stratified by ``strata``); ``status`` codes as ``cumulative_incidence_from``."""
    from ltfu.stats.competing import gray_from_counts, gray_test

    source, c, eng, by_cols, st_cols = _k_samples(source, engine, time=time, status=status, by=by, strata=strata)
    if eng == "numpy":
        t, s, group, strata_codes, levels = _read_k_samples(source, c, "status", by_cols, st_cols, connection)
        return dataclasses.replace(gray_test(t, s, group, strata=strata_codes, rho=rho, cencode=cencode,
                                             timefix=timefix), groups=levels)
    rho = check_rho(rho)
    spec = make_spec(time=c["time"], event=c["status"], group=by_cols, strata=st_cols, causes="auto",
                     cencode=cencode, timefix=timefix)
    tc = _counts(source, spec, eng, connection)
    if len(tc.groups) < 2:
        raise InvalidInputError("group: needs at least 2 groups")
    # the strata in sorted order, as gray_test sums them
    return gray_from_counts(tc.causes, tc.groups, [tc.table(level) for level in (tc.strata if st_cols else (None,))],
                            rho)


def cox_from(source=None, *, time, event, covariates, entry=None, strata=None, ties: str = "efron",
             engine: str | None = None, conf_level: float = 0.95, init=None, max_iter: int = 30, eps: float = 1e-9,
             timefix: bool = True, connection=None):
    """A Cox model of ``source``: ``ltfu.stats.cox``'s fit with its per-iteration sums computed by
    the engine (``ltfu.stats.engines.cox``); ``covariates`` are numeric or boolean column names."""
    from ltfu.stats.engines.cox import cox_from as _cox_from

    return _cox_from(source, time=time, event=event, covariates=covariates, entry=entry, strata=strata, ties=ties,
                     engine=engine, conf_level=conf_level, init=init, max_iter=max_iter, eps=eps, timefix=timefix,
                     connection=connection)
