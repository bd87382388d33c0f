"""The options of an analysis: every choice that changes a number (defaults in ``ltfu.defaults``)."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

from ltfu import defaults
from ltfu.errors import InvalidInputError


@dataclass(frozen=True)
class AnalysisOptions:
    """Every choice that changes a number; printed in the report's definitions table.  ``engine``
    (who counts the risk sets) is here too but changes no number, so ``to_dict`` leaves it out."""

    efs_nonresponder: str = defaults.EFS_NONRESPONDER   # "day0" or "assessment"
    censor_at_hct: bool = defaults.CENSOR_AT_HCT        # censor EFS/RFS at a subsequent allo-HCT
    conf_type: str = defaults.KM_CONF_TYPE              # Kaplan-Meier CI transform (R names)
    conf_level: float = defaults.CONF_LEVEL
    ties: str = defaults.COX_TIES                       # Cox ties
    proportion_ci: str = defaults.PROPORTION_CI         # Clopper-Pearson
    landmark_days: float = defaults.LANDMARK_DAYS       # transplant landmark analysis
    rate_months: tuple = defaults.RATE_MONTHS           # survival rates reported at these months
    safety_stop_at: str = defaults.SAFETY_STOP_AT       # long-term safety person-time: stop at a later therapy
    max_months: float | None = defaults.MAX_MONTHS      # x-axis end of the curve figures (None: 10% at risk)
    engine: str = defaults.ENGINE                       # who counts (numpy, duckdb, spark; auto: numpy in memory)
    by: str | None = None                               # survival compared across this baseline column
    deidentify: bool = False
    keep_checksum: bool = False             # de-identified reports withhold the input's SHA-256 unless asked
    record_path: bool = False               # record the input's absolute path, not only its file name

    def __post_init__(self):
        if self.efs_nonresponder not in ("day0", "assessment"):
            raise InvalidInputError("efs_nonresponder: must be 'day0' or 'assessment'")
        if self.safety_stop_at not in ("none", "anticancer", "allo_hct", "anticancer_or_allo_hct"):
            raise InvalidInputError("safety_stop_at: must be 'none', 'anticancer', 'allo_hct' or "
                                    "'anticancer_or_allo_hct'")
        if self.engine not in defaults.ENGINES:
            raise InvalidInputError(f"engine: must be one of {', '.join(defaults.ENGINES)}; got {self.engine!r}")
        if self.by is not None and self.by not in defaults.BY_COLUMNS:
            raise InvalidInputError(f"by: must be one of {', '.join(defaults.BY_COLUMNS)} (baseline columns), got "
                                    f"{self.by!r}")
        if self.conf_type not in ("log-log", "log", "plain"):
            raise InvalidInputError("conf_type: must be 'log-log', 'log' or 'plain'")
        lm = self.landmark_days
        if isinstance(lm, bool) or not (isinstance(lm, numbers.Real) and math.isfinite(lm) and lm > 0):
            raise InvalidInputError(f"landmark_days: must be a positive finite number, got {self.landmark_days!r}")

        if self.max_months is not None and (isinstance(self.max_months, bool) or not (
                isinstance(self.max_months, numbers.Real) and math.isfinite(self.max_months) and self.max_months > 0)):
            raise InvalidInputError(f"max_months: must be a positive number of months, got {self.max_months!r}")

    def to_dict(self) -> dict:
        from dataclasses import asdict

        d = asdict(self)
        d["rate_months"] = list(self.rate_months)
        del d["engine"]               # how the counts are made changes no number (results.json stays identical)
        if self.by is None:
            del d["by"]               # a report without --by reads as before
        return d
