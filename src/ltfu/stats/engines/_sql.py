"""The SQL the engines run, written once for DuckDB and Spark SQL (both accept it as is; only the
quoting of identifiers differs).

One scan of the source answers both halves of the counting: ``GROUPING SETS`` gives, in the same
pass, the exit rows (per keys, exit time, status) and the entry rows (per keys, entry time, with
the number of rows whose entry is not before their exit).  ``GROUPING(en)`` tells them apart, so a
NULL time in the data is never mistaken for the other half.  Conditional counts are written
``COUNT(CASE WHEN cond THEN 1 END)``: COUNT is an exact BIGINT and never NULL, where COUNT_IF
over a group whose conditions are all NULL is NULL in DuckDB 2.0 (a NULL count read as 0 would
hide a bad row).  ``CAST(... AS DOUBLE) + 0.0`` turns -0.0 into 0.0 (IEEE
addition) before grouping; the numpy side adds 0.0 again, whatever an engine did.
"""

from __future__ import annotations

from collections.abc import Callable

from ltfu.stats.engines._counts import DATE_KEYS, Spec

NUMERIC_DUCKDB = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
                  "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE", "DECIMAL", "BOOLEAN", "REAL")
NUMERIC_SPARK = ("tinyint", "smallint", "int", "bigint", "float", "double", "decimal", "boolean")


def count_if(condition: str) -> str:
    """Rows where ``condition`` is true: a BIGINT, 0 (never NULL) when none is, whatever NULLs the
    condition meets (see the module docstring)."""
    return f"COUNT(CASE WHEN {condition} THEN 1 END)"


def quote_duckdb(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_spark(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _double(q: Callable, name: str) -> str:
    return f"CAST({q(name)} AS DOUBLE)"


def aggregate_sql(spec: Spec, source: str, q: Callable) -> str:
    """The counting query: see the module docstring.  Result columns: ``is_exit`` (with entry),
    ``k0``.. (keys), ``t``, ``e``, ``en`` (with entry), ``n``, ``bad`` (with entry)."""
    keys = [f"k{i}" for i in range(len(spec.keys))]
    inner = [f"{q(c)} AS {k}" for c, k in zip(spec.keys, keys)]
    inner += [f"{_double(q, spec.time)} + 0.0 AS t", f"{_double(q, spec.event)} AS e"]
    if spec.entry is None:
        cols = ", ".join([*keys, "t", "e"])
        return (f"SELECT {cols}, COUNT(*) AS n FROM (SELECT {', '.join(inner)} FROM {source}) AS s "
                f"GROUP BY {cols}")
    inner.append(f"{_double(q, spec.entry)} + 0.0 AS en")
    exit_set = ", ".join([*keys, "t", "e"])
    entry_set = ", ".join([*keys, "en"])
    return (f"SELECT GROUPING(en) AS is_exit, {', '.join([*keys, 't', 'e', 'en'])}, COUNT(*) AS n, "
            f"{count_if('en >= t')} AS bad FROM (SELECT {', '.join(inner)} FROM {source}) AS s "
            f"GROUP BY GROUPING SETS (({exit_set}), ({entry_set}))")


def runs_sql(spec: Spec, source: str, q: Callable, lo, hi) -> str:
    """Rows with lo_r <= entry < exit <= hi_r for one of the runs (disjoint, so a row matches at
    most one).  Bounds are written as text cast to DOUBLE: repr() round-trips a float exactly."""
    assert spec.entry is not None                     # runs are checked only with delayed entry
    values = ", ".join(f"(CAST('{float(a)!r}' AS DOUBLE), CAST('{float(b)!r}' AS DOUBLE))" for a, b in zip(lo, hi))
    return (f"SELECT COUNT(*) AS bad FROM (SELECT {_double(q, spec.time)} + 0.0 AS t, {_double(q, spec.entry)} + 0.0 "
            f"AS en FROM {source}) AS s JOIN (SELECT * FROM (VALUES {values}) AS v(lo, hi)) AS r "
            "ON s.en >= r.lo AND s.t <= r.hi AND s.en < s.t")


def is_numeric_type(typ: str, numeric_types: tuple) -> bool:
    """Whether an engine's type name is one number per row: DECIMAL(18,3) is, INTEGER[] (a list),
    STRUCT(...) and MAP(...) are not."""
    base = str(typ).upper().split("(")[0].strip()
    return base in {t.upper() for t in numeric_types}


def check_columns(spec: Spec, available: dict, numeric_types: tuple, what: str) -> None:
    """Every named column exists; time, event and entry are numeric (or boolean)."""
    from ltfu.errors import InvalidInputError

    lower = {k.lower(): k for k in available}
    for role, name in [("time", spec.time), ("event", spec.event), ("entry", spec.entry),
                       *[("group", c) for c in spec.group], *[("strata", c) for c in spec.strata]]:
        if name is None:
            continue
        if name not in available:
            # exact names, as the numpy engine reads them (SQL would match any case)
            near = lower.get(name.lower())
            hint = f"; did you mean {near!r}?" if near is not None else ""
            raise InvalidInputError(f"{role}: no column {name!r} in the {what}{hint} (columns: "
                                    f"{', '.join(map(repr, list(available)[:20]))})")
        typ = str(available[name]).upper()
        if role in ("time", "event", "entry"):
            if not is_numeric_type(typ, numeric_types):
                raise InvalidInputError(f"{role}: column {name!r} has type {available[name]}; a number is needed")
        elif typ.startswith(("DATE", "TIME", "INTERVAL")):
            raise InvalidInputError(DATE_KEYS.format(what=role))
