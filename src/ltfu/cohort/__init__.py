"""The data model, loaders and validation: from a file to a validated Cohort.

    table = load("trial.xlsx", sheet="patients")     # RawTable, exactly as read
    problems = validate(table)                       # every problem at once
    cohort = to_cohort(table)                        # or DataError(problems)
    cohort = load_cohort("trial.csv")                # the three steps in one
"""

from __future__ import annotations

from ltfu.cohort.load import RawTable, load
from ltfu.cohort.model import Cohort
from ltfu.cohort.problems import PROBLEM_CODES, Problem
from ltfu.cohort.raw import release_read_buffers
from ltfu.cohort.schema import is_model_column
from ltfu.cohort.validate import DEFAULT_DATE_FLOOR, DEFAULT_MAX_FOLLOW_UP_YEARS, to_cohort, validate
from ltfu.defaults import BURDEN_THRESHOLD

__all__ = ["PROBLEM_CODES", "Cohort", "Problem", "RawTable", "load", "load_cohort", "to_cohort", "validate"]


def load_cohort(path, *, sheet=None, cutoff=None, burden_threshold: float = BURDEN_THRESHOLD, synthetic: bool = False,
                date_floor=DEFAULT_DATE_FLOOR, max_follow_up_years: float = DEFAULT_MAX_FOLLOW_UP_YEARS):
    """Load, validate and type a patient table; raises DataError listing every problem.

    Only the data model's columns are read (other columns of a wide registry export are skipped,
    and still reported as UNKNOWN_COLUMN).  ``date_floor`` and ``max_follow_up_years``: the
    plausibility bounds of dates and follow-up (IMPLAUSIBLE_DATE).
    """
    cohort = to_cohort(load(path, sheet=sheet, columns=is_model_column), cutoff=cutoff,
                       burden_threshold=burden_threshold, synthetic=synthetic, date_floor=date_floor,
                       max_follow_up_years=max_follow_up_years)
    release_read_buffers()                    # the raw table is gone: so is the memory Arrow kept of it
    return cohort
