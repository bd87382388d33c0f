"""The report's main endpoints as one SQL query over a registry table in the data model's columns,
for a table too large for ``ltfu report``: the engine functions (``ltfu.stats.engines``) take the
relation the query makes, so a 1e7-patient registry is analysed in the memory of its distinct times.

``endpoints_sql(table)`` selects one row per patient with ``patient_id``, ``centre``, ``burden``
(high, low or NULL, as the loader derives it), overall survival (``os_t``, ``os_e``), event-free
survival with the report's default rules (``efs_t``, ``efs_e``: no CR/CRi is an event at day 0;
not censored at a transplant) and, for CR/CRi patients with a response date, relapse with death in
remission competing from the response date (``rel_t``, ``rel_s``: 1 relapse, 2 death in
remission, 0 censored; NULL for the other patients), and the terms of the report's Cox models
(``COX_TERMS``: high burden 1/0, age per 10 years, the yes/no history fields 1/0; NULL where
missing).  Times in days from infusion; an event after
the end of follow-up (the last contact or the data cut-off, whichever is earlier; a death after the
recorded last contact is the last contact, as the loader makes it) is ignored.
These are ``ltfu.endpoints``' definitions, written again in SQL: ``tests/test_registry.py`` checks
them equal, patient by patient, on simulated registries.

The table must hold the data model's column names (``ltfu simulate`` writes them) and dates as
dates or timestamps; codes are read as the loader reads them (any case, surrounding spaces and the
parser's synonyms: cr, CRh, y, true, 1 ...), text fields stripped with the missing-value tokens
NULL.  The query does not validate: ``ltfu validate`` the file first (a Parquet
file of any size is validated in row batches, ``ltfu.cohort.stream``).
"""

from __future__ import annotations

import functools
import math

from ltfu.cohort.parse import _MISSING_TOKENS, _SYNONYMS, _is_missing
from ltfu.cohort.parse import _code as _code_of
from ltfu.cohort.schema import FIELD_BY_NAME
from ltfu.defaults import BURDEN_THRESHOLD
from ltfu.defaults import COMPLETE_RESPONSE as COMPLETE
from ltfu.errors import InvalidInputError

# the terms of the report's Cox models (ltfu.analysis.plan.COX_COVARIATES), as numbers (NULL: missing)
COX_TERMS = ("high_burden", "age_per_10y", "prior_allo_hct", "ph_positive", "prior_blinatumomab")


CODE_COLUMNS = ("best_response", "extramedullary", "prior_allo_hct", "ph_positive", "prior_blinatumomab")
TEXT_COLUMNS = ("centre",)


@functools.cache
def _spaces() -> str:
    """Python's whitespace (what ``str.strip`` removes) as an RE2 character class body."""
    return "".join(f"\\x{{{ord(c):x}}}" for c in map(chr, range(0x110000)) if c.isspace())


def _stripped(column: str) -> str:
    """The cell as text without surrounding whitespace, as the loader strips it."""
    return f"regexp_replace(CAST({column} AS VARCHAR), '^[{_spaces()}]+|[{_spaces()}]+$', '', 'g')"


def _quoted(values) -> str:
    return ", ".join("'" + str(v).replace("'", "''") + "'" for v in values)


def _spellings(column: str) -> dict:
    """Every spelling the parser accepts for a code field (lower case) -> its code, with a whole
    number also as DuckDB writes a float ('0.0', '-0.0': the parser reads the float 0.0 as '0')."""
    f = FIELD_BY_NAME[column]
    out = {**{a.lower(): a for a in f.allowed},
           **(_SYNONYMS.get(column) or (_SYNONYMS["yesno"] if f.type == "yesno" else {}))}
    for k, code in list(out.items()):
        if k.lstrip("-").isdigit():
            out.setdefault(f"{k}.0", code)
            if int(k) == 0:
                out.setdefault("-0.0", code)
                out.setdefault("-0", code)
    return out


def _read_as_loader(column: str, value: str):
    """What the loader reads from a cell written ``value``: a code field's canonical code (None if
    the parser does not recognise it: validation refuses it), a text field stripped (None if empty
    or a missing-value token)."""
    if _is_missing(value):
        return None
    if column in TEXT_COLUMNS:
        return value.strip()
    return _code_of(value, _spellings(column), {})    # '-0.0' (a float written by DuckDB) among them


def _rule(column: str) -> str:
    """The loader's reading of a column as SQL rules (no look at the data): codes from any case,
    Python's whitespace and the parser's synonyms, text stripped with the missing tokens NULL."""
    v = f"CAST({column} AS VARCHAR)"
    if column in TEXT_COLUMNS:
        return (f"CASE WHEN upper({_stripped(column)}) IN ({_quoted(_MISSING_TOKENS)}) THEN NULL "
                f"ELSE {_stripped(column)} END")
    spellings = _spellings(column)
    cases = " ".join(f"WHEN '{k}' THEN '{c}'" for k, c in spellings.items())
    return f"CASE WHEN {v} IN ({_quoted(sorted(set(spellings.values())))}) THEN {v} " \
           f"ELSE CASE lower({_stripped(column)}) {cases} END END"


def _mapped(column: str, written) -> str:
    """The loader's reading of a column, given the values ``written`` in it (as VARCHAR): each one
    read by the parser itself, the column left as it is when every value is already its reading."""
    v = f"CAST({column} AS VARCHAR)"
    changed = {w: _read_as_loader(column, w) for w in written if w is not None}
    changed = {w: r for w, r in changed.items() if r != w}
    if not changed:
        return v
    cases = " ".join(f"WHEN {_quoted([w])} THEN {'NULL' if r is None else _quoted([r])}" for w, r in changed.items())
    return f"CASE {v} {cases} ELSE {v} END"


def _written(connection, table: str) -> dict:
    """Column -> its distinct values as VARCHAR (one scan; dictionary-encoded columns are cheap)."""
    columns = [*CODE_COLUMNS, *TEXT_COLUMNS]
    row = connection.sql("SELECT " + ", ".join(f"list(DISTINCT CAST({c} AS VARCHAR))" for c in columns)
                         + f" FROM {table}").fetchall()[0]
    return dict(zip(columns, row))


def _yes_no(column: str, read: dict) -> str:
    return f"CASE {read[column]} WHEN 'yes' THEN 1.0 WHEN 'no' THEN 0.0 END AS {column}"


def endpoints_sql(table: str, *, burden_threshold: float = BURDEN_THRESHOLD, connection=None) -> str:
    """The query (DuckDB SQL) over ``table``: a table or view name, or an expression such as
    ``read_parquet('registry.parquet')``.  Codes and text are read as the loader reads them.  With
    a DuckDB ``connection`` the values written in those columns are looked at first (one scan) and
    each is read by the parser itself, so a registry written in canonical codes is queried as it
    is; without one, the query applies the parser's rules in SQL to every row (about 1.5 s more per
    scan of 1e7 patients)."""
    if isinstance(burden_threshold, bool) or not isinstance(burden_threshold, (int, float)) \
            or not math.isfinite(burden_threshold) or not 0 < burden_threshold <= 100:
        raise InvalidInputError(f"burden_threshold: must lie in (0, 100], got {burden_threshold!r}")
    if connection is not None:
        written = _written(connection, table)
        read = {c: _mapped(c, written[c]) for c in written}
    else:
        read = {c: _rule(c) for c in (*CODE_COLUMNS, *TEXT_COLUMNS)}
    complete = ", ".join(f"'{c}'" for c in COMPLETE)
    thr = repr(float(burden_threshold))
    return f"""
WITH d AS (
    SELECT patient_id, {read["centre"]} AS centre,
           {read["best_response"]} AS best_response,
           CAST(age AS DOUBLE) / 10.0 AS age_per_10y,
           {_yes_no("prior_allo_hct", read)}, {_yes_no("ph_positive", read)},
           {_yes_no("prior_blinatumomab", read)},
           CASE WHEN {read["extramedullary"]} = 'yes' OR marrow_blasts_pct >= {thr} THEN 'high'
                WHEN marrow_blasts_pct < {thr} AND {read["extramedullary"]} = 'no' THEN 'low' END AS burden,
           -- a death after the recorded last contact is the last contact (DEATH_AFTER_LAST_CONTACT)
           date_diff('day', infusion_date,
                     least(greatest(last_contact_date, death_date), data_cutoff_date)) AS end_day,
           date_diff('day', infusion_date, death_date) AS death_day,
           date_diff('day', infusion_date, relapse_date) AS relapse_day,
           date_diff('day', infusion_date, response_date) AS response_day
    FROM {table}),
o AS (
    SELECT *,
           coalesce(death_day <= end_day, false) AS dead,
           coalesce(relapse_day <= end_day, false) AS relapsed,
           coalesce(best_response IN ({complete}), false) AS cr
    FROM d)
SELECT patient_id, centre, burden,
       CASE burden WHEN 'high' THEN 1.0 WHEN 'low' THEN 0.0 END AS high_burden,
       age_per_10y, prior_allo_hct, ph_positive, prior_blinatumomab,
       CAST(CASE WHEN dead THEN death_day ELSE end_day END AS DOUBLE) AS os_t,
       CAST(dead AS INTEGER) AS os_e,
       CAST(CASE WHEN best_response IS NOT NULL AND NOT cr THEN 0
                 ELSE least(CASE WHEN relapsed THEN relapse_day END, CASE WHEN dead THEN death_day END, end_day)
            END AS DOUBLE) AS efs_t,
       CAST((best_response IS NOT NULL AND NOT cr) OR relapsed OR dead AS INTEGER) AS efs_e,
       CASE WHEN cr AND response_day IS NOT NULL THEN CAST(greatest(
                CASE WHEN relapsed AND (NOT dead OR relapse_day <= death_day) THEN relapse_day
                     WHEN dead THEN death_day ELSE end_day END - response_day, 0) AS DOUBLE) END AS rel_t,
       CASE WHEN cr AND response_day IS NOT NULL THEN
                CASE WHEN relapsed AND (NOT dead OR relapse_day <= death_day) THEN 1
                     WHEN dead THEN 2 ELSE 0 END END AS rel_s
FROM o"""
