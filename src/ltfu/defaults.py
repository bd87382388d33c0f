"""Every default of ltfu in one place.

The command line's options, ``AnalysisOptions``, the validation's limits and the README's table of
defaults all read these names (tests/test_defaults.py checks the README against this module), and
every report prints the ones that change a number.
"""

from __future__ import annotations

# time
DAYS_PER_MONTH = 30.4375            # months = days / 30.4375 (365.25 / 12), for display only
TIMEFIX = True                      # merge times closer than R's tolerance (survival's aeqSurv)

# statistics
CONF_LEVEL = 0.95
KM_CONF_TYPE = "log-log"            # R survfit's own default is "log"
COX_TIES = "efron"
PROPORTION_CI = "exact"             # Clopper-Pearson
EXACT_MAX_N = 2000                  # above this many patients, Pearson's chi-square replaces Fisher's test

# ``ltfu report --by COLUMN``: the baseline columns survival may be compared across (not a response
# or any other post-infusion value: grouping by those is immortal-time bias)
BY_COLUMNS = ("centre", "sex", "conditioning", "burden", "extramedullary", "ph_positive", "prior_allo_hct",
              "prior_blinatumomab", "prior_inotuzumab")

# engines (ltfu.stats.engines): who counts the survival sections' risk sets
ENGINE = "auto"                     # "auto", "numpy", "duckdb" or "spark"; the numbers are the same
ENGINES = ("auto", "numpy", "duckdb", "spark")
AUTO_MEMORY_FRACTION = 0.25         # auto: DuckDB when a Parquet input's in-memory estimate exceeds this share of
                                    # the available memory
AUTO_BYTES_PER_CELL = 80            # auto: peak bytes per Parquet row and column (measured: 2.4 GB for 1e6 x 30)

# the analysis plan
BURDEN_THRESHOLD = 5.0              # marrow blasts % at or above which disease burden is high
EFS_NONRESPONDER = "day0"           # no CR/CRi: an EFS event at day 0 ("day0") or at the assessment
CENSOR_AT_HCT = False
LANDMARK_DAYS = 100.0
RATE_MONTHS = (6, 12, 24, 36)       # survival and incidence reported at these months
SEVERE_GRADE = 3                    # severe toxicity: grade >= 3
COMPLETE_RESPONSE = ("CR", "CRi")
# long-term safety (ltfu.safety)
SAFETY_STOP_AT = "none"             # person-time runs to the end of follow-up, not stopped at a later therapy
SAFETY_YEARS = (1, 2, 5, 10, 15)    # cumulative incidence of delayed events reported at these years
VISIT_WINDOW_DAYS = 90.0            # a yearly visit is seen when an assessment falls within +- this many days
SWIMMER_MAX = 100                   # a lane per patient is readable up to about this many patients
TRAJECTORY_MAX_LINES = 200          # per panel: above this, a seeded random sample of patients is drawn

# outputs
REPORT_FORMATS = ("html", "pdf", "json", "csv", "svg", "png")
OPTIONAL_FORMATS = ("tiff",)          # written only when asked (--formats ...,tiff)
MAX_MONTHS = None                   # curves stop where fewer than 10% of a group remain at risk
REPORT_DIR = "report"

#: (name, value, meaning) of the defaults a user can change, in the README's order
USER_DEFAULTS = (
    ("--cutoff", "the file's data_cutoff_date, else none", "data cut-off"),
    ("--burden-threshold", f"{BURDEN_THRESHOLD:g}", "marrow blasts % at or above which burden is high"),
    ("--efs-nonresponder", EFS_NONRESPONDER, "no CR/CRi: EFS event at day 0 or at the assessment"),
    ("--conf-type", KM_CONF_TYPE, "Kaplan-Meier confidence interval transform"),
    ("--landmark-days", f"{LANDMARK_DAYS:g}", "landmark for the transplant analysis"),
    ("--safety-stop-at", SAFETY_STOP_AT, "long-term safety: stop person-time at a later anticancer therapy and/or "
                                         "allo-HCT"),
    ("--max-months", "where fewer than 10% of a group remain at risk", "x-axis end of the survival and "
                                                                       "incidence figures, months"),
    ("--formats", ",".join(REPORT_FORMATS), "outputs to write"),
    ("--engine", ENGINE, "who counts the survival sections' risk sets: numpy in memory, DuckDB or Spark; the same "
                         "numbers"),
)
