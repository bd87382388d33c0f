"""The data model: one table of fields, one row per infused patient.

Column names are matched case-insensitively, ignoring spaces, dashes and dots, and through the
documented aliases (CDISC ADSL names among them).  Every date may instead be given as days since
infusion in the matching ``*_day`` column (``relapse_day`` for ``relapse_date``).
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


DATE_FIELDS = ("infusion_date", "last_contact_date", "death_date", "response_date", "relapse_date",
               "allo_hct_date", "data_cutoff_date")

FIELDS: tuple[Field, ...] = (
    Field("patient_id", "id", True, (), ("usubjid", "subjid", "subject_id", "subject", "patient",
                                          "pt_id", "id", "mrn"),
          "Unique patient identifier (never printed in logs; replaced in de-identified reports)."),
    Field("infusion_date", "date", True, (), ("trtsdt", "car_t_date", "cart_date", "infusion", "day0_date"),
          "Date of CAR T-cell infusion: day 0 of every time scale."),
    Field("last_contact_date", "date", True, (), ("lstalvdt", "last_followup_date", "last_fu_date",
                                                  "date_last_contact", "lastcontact_date"),
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
          "Bone marrow blasts (%) before infusion, 0-100: defines disease burden.", 0, 100),
    Field("extramedullary", "yesno", False, YES_NO, ("emd", "extramedullary_disease"),
          "Extramedullary disease before infusion: yes or no."),
    Field("relapse_cd19", "code", False, ("positive", "negative", "unknown"), ("cd19_relapse",),
          "CD19 status at relapse: positive, negative or unknown."),
    Field("crs_grade", "integer", False, (), ("crs", "crsgr"), "Worst cytokine release syndrome grade, 0-5.",
          0, 5),
    Field("crs_scale", "text", False, (), (), "CRS grading scale (e.g. ASTCT 2019, Lee 2014, CTCAE, institutional)."),
    Field("neurotox_grade", "integer", False, (), ("neurotox", "icans_grade", "neurotoxicity_grade", "nt_grade"),
          "Worst neurotoxicity grade, 0-5.", 0, 5),
    Field("neurotox_scale", "text", False, (), ("icans_scale",), "Neurotoxicity grading scale (ASTCT 2019 ICANS, CTCAE ...)."),
    Field("crs_death", "yesno", False, YES_NO, (), "Death attributed to CRS: yes or no (then crs_grade is 5)."),
    Field("age", "number", False, (), ("age_years", "agey"), "Age at infusion, years.", 0, 120),
    Field("sex", "code", False, ("F", "M", "other", "unknown"), ("gender",), "Sex: F, M, other or unknown."),
    Field("ph_positive", "yesno", False, YES_NO, ("ph", "philadelphia"), "Philadelphia chromosome positive."),
    Field("prior_allo_hct", "yesno", False, YES_NO, ("prior_hct", "prior_allo"), "Allogeneic HCT before CAR T cells."),
    Field("prior_blinatumomab", "yesno", False, YES_NO, ("prior_blina",), "Blinatumomab before CAR T cells."),
    Field("prior_inotuzumab", "yesno", False, YES_NO, ("prior_ino",), "Inotuzumab ozogamicin before CAR T cells."),
    Field("prior_lines", "integer", False, (), ("lines", "prior_therapies"), "Number of prior lines of therapy.",
          0, 30),
    Field("dose_cells_per_kg", "number", False, (), ("dose", "cell_dose"), "CAR T-cell dose, cells/kg.", 0, 1e10),
    Field("conditioning", "text", False, (), ("lymphodepletion",), "Lymphodepleting conditioning regimen."),
    Field("centre", "text", False, (), ("center", "site", "siteid"), "Treating centre."),
)

FIELD_BY_NAME = {f.name: f for f in FIELDS}
DAY_ALIASES = {d.replace("_date", "_day"): d for d in DATE_FIELDS}
for _d in DATE_FIELDS:
    FIELD_BY_NAME[_d.replace("_date", "_day")] = Field(
        _d.replace("_date", "_day"), "day", False, (), (),
        f"Days from infusion instead of {_d} (infusion is day 0).", None, None)

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


_LOOKUP = {}
for _f in all_fields():
    _LOOKUP[_norm(_f.name)] = _f.name
    for _a in _f.aliases:
        _LOOKUP.setdefault(_norm(_a), _f.name)


def resolve_columns(columns):
    """Map the file's columns to canonical names.

    Returns ``(mapping, duplicates, unknown)``: ``mapping`` original -> canonical for recognised
    columns (first occurrence wins), ``duplicates`` a list of (original, canonical) that mapped to an
    already-mapped field, ``unknown`` a list of (original, suggestion or None) for columns that are
    kept as extra covariates but look like a misspelt field.
    """
    mapping, duplicates, unknown, taken = {}, [], [], set()
    for col in columns:
        key = _norm(col)
        canon = _LOOKUP.get(key)
        if canon is None:
            close = difflib.get_close_matches(key, list(_LOOKUP), n=1, cutoff=0.8)
            unknown.append((col, _LOOKUP[close[0]] if close else None))
            continue
        if canon in taken:
            duplicates.append((col, canon))
            continue
        taken.add(canon)
        mapping[col] = canon
    return mapping, duplicates, unknown


def is_model_column(name) -> bool:
    """Whether a file column is read for the analysis: a data-model field (any alias, any *_day
    form) or the demonstration cohort's ``synthetic`` marker.  Other columns are not read at all
    when a report or endpoints are computed (column projection)."""
    key = _norm(name)
    return key in _LOOKUP or key == "synthetic"
