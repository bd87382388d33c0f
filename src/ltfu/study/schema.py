"""The tables of a study besides the patients: adverse events, assessments, therapies.

One row per event, per measurement, per therapy; patients are referred to by ``patient_id``.
Every date may be given instead as days since infusion in the matching ``*_day`` column.  Column
names are matched as for the patient table (case, spaces, dashes and dots do not matter; aliases,
CDISC ADAE/ADLB names among them).  ``ltfu schema`` prints these tables too.
"""

from __future__ import annotations

from dataclasses import dataclass

from ltfu.cohort.schema import Field

YES_NO = ("yes", "no")
CATEGORIES = ("second_primary_malignancy", "infection", "neurological", "autoimmune", "haematological",
              "hypogammaglobulinaemia", "other")
#: subtypes allowed for a category (others take none)
SUBTYPES = {"second_primary_malignancy": ("haematological", "solid", "non_melanoma_skin", "t_cell"),
            "infection": ("bacterial", "viral", "fungal", "other")}
THERAPY_TYPES = ("allo_hct", "anticancer", "ivig", "car_t_reinfusion", "other")
TESTS = {
    # test: (canonical unit, plausible low, plausible high, meaning)
    "b_cells_per_ul": ("cells/uL", 0, 5000, "CD19+ B cells per microlitre of blood"),
    "cd19_pct": ("%", 0, 100, "CD19+ B cells, % of lymphocytes"),
    "igg_g_per_l": ("g/L", 0, 100, "Serum IgG"),
    "anc_per_ul": ("cells/uL", 0, 100000, "Absolute neutrophil count"),
    "platelets_per_ul": ("cells/uL", 0, 2000000, "Platelet count"),
    "haemoglobin_g_per_dl": ("g/dL", 1, 25, "Haemoglobin"),
    "car_transgene_copies_per_ug": ("copies/ug DNA", 0, 1e8, "CAR transgene copies per microgram of genomic DNA"),
    "rcl_result": ("", None, None, "Replication-competent lentivirus/retrovirus test: positive, negative, "
                                   "indeterminate"),
}
RCL_RESULTS = ("positive", "negative", "indeterminate")
#: unit spellings (lower case, spaces removed) -> factor to the canonical unit, per canonical unit
UNIT_FACTORS: dict[str, dict[str, float]] = {
    "cells/uL": {"cells/ul": 1, "/ul": 1, "cells/µl": 1, "/µl": 1, "cells/mm3": 1, "/mm3": 1, "x10^9/l": 1000,
                 "10^9/l": 1000, "x10e9/l": 1000, "x10^3/ul": 1000, "k/ul": 1000, "10^3/ul": 1000},
    "%": {"%": 1, "percent": 1, "pct": 1},
    "g/L": {"g/l": 1, "mg/dl": 0.01, "g/dl": 10, "mg/ml": 1},
    "g/dL": {"g/dl": 1, "g/l": 0.1, "mmol/l": 1.611},
    "copies/ug DNA": {"copies/ugdna": 1, "copies/µgdna": 1, "copies/ug": 1, "copies/µg": 1},
    "": {"": 1},
}


@dataclass(frozen=True)
class TableSpec:
    name: str
    meaning: str
    fields: tuple[Field, ...]
    key: tuple[str, ...]            # a repeated key is a duplicate row (DUPLICATE_ROW)


PATIENT_REF = Field("patient_id", "id", True, (), ("usubjid", "subjid", "subject_id", "subject", "patient", "id"),
                    "The patient, as in the patient table.")

EVENTS = TableSpec("events", "One row per adverse event after infusion.", (
    PATIENT_REF,
    Field("term", "text", True, (), ("aedecod", "aeterm", "event", "adverse_event"), "The event as reported."),
    Field("category", "code", True, CATEGORIES, ("aecat", "event_category"),
          "second_primary_malignancy, infection, neurological, autoimmune, haematological, "
          "hypogammaglobulinaemia or other."),
    Field("subtype", "code", False, tuple(sorted({s for v in SUBTYPES.values() for s in v})), ("aescat",),
          "Malignancy: haematological, solid, non_melanoma_skin, t_cell; infection: bacterial, viral, fungal, "
          "other."),
    Field("onset_date", "date", True, (), ("astdt", "aestdt", "start_date"), "Onset of the event."),
    Field("resolution_date", "date", False, (), ("aendt", "aeendt", "end_date"), "Resolution (none: ongoing)."),
    Field("grade", "integer", False, (), ("aetoxgr", "ctcae_grade", "worst_grade"), "Worst CTCAE grade, 1-5.", 1, 5),
    Field("serious", "yesno", False, YES_NO, ("aeser",), "Serious adverse event: yes or no."),
    Field("outcome", "code", False, ("recovered", "ongoing", "fatal", "unknown"), ("aeout",),
          "recovered, ongoing, fatal or unknown."),
    Field("related", "code", False, ("related", "possible", "unlikely", "unrelated", "unknown"), ("aerel",),
          "Relation to the product: related, possible, unlikely, unrelated, unknown."),
    Field("transgene_test", "code", False, ("positive", "negative", "not_tested"), ("car_transgene",),
          "Malignancies: CAR transgene in the tumour: positive, negative, not_tested."),
), ("patient_id", "term", "onset_day"))

ASSESSMENTS = TableSpec("assessments", "One row per measurement at a visit.", (
    PATIENT_REF,
    Field("date", "date", True, (), ("adt", "visit_date", "assessment_date", "sample_date"), "Date of the sample."),
    Field("visit", "text", False, (), ("avisit", "visit_label"), "Visit label (day 100, month 6, year 1 ...)."),
    Field("test", "code", True, tuple(TESTS), ("paramcd", "parameter", "lab_test"),
          "The measurement: " + ", ".join(TESTS) + "."),
    Field("value", "text", True, (), ("aval", "result", "avalc"), "The result (a number; rcl_result: a code)."),
    Field("unit", "text", False, (), ("avalu", "units"), "Unit of value; converted to the test's canonical unit."),
), ("patient_id", "test", "day"))

THERAPIES = TableSpec("therapies", "One row per therapy after infusion.", (
    PATIENT_REF,
    Field("type", "code", True, THERAPY_TYPES, ("therapy_type", "treatment_type"),
          "allo_hct, anticancer, ivig, car_t_reinfusion or other."),
    Field("start_date", "date", True, (), ("tstdt", "therapy_start_date"), "Start of the therapy."),
    Field("end_date", "date", False, (), ("tendt", "therapy_end_date"), "End of the therapy (none: ongoing)."),
), ("patient_id", "type", "start_day"))

TABLES = {t.name: t for t in (EVENTS, ASSESSMENTS, THERAPIES)}


def unit_factor(test: str, unit) -> float | None:
    """The factor converting ``unit`` to ``test``'s canonical unit; None when it cannot be converted.
    A blank unit means the canonical one."""
    canonical = TESTS[test][0]
    if unit is None or str(unit).strip() == "":
        return 1.0
    key = str(unit).strip().lower().replace(" ", "").replace("μ", "µ")
    return UNIT_FACTORS[canonical].get(key)
