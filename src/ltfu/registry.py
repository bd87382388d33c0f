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

from ltfu.cohort.parse import _MISSING_TOKENS, _SYNONYMS
from ltfu.cohort.schema import FIELD_BY_NAME
from ltfu.defaults import BURDEN_THRESHOLD
from ltfu.defaults import COMPLETE_RESPONSE as COMPLETE
from ltfu.errors import InvalidInputError

# the terms of the report's Cox models (ltfu.analysis.plan.COX_COVARIATES), as numbers (NULL: missing)
COX_TERMS = ("high_burden", "age_per_10y", "prior_allo_hct", "ph_positive", "prior_blinatumomab")


@functools.cache
def _spaces() -> str:
    """Python's whitespace (what ``str.strip`` removes) as an RE2 character class body."""
    return "".join(f"\\x{{{ord(c):x}}}" for c in map(chr, range(0x110000)) if c.isspace())


def _stripped(column: str) -> str:
    """The cell as text without surrounding whitespace, as the loader strips it."""
    return f"regexp_replace(CAST({column} AS VARCHAR), '^[{_spaces()}]+|[{_spaces()}]+$', '', 'g')"


def _text(column: str) -> str:
    """A text field as the loader reads it: stripped, NULL where empty or a missing-value token."""
    tokens = ", ".join(f"'{t}'" for t in _MISSING_TOKENS)
    return f"CASE WHEN upper({_stripped(column)}) IN ({tokens}) THEN NULL ELSE {_stripped(column)} END"


def _code(column: str) -> str:
    """A code field as the loader reads it: its canonical code from any spelling the parser accepts
    (``ltfu.cohort.parse``: case, surrounding spaces, synonyms such as cr, CRh, y, true, 1), NULL
    otherwise; validation has refused any other written value."""
    f = FIELD_BY_NAME[column]
    spellings = {**{a.lower(): a for a in f.allowed}, **(_SYNONYMS.get(column) or
                                                          (_SYNONYMS["yesno"] if f.type == "yesno" else {}))}
    cases = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in spellings.items())
    return f"CASE lower({_stripped(column)}) {cases} END"


def _yes_no(column: str) -> str:
    return f"CASE {_code(column)} WHEN 'yes' THEN 1.0 WHEN 'no' THEN 0.0 END AS {column}"


def endpoints_sql(table: str, *, burden_threshold: float = BURDEN_THRESHOLD) -> str:
    """The query (DuckDB SQL) over ``table``: a table or view name, or an expression such as
    ``read_parquet('registry.parquet')``."""
    if isinstance(burden_threshold, bool) or not isinstance(burden_threshold, (int, float)) \
            or not math.isfinite(burden_threshold) or not 0 < burden_threshold <= 100:
        raise InvalidInputError(f"burden_threshold: must lie in (0, 100], got {burden_threshold!r}")
    complete = ", ".join(f"'{c}'" for c in COMPLETE)
    thr = repr(float(burden_threshold))
    return f"""
WITH d AS (
    SELECT {_text("patient_id")} AS patient_id, {_text("centre")} AS centre,
           {_code("best_response")} AS best_response,
           CAST(age AS DOUBLE) / 10.0 AS age_per_10y,
           {_yes_no("prior_allo_hct")}, {_yes_no("ph_positive")}, {_yes_no("prior_blinatumomab")},
           CASE WHEN {_code("extramedullary")} = 'yes' OR marrow_blasts_pct >= {thr} THEN 'high'
                WHEN marrow_blasts_pct < {thr} AND {_code("extramedullary")} = 'no' THEN 'low' END AS burden,
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
