"""De-identification of a cohort before it is analysed (``ltfu report --deidentify``).

A de-identified report keeps only values that ltfu controls:

* patient ids become sequence numbers (in file order) and dates are dropped: times are days from
  infusion already, and the data cut-off date is not shown;
* each free-text field is mapped to a documented list of categories, never echoed.  Matching is
  case-insensitive on recognisable words; text naming none of a field's categories, or more than
  one, or a drug beside "no" or "none" ("no fludarabine"), becomes ``"other"``:

  =================  ==================================================================
  field              categories (a value is recognised by these words)
  =================  ==================================================================
  conditioning       ``Flu/Cy`` (fludarabine and cyclophosphamide: flu, fludarabine,
                     cy, cyclophosphamide, cytoxan, FluCy, FC), ``Cy``
                     (cyclophosphamide alone), ``Bendamustine`` (benda, bendamustine),
                     ``None`` (none, no, "none given", "no lymphodepletion": no
                     conditioning was given), ``other``
  crs_scale,         ``ASTCT 2019`` (ASTCT, ASBMT, ICANS, "Lee 2019"), ``Lee 2014`` (Lee),
  neurotox_scale     ``CTCAE v3`` / ``CTCAE v4`` / ``CTCAE v5`` (CTCAE and its major
                     version), ``CTCAE`` (version not given), ``Penn`` (Penn, UPenn),
                     ``MSKCC`` (MSKCC, MSK), ``CARTOX``, ``other``
  centre             dropped
  =================  ==================================================================

* columns outside the data model (kept as read in ``Cohort.data``) are dropped;
* a validation warning names its kind and field only: a column of the data model by its field
  name, any other column by its position in the file ("column 7"), never by the name it has in
  the file (a name such as ``date_of_death_MRN1`` can identify);
* the source file is withheld and its SHA-256 too (it identifies the file), unless the user asks
  for them (``--record-path``, ``--keep-checksum``).

The mapping is idempotent: a category maps to itself, so de-identifying twice changes nothing.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pandas as pd

OTHER = "other"
NO_CONDITIONING = "None"
CONDITIONING = ("Flu/Cy", "Cy", "Bendamustine", NO_CONDITIONING, OTHER)
SCALES = ("ASTCT 2019", "Lee 2014", "CTCAE v3", "CTCAE v4", "CTCAE v5", "CTCAE", "Penn", "MSKCC", "CARTOX",
          OTHER)
CATEGORIES = {"conditioning": CONDITIONING, "crs_scale": SCALES, "neurotox_scale": SCALES}
DROPPED_TEXT = ("centre",)
WITHHELD = "withheld (de-identified report)"

_FLU = {"flu", "fluda", "fludara", "fludarabine"}
_CY = {"cy", "cyc", "cyclo", "cyclophosphamide", "cytoxan", "endoxan"}
_FLU_CY = {"flucy", "cyflu", "fc", "flucyclo"}
_BENDA = {"benda", "bendamustin", "bendamustine"}
_NO = {"none", "no", "nil"}
# words that may stand beside "none" or "no" when no conditioning was given ("none given", "no
# lymphodepleting chemotherapy"); any other word makes the text "other"
_NO_COMPANIONS = {"given", "conditioning", "lymphodepletion", "lymphodepleting", "chemotherapy", "chemo"}
_SCALE_WORDS = {"astct": "ASTCT 2019", "asbmt": "ASTCT 2019", "icans": "ASTCT 2019", "lee": "Lee 2014",
                "penn": "Penn", "upenn": "Penn", "mskcc": "MSKCC", "msk": "MSKCC", "cartox": "CARTOX",
                "ctcae": "CTCAE"}
_CTCAE_VERSION = re.compile(r"ctcae[\s_\-:]*(?:v(?:ersion)?\.?)?\s*([345])(?![0-9])")
_COLUMN_POSITION = re.compile(r"column \d+")


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z]+", text.lower())


def conditioning_category(text: str) -> str:
    words = set(_words(text))
    flu, cy, benda = bool(words & _FLU), bool(words & _CY), bool(words & _BENDA)
    if words & _FLU_CY:
        flu = cy = True
    nothing = bool(words & _NO) and words <= _NO | _NO_COMPANIONS
    if words & _NO and not nothing:
        return OTHER                     # a negation beside a drug ("no fludarabine"): not guessed
    found = [name for name, hit in (("Flu/Cy", flu and cy), ("Cy", cy and not flu), ("flu", flu and not cy),
                                    ("Bendamustine", benda), (NO_CONDITIONING, nothing)) if hit]
    return found[0] if len(found) == 1 and found[0] in CONDITIONING else OTHER


def scale_category(text: str) -> str:
    lower = text.lower()
    found = set()
    for w in _words(lower):
        cat = _SCALE_WORDS.get(w)
        if cat == "Lee 2014" and "2019" in lower:
            cat = "ASTCT 2019"            # Lee et al. 2019 is the ASTCT consensus grading
        if cat == "CTCAE":
            m = _CTCAE_VERSION.search(lower)
            cat = f"CTCAE v{m.group(1)}" if m else "CTCAE"
        if cat:
            found.add(cat)
    return found.pop() if len(found) == 1 else OTHER


def categorise(field: str, value):
    """The category of one free-text value (``None`` stays ``None``); never the value itself."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    if field == "conditioning":
        return conditioning_category(str(value))
    if field in ("crs_scale", "neurotox_scale"):
        return scale_category(str(value))
    raise KeyError(f"no categories for field {field!r}")


def field_label(field, header=None) -> str | None:
    """How a de-identified report names a column: a data-model column by its field name, any other
    by its position in the file's header ("column 7"), or "a column (name withheld)"."""
    from ltfu.cohort.schema import FIELD_BY_NAME, resolve_columns

    if field is None:
        return None
    name = str(field)
    if name in FIELD_BY_NAME or name == "burden":
        return name
    mapping = resolve_columns([name])[0]
    if name in mapping:
        return mapping[name]
    if header is not None:
        names = [str(h).strip() for h in header]
        if name.strip() in names:
            return f"column {names.index(name.strip()) + 1}"
    if _COLUMN_POSITION.fullmatch(name):
        return name
    return "a column (name withheld)"


def source_label(source, *, deidentify: bool, record_path: bool) -> str | None:
    """What a report says about the input file: its name (the path only on request, made absolute so
    that the same file gives the same report however it was typed); withheld when de-identified."""
    if source is None or source == "<memory>":
        return source
    if record_path:
        return str(Path(source).resolve())
    return WITHHELD if deidentify else Path(source).name


def _problem_field(p, header):
    """A problem's column as a de-identified output names it: a study table's own field by its name;
    a study table's other columns never by the patient table's positions (``header``)."""
    from ltfu.study.schema import TABLES

    spec = TABLES.get(p.table) if getattr(p, "table", None) else None
    if spec is not None and str(p.field) in {f.name for f in spec.fields}:
        return str(p.field)
    return field_label(p.field, None if getattr(p, "table", None) else header)


def deidentify_problems(problems, header=None) -> tuple:
    """The problems with every column named as ``_problem_field`` names it; ids and values removed."""
    return tuple(dataclasses.replace(p, field=_problem_field(p, header), patient_id=None, value=None)
                 for p in problems)


def deidentify_listing(problems, header=None) -> tuple:
    """The problems as a de-identified run prints them when it stops on errors: as
    ``deidentify_problems``, with each problem's general meaning and fix in place of its own message
    (which may quote a cell, an id or a file name)."""
    from ltfu.cohort.problems import PROBLEM_CODES

    return tuple(dataclasses.replace(p, message=PROBLEM_CODES[p.code][1], fix=PROBLEM_CODES[p.code][2])
                 for p in deidentify_problems(problems, header))


def deidentify_cohort(cohort, header=None):
    """A copy of ``cohort`` holding only controlled values (see the module docstring)."""
    from ltfu.cohort.schema import FIELD_BY_NAME

    d = cohort.data.copy()
    keep = [c for c in d.columns if c in FIELD_BY_NAME or c == "burden"]
    d = d[keep]
    d["patient_id"] = [f"{i + 1:06d}" for i in range(len(d))]
    if "infusion_date" in d:
        d["infusion_date"] = pd.NaT
    for name in CATEGORIES:
        if name in d:
            d[name] = np.array([categorise(name, v) for v in d[name].to_numpy(dtype=object)], dtype=object)
    for name in DROPPED_TEXT:
        if name in d:
            d[name] = None
    return dataclasses.replace(cohort, data=d, cutoff_date=None,
                               warnings=deidentify_problems(cohort.warnings, header))


def deidentify_study(study, header=None):
    """A copy of a Study holding only controlled values: the cohort as ``deidentify_cohort`` makes
    it, the longitudinal tables' patients under the same sequence numbers, an event's free-text
    term replaced by its category, visit labels dropped, warnings without ids or values."""
    cohort = deidentify_cohort(study.cohort, header)
    ids = dict(zip(study.cohort.data["patient_id"].astype(str), cohort.data["patient_id"]))

    def relabel(df):
        df = df.copy()
        df["patient_id"] = df["patient_id"].astype(str).map(ids)
        return df

    events = relabel(study.events)
    events["term"] = events["category"]
    assessments = relabel(study.assessments)
    assessments["visit"] = None
    return dataclasses.replace(study, cohort=cohort, events=events, assessments=assessments,
                               therapies=relabel(study.therapies), sources={},
                               warnings=deidentify_problems(study.warnings, header))
