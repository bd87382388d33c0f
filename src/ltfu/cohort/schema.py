"""The data model: one table of fields, one row per infused patient.

How a column name is matched to a field (``match_column``), as clinical exports write headers:

1. Case, spaces, dashes and dots do not matter (``Infusion Date``, ``infusion-date``), and every
   documented alias counts (CDISC ADSL names among them: ``TRTSDT``, ``DTHDT``).
2. Word order and "of" do not matter: ``Date of infusion`` = ``Infusion date`` = ``infusion_date``;
   ``Date of last contact``, ``Date last known alive``, ``Last follow-up date`` ("follow up" is
   one word, ``followup``, as "cut off" is ``cutoff``) all name ``last_contact_date``.
3. A unit in parentheses or brackets is read and checked: ``Dose (cells/kg)``, ``Age [years]``,
   ``Marrow blasts (%)``.  Fields measured in a unit (``age`` years, ``marrow_blasts_pct`` %,
   ``dose_cells_per_kg`` cells/kg, every ``*_day`` days) accept only that unit's spellings
   (``UNITS``); any other bracketed text, ``Age (months)`` or ``Dose (x10^6 cells/kg)``, is a
   WRONG_UNIT problem and the column is not read (never a silent rescaling).  For a field without
   a unit the bracketed text is a note and is ignored (``CRS grade (ASTCT)``).
4. Any other column matches no field: it is kept as an extra covariate by the Python API and is
   always reported (UNKNOWN_COLUMN, with "did you mean" when the name is close to a field's).

Every date may instead be given as days since infusion in the matching ``*_day`` column
(``relapse_day`` for ``relapse_date``).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

YES_NO = ("yes", "no")
YES_NO_UNKNOWN = ("yes", "no", "unknown")
RESPONSES = ("CR", "CRi", "PR", "SD", "PD", "NR", "NE")


@dataclass(frozen=True)
class Field:
    name: str
    type: str                 # id, date, day, number, integer, code, yesno, text
    required: bool = False
    allowed: tuple = ()
    aliases: tuple = ()
    meaning: str = ""
    low: float | None = None  # inclusive numeric range
    high: float | None = None
    unit: str = ""            # the unit values are read in ("" when the field has none)


# Text fields where "None" answers the question (no lymphodepleting conditioning was given) and is
# kept as written; in every other field "None", like "NA" or "NULL", marks a missing value
# (``ltfu.cohort.parse._MISSING_TOKENS``).  Reading it as missing would count patients who had no
# conditioning among those whose regimen is unknown.
NONE_IS_A_VALUE = ("conditioning",)

DATE_FIELDS = ("infusion_date", "last_contact_date", "death_date", "response_date", "relapse_date",
               "allo_hct_date", "data_cutoff_date")

FIELDS: tuple[Field, ...] = (
    Field("patient_id", "id", True, (), ("usubjid", "subjid", "subject_id", "subject", "patient",
                                          "pt_id", "id", "mrn"),
          "Unique patient identifier (never printed in logs; replaced in de-identified reports)."),
    Field("infusion_date", "date", True, (), ("trtsdt", "car_t_date", "cart_date", "infusion", "day0_date"),
          "Date of CAR T-cell infusion: day 0 of every time scale."),
    Field("last_contact_date", "date", True, (), ("lstalvdt", "last_followup_date", "last_fu_date",
                                                  "date_last_contact", "lastcontact_date", "last_known_alive_date",
                                                  "last_alive_date"),
          "Date the patient was last known alive (for the dead: the death date). Required unless "
          "last_contact_day is given."),
    Field("death_date", "date", False, (), ("dthdt", "date_of_death", "dod"), "Date of death, any cause."),
    Field("response_date", "date", False, (), ("rspdt", "response_assessment_date", "cr_date"),
          "Date of the response assessment that gave best_response."),
    Field("relapse_date", "date", False, (), ("rlpsdt", "progression_date", "pd_date"),
          "Date of relapse or progression after response."),
    Field("allo_hct_date", "date", False, (), ("hct_date", "sct_date", "transplant_date", "allo_date"),
          "Date of a subsequent allogeneic haematopoietic cell transplant."),
    Field("data_cutoff_date", "date", False, (), ("cutoff_date", "datacut_date", "dcutdt"),
          "Data cut-off: later events are ignored and patients censored at it (or --cutoff)."),
    Field("best_response", "code", False, RESPONSES, ("bor", "response", "best_overall_response"),
          "Best response: CR, CRi (CR with incomplete count recovery), PR, SD, PD, NR, NE."),
    Field("mrd_negative", "code", False, YES_NO_UNKNOWN, ("mrd", "mrd_neg"),
          "Minimal residual disease negative at response: yes, no or unknown."),
    Field("marrow_blasts_pct", "number", False, (), ("blasts", "bm_blasts", "marrow_blasts",
                                                     "blasts_pct"),
          "Bone marrow blasts (%) before infusion, 0-100: defines disease burden.", 0, 100, "%"),
    Field("extramedullary", "yesno", False, YES_NO, ("emd", "extramedullary_disease"),
          "Extramedullary disease before infusion: yes or no."),
    Field("relapse_cd19", "code", False, ("positive", "negative", "unknown"), ("cd19_relapse",),
          "CD19 status at relapse: positive, negative or unknown."),
    Field("crs_grade", "integer", False, (), ("crs", "crsgr"), "Worst cytokine release syndrome grade, 0-5.",
          0, 5),
    Field("crs_scale", "text", False, (), (), "CRS grading scale (e.g. ASTCT 2019, Lee 2014, CTCAE, institutional)."),
    Field("neurotox_grade", "integer", False, (), ("neurotox", "icans_grade", "neurotoxicity_grade", "nt_grade"),
          "Worst neurotoxicity grade, 0-5.", 0, 5),
    Field("neurotox_scale", "text", False, (), ("icans_scale",),
          "Neurotoxicity grading scale (ASTCT 2019 ICANS, CTCAE ...)."),
    Field("crs_death", "yesno", False, YES_NO, (), "Death attributed to CRS: yes or no (then crs_grade is 5)."),
    Field("age", "number", False, (), ("age_years", "agey"), "Age at infusion, years.", 0, 120, "years"),
    Field("sex", "code", False, ("F", "M", "other", "unknown"), ("gender",), "Sex: F, M, other or unknown."),
    Field("ph_positive", "yesno", False, YES_NO, ("ph", "philadelphia"), "Philadelphia chromosome positive."),
    Field("prior_allo_hct", "yesno", False, YES_NO, ("prior_hct", "prior_allo"), "Allogeneic HCT before CAR T cells."),
    Field("prior_blinatumomab", "yesno", False, YES_NO, ("prior_blina",), "Blinatumomab before CAR T cells."),
    Field("prior_inotuzumab", "yesno", False, YES_NO, ("prior_ino",), "Inotuzumab ozogamicin before CAR T cells."),
    Field("prior_lines", "integer", False, (), ("lines", "prior_therapies"), "Number of prior lines of therapy.",
          0, 30),
    Field("dose_cells_per_kg", "number", False, (), ("dose", "cell_dose"), "CAR T-cell dose, cells/kg.", 0, 1e10,
          "cells/kg"),
    Field("conditioning", "text", False, (), ("lymphodepletion",),
          'Lymphodepleting conditioning regimen ("None" when none was given; empty when unknown).'),
    Field("centre", "text", False, (), ("center", "site", "siteid"), "Treating centre."),
)

FIELD_BY_NAME = {f.name: f for f in FIELDS}
DAY_ALIASES = {d.replace("_date", "_day"): d for d in DATE_FIELDS}
for _d in DATE_FIELDS:
    FIELD_BY_NAME[_d.replace("_date", "_day")] = Field(
        _d.replace("_date", "_day"), "day", False, (), (),
        f"Days from infusion instead of {_d} (infusion is day 0).", None, None, "days")

DERIVED = Field("burden", "derived", False, ("low", "high"), (),
                "Disease burden: low (< threshold % marrow blasts and no extramedullary disease) or high "
                "(>= threshold or extramedullary disease); threshold default 5.")


def all_fields() -> tuple[Field, ...]:
    """Every field a table may carry, in schema order (dates followed by their *_day forms)."""
    out = []
    for f in FIELDS:
        out.append(f)
        if f.type == "date":
            out.append(FIELD_BY_NAME[f.name.replace("_date", "_day")])
    return (*out, DERIVED)


def _norm(name: str) -> str:
    return re.sub(r"[\s\-\.]+", "_", str(name).strip().lower()).strip("_")


# the spellings of each unit, compared lower-case without spaces
UNITS = {
    "years": ("years", "year", "yrs", "yr", "y"),
    "%": ("%", "percent", "pct", "%ofcells"),
    "cells/kg": ("cells/kg", "cell/kg", "cellsperkg", "cells/kgbodyweight"),
    "days": ("days", "day", "d"),
}
_UNIT_SPELLINGS = {u: {v.replace(" ", "") for v in spellings} for u, spellings in UNITS.items()}
_BRACKETED = re.compile(r"[\(\[]([^\(\)\[\]]*)[\)\]]")
_STOPWORDS = {"of", "the"}
_COMPOUNDS = (("follow", "up", "followup"), ("f", "u", "fu"), ("cut", "off", "cutoff"))


def _tokens_key(name: str) -> str:
    """Word-order-free key: lower-case words without "of"/"the", "follow up" as one word, sorted."""
    words = re.findall(r"[a-z0-9]+", str(name).lower())
    merged: list[str] = []
    for w in words:
        for a, b, joined in _COMPOUNDS:
            if w == b and merged and merged[-1] == a:
                merged[-1] = joined
                break
        else:
            merged.append(w)
    return " ".join(sorted(w for w in merged if w not in _STOPWORDS))


_LOOKUP: dict = {}
_TOKEN_LOOKUP: dict = {}
for _f in all_fields():
    for _a in (_f.name, *_f.aliases):
        _LOOKUP.setdefault(_norm(_a), _f.name)
        _TOKEN_LOOKUP.setdefault(_tokens_key(_a), set()).add(_f.name)
_TOKEN_LOOKUP = {k: next(iter(v)) for k, v in _TOKEN_LOOKUP.items() if len(v) == 1 and k}


@dataclass(frozen=True)
class ColumnMatch:
    """How one file column name matched: ``field`` (canonical name or None), ``unit`` as written
    in brackets (or None), ``unit_problem`` (a message when the unit is not the field's),
    ``suggestion`` (a close field name for an unmatched column, or None)."""

    name: str
    field: str | None
    unit: str | None = None
    unit_problem: str | None = None
    suggestion: str | None = None


def _lookup(base: str):
    return _LOOKUP.get(_norm(base)) or _TOKEN_LOOKUP.get(_tokens_key(base))


def match_column(name, *, suggest: bool = True) -> ColumnMatch:
    """The data-model field a file column names, by the rules of the module docstring.  ``suggest``:
    look for a close field name when none matches (for UNKNOWN_COLUMN's "did you mean")."""
    name = str(name)
    notes = _BRACKETED.findall(name)
    base = _BRACKETED.sub(" ", name) if notes else name
    if "%" in base:                       # a percent sign outside brackets is a unit too
        notes.append("%")
        base = base.replace("%", " ")
    canon = _lookup(base) if base.strip() else None
    if canon is None:
        return ColumnMatch(name, None, suggestion=_suggest(_norm(base if base.strip() else name)) if suggest else None)
    written = " ".join(n.strip() for n in notes) or None
    unit = FIELD_BY_NAME[canon].unit if canon in FIELD_BY_NAME else ""
    if not notes or not unit:
        return ColumnMatch(name, canon, written)
    if all(re.sub(r"\s+", "", n.lower()) in _UNIT_SPELLINGS[unit] for n in notes):
        return ColumnMatch(name, canon, written)
    return ColumnMatch(name, canon, written, f"{name!r}: ({written}) is not the unit {canon} is read in "
                                              f"({unit}); the column was not read")


_LOOKUP_KEYS = list(_LOOKUP)
_KEYS_BY_LENGTH: dict = {}
for _k in _LOOKUP_KEYS:
    _KEYS_BY_LENGTH.setdefault(len(_k), []).append(_k)


def _suggest(key: str) -> str | None:
    """The field whose name or alias is closest to ``key`` (difflib ratio at least 0.8), or None.
    Only names of a length that can reach 0.8 are compared (2 min / (a + b) >= 0.8), so a file with
    thousands of extra columns is not compared with every name thousands of times."""
    n = len(key)
    if n == 0 or n > 200:
        return None
    pool = [k for m in range(-(-2 * n // 3), 3 * n // 2 + 1) for k in _KEYS_BY_LENGTH.get(m, ())]
    close = difflib.get_close_matches(key, pool, n=1, cutoff=0.8) if pool else []
    return _LOOKUP[close[0]] if close else None


def resolve_columns(columns):
    """Map the file's columns to canonical names.

    Returns ``(mapping, duplicates, unknown, wrong_units)``: ``mapping`` original -> canonical for
    recognised columns (first occurrence wins), ``duplicates`` a list of (original, canonical) that
    mapped to an already-mapped field, ``unknown`` a list of (original, suggestion or None) for every
    column that matches no field (kept as an extra covariate), ``wrong_units`` a list of
    (original, canonical, message) for columns whose bracketed unit is not the field's (not read).
    """
    mapping, duplicates, unknown, wrong, taken = {}, [], [], [], set()
    for col in columns:
        m = match_column(col)
        if m.field is None:
            unknown.append((col, m.suggestion))
            continue
        if m.unit_problem:
            wrong.append((col, m.field, m.unit_problem))
            continue
        if m.field in taken:
            duplicates.append((col, m.field))
            continue
        taken.add(m.field)
        mapping[col] = m.field
    return mapping, duplicates, unknown, wrong


def is_model_column(name) -> bool:
    """Whether a file column is read for the analysis: a data-model field (any alias, any *_day
    form, any spelling ``match_column`` accepts) or the demonstration cohort's ``synthetic``
    marker.  Other columns are not read at all when a report or endpoints are computed (column
    projection)."""
    return _norm(name) == "synthetic" or match_column(name, suggest=False).field is not None
